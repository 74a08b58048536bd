import Deferreds
import Testing

@testable import Reactor

@Suite("Deferred.addTimeout")
struct DeferredTimeoutTests {

    @Test func aDeferredThatFiresInTimeKeepsItsValueAndLeavesNoTimer() {
        // When the deferred fires before the timeout, its value passes through and the timer is cancelled.
        let clock = Clock()
        let d = Deferred<Int>()
        d.addTimeout(5, clock: clock)
        let out = Recorded(d)
        #expect(clock.getDelayedCalls().map { $0.getTime() } == [5])

        clock.advance(4)
        d.callback(7)

        #expect(out.value == 7)
        #expect(clock.getDelayedCalls().isEmpty)
        clock.advance(10)
        #expect(out.calls == 1)
    }

    @Test func anAlreadyFiredDeferredLeavesNoTimer() {
        // When a timeout is added to a deferred that has already fired, the timer is cancelled at once.
        let clock = Clock()

        let out = Recorded(Deferred.succeed("ready").addTimeout(1, clock: clock))

        #expect(out.value == "ready")
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func aFailureInTimeIsLeftUnchanged() {
        // When the deferred fails before the timeout, its failure passes through unchanged and the timer is cancelled.
        let clock = Clock()
        let d = Deferred<Int>()
        let out = Recorded(d.addTimeout(5, clock: clock))

        d.errback(Boom(code: 1))

        #expect(out.error(Boom.self) == Boom(code: 1))
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func timingOutFailsWithTimeoutError() {
        // When the time runs out first (not before), the deferred is cancelled and fails with TimeoutError(seconds:).
        let clock = Clock()
        let d = Deferred<Int>()
        let line = #line + 1
        let out = Recorded(d.addTimeout(5, clock: clock))

        clock.advance(4.5)
        #expect(!out.fired)
        clock.advance(0.5)

        #expect(out.error(TimeoutError.self) == TimeoutError(seconds: 5))
        #expect(out.failure?.line == line)
        #expect(d.called)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func timingOutRunsTheCanceller() {
        // When the time runs out, the deferred's canceller is called once.
        let clock = Clock()
        var cancellerCalls = 0
        let d = Deferred<Int>(canceller: { _ in cancellerCalls += 1 })
        let out = Recorded(d.addTimeout(1, clock: clock))

        clock.advance(1)

        #expect(cancellerCalls == 1)
        #expect(out.error(TimeoutError.self) != nil)
    }

    @Test func aLateResultAfterATimeoutIsIgnored() {
        // When the operation fires after it timed out, the late result is ignored and the TimeoutError stands.
        let clock = Clock()
        let d = Deferred<Int>()
        let out = Recorded(d.addTimeout(1, clock: clock))
        clock.advance(1)

        d.callback(1)

        #expect(out.error(TimeoutError.self) != nil)
        #expect(out.calls == 1)
    }

    @Test func aCancellerThatFiresWithAValueIsLeftAlone() {
        // When the canceller fires the deferred with its own value, the timeout passes that value on.
        let clock = Clock()
        let d = Deferred<String>(canceller: { $0.callback("fallback") })
        let out = Recorded(d.addTimeout(1, clock: clock))

        clock.advance(1)

        #expect(out.value == "fallback")
    }

    @Test func aCancellerThatFailsWithItsOwnErrorIsLeftAlone() {
        // When the canceller fails the deferred with its own error, that error passes on, not TimeoutError.
        let clock = Clock()
        let d = Deferred<String>(canceller: { $0.errback(Boom(code: 9)) })
        let out = Recorded(d.addTimeout(1, clock: clock))

        clock.advance(1)

        #expect(out.error(Boom.self) == Boom(code: 9))
    }

    @Test func anExplicitCancelStaysACancelledError() {
        // When the deferred is cancelled by hand before the timeout, it fails with CancelledError, not TimeoutError.
        let clock = Clock()
        let d = Deferred<Int>()
        let out = Recorded(d.addTimeout(5, clock: clock))

        d.cancel()

        #expect(out.error(CancelledError.self) != nil)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func aDeferredReturnedByAnEarlierStepIsTimedOut() {
        // When the chain waits for a deferred an earlier step returned, that one is cancelled and the chain times out.
        let clock = Clock()
        var innerCancelled = false
        let inner = Deferred<Int>(canceller: { _ in innerCancelled = true })
        let d = Deferred<Int>()
        let out = Recorded(d.addCallback { _ in inner }.addTimeout(3, clock: clock))
        d.callback(1)

        clock.advance(3)

        #expect(innerCancelled)
        #expect(out.error(TimeoutError.self) == TimeoutError(seconds: 3))
    }

    @Test func stepsAddedAfterTheTimeoutAreNotCovered() {
        // When a step added after the timeout returns a deferred, the chain waits for it past the timeout.
        let clock = Clock()
        let inner = Deferred<Int>()
        let d = Deferred<Int>()
        let out = Recorded(d.addTimeout(1, clock: clock).addCallback { _ in inner })
        d.callback(1)

        clock.advance(10)
        #expect(!out.fired)
        #expect(clock.getDelayedCalls().isEmpty)
        inner.callback(2)

        #expect(out.value == 2)
    }

    @Test func theShorterOfTwoTimeoutsWins() {
        // When two timeouts are added, the shorter one wins and the other's timer is cancelled.
        let clock = Clock()
        let d = Deferred<Int>()
        let out = Recorded(d.addTimeout(10, clock: clock).addTimeout(2, clock: clock))

        clock.advance(2)

        #expect(out.error(TimeoutError.self) == TimeoutError(seconds: 2))
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func onTimeoutCancelReplacesTheConversion() {
        // When time runs out, onTimeoutCancel gets the cancelled result and the seconds; what it returns is the result.
        let clock = Clock()
        let d = Deferred<String>()
        var seen: (cancelled: Bool, seconds: Double)?
        let out = Recorded(
            d.addTimeout(4, clock: clock) { result, seconds in
                if case .failure(let failure) = result { seen = (failure.check(CancelledError.self) != nil, seconds) }
                return "timed out"
            })

        clock.advance(4)

        #expect(out.value == "timed out")
        #expect(seen?.cancelled == true)
        #expect(seen?.seconds == 4)
    }

    @Test func onTimeoutCancelIsNotCalledWhenInTime() {
        // When the deferred fires in time, onTimeoutCancel is not called.
        let clock = Clock()
        let d = Deferred<String>()
        var calls = 0
        let out = Recorded(
            d.addTimeout(4, clock: clock) { _, _ in
                calls += 1
                return "timed out"
            })

        d.callback("in time")
        clock.advance(10)

        #expect(out.value == "in time")
        #expect(calls == 0)
    }

    @Test func theTimerDoesNotKeepAFiredChainAlive() {
        // When the deferred has fired in time, neither the clock nor the timer holds on to it.
        let clock = Clock()
        weak var weakD: Deferred<Int>?
        do {
            let d = Deferred<Int>()
            weakD = d
            d.addTimeout(5, clock: clock)
            d.callback(1)
        }

        #expect(weakD == nil)
    }
}
