import Testing
@testable import Deferreds

@Suite("DeferredSemaphore")
struct SemaphoreTests {

    @Test func tokensLimitAndWaitingCountTrackAcquiresAndReleases() {
        // When tokens are acquired beyond the limit, the extra acquires wait and each release hands one over.
        let s = DeferredSemaphore(tokens: 2)
        #expect(s.limit == 2)
        #expect(s.tokens == 2)
        #expect(s.waitingCount == 0)

        let first = s.acquire()
        let second = s.acquire()
        #expect(first.called && second.called)
        #expect(s.tokens == 0)

        let third = s.acquire()
        #expect(!third.called)
        #expect(s.waitingCount == 1)

        s.release()
        #expect(third.called)
        #expect(s.tokens == 0)
        #expect(s.waitingCount == 0)

        s.release()
        #expect(s.tokens == 1)
        s.release()
        #expect(s.tokens == 2)
        #expect(s.limit == 2)
    }

    @Test func acquireFiresWithTheSemaphoreItself() {
        // When acquire() gets a token, its deferred fires with the semaphore.
        let s = DeferredSemaphore(tokens: 1)
        let out = Outcome(s.acquire())
        #expect(out.value === s)
        s.release()
    }

    @Test func runLimitsConcurrencyAndStartsWaitersInOrder() {
        // When 10 jobs are run through a 3-token semaphore, at most 3 are in flight and they start in submission order.
        let s = DeferredSemaphore(tokens: 3)
        let jobs = (0..<10).map { _ in Deferred<Int>() }
        var started: [Int] = []
        var inFlight = 0
        var maxInFlight = 0
        let results = (0..<10).map { i in
            Outcome(s.run { () -> Deferred<Int> in
                started.append(i)
                inFlight += 1
                maxInFlight = max(maxInFlight, inFlight)
                return jobs[i]
            })
        }
        #expect(started == [0, 1, 2])
        #expect(s.waitingCount == 7)

        func finish(_ i: Int) {
            inFlight -= 1
            jobs[i].callback(i * 100)
        }
        finish(1)
        #expect(started == [0, 1, 2, 3])
        finish(0)
        finish(3)
        #expect(started == [0, 1, 2, 3, 4, 5])
        for i in [2, 4, 5, 6, 7, 8, 9] { finish(i) }

        #expect(started == Array(0..<10))
        #expect(maxInFlight == 3)
        #expect(results.map(\.value) == (0..<10).map { $0 * 100 })
        #expect(s.tokens == 3)
        #expect(s.waitingCount == 0)
    }

    @Test func theTokenIsHeldUntilTheDeferredReturnedByFFires() {
        // When f returns a deferred that waits on a later one (headers, then body), the token is held until the body arrives.
        let s = DeferredSemaphore(tokens: 1)
        let headers = Deferred<Int>()
        let body = Deferred<String>()
        var secondStarted = false
        let first = Outcome(s.run { () -> Deferred<String> in
            headers.addCallback { (_: Int) -> Deferred<String> in body }
        })
        let second = Outcome(s.run { () -> Deferred<String> in
            secondStarted = true
            return Deferred.succeed("second")
        })
        #expect(s.tokens == 0)
        #expect(!secondStarted)

        headers.callback(200)
        #expect(!first.fired)
        #expect(s.tokens == 0)
        #expect(!secondStarted)

        body.callback("body")
        #expect(first.value == "body")
        #expect(secondStarted)
        #expect(second.value == "second")
        #expect(s.tokens == 1)
    }

    @Test func anAlreadyFiredDeferredFromFReleasesTheTokenBeforeRunReturns() {
        // When f returns a fired deferred (success or failure), run returns it with the token already free again.
        let s = DeferredSemaphore(tokens: 1)
        let fired = Deferred.succeed(7)
        let result = s.run { fired }
        #expect(s.tokens == 1)
        #expect(result === fired)
        #expect(Outcome(result).value == 7)

        let failedOut = Outcome(s.run { Deferred<Int>.fail(TestError(code: 3)) })
        #expect(s.tokens == 1)
        #expect(failedOut.error(TestError.self) == TestError(code: 3))
    }

    @Test func aStepAddedToFsFiredDeferredByTheNextHolderRunsAfterTheHandOver() {
        // When a fired deferred from run hands the token to a waiter that adds a step to it, the step runs after.
        let s = DeferredSemaphore(tokens: 1)
        let shared = Deferred.succeed(10)
        var log: [String] = []
        _ = s.run { () -> Deferred<Int> in
            _ = s.run { () -> Deferred<Int> in
                _ = shared.addCallback { (v: Int) -> Int in log.append("added(\(v))"); return v }
                log.append("second")
                return Deferred.succeed(0)
            }
            log.append("first")
            return shared
        }

        #expect(log == ["first", "second", "added(10)"])
        #expect(s.tokens == 1)
    }

    @Test func aThrowingFReleasesTheTokenAndFailsTheResult() {
        // When f throws (deferred or plain overload), the token is released and run's deferred fails with the error.
        let s = DeferredSemaphore(tokens: 1)
        let deferredOut = Outcome(s.run { () throws -> Deferred<Int> in throw TestError(code: 1) })
        #expect(s.tokens == 1)
        #expect(deferredOut.error(TestError.self) == TestError(code: 1))

        let plainOut = Outcome(s.run { () throws -> Int in throw TestError(code: 2) })
        #expect(s.tokens == 1)
        #expect(plainOut.error(TestError.self) == TestError(code: 2))
    }

    @Test func aFailingDeferredFromFReleasesTheToken() {
        // When f's deferred fails, the token is released and the failure is run's result.
        let s = DeferredSemaphore(tokens: 1)
        let job = Deferred<Int>()
        let out = Outcome(s.run { () -> Deferred<Int> in job })
        #expect(s.tokens == 0)

        job.errback(TestError(code: 3))

        #expect(s.tokens == 1)
        #expect(out.error(TestError.self) == TestError(code: 3))
    }

    @Test func runWithAnArgumentCallsFWithIt() {
        // When run(getPage, url) is used, getPage is called with url under the semaphore, as in the tutorial.
        let s = DeferredSemaphore(tokens: 2)
        var pending: [String: Deferred<String>] = [:]
        var requested: [String] = []
        func getPage(_ url: String) -> Deferred<String> {
            requested.append(url)
            let d = Deferred<String>()
            pending[url] = d
            return d
        }
        let urls = ["http://a/", "http://b/", "http://c/"]
        let pages = urls.map { Outcome(s.run(getPage, $0)) }
        #expect(requested == ["http://a/", "http://b/"])

        pending["http://b/"]?.callback("page b")
        #expect(requested == urls)
        pending["http://a/"]?.callback("page a")
        pending["http://c/"]?.callback("page c")

        #expect(pages.map(\.value) == ["page a", "page b", "page c"])
        #expect(s.tokens == 2)
    }

    @Test func runWithAPlainValueFunctionFiresWithItsValue() {
        // When f returns a plain value, run fires with it and the token is released at once.
        let s = DeferredSemaphore(tokens: 1)
        var calls = 0
        let out = Outcome(s.run { () -> Int in calls += 1; return 42 })
        #expect(calls == 1)
        #expect(out.value == 42)
        #expect(s.tokens == 1)
    }

    @Test func cancellingAWaitingAcquireGivesUpItsPlace() {
        // When a waiting acquire is cancelled, it fails with CancelledError, leaves the line, and the token goes to the next waiter.
        let s = DeferredSemaphore(tokens: 1)
        let holder = s.acquire()
        #expect(holder.called)
        let cancelled = s.acquire()
        let next = s.acquire()
        #expect(s.waitingCount == 2)
        let cancelledOut = Outcome(cancelled)
        let nextOut = Outcome(next)

        cancelled.cancel()
        #expect(s.waitingCount == 1)
        #expect(cancelledOut.error(CancelledError.self) != nil)

        s.release()
        #expect(nextOut.value === s)
        #expect(s.tokens == 0)
        #expect(s.waitingCount == 0)

        s.release()
        #expect(s.tokens == 1)
    }

    @Test func cancellingAWaitingRunNeverCallsF() {
        // When a run waiting for a token is cancelled, f is never called and the next run gets the token.
        let s = DeferredSemaphore(tokens: 1)
        let holder = s.acquire()
        var calls: [String] = []
        let cancelledRun = s.run { () -> Int in calls.append("cancelled"); return 1 }
        let nextOut = Outcome(s.run { () -> Int in calls.append("next"); return 2 })
        let cancelledOut = Outcome(cancelledRun)

        cancelledRun.cancel()
        #expect(s.waitingCount == 1)
        s.release()

        #expect(calls == ["next"])
        #expect(cancelledOut.error(CancelledError.self) != nil)
        #expect(nextOut.value == 2)
        #expect(s.tokens == 1)
        _ = holder
    }

    @Test func cancellingARunInProgressCancelsFsDeferredAndReleasesTheToken() {
        // When a run that got its token late is cancelled while f's deferred is pending, that deferred is cancelled and the token freed.
        let s = DeferredSemaphore(tokens: 1)
        let holder = s.acquire()
        var jobCancelled = false
        let job = Deferred<Int>(canceller: { _ in jobCancelled = true })
        let run = s.run { () -> Deferred<Int> in job }
        let out = Outcome(run)
        s.release()
        #expect(s.tokens == 0)

        run.cancel()

        #expect(jobCancelled)
        #expect(out.error(CancelledError.self) != nil)
        #expect(s.tokens == 1)
        _ = holder
    }

    @Test func aHundredThousandQueuedWaitersWithSynchronousWorkDoNotOverflowTheStack() {
        // When 100,000 runs wait behind a held token and each f completes at once, one release runs them all in order.
        let n = 100_000
        let s = DeferredSemaphore(tokens: 1)
        let holder = s.acquire()
        var order: [Int] = []
        order.reserveCapacity(n)
        var completed = 0
        for i in 0..<n {
            _ = s.run { () -> Deferred<Int> in
                order.append(i)
                return Deferred.succeed(i)
            }.addCallback { _ in completed += 1 }
        }
        #expect(s.waitingCount == n)

        s.release()

        #expect(completed == n)
        #expect(order.count == n)
        #expect(order.elementsEqual(0..<n), "waiters must start in the order they queued")
        #expect(s.tokens == 1)
        #expect(s.waitingCount == 0)
        _ = holder
    }
}
