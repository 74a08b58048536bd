import Deferreds
import Foundation
import Reactor
import TestSupport
import Testing

@testable import WebAgent

/// How many of this machine's TCP connections to each of `ports` on 127.0.0.1 are established
/// from the client's side (their remote port is the server's), from /proc/net/tcp.
func establishedClientConnections(to ports: [Int]) -> [Int: Int] {
    var counts = Dictionary(uniqueKeysWithValues: ports.map { ($0, 0) })
    for line in readText("/proc/net/tcp").split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ")
        // sl local_address rem_address st ...; addresses are HEXIP:HEXPORT, state 01 is ESTABLISHED.
        guard fields.count > 3, fields[3] == "01", let remote = fields[2].split(separator: ":").last,
            let port = Int(remote, radix: 16), counts[port] != nil
        else { continue }
        counts[port]! += 1
    }
    return counts
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct IdleConnectionBoundTests {
    /// Runs two requests at once to each of three servers in turn (the next pair once the previous
    /// one has ended), through one persistent pool keeping at most 3 idle connections in all; then
    /// checks that the connections left open are the 3 most recently idle: all those of the last
    /// server, then the second's, then the first's. Each pair came on one or two connections of its
    /// own (over https, the second request waits to learn the protocol, and may then find the
    /// first's connection free), as nginx's log says; the test fails if all came on one each (3 in
    /// all: nothing to close).
    private func checkIdleAfterThreePairs(_ server: H2Server, https: Bool, http2: Bool = false) throws {
        let ports = https ? Array(server.tlsPorts.prefix(3)) : Array(server.plainPorts.prefix(3))
        var counts: [Int: Int] = [:]
        try withReactor { reactor in
            let pool = HTTPConnectionPool(reactor, persistent: true)
            pool.maxPersistentPerHost = 2
            pool.maxPersistentConnections = 3
            pool.http2 = http2
            let agent = Agent(reactor, pool: pool, caFile: server.certificate)
            func pair(_ index: Int) -> Deferred<Void> {
                guard index < ports.count else { return succeed(()) }
                let url = "\(https ? "https" : "http")://127.0.0.1:\(ports[index])/connection"
                return gatherResults([text(agent, url), text(agent, url)], consumeErrors: true)
                    .addCallback { _ in pair(index + 1) }
            }
            _ = pair(0)
                .addCallback { _ in
                    eventually(reactor) { establishedClientConnections(to: ports).values.reduce(0, +) <= 3 }
                }
                .addCallback { _ -> Void in
                    counts = establishedClientConnections(to: ports)
                    // The pool must outlive the count: dropping it closes its connections.
                    withExtendedLifetime(pool) {}
                }
                .addErrback { failure in Issue.record("\(failure)") }
                .addBoth { _ in reactor.stop() }
        }
        let perPort = Dictionary(grouping: server.requests(), by: \.port).mapValues { Set($0.map(\.connection)).count }
        let made = ports.map { perPort[$0] ?? 0 }
        #expect(made.reduce(0, +) > 3, "\(made) connections: none had to be closed")
        var room = 3
        var expected = [Int](repeating: 0, count: ports.count)
        for index in ports.indices.reversed() {
            expected[index] = min(made[index], room)
            room -= expected[index]
        }
        #expect(ports.map { counts[$0] } == expected, "made \(made), left \(counts)")
    }

    @Test func atMostMaxPersistentConnectionsStayIdleOverHTTPSTheOldestClosedFirst() throws {
        // When three servers' requests leave more than three https connections (the pool's own,
        // over TLS) and the pool keeps three, those idle longest are closed: the three left are the
        // last ones used.
        let server = try H2Server(http2: false, tlsPorts: 3)
        defer { server.stop() }
        try checkIdleAfterThreePairs(server, https: true)
    }

    @Test func atMostMaxPersistentConnectionsStayIdleThroughLibcurlTheOldestClosedFirst() throws {
        // When the pool's https goes through libcurl (http2, here to HTTP/1.1 servers) and three
        // servers' requests leave more than three connections, libcurl's cache (CURLMOPT_MAXCONNECTS)
        // closes those idle longest: the three left are the last ones used.
        let server = try H2Server(http2: false, tlsPorts: 3)
        defer { server.stop() }
        try checkIdleAfterThreePairs(server, https: true, http2: true)
    }

    @Test func atMostMaxPersistentConnectionsStayIdleOverHTTPTheOldestClosedFirst() throws {
        // When three servers' requests leave more than three plain-http connections (the pool's
        // own) and the pool keeps three, those idle longest are closed: the three left are the last
        // ones used.
        let server = try H2Server(http2: false, tlsPorts: 1, plainPorts: 3)
        defer { server.stop() }
        try checkIdleAfterThreePairs(server, https: false)
    }
}
