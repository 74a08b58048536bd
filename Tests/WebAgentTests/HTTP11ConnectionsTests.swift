import Deferreds
import Reactor
import TestSupport
import Testing
import WebServer

@testable import WebAgent

@Suite struct HTTP11ConnectionsTests {
    // MARK: - Limits and the queue

    @Test func maxConnectionsPerHostOfOneSendsEveryRequestInOrderOnOneConnection() throws {
        // When five requests start at once with maxConnectionsPerHost = 1, they go one at a time, in
        // the order they were made, on a single connection.
        var paths: [String] = []
        var maxOpen = 0
        var accepted = 0
        try withServer { reactor, server in
            let pool = HTTPConnectionPool(reactor)
            pool.maxConnectionsPerHost = 1
            let agent = Agent(reactor, pool: pool)
            server.onRequest = { [unowned server] request in
                paths.append(request.path)
                maxOpen = max(maxOpen, server.openConnections)
            }
            _ = DeferredList((1...5).map { text(agent, server.url("/bytes/\($0)")) }).addBoth { _ in
                accepted = server.connectionsAccepted
                reactor.stop()
            }
        }
        #expect(paths == (1...5).map { "/bytes/\($0)" })
        #expect(accepted == 1)
        #expect(maxOpen == 1)
    }

    @Test func maxConnectionsServesWaitingRequestsInArrivalOrderAcrossServers() throws {
        // When maxConnections = 1 and requests to servers A, B, A wait in that order, B is served
        // before the second request to A, though A's connection could be reused for it.
        var order: [String] = []
        try withReactor { reactor in
            let first = WebServer(reactor)
            try first.listen()
            let second = WebServer(reactor)
            try second.listen()
            first.onRequest = { order.append("A" + $0.path) }
            second.onRequest = { order.append("B" + $0.path) }
            let pool = HTTPConnectionPool(reactor)
            pool.maxConnections = 1
            let agent = Agent(reactor, pool: pool)
            let all = [first.url("/1"), second.url("/2"), first.url("/3")].map { text(agent, $0) }
            _ = DeferredList(all).addBoth { _ in reactor.stop() }
        }
        #expect(order == ["A/1", "B/2", "A/3"])
    }

    @Test func aFailedConnectGivesItsPlaceToTheFirstWaitingRequest() throws {
        // When a connect fails under maxConnections = 1, the request that was already waiting gets
        // the place before one made in the failed request's errback.
        var order: [String] = []
        var refused = false
        try withServer { reactor, server in
            let closedPort = try reactor.listenTCP(0, Factory { _ in nil })
            let refusedURL = "http://127.0.0.1:\(closedPort.getHost().port)/"
            closedPort.stopListening()
            server.onRequest = { order.append($0.path) }
            let pool = HTTPConnectionPool(reactor)
            pool.maxConnections = 1
            let agent = Agent(reactor, pool: pool)
            var later: Deferred<String>?
            let failed = agent.request("GET", refusedURL).addCallback { _ in }.addErrback { failure in
                refused = failure.check(ConnectionRefusedError.self) != nil
                later = text(agent, server.url("/later"))
            }
            let waiting = text(agent, server.url("/waiting"))
            _ = DeferredList([failed, waiting.addCallback { _ in }]).addCallback { _ in
                later?.addCallback { _ in } ?? succeed(())
            }.addBoth { _ in reactor.stop() }
        }
        #expect(refused)
        #expect(order == ["/waiting", "/later"])
    }

    // MARK: - Cancelling and failing

    @Test func cancellingAtOnceFailsWithCancelledErrorAndHoldsNoConnection() throws {
        // When the request is cancelled right after it is made (while connecting), it fails with
        // CancelledError itself and the pool has no connection in use or open.
        var failure: Failure?
        var counts: (inUse: Int, open: Int)?
        try withServer { reactor, server in
            let pool = HTTPConnectionPool(reactor)
            reactor.callWhenRunning {
                let request = Agent(reactor, pool: pool).request("GET", server.url("/bytes/10"))
                request.cancel()
                _ = request.addBoth { result -> Void in
                    if case .failure(let f) = result { failure = f }
                    counts = (pool.plain.inUseCount, pool.plain.openCount)
                    reactor.stop()
                }
            }
        }
        #expect(failure?.value is CancelledError, "\(String(describing: failure))")
        #expect(counts?.inUse == 0)
        #expect(counts?.open == 0)
    }

    @Test func cancellingAConnectInProgressLetsAWaitingRequestGo() throws {
        // When a request still connecting (to a listener that never accepts) is cancelled under
        // maxConnections = 1, it fails with CancelledError, and the request waiting behind it is
        // served; no connection is left in use.
        let unserved = UnservedListener()
        var failure: Failure?
        var second: String?
        var inUseWhileConnecting = -1
        var inUse = -1
        try withServer { reactor, server in
            let pool = HTTPConnectionPool(reactor)
            pool.maxConnections = 1
            let agent = Agent(reactor, pool: pool)
            let stuck = agent.request("GET", "http://127.0.0.1:\(unserved.port)/")
            stuck.addCallback { _ in }.addErrback { failure = $0 }
            let waiting = text(agent, server.url("/bytes/3"))
            reactor.callLater(0.05) {
                inUseWhileConnecting = pool.plain.inUseCount
                stuck.cancel()
            }
            _ = waiting.addBoth { result -> Void in
                second = try? result.get()
                inUse = pool.plain.inUseCount
                reactor.stop()
            }
        }
        #expect(inUseWhileConnecting == 1)
        #expect(failure?.value is CancelledError, "\(String(describing: failure))")
        #expect(second?.utf8.count == 3)
        #expect(inUse == 0)
    }

    @Test func aTimeoutMidBodyAbortsTheConnectionAndTheNextRequestGetsANewOne() throws {
        // When the timeout expires while the body is stalled, readBody fails with TimeoutError, the
        // connection is not reused, and a request waiting under maxConnectionsPerHost = 1 succeeds.
        var first: Failure?
        var second: String?
        var accepted = 0
        var inUse = -1
        try withServer { reactor, server in
            let pool = HTTPConnectionPool(reactor)
            pool.maxConnectionsPerHost = 1
            let agent = Agent(reactor, pool: pool)
            text(agent, server.url("/fault/stall-body?length=10000"), timeout: 0.2).addCallback { _ in }
                .addErrback { first = $0 }
            _ = text(agent, server.url("/bytes/4")).addBoth { result -> Void in
                second = try? result.get()
                accepted = server.connectionsAccepted
                inUse = pool.plain.inUseCount
                reactor.stop()
            }
        }
        #expect(first?.value is TimeoutError, "\(String(describing: first))")
        #expect(second?.utf8.count == 4)
        #expect(accepted == 2)
        #expect(inUse == 0)
    }

    // MARK: - Closing

    @Test func closeCachedConnectionsClosesTheIdleConnections() throws {
        // When closeCachedConnections is called, the idle connections close (the server sees them
        // go) and the pool keeps none.
        var idleBefore = -1
        var open: (pool: Int, server: Int)?
        try withServer { reactor, server in
            let pool = HTTPConnectionPool(reactor)
            let agent = Agent(reactor, pool: pool)
            _ = DeferredList((0..<2).map { _ in text(agent, server.url("/bytes/5")) })
                .addCallback { _ -> Deferred<Void> in
                    idleBefore = pool.plain.idleCount
                    return pool.closeCachedConnections()
                }.addCallback { _ in
                    eventually(reactor) { server.openConnections == 0 }
                }.addBoth { _ in
                    open = (pool.plain.openCount, server.openConnections)
                    reactor.stop()
                }
        }
        #expect(idleBefore == 2)
        #expect(open?.pool == 0)
        #expect(open?.server == 0)
    }

    @Test func anIdleConnectionClosesWhenItsOwnIdleTimeExpires() throws {
        // When cachedConnectionTimeout is 0.4 s, a connection goes idle at 0 and is used again with a
        // second one at 0.1, both idle again at 0.1 are closed at 0.5: the sweep that found nothing
        // expired at 0.4 is re-armed for the oldest idle connection, not a whole timeout later.
        var idleAt01 = -1
        var openAt075 = -1
        try withServer { reactor, server in
            let pool = HTTPConnectionPool(reactor)
            pool.cachedConnectionTimeout = 0.4
            let agent = Agent(reactor, pool: pool)
            _ = text(agent, server.url("/bytes/5")).addCallback { _ -> Deferred<Void> in
                reactor.callLater(0.75) {
                    openAt075 = server.openConnections
                    reactor.stop()
                }
                return deferLater(reactor, 0.1) { () }.addCallback { _ -> Deferred<Void> in
                    idleAt01 = pool.plain.idleCount
                    return DeferredList([text(agent, server.url("/bytes/5")), text(agent, server.url("/bytes/6"))])
                        .addCallback { _ in () }
                }
            }
        }
        #expect(idleAt01 == 1)
        #expect(openAt075 == 0)
    }

    @Test func droppingThePoolClosesItsIdleConnections() throws {
        // When the last reference to a persistent pool (and its agent) goes, its idle connection is
        // closed.
        var openBefore = -1
        var openAfter = -1
        try withServer { reactor, server in
            var agent: Agent? = Agent(reactor, pool: HTTPConnectionPool(reactor))
            _ = text(agent!, server.url("/bytes/5")).addCallback { _ -> Deferred<Void> in
                openBefore = server.openConnections
                agent = nil
                return eventually(reactor) { server.openConnections == 0 }
            }.addBoth { _ in
                openAfter = server.openConnections
                reactor.stop()
            }
        }
        #expect(openBefore == 1)
        #expect(openAfter == 0)
    }

    @Test func shuttingTheReactorDownWithARequestInFlightFiresNothing() throws {
        // When the reactor shuts down while a request waits for its headers, the pool forgets the
        // request (its deferred is left unfired) and closes its connection.
        var fired = false
        var openWhileWaiting = -1
        var pool: HTTPConnectionPool?
        try withServer { reactor, server in
            pool = HTTPConnectionPool(reactor)
            _ = Agent(reactor, pool: pool).request("GET", server.url("/fault/stall-headers"))
                .addBoth { _ in fired = true }
            server.onRequest = { _ in
                openWhileWaiting = pool?.plain.openCount ?? -1
                reactor.stop()
            }
        }
        #expect(openWhileWaiting == 1)
        #expect(!fired)
        #expect(pool?.plain.openCount == 0)
    }
}
