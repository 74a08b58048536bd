import Deferreds
import Glibc
import TestSupport
import Testing

@testable import Reactor

@Suite struct AresResolverTests {
    /// Resolves `name` once against a fresh test server with `answers`; returns the outcome and
    /// the queries the server saw.
    func resolve(_ name: String, _ answers: [String: TestDNSServer.Behaviour], delay: Double = 0,
                 timeout: Double? = nil, limit: Double = 10,
                 configure: (inout ResolverConfiguration) -> Void = { _ in })
        throws -> (outcome: Result<HostResolution, Failure>?, queries: [TestDNSServer.Query])
    {
        var outcome: Result<HostResolution, Failure>?
        var queries: [TestDNSServer.Query] = []
        try withReactor(limit: limit) { reactor in
            let server = try TestDNSServer(reactor: reactor)
            server.answers = answers
            server.delay = delay
            let resolver = try testResolver(reactor, server, timeout: timeout, configure: configure)
            reactor.callWhenRunning {
                _ = resolver.resolveHostName(name).addBoth { result in
                    outcome = result
                    queries = server.queries
                    _ = resolver
                    reactor.stop()
                }
            }
        }
        return (outcome, queries)
    }

    @Test func aNameWithBothRecordsResolvesToIPv6ThenIPv4WithTheSmallestTTL() throws {
        // When a name has A and AAAA records, the resolution lists the IPv6 addresses first, then
        // the IPv4 ones, with the smaller TTL of the two answers.
        let (outcome, queries) = try resolve("both.test", [
            "both.test": .addresses(v4: ["127.0.0.2", "127.0.0.3"], v6: ["::1"], ttl: 300),
        ])
        #expect(hosts(outcome) == ["::1", "127.0.0.2", "127.0.0.3"])
        if case .success(let resolution) = outcome { #expect(resolution.ttl == 300) }
        #expect(Set(queries.map(\.type)) == [1, 28])
        #expect(queries.allSatisfy { !$0.overTCP })
    }

    @Test func aSlowServerIsWaitedFor() throws {
        // When the server answers after 300 ms, the lookup still succeeds, no sooner.
        var started = 0.0
        var elapsed = 0.0
        var outcome: Result<HostResolution, Failure>?
        try withReactor { reactor in
            let server = try TestDNSServer(reactor: reactor)
            server.answers = ["slow.test": .addresses(v4: ["127.0.0.1"], v6: [], ttl: 60)]
            server.delay = 0.3
            let resolver = try testResolver(reactor, server)
            reactor.callWhenRunning {
                started = reactor.seconds()
                _ = resolver.resolveHostName("slow.test").addBoth { result in
                    outcome = result
                    elapsed = reactor.seconds() - started
                    _ = (resolver, server)
                    reactor.stop()
                }
            }
        }
        #expect(hosts(outcome) == ["127.0.0.1"], "\(String(describing: outcome))")
        #expect(elapsed >= 0.3)
    }

    @Test func nxdomainIsNameNotFound() throws {
        // When the server says the name does not exist, the lookup fails with reason .nameNotFound.
        let (outcome, _) = try resolve("missing.test", [:])
        #expect(lookupError(outcome)?.reason == .nameNotFound)
        #expect(lookupError(outcome)?.host == "missing.test")
    }

    @Test func servfailIsServerFailure() throws {
        // When the server answers SERVFAIL, the lookup fails with reason .serverFailure.
        let (outcome, _) = try resolve("broken.test", ["broken.test": .serverFailure])
        #expect(lookupError(outcome)?.reason == .serverFailure)
    }

    @Test func refusedIsRefused() throws {
        // When the server answers REFUSED, the lookup fails with reason .refused.
        let (outcome, _) = try resolve("private.test", ["private.test": .refused])
        #expect(lookupError(outcome)?.reason == .refused)
    }

    @Test func aNameWithNoAddressRecordIsNoAddresses() throws {
        // When the name exists but has neither A nor AAAA records, the lookup fails with .noAddresses.
        let (outcome, _) = try resolve("mail-only.test", ["mail-only.test": .addresses(v4: [], v6: [], ttl: 60)])
        #expect(lookupError(outcome)?.reason == .noAddresses)
    }

    @Test func aNameWithOnlyAnAAAARecordResolvesToItAlone() throws {
        // When a name has only an AAAA record, the resolution holds that IPv6 address alone.
        let (outcome, _) = try resolve("six.test", ["six.test": .addresses(v4: [], v6: ["2001:db8::7"], ttl: 60)])
        #expect(hosts(outcome) == ["2001:db8::7"])
    }

    @Test func aTruncatedUDPAnswerIsAskedAgainOverTCP() throws {
        // When the UDP answer has the truncation bit set, the resolver asks again over TCP and
        // returns the TCP answer.
        let (outcome, queries) = try resolve("big.test", [
            "big.test": .truncated(v4: ["127.0.0.9"], v6: [], ttl: 60),
        ])
        #expect(hosts(outcome) == ["127.0.0.9"])
        #expect(queries.contains { $0.overTCP && $0.type == 1 })
        #expect(queries.contains { !$0.overTCP && $0.type == 1 })
    }

    @Test func aServerThatNeverAnswersIsATimeout() throws {
        // When the server never answers, the lookup fails with reason .timeout once its one try of
        // 200 ms is over.
        let (outcome, queries) = try resolve("void.test", ["void.test": .silent], timeout: 0.2)
        #expect(lookupError(outcome)?.reason == .timeout)
        #expect(!queries.isEmpty)
    }

    @Test func theSearchListOfTheResolvConfFileIsUsed() throws {
        // When resolv.conf says "search corp.test" and "options ndots:2", a one-dot name is tried
        // in the search domain first, as the system resolver does.
        let path = "/tmp/resolv-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).conf"
        let file = fopen(path, "w")!
        fputs("search corp.test\noptions ndots:2\n", file)
        fclose(file)
        defer { unlink(path) }
        let (outcome, queries) = try resolve("www.intranet", [
            "www.intranet.corp.test": .addresses(v4: ["127.0.0.5"], v6: [], ttl: 60),
        ]) { configuration in
            configuration.resolvConfPath = path
            configuration.searchDomains = nil
        }
        #expect(hosts(outcome) == ["127.0.0.5"])
        #expect(queries.first?.name == "www.intranet.corp.test")
    }

    @Test func aNumericAddressNeedsNoQuery() throws {
        // When the name is a numeric address, it is the answer, at once, and no query is sent.
        let (outcome, queries) = try resolve("::1", [:])
        #expect(hosts(outcome) == ["::1"])
        #expect(queries.isEmpty)
    }

    @Test func closingTheReactorDropsALookupInFlight() throws {
        // When the reactor is closed while a lookup waits, the lookup's deferred never fires and
        // nothing crashes; c-ares's socket was watched meanwhile.
        var fired = false
        var socketsWhileWaiting = 0
        try withReactor { reactor in
            let server = try TestDNSServer(reactor: reactor)
            server.answers = ["void.test": .silent]
            let resolver = try testResolver(reactor, server, timeout: 5)
            _ = resolver.resolveHostName("void.test").addBoth { _ in fired = true }
            reactor.callLater(0.1) {
                socketsWhileWaiting = resolver.openSocketCount
                _ = server
                reactor.stop()
            }
        }
        #expect(!fired)
        #expect(socketsWhileWaiting == 1)
    }

    @Test func twoHundredLookupsAtOnceAreSpreadOverChannelsAndPaced() throws {
        // When 200 names are looked up at once, at most maximumInFlight (96) are in flight, spread
        // over channels of 32, the rest wait their turn; every one is answered, each asked once.
        var inFlightAtStart = 0
        var queuedAtStart = 0
        var channels = 0
        var answered = 0
        var queries: [TestDNSServer.Query] = []
        try withReactor { reactor in
            let server = try TestDNSServer(reactor: reactor)
            for index in 0..<200 {
                server.answers["n\(index).test"] = .addresses(v4: ["127.0.0.1"], v6: [], ttl: 60)
            }
            server.delay = 0.02
            let resolver = try testResolver(reactor, server)
            reactor.callWhenRunning {
                for index in 0..<200 {
                    _ = resolver.resolveHostName("n\(index).test").addCallback { _ in
                        answered += 1
                        if answered == 200 {
                            queries = server.queries
                            channels = resolver.channelCount
                            reactor.stop()
                        }
                    }
                }
                inFlightAtStart = resolver.lookupsInFlight
                queuedAtStart = resolver.lookupsQueued
            }
        }
        #expect(inFlightAtStart == AresResolver.maximumInFlight)
        #expect(queuedAtStart == 200 - AresResolver.maximumInFlight)
        #expect(channels == AresResolver.maximumInFlight / AresResolver.lookupsPerChannel)
        #expect(answered == 200)
        #expect(queries.count == 400)
    }

    @Test func theOptionsOfTheResolvConfFileSetTheTimeout() throws {
        // When resolv.conf says "options timeout:1 attempts:1" and the server never answers, the
        // lookup fails with .timeout after about one second, not c-ares's default five.
        let path = "/tmp/resolv-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).conf"
        let file = fopen(path, "w")!
        fputs("options timeout:1 attempts:1\n", file)
        fclose(file)
        defer { unlink(path) }
        var elapsed = 0.0
        var outcome: Result<HostResolution, Failure>?
        try withReactor { reactor in
            let server = try TestDNSServer(reactor: reactor)
            server.answers = ["void.test": .silent]
            let resolver = try testResolver(reactor, server, tries: 0) { $0.resolvConfPath = path; $0.tries = nil }
            reactor.callWhenRunning {
                let started = reactor.seconds()
                _ = resolver.resolveHostName("void.test").addBoth { result in
                    outcome = result
                    elapsed = reactor.seconds() - started
                    _ = (resolver, server)
                    reactor.stop()
                }
            }
        }
        #expect(lookupError(outcome)?.reason == .timeout)
        #expect(elapsed < 3, "\(elapsed)")
    }
}
