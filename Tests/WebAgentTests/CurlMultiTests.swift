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
            pool.http2 = true
            let agent = Agent(reactor, pool: pool, caFile: server.certificate)
            let url = "https://127.0.0.1:\(server.port)/connection"
            _ = text(agent, url)
                .addCallback { _ in gatherResults([text(agent, url), text(agent, url)], consumeErrors: true) }
                // nginx logs a request after answering it: wait for the lines (reactor time, bounded).
                .addCallback { _ in eventually(reactor) { server.requests().count >= 3 } }
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
            pool.http2 = true
            let url = "https://127.0.0.1:\(server.port)/connection"
            _ = text(Agent(reactor, pool: pool, caFile: server.certificate), url)
                .addCallback { _ in text(Agent(reactor, pool: pool, caFile: copy), url) }
                // nginx logs a request after answering it: wait for the lines (reactor time, bounded).
                .addCallback { _ in eventually(reactor) { server.requests().count >= 2 } }
                .addCallback { _ -> Void in withExtendedLifetime(pool) {} }
                .addErrback { failure in Issue.record("\(failure)") }
                .addBoth { _ in reactor.stop() }
        }
        let requests = server.requests()
        #expect(requests.map(\.sessionReused) == [false, false], "\(requests)")
    }
}

/// The nginx connection serial of each of `count` https GETs of /connection started at once
/// through `pool`.
private func concurrentConnections(_ server: H2Server, _ pool: HTTPConnectionPool, _ reactor: EPollReactor,
                                   count: Int) -> Deferred<[String]> {
    let agent = Agent(reactor, pool: pool, caFile: server.certificate)
    let url = "https://127.0.0.1:\(server.port)/connection"
    return gatherResults((0..<count).map { _ in text(agent, url) }, consumeErrors: true)
}

/// `concurrentConnections` in a reactor of its own, through a persistent pool that `configure` sets
/// up; a failed request is recorded as an issue.
private func concurrentConnections(_ server: H2Server, count: Int,
                                   _ configure: (HTTPConnectionPool) -> Void) throws -> [String] {
    var numbers: [String] = []
    try withReactor { reactor in
        let pool = HTTPConnectionPool(reactor, persistent: true)
        pool.http2 = true
        configure(pool)
        _ = concurrentConnections(server, pool, reactor, count: count)
            .addCallback { numbers = $0 }
            .addErrback { failure in Issue.record("\(failure)") }
            .addBoth { _ in reactor.stop() }
    }
    return numbers
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct HTTP2MultiplexingTests {
    @Test func requestsStartedTogetherShareOneHTTP2ConnectionAsStreams() throws {
        // When 20 requests to a server offering h2 start at once through a persistent pool that
        // may keep 20 connections, they all come on one connection (as streams), and the next 20
        // on that same connection.
        let server = try H2Server()
        defer { server.stop() }
        var first: [String] = []
        var second: [String] = []
        try withReactor { reactor in
            let pool = HTTPConnectionPool(reactor, persistent: true)
            pool.http2 = true
            pool.maxPersistentPerHost = 20
            _ = concurrentConnections(server, pool, reactor, count: 20)
                .addCallback { numbers -> Deferred<[String]> in
                    first = numbers
                    return concurrentConnections(server, pool, reactor, count: 20)
                }
                .addCallback { second = $0 }
                .addErrback { failure in Issue.record("\(failure)") }
                .addBoth { _ in reactor.stop() }
        }
        #expect(first.count == 20 && Set(first).count == 1, "\(first)")
        #expect(Set(second) == Set(first), "\(second)")
    }

    @Test func overHTTP11RequestsStartedTogetherWaitingForTheProtocolAreAllAnswered() throws {
        // When the server offers only HTTP/1.1, 5 requests started at once (each told to wait for
        // the first connection to say whether it multiplexes) are all answered. How many
        // connections they use is not asserted: the waiting ones open their own once the first
        // says HTTP/1.1, unless its exchange ended before they looked, and in a loaded full run
        // all 5 came on one connection in turn.
        let server = try H2Server(http2: false)
        defer { server.stop() }
        let numbers = try concurrentConnections(server, count: 5) { pool in pool.maxPersistentPerHost = 5 }
        #expect(numbers.count == 5 && numbers.allSatisfy { !$0.isEmpty }, "\(numbers)")
    }

    @Test func aLimitOfOneConnectionPerHostStillRunsRequestsTogetherAsStreams() throws {
        // When the pool allows one connection per host and 10 requests to an h2 server start at
        // once, all are answered on that one connection.
        let server = try H2Server()
        defer { server.stop() }
        let numbers = try concurrentConnections(server, count: 10) { pool in pool.maxConnectionsPerHost = 1 }
        #expect(numbers.count == 10 && Set(numbers).count == 1, "\(numbers)")
    }

    @Test func aServerStreamLimitIsHeldOnTheSharedConnection() throws {
        // When the server allows 2 concurrent streams per connection and 12 requests start at
        // once, all of them are answered (a limit broken would be a stream refused: a failed
        // request), and connections are shared up to that limit.
        let server = try H2Server(maxStreams: 2)
        defer { server.stop() }
        let numbers = try concurrentConnections(server, count: 12) { pool in pool.maxPersistentPerHost = 12 }
        #expect(numbers.count == 12, "\(numbers)")
        // Connections were shared as streams. (How many requests one connection served over the
        // run is not the stream limit: a connection whose first streams ended takes new ones, so
        // under load one can serve 4 of the 12 one after another; the limit shows as no failure.)
        let perConnection = Dictionary(grouping: numbers, by: { $0 }).mapValues(\.count)
        #expect(perConnection.values.max() ?? 0 >= 2, "\(perConnection)")
        #expect(perConnection.count < 12, "\(perConnection)")
    }
}
