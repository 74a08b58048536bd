import Deferreds
import Glibc
import TestSupport
import Testing

@testable import Reactor

@Suite struct ThreadedResolverTests {
    @Test func localhostResolvesToLoopbackAddressesThatAreNotKept() throws {
        // When getaddrinfo answers "localhost" (from the hosts file), the resolution holds only
        // loopback addresses, no duplicates, and TTL 0 (getaddrinfo gives none).
        var outcome: Result<HostResolution, Failure>?
        try withReactor { reactor in
            let resolver = ThreadedResolver(reactor: reactor)
            reactor.callWhenRunning {
                _ = resolver.resolveHostName("localhost").addBoth { result in
                    outcome = result
                    reactor.stop()
                }
            }
        }
        let addresses = try #require(hosts(outcome))
        #expect(!addresses.isEmpty)
        #expect(addresses.allSatisfy { $0 == "::1" || $0.hasPrefix("127.") })
        #expect(Set(addresses).count == addresses.count)
        if case .success(let resolution) = outcome { #expect(resolution.ttl == 0) }
    }

    @Test func theAnswerComesBackOnTheReactorThread() throws {
        // When getaddrinfo answers on its worker thread, the deferred fires during the reactor's
        // run, on the reactor's thread (through callFromThread).
        var firedOnReactorThread: Bool?
        try withReactor(limit: 10) { reactor in
            let resolver = ThreadedResolver(reactor: reactor)
            let reactorThread = pthread_self()
            reactor.callWhenRunning {
                _ = resolver.resolveHostName("localhost").addBoth { _ in
                    firedOnReactorThread = pthread_equal(pthread_self(), reactorThread) != 0
                    reactor.stop()
                }
            }
        }
        #expect(firedOnReactorThread == true)
    }

    @Test func aNumericAddressIsItsOwnAnswerAtOnce() {
        // When the name is a numeric address, the deferred has already fired with it.
        let clockless = ThreadedResolverTests.resolveNumeric("127.0.0.7")
        #expect(clockless == ["127.0.0.7"])
    }

    static func resolveNumeric(_ name: String) -> [String]? {
        guard let reactor = try? EPollReactor() else { return nil }
        defer { reactor.close() }
        var result: [String]?
        _ = ThreadedResolver(reactor: reactor).resolveHostName(name).addCallback { result = $0.addresses.map(\.host) }
        return result
    }
}
