import Deferreds
import Glibc
import TestSupport
import Testing

@testable import Reactor

@Suite struct ThreadedResolverTests {
    @Test func localhostResolvesToALoopbackAddressOnTheReactorThread() throws {
        // When getaddrinfo looks "localhost" up on a worker thread, the deferred fires during the
        // reactor's run, on its thread, with a loopback address.
        var outcome: Result<HostResolution, Failure>?
        var firedOnReactorThread = false
        try withReactor(limit: 10) { reactor in
            let resolver = ThreadedResolver(reactor: reactor)
            let reactorThread = pthread_self()
            reactor.callWhenRunning {
                resolver.resolveHostName("localhost").addBoth { result in
                    outcome = result
                    firedOnReactorThread = pthread_equal(pthread_self(), reactorThread) != 0
                    reactor.stop()
                }
            }
        }
        let addresses = try #require(hosts(outcome))
        #expect(!addresses.isEmpty)
        #expect(addresses.allSatisfy { $0 == "127.0.0.1" || $0 == "::1" })
        #expect(firedOnReactorThread)
    }

    @Test func aNumericHostIsAnsweredAtOnce() throws {
        // When the name is a numeric address, the deferred has fired before resolveHostName
        // returns, without a worker thread.
        let reactor = try EPollReactor()
        defer { reactor.close() }
        let lookup = ThreadedResolver(reactor: reactor).resolveHostName("::1")
        #expect(lookup.called)
        var answered: [String]?
        lookup.addBoth { answered = hosts($0) }
        #expect(answered == ["::1"])
    }
}
