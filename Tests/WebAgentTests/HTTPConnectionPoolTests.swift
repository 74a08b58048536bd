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
    /// Runs two requests at once to each of `urls`' servers in turn (the second pair once the first
    /// has ended), through one persistent pool keeping at most 3 idle connections in all, then
    /// returns the client's established connections to each port.
    private func idleAfterThreePairs(_ server: H2Server, https: Bool) throws -> [Int: Int] {
        let ports = https ? Array(server.tlsPorts.prefix(3)) : Array(server.plainPorts.prefix(3))
        var counts: [Int: Int] = [:]
        try withReactor { reactor in
            let pool = HTTPConnectionPool(reactor, persistent: true)
            pool.maxPersistentPerHost = 2
            pool.maxPersistentConnections = 3
            let agent = Agent(reactor, pool: pool, caFile: server.certificate)
            func pair(_ index: Int) -> Deferred<Void> {
                guard index < ports.count else { return succeed(()) }
                let url = "\(https ? "https" : "http")://127.0.0.1:\(ports[index])/connection"
                return gatherResults([text(agent, url), text(agent, url)], consumeErrors: true)
                    .addCallback { _ in pair(index + 1) }
            }
            pair(0)
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
        // Each pair came on two connections of its own (nothing idle to reuse on its port).
        let perPort = Dictionary(grouping: server.requests(), by: \.port).mapValues { Set($0.map(\.connection)).count }
        #expect(ports.map { perPort[$0] } == [2, 2, 2], "\(perPort)")
        return counts
    }

    @Test func atMostMaxPersistentConnectionsStayIdleOverHTTPSTheOldestClosedFirst() throws {
        // When three servers' requests leave six https connections (libcurl's) and the pool keeps
        // three, the three idle longest are closed: none is left to the first server, one to the
        // second, both to the third.
        let server = try H2Server(http2: false, tlsPorts: 3)
        defer { server.stop() }
        let counts = try idleAfterThreePairs(server, https: true)
        #expect(server.tlsPorts.map { counts[$0] } == [0, 1, 2], "\(counts)")
    }

    @Test func atMostMaxPersistentConnectionsStayIdleOverHTTPTheOldestClosedFirst() throws {
        // When three servers' requests leave six plain-http connections (the pool's own) and the
        // pool keeps three, the three idle longest are closed: none is left to the first server,
        // one to the second, both to the third.
        let server = try H2Server(http2: false, tlsPorts: 1, plainPorts: 3)
        defer { server.stop() }
        let counts = try idleAfterThreePairs(server, https: false)
        #expect(server.plainPorts.map { counts[$0] } == [0, 1, 2], "\(counts)")
    }
}
