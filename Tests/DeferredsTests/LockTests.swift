import Testing
@testable import Deferreds

@Suite("DeferredLock")
struct LockTests {

    @Test func lockedReflectsWhetherSomeoneHoldsTheLock() {
        // When the lock is acquired it reports locked, with the lock as the result; releasing unlocks it.
        let lock = DeferredLock()
        #expect(!lock.locked)

        let out = Outcome(lock.acquire())
        #expect(lock.locked)
        #expect(out.value === lock)

        lock.release()
        #expect(!lock.locked)
    }

    @Test func waitersGetTheLockInTheOrderTheyAsked() {
        // When several acquires wait, each release hands the lock to the longest waiter and it stays locked.
        let lock = DeferredLock()
        var log: [String] = []
        _ = lock.acquire().addCallback { _ in log.append("a") }
        _ = lock.acquire().addCallback { _ in log.append("b") }
        _ = lock.acquire().addCallback { _ in log.append("c") }
        #expect(log == ["a"])
        #expect(lock.waitingCount == 2)

        lock.release()
        #expect(log == ["a", "b"])
        #expect(lock.locked)

        lock.release()
        #expect(log == ["a", "b", "c"])
        #expect(lock.locked)
        #expect(lock.waitingCount == 0)

        lock.release()
        #expect(!lock.locked)
    }

    @Test func runHoldsTheLockUntilFsDeferredFires() {
        // When run's f returns a pending deferred, the next run waits until that deferred fires.
        let lock = DeferredLock()
        let job = Deferred<String>()
        var log: [String] = []
        let first = Outcome(lock.run { () -> Deferred<String> in log.append("first"); return job })
        let second = Outcome(lock.run { () -> Int in log.append("second"); return 2 })
        #expect(log == ["first"])
        #expect(lock.locked)

        job.callback("done")

        #expect(log == ["first", "second"])
        #expect(first.value == "done")
        #expect(second.value == 2)
        #expect(!lock.locked)
    }

    @Test func runReleasesTheLockWhenFThrows() {
        // When run's f throws, the lock is released and run's deferred fails with the error.
        let lock = DeferredLock()
        let out = Outcome(lock.run { () throws -> Deferred<Int> in throw TestError(code: 1) })
        #expect(!lock.locked)
        #expect(out.error(TestError.self) == TestError(code: 1))
    }

    @Test func cancellingAQueuedAcquireGivesUpItsPlace() {
        // When a queued acquire is cancelled, it fails with CancelledError and the lock goes to the next waiter.
        let lock = DeferredLock()
        let holder = lock.acquire()
        let cancelled = lock.acquire()
        let next = lock.acquire()
        let cancelledOut = Outcome(cancelled)
        let nextOut = Outcome(next)
        #expect(lock.waitingCount == 2)

        cancelled.cancel()
        #expect(lock.waitingCount == 1)
        #expect(cancelledOut.error(CancelledError.self) != nil)

        lock.release()
        #expect(nextOut.value === lock)
        #expect(lock.locked)
        #expect(lock.waitingCount == 0)

        lock.release()
        #expect(!lock.locked)
        _ = holder
    }
}
