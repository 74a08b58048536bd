import Deferreds
import Glibc
import TestSupport
import Testing

@testable import Reactor

@Suite struct CachingResolverTests {
    @Test func aHundredConcurrentLookupsOfOneNameMakeOneQueryPerRecordType() throws {
        // When 100 lookups of one name are made while the first is in flight, the DNS server sees
        // one A and one AAAA query, and all 100 callers get the answer.
        var answered = 0
        var queries: [TestDNSServer.Query] = []
        try withReactor { reactor in
            let server = try TestDNSServer(reactor: reactor)
            server.answers = ["shared.test": .addresses(v4: ["127.0.0.1"], v6: ["::1"], ttl: 60)]
            server.delay = 0.05
            let cache = CachingResolver(resolver: try testResolver(reactor, server), clock: reactor)
            reactor.callWhenRunning {
                for _ in 0..<100 {
                    _ = cache.resolveHostName("shared.test").addCallback { resolution in
                        if resolution.addresses.count == 2 { answered += 1 }
                        if answered == 100 {
                            queries = server.queries
                            _ = cache
                            reactor.stop()
                        }
                    }
                }
            }
        }
        #expect(answered == 100)
        #expect(queries.map(\.type).sorted() == [1, 28])
    }

    @Test func anAnswerIsReusedUntilItsTTLPassesOnTheClock() throws {
        // When a name answered with TTL 30 is asked for again after 29 s (on the Clock), no query
        // is sent; after 31 s it is looked up again.
        var counts: [Int] = []
        let clock = Clock()
        try withReactor { reactor in
            let server = try TestDNSServer(reactor: reactor)
            server.answers = ["ttl.test": .addresses(v4: ["127.0.0.1"], v6: [], ttl: 30)]
            let cache = CachingResolver(resolver: try testResolver(reactor, server), clock: clock)
            reactor.callWhenRunning {
                _ = cache.resolveHostName("ttl.test").addCallback { _ in
                    counts.append(server.queries.count)
                    clock.advance(29)
                    _ = cache.resolveHostName("ttl.test").addCallback { _ in
                        counts.append(server.queries.count)
                        clock.advance(2)
                        _ = cache.resolveHostName("ttl.test").addCallback { _ in
                            counts.append(server.queries.count)
                            _ = cache
                            reactor.stop()
                        }
                    }
                }
            }
        }
        #expect(counts == [2, 2, 4])
    }

    @Test func aNameErrorIsKeptBrieflyAndAServerFailureNotAtAll() throws {
        // When a name does not exist, the failure is reused for negativeTTL seconds, then asked
        // again; a SERVFAIL is asked again at once.
        let clock = Clock()
        let inner = ScriptedResolver()
        let cache = CachingResolver(resolver: inner, clock: clock, negativeTTL: 5)
        var reasons: [DNSLookupError.Reason] = []
        let record: (Result<HostResolution, Failure>) -> Void = { reasons.append(lookupError($0)?.reason ?? .other) }
        _ = cache.resolveHostName("gone.test").addBoth(record)
        inner.fail("gone.test", .nameNotFound)
        _ = cache.resolveHostName("gone.test").addBoth(record)
        #expect(inner.lookups == ["gone.test"])
        clock.advance(5)
        _ = cache.resolveHostName("gone.test").addBoth(record)
        #expect(inner.lookups == ["gone.test", "gone.test"])
        inner.fail("gone.test", .serverFailure)
        _ = cache.resolveHostName("gone.test").addBoth(record)
        #expect(inner.lookups.count == 3)
        #expect(reasons == [.nameNotFound, .nameNotFound, .serverFailure])
    }

    @Test func cancellingOneWaiterLeavesTheOthersAndKeepsTheAnswer() throws {
        // When one of two callers waiting for a name cancels, the other still gets the answer,
        // which is then cached.
        let inner = ScriptedResolver()
        let cache = CachingResolver(resolver: inner, clock: Clock())
        var first: Failure?
        var second: [String] = []
        let cancelled = cache.resolveHostName("a.test")
        _ = cancelled.addBoth { if case .failure(let failure) = $0 { first = failure } }
        cancelled.cancel()
        _ = cache.resolveHostName("a.test").addCallback { second = $0.addresses.map(\.host) }
        inner.answer("a.test", ["127.0.0.1"])
        var third: [String] = []
        _ = cache.resolveHostName("a.test").addCallback { third = $0.addresses.map(\.host) }
        #expect(first?.check(CancelledError.self) != nil)
        #expect(second == ["127.0.0.1"])
        #expect(third == ["127.0.0.1"])
        #expect(inner.lookups == ["a.test"])
    }

    @Test func beyondItsCapacityTheLeastRecentlyUsedNameGoesFirst() throws {
        // When a cache of capacity 2 holds a and b, b being used last, adding c evicts a only.
        let inner = ScriptedResolver()
        let cache = CachingResolver(resolver: inner, clock: Clock(), capacity: 2)
        for name in ["a.test", "b.test"] {
            _ = cache.resolveHostName(name).addCallback { _ in }
            inner.answer(name, ["127.0.0.1"])
        }
        _ = cache.resolveHostName("a.test").addCallback { _ in }
        _ = cache.resolveHostName("b.test").addCallback { _ in }
        _ = cache.resolveHostName("c.test").addCallback { _ in }
        inner.answer("c.test", ["127.0.0.1"])
        #expect(cache.count == 2)
        _ = cache.resolveHostName("b.test").addCallback { _ in }
        #expect(inner.lookups == ["a.test", "b.test", "c.test"])
        _ = cache.resolveHostName("a.test").addCallback { _ in }
        #expect(inner.lookups == ["a.test", "b.test", "c.test", "a.test"])
    }

    @Test func anAnswerWithTTLZeroIsNotKept() throws {
        // When the answer's TTL is 0 (a hosts file, the threaded resolver), the next lookup asks again.
        let inner = ScriptedResolver()
        let cache = CachingResolver(resolver: inner, clock: Clock())
        _ = cache.resolveHostName("zero.test").addCallback { _ in }
        inner.answer("zero.test", ["127.0.0.1"], ttl: 0)
        _ = cache.resolveHostName("zero.test").addCallback { _ in }
        #expect(inner.lookups == ["zero.test", "zero.test"])
    }
}
