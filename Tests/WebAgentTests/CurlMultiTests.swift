import Deferreds
import Foundation
import Reactor
import TestSupport
import Testing

@testable import WebAgent

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct TLSSessionResumptionTests {
    @Test func laterConnectionsResumeTheTLSSessionWhicheverHandleMadeThem() throws {
        // When one https request has ended and two more go to the same server at once, each on a
        // connection of its own (a non-persistent pool), both new connections resume the first
        // one's TLS session, although only one of them can reuse the first one's libcurl handle:
        // the session cache is the pool's, not each handle's.
        let server = try H2Server(http2: false)
        defer { server.stop() }
        try withReactor { reactor in
            let pool = HTTPConnectionPool(reactor, persistent: false)
            let agent = Agent(reactor, pool: pool, caFile: server.certificate)
            let url = "https://127.0.0.1:\(server.port)/connection"
            text(agent, url)
                .addCallback { _ in gatherResults([text(agent, url), text(agent, url)], consumeErrors: true) }
                .addCallback { _ -> Void in withExtendedLifetime(pool) {} }
                .addErrback { failure in Issue.record("\(failure)") }
                .addBoth { _ in reactor.stop() }
        }
        let requests = server.requests()
        #expect(Set(requests.map(\.connection)).count == 3, "\(requests)")
        #expect(requests.map(\.sessionReused) == [false, true, true], "\(requests)")
    }

    @Test func aSessionIsNotResumedUnderAnotherCAFile() throws {
        // When the second request trusts another CA file (which also holds the server's
        // certificate), it makes a full handshake: a session is resumed only under the TLS settings
        // it was made with, so a CA file never inherits another's verification.
        let server = try H2Server(http2: false)
        defer { server.stop() }
        let copy = server.directory + "/copy.pem"
        try FileManager.default.copyItem(atPath: server.certificate, toPath: copy)
        try withReactor { reactor in
            let pool = HTTPConnectionPool(reactor, persistent: false)
            let url = "https://127.0.0.1:\(server.port)/connection"
            text(Agent(reactor, pool: pool, caFile: server.certificate), url)
                .addCallback { _ in text(Agent(reactor, pool: pool, caFile: copy), url) }
                .addCallback { _ -> Void in withExtendedLifetime(pool) {} }
                .addErrback { failure in Issue.record("\(failure)") }
                .addBoth { _ in reactor.stop() }
        }
        let requests = server.requests()
        #expect(requests.map(\.sessionReused) == [false, false], "\(requests)")
    }
}
