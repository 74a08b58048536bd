import Deferreds
import Foundation
import Reactor
import TestSupport
import Testing

@testable import WebAgent

/// The body of a GET of `url` through `agent`, as text ("" and a recorded issue on failure).
private func fetch(_ agent: Agent, _ url: String, method: String = "GET") -> Deferred<String> {
    agent.request(method, url)
        .addCallback { response -> Deferred<[UInt8]> in readBody(response) }
        .addCallback { String(decoding: $0, as: UTF8.self) }
}

/// Runs `steps` one after the other (each starting when the one before has ended).
private func inTurn(_ steps: [() -> Deferred<String>]) -> Deferred<[String]> {
    var results: [String] = []
    func next(_ index: Int) -> Deferred<[String]> {
        guard index < steps.count else { return Deferred.succeed(results) }
        return steps[index]().addCallback { text -> Deferred<[String]> in
            results.append(text)
            return next(index + 1)
        }
    }
    return next(0)
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct HTTPSOverHTTP11Tests {
    @Test func laterConnectionsToTheServerResumeTheTLSSession() throws {
        // When three https requests to one server follow one another through a non-persistent
        // pool (a connection each), the first connection makes a full handshake and the next two
        // resume its session, as nginx logs them.
        let server = try H2Server(http2: false)
        defer { server.stop() }
        var bodies: [String] = []
        try withReactor { reactor in
            let agent = Agent(reactor, pool: HTTPConnectionPool(reactor, persistent: false), caFile: server.certificate)
            let url = "https://127.0.0.1:\(server.port)/connection"
            _ = inTurn([{ fetch(agent, url) }, { fetch(agent, url) }, { fetch(agent, url) }])
                .addCallback { bodies = $0 }
                // nginx logs a request once it has sent the response: wait for its lines.
                .addCallback { _ in eventually(reactor) { server.requests().count >= 3 } }
                .addErrback { failure in Issue.record("\(failure)") }
                .addBoth { _ in reactor.stop() }
        }
        #expect(Set(bodies).count == 3, "\(bodies)")
        let logged = server.requests()
        #expect(logged.map(\.sessionReused) == [false, true, true], "\(logged)")
    }

    @Test func requestsStartedTogetherMakeOneFullHandshakeAndResumeItsSession() throws {
        // When six https requests to a new server start at once (a connection each), one connection
        // makes a full handshake and the other five wait for its session and resume it.
        let server = try H2Server(http2: false)
        defer { server.stop() }
        var bodies: [String] = []
        try withReactor { reactor in
            let agent = Agent(reactor, pool: HTTPConnectionPool(reactor, persistent: false), caFile: server.certificate)
            let url = "https://127.0.0.1:\(server.port)/connection"
            _ = DeferredList((0..<6).map { _ in fetch(agent, url) }, consumeErrors: true)
                .addCallback { results -> Deferred<Void> in
                    for case .success(let body) in results { bodies.append(body) }
                    return eventually(reactor) { server.requests().count >= 6 }
                }
                .addBoth { _ in reactor.stop() }
        }
        #expect(Set(bodies).count == 6, "\(bodies)")
        let logged = server.requests()
        #expect(logged.count == 6 && logged.filter(\.sessionReused).count == 5, "\(logged)")
    }

    @Test func httpAndHTTPSConnectionsToOneHostAndPortNeverMix() throws {
        // When a persistent pool has a kept https connection to a port, an http request to that
        // same host and port goes on a new plain connection (nginx refuses it: 400), and the next
        // https request takes the kept TLS connection again.
        let server = try H2Server(http2: false)
        defer { server.stop() }
        var results: [String] = []
        var plainCode: Int?
        try withReactor { reactor in
            let agent = Agent(reactor, pool: HTTPConnectionPool(reactor, persistent: true), caFile: server.certificate)
            let https = "https://127.0.0.1:\(server.port)/connection"
            _ = inTurn([
                { fetch(agent, https) },
                {
                    agent.request("GET", "http://127.0.0.1:\(server.port)/connection")
                        .addCallback { response -> Deferred<String> in
                            plainCode = response.code
                            return readBody(response).addCallback { _ in "plain" }
                        }
                },
                { fetch(agent, https) },
            ])
            .addCallback { results = $0 }
            .addErrback { failure in Issue.record("\(failure)") }
            .addBoth { _ in reactor.stop() }
        }
        #expect(plainCode == 400)
        #expect(results.count == 3 && results[0] == results[2], "\(results)")
    }

    @Test func aPostGoesOnTheKeptHTTPSConnectionAsOverHTTP() throws {
        // When a persistent pool has a kept https connection, a POST (no body) takes it, as over
        // http: our own client never sends a request twice without the pool's policy allowing it.
        let server = try H2Server(http2: false)
        defer { server.stop() }
        var results: [String] = []
        try withReactor { reactor in
            let agent = Agent(reactor, pool: HTTPConnectionPool(reactor, persistent: true), caFile: server.certificate)
            let url = "https://127.0.0.1:\(server.port)/connection"
            _ = inTurn([{ fetch(agent, url) }, { fetch(agent, url, method: "POST") }])
                .addCallback { results = $0 }
                .addErrback { failure in Issue.record("\(failure)") }
                .addBoth { _ in reactor.stop() }
        }
        #expect(results.count == 2 && results[0] == results[1], "\(results)")
    }

    @Test func idleHTTPSConnectionsAreBoundedTheOldestClosedFirst() throws {
        // When a persistent pool keeping at most 2 idle connections in all has served https
        // requests to three servers in turn, 2 connections are left open (those to the last two
        // servers), and a new request to the first server makes a new connection.
        let server = try H2Server(http2: false, tlsPorts: 3)
        defer { server.stop() }
        var results: [String] = []
        var openAfterThree: Int?
        try withReactor { reactor in
            let pool = HTTPConnectionPool(reactor, persistent: true)
            pool.maxPersistentConnections = 2
            let agent = Agent(reactor, pool: pool, caFile: server.certificate)
            let urls = server.tlsPorts.map { "https://127.0.0.1:\($0)/connection" }
            _ = inTurn([
                { fetch(agent, urls[0]) }, { fetch(agent, urls[1]) }, { fetch(agent, urls[2]) },
                {
                    openAfterThree = pool.plain.openCount
                    return fetch(agent, urls[0])
                },
                { fetch(agent, urls[2]) },
            ])
            .addCallback { results = $0 }
            .addErrback { failure in Issue.record("\(failure)") }
            .addBoth { _ in reactor.stop() }
        }
        #expect(openAfterThree == 2)
        #expect(results.count == 5 && Set(results.prefix(4)).count == 4, "\(results)")
        #expect(results.count == 5 && results[4] == results[2], "\(results)")
    }

    @Test func aServerThatNeverAnswersTheHelloTimesOutAsAConnectAndIsClosed() throws {
        // When the server accepts TCP but never answers the TLS hello, the connect timeout (which
        // counts the handshake, as libcurl's does) fails the request with ConnectTimeoutError, and
        // a request timeout shorter than it fails with TimeoutError; each closes its connection.
        var connectFailure: Failure?
        var requestFailure: Failure?
        var server: RawServer?
        try withReactor { reactor in
            let silent = try RawServer.start(reactor) { _ in }
            server = silent
            let url = "https://127.0.0.1:\(silent.port)/"
            _ = Agent(reactor, connectTimeout: 0.2).request("GET", url)
                .addCallbacks({ _ in Issue.record("a response came") }, { connectFailure = $0 })
                .addCallback { _ -> Deferred<Void> in
                    Agent(reactor, connectTimeout: 30).request("GET", url, timeout: 0.2)
                        .addCallbacks({ _ in Issue.record("a response came") }, { requestFailure = $0 })
                }
                .addCallback { _ in deferLater(reactor, 0.05) {} }
                .addBoth { _ in reactor.stop() }
        }
        #expect(connectFailure?.value is ConnectTimeoutError, "\(String(describing: connectFailure))")
        #expect(requestFailure?.value is TimeoutError, "\(String(describing: requestFailure))")
        #expect(server?.connections.count == 2 && server?.connections.allSatisfy(\.lost) == true)
    }
}
