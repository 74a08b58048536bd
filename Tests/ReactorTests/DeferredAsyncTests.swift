import Deferreds
import Testing
import TestSupport

@testable import Reactor

/// `Deferred.value` and `Deferred.fromTask`, run on a reactor's executor (each test's own reactor,
/// through a `ReactorHarness`).
@Suite struct DeferredAsyncTests {

    // MARK: - Awaiting a deferred

    @Test func awaitingAFiredDeferredReturnsItsResult() throws {
        // When a deferred has already fired, await d.value returns its result, on the reactor's thread.
        try withReactorTask { h in
            let d = Deferred.succeed(7)
            let dResult = try await d.value
            #expect(dResult == 7)
            let handle = d.addCallback { "#\($0)" }
            let handleResult = try await handle.value
            #expect(handleResult == "#7")
            #expect(h.onLoopThread)
        }
    }

    @Test func awaitingAnUnfiredDeferredResumesWhenItFires() throws {
        // When a deferred fires later (from a reactor timer), the awaiting code resumes with its result on the reactor's thread.
        try withReactorTask { h in
            let d = Deferred<Int>()
            h.reactor.callLater(0.01) { d.callback(5) }
            let dResult = try await d.value
            #expect(dResult == 5)
            #expect(h.onLoopThread)
        }
    }

    @Test func awaitingAFailedDeferredThrowsItsFailure() throws {
        // When the deferred fails, before or during the await, the await throws the Failure holding the original error.
        try withReactorTask { h in
            let fired = Deferred<Int>.fail(AsyncTestError(code: 1))
            do {
                _ = try await fired.value
            } catch let failure as Failure {
                #expect(failure.value as? AsyncTestError == AsyncTestError(code: 1))
            }

            let later = Deferred<Int>()
            h.reactor.callLater(0) { later.errback(AsyncTestError(code: 2)) }
            do {
                _ = try await later.value
                Issue.record("the await returned")
            } catch let failure as Failure {
                #expect(failure.value as? AsyncTestError == AsyncTestError(code: 2))
            }
            #expect(h.onLoopThread)
        }
    }

    @Test func awaitingAChainWaitingOnAnInnerDeferredWaitsForTheInnerOne() throws {
        // When the awaited chain waits on a deferred one of its callbacks returned, the await waits for that one too.
        try withReactorTask { h in
            let inner = Deferred<Int>()
            let outer = Deferred.succeed(1).addCallback { _ in inner }
            #expect(outer.paused)
            h.reactor.callLater(0) { inner.callback(2) }
            let outerResult = try await outer.value
            #expect(outerResult == 2)
        }
    }

    @Test func callbacksAddedBeforeTheAwaitRunFirstAndCallbacksAddedAfterSeeTheSameResult() throws {
        // When callbacks are added before and after an await, they run in chain order and the await leaves the result unchanged.
        try withReactorTask { h in
            var log: [String] = []
            let d = Deferred<Int>()
            _ = d.addCallback { value -> Int in
                log.append("before the await: \(value)")
                return value + 1
            }
            h.reactor.callLater(0) {
                d.callback(1)
                log.append("callback(1) returned")
            }
            let value = try await d.value
            log.append("await returned \(value)")
            _ = d.addCallback { value -> Int in
                log.append("after the await: \(value)")
                return value
            }
            #expect(
                log == ["before the await: 1", "callback(1) returned", "await returned 2", "after the await: 2"])
        }
    }

    @Test func stepsAddedWhileAnAwaitIsPendingRunAfterItsStep() throws {
        // When another step is added while an await is pending, it runs after the await's step, in the same callback() call; the awaiting code resumes on a later pass.
        try withReactorTask { h in
            var log: [String] = []
            let d = Deferred<Int>()
            let resumed = Deferred<Void>()
            Task {
                _ = h
                let value = try await d.value
                log.append("awaiting code resumed with \(value)")
                resumed.callback(())
            }
            try await nextTurn(h)  // the task runs first, up to its await
            _ = d.addCallback { value -> Int in
                log.append("step added during the await sees \(value)")
                return value * 10
            }
            d.callback(3)
            log.append("callback(3) returned")
            try await resumed.value
            #expect(
                log == [
                    "step added during the await sees 3", "callback(3) returned", "awaiting code resumed with 3",
                ])
            let dResult = try await d.value
            #expect(dResult == 30)
        }
    }

    @Test func tenThousandConcurrentAwaitsAllResumeOnTheReactorThread() throws {
        // When 10,000 tasks await 10,000 deferreds and then one shared deferred, every await resumes with its value on the reactor's thread.
        try withReactorTask(limit: 60) { h in
            let count = 10_000
            let deferreds = (0..<count).map { _ in Deferred<Int>() }
            let shared = Deferred<Int>()
            let loop = h.loopThread
            var results: [Deferred<Int>] = []
            for own in deferreds {
                results.append(
                    Deferred.fromTask {
                        let mine = try await own.value
                        #expect(loop.isCurrent)
                        let common = try await shared.value
                        #expect(loop.isCurrent)
                        return mine + common
                    })
            }
            try await nextTurn(h)  // every task runs up to its first await
            for (index, d) in deferreds.enumerated().reversed() { d.callback(index) }
            shared.callback(1_000_000)
            let all = try await gatherResults(results).value
            #expect(all == (0..<count).map { $0 + 1_000_000 })
            #expect(h.onLoopThread)
        }
    }

    // MARK: - Cancellation: task → deferred

    @Test func cancellingTheAwaitingTaskCancelsTheDeferredAndThrowsCancellationError() throws {
        // When the task awaiting an unfired deferred is cancelled, the deferred's canceller runs and the await throws CancellationError.
        try withReactorTask { h in
            var cancellerRan = false
            let d = Deferred<Int> { _ in cancellerRan = true }
            let outcome = Deferred<String>()
            let waiter = Task {
                _ = h
                do {
                    _ = try await d.value
                    outcome.callback("returned")
                } catch {
                    outcome.callback("\(type(of: error)) on the loop thread: \(h.onLoopThread)")
                }
            }
            try await nextTurn(h)  // the task is now suspended in its await
            #expect(!cancellerRan)
            waiter.cancel()
            let seen = try await outcome.value
            #expect(seen == "CancellationError on the loop thread: true")
            #expect(cancellerRan)
            #expect(d.called)
        }
    }

    @Test func aCancellerThatFiresWithAValueGivesTheAwaitThatValue() throws {
        // When the cancelled deferred's canceller fires it with a value, the await returns that value.
        try withReactorTask { h in
            let d = Deferred<Int> { d in d.callback(-1) }
            let outcome = Deferred<Int>()
            let waiter = Task {
                _ = h
                outcome.callback(try await d.value)
            }
            try await nextTurn(h)
            waiter.cancel()
            let value = try await outcome.value
            #expect(value == -1)
        }
    }

    @Test func aTaskCancelledBeforeItAwaitsCancelsTheDeferredAtOnce() throws {
        // When an already-cancelled task awaits an unfired deferred, the canceller runs during the await and it throws CancellationError.
        try withReactorTask { h in
            var log: [String] = []
            let d = Deferred<Int> { _ in log.append("canceller") }
            let waiter = Deferred<Int>.fromTask {
                withUnsafeCurrentTask { $0?.cancel() }
                log.append("awaiting")
                return try await d.value
            }
            do {
                _ = try await waiter.value
                Issue.record("the await returned")
            } catch let failure as Failure {
                #expect(failure.check(CancelledError.self) != nil)  // the task's CancellationError
            }
            #expect(log == ["awaiting", "canceller"])
        }
    }

    @Test func aCancelledTaskStillGetsTheResultOfAFiredDeferred() throws {
        // When a cancelled task awaits a deferred that has already fired, it gets the result (nothing to cancel).
        try withReactorTask { h in
            let d = Deferred.succeed("done")
            let waiter = Deferred<String>.fromTask {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await d.value
            }
            let value = try await waiter.value
            #expect(value == "done")
        }
    }

    @Test func cancellingTheDeferredItselfThrowsCancelledErrorInAFailure() throws {
        // When someone else cancels the awaited deferred, the await throws Failure(CancelledError), not CancellationError.
        try withReactorTask { h in
            let d = Deferred<Int>()
            h.reactor.callLater(0) { d.cancel() }
            do {
                _ = try await d.value
                Issue.record("the await returned")
            } catch let failure as Failure {
                #expect(failure.check(CancelledError.self) != nil)
            }
        }
    }

    // MARK: - A deferred from async code

    @Test func fromTaskStartsOnTheNextTurnAndFiresWithTheResult() throws {
        // When fromTask is called, its deferred comes back unfired, the operation runs on a later pass, and the deferred fires with its result.
        try withReactorTask { h in
            var log: [String] = []
            let quick = Deferred.fromTask {
                log.append("operation ran")
                return 1
            }
            log.append("fromTask returned")
            #expect(!quick.called)
            let quickResult = try await quick.value
            #expect(quickResult == 1)
            #expect(log == ["fromTask returned", "operation ran"])

            let trigger = Deferred<Int>()
            let loop = h.loopThread
            let later = Deferred.fromTask {
                let value = try await trigger.value
                return (loop.isCurrent ? 1 : -1) * value * 2
            }
            h.reactor.callLater(0) { trigger.callback(21) }
            let laterResult = try await later.value
            #expect(laterResult == 42)
        }
    }

    @Test func fromTaskFailsWithTheErrorTheOperationThrew() throws {
        // When the operation throws, the deferred fails with that error; a failure thrown through stays the same Failure.
        try withReactorTask { h in
            let failing = Deferred<Int>.fromTask { throw AsyncTestError(code: 3) }
            do {
                _ = try await failing.value
                Issue.record("the await returned")
            } catch let failure as Failure {
                #expect(failure.value as? AsyncTestError == AsyncTestError(code: 3))
            }

            let inner = Deferred<Int>()
            let passedOn = Deferred<Int>.fromTask { try await inner.value }
            h.reactor.callLater(0) { inner.errback(AsyncTestError(code: 4)) }
            do {
                _ = try await passedOn.value
                Issue.record("the await returned")
            } catch let failure as Failure {
                #expect(failure.value as? AsyncTestError == AsyncTestError(code: 4))
            }
        }
    }

    @Test func cancellingTheDeferredCancelsTheTaskAndWhatItAwaits() throws {
        // When cancel() is called on fromTask's deferred, it fails with CancelledError at once and the task's await cancels its own deferred.
        try withReactorTask { h in
            let innerCancelled = Deferred<Void>()
            let inner = Deferred<Int> { _ in innerCancelled.callback(()) }
            let taskSaw = Deferred<String>()
            let outer = Deferred<Int>.fromTask {
                do {
                    return try await inner.value
                } catch {
                    taskSaw.callback("\(type(of: error))")
                    throw error
                }
            }
            let recorded = Recorded(outer)
            try await nextTurn(h)  // the task is now suspended in inner.value
            outer.cancel()
            #expect(recorded.error(CancelledError.self) != nil)
            try await innerCancelled.value
            #expect(inner.called)
            // The task ends on a later pass; its CancellationError is the one late fire ignored.
            let taskSawResult = try await taskSaw.value
            #expect(taskSawResult == "CancellationError")
            #expect(recorded.calls == 1)
        }
    }

    @Test func aCancellationErrorThrownByTheOperationBecomesCancelledError() throws {
        // When the operation throws CancellationError, the deferred fails with Twisted's CancelledError.
        try withReactorTask { h in
            let d = Deferred<Int>.fromTask { throw CancellationError() }
            do {
                _ = try await d.value
                Issue.record("the await returned")
            } catch let failure as Failure {
                #expect(failure.check(CancelledError.self) != nil)
            }
        }
    }

    @Test func roundTripDeferredToTaskToDeferred() throws {
        // When a deferred is awaited in a task whose deferred is awaited in turn, values and failures pass through unchanged.
        try withReactorTask { h in
            let source = Deferred<Int>()
            let viaTask = Deferred.fromTask { try await source.value + 1 }
            let chained = viaTask.addCallback { $0 * 2 }
            h.reactor.callLater(0) { source.callback(20) }
            let chainedResult = try await chained.value
            #expect(chainedResult == 42)
            #expect(h.onLoopThread)
        }
    }
}
