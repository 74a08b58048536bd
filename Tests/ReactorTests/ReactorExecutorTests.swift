import Deferreds
import Glibc
import Synchronization
import Testing
import TestSupport

@testable import Reactor

/// `ReactorExecutor`: Swift jobs as steps of the reactor's loop.
@Suite struct ReactorExecutorTests {
    @Test func aNewTaskRunsOnTheNextPassAfterTheTimersDueInThisOne() throws {
        // When isolated code starts a task and schedules callLater(0), the timer runs later in this pass and the task on the next one, on the reactor's thread.
        try withReactorTask { h in
            var log: [String] = []
            let done = Deferred<Void>()
            Task {
                _ = h
                log.append("task on the loop thread: \(h.onLoopThread)")
            }
            h.reactor.callLater(0) { log.append("timer") }
            h.reactor.callLater(0.001) { done.callback(()) }
            log.append("still in the first job")
            try await done.value
            #expect(log == ["still in the first job", "timer", "task on the loop thread: true"])
        }
    }

    @Test func aTaskResumedFromAnotherThreadContinuesOnTheReactorThread() throws {
        // When a continuation is resumed on another thread, the task preferring the reactor continues on the reactor's thread, without the global pool.
        try withReactorTask { h in
            let resumer = Atomic<UInt>(0)
            let resumedOn: UInt = await withTaskExecutorPreference(h.executor) {
                await withCheckedContinuation { continuation in
                    startThread {
                        continuation.resume(returning: pthread_self())
                    }
                }
            }
            resumer.store(resumedOn, ordering: .relaxed)
            #expect(pthread_equal(resumer.load(ordering: .relaxed), pthread_self()) == 0)
            #expect(h.onLoopThread)
        }
    }

    @Test func isolationChecksPassOnTheReactorThreadOnly() throws {
        // When asked from the reactor's thread the executor isolates the caller; from another thread it does not.
        try withReactorTask { h in
            let executor = h.executor
            #expect(executor.isIsolatingCurrentContext() == true)
            let fromOtherThread: Bool? = await withTaskExecutorPreference(executor) {
                await withCheckedContinuation { continuation in
                    startThread { continuation.resume(returning: executor.isIsolatingCurrentContext()) }
                }
            }
            #expect(fromOtherThread == false)
        }
    }

    @Test func callbackStyleCodeEntersTheActorWithAssumeIsolated() throws {
        // When a reactor callback (outside any task) calls assumeIsolated on an actor of the reactor's executor, it runs synchronously.
        try withReactorTask { h in
            let entered = Deferred<Int>()
            h.reactor.callLater(0) {
                let count = h.assumeIsolated { isolated in isolated.reactor.pendingCallCount }
                entered.callback(count)
            }
            let count = try await entered.value
            #expect(count >= 0)
        }
    }

    @Test func theReactorThreadIsTheCreatorUntilRunThenTheRunner() throws {
        // When a reactor is created on one thread and run on another, isolation checks follow it to the running thread.
        let reactor = try EPollReactor()
        let executor = ReactorExecutor(reactor)
        #expect(executor.isIsolatingCurrentContext() == true)
        let queue = reactor.threadQueue
        let seenByRunner = Atomic<Int>(-1)
        let box = ReactorBound(reactor)  // handed over: this thread no longer touches it
        runThreadAndJoin {
            let reactor = box.value
            reactor.callWhenRunning {
                seenByRunner.store(executor.isIsolatingCurrentContext() == true ? 1 : 0, ordering: .relaxed)
                reactor.stop()
            }
            reactor.run(installSignalHandlers: false)
            reactor.close()
        }
        #expect(seenByRunner.load(ordering: .relaxed) == 1)
        #expect(!queue.isReactorThread)
    }
}
