import Testing
@testable import Deferreds

@Suite("Cancelling deferreds")
struct CancellationTests {

    @Test func cancelWithoutACancellerErrbacksWithCancelledError() {
        // When an unfired deferred without a canceller is cancelled, it fails with CancelledError.
        let d = Deferred<Int>()
        let out = Outcome(d)

        d.cancel()

        #expect(d.called)
        #expect(out.error(CancelledError.self) == CancelledError())
    }

    @Test func aCancellerThatFiresTheDeferredWins() {
        // When the canceller calls back with a value, that value is the result and no CancelledError follows.
        let d = Deferred<Int>(canceller: { $0.callback(42) })
        let out = Outcome(d)

        d.cancel()

        #expect(out.value == 42)
        #expect(out.calls == 1)
    }

    @Test func aCancellerThatFailsTheDeferredWins() {
        // When the canceller errbacks with its own error, that error is the result, not CancelledError.
        let d = Deferred<Int>(canceller: { $0.errback(TestError(code: 1)) })
        let out = Outcome(d)

        d.cancel()

        #expect(out.error(TestError.self) == TestError(code: 1))
        #expect(out.calls == 1)
    }

    @Test func aCancellerThatDoesNotFireLeavesCancelledError() {
        // When the canceller runs but does not fire the deferred, the deferred fails with CancelledError.
        var cancellerCalls = 0
        let d = Deferred<Int>(canceller: { _ in cancellerCalls += 1 })
        let out = Outcome(d)

        d.cancel()

        #expect(cancellerCalls == 1)
        #expect(out.error(CancelledError.self) != nil)
    }

    @Test func theCancellerReceivesTheDeferredBeingCancelled() {
        // When a deferred is cancelled, its canceller is called with that very deferred.
        var received: Deferred<Int>?
        let d = Deferred<Int>(canceller: { received = $0 })
        let out = Outcome(d)

        d.cancel()

        #expect(received === d)
        #expect(out.error(CancelledError.self) != nil)
    }

    @Test func cancellingAFiredDeferredDoesNothing() {
        // When a fired deferred is cancelled, its canceller is not called and its result is unchanged.
        var cancellerCalls = 0
        let d = Deferred<Int>(canceller: { _ in cancellerCalls += 1 })
        d.callback(3)

        d.cancel()
        d.cancel()

        #expect(cancellerCalls == 0)
        let out = Outcome(d)
        #expect(out.value == 3)
    }

    @Test func cancellingTwiceCallsTheCancellerOnce() {
        // When an unfired deferred is cancelled twice, the canceller runs once and the chain fails once.
        var cancellerCalls = 0
        let d = Deferred<Int>(canceller: { _ in cancellerCalls += 1 })
        let out = Outcome(d)

        d.cancel()
        d.cancel()

        #expect(cancellerCalls == 1)
        #expect(out.calls == 1)
        #expect(out.error(CancelledError.self) != nil)
    }

    @Test func cancellingADeferredWaitingOnAnInnerOneCancelsTheInner() {
        // When a deferred waiting on an inner deferred is cancelled, the inner's canceller runs and both get CancelledError.
        var innerCancellerCalls = 0
        let inner = Deferred<Int>(canceller: { _ in innerCancellerCalls += 1 })
        var innerSaw: Failure?
        inner.addErrback { (f: Failure) -> Int in
            innerSaw = f
            throw f
        }
        var outerCancellerCalls = 0
        let outer = Deferred<Int>(canceller: { _ in outerCancellerCalls += 1 })
        let outerOut = Outcome(outer.addCallback { (_: Int) -> Deferred<Int> in inner })
        outer.callback(0)
        #expect(outer.paused)

        outer.cancel()

        #expect(innerCancellerCalls == 1)
        #expect(outerCancellerCalls == 0)
        #expect(innerSaw?.value is CancelledError)
        #expect(outerOut.error(CancelledError.self) != nil)
        #expect(!outer.paused)
    }

    @Test func cancellingAnOuterWhoseInnerCancellerFiresPassesThatResultOn() {
        // When the inner deferred's canceller calls back with a value, the outer chain continues with that value.
        let inner = Deferred<Int>(canceller: { $0.callback(7) })
        let outer = Deferred<Int>()
        let out = Outcome(outer.addCallback { (_: Int) -> Deferred<Int> in inner })
        outer.callback(0)

        outer.cancel()

        #expect(out.value == 7)
    }

    @Test func oneLateCallbackAfterCancelIsIgnored() {
        // When a cancelled deferred is later called back once (by the operation), the call is ignored.
        let d = Deferred<Int>()
        let out = Outcome(d)
        d.cancel()

        d.callback(5)

        #expect(out.calls == 1)
        #expect(out.error(CancelledError.self) != nil)
    }

    @Test func oneLateErrbackAfterCancelIsIgnored() {
        // When a cancelled deferred is later errbacked once, the call is ignored and the failure stays CancelledError.
        var cancellerCalls = 0
        let d = Deferred<Int>(canceller: { _ in cancellerCalls += 1 })
        let out = Outcome(d)
        d.cancel()

        d.errback(TestError())

        #expect(cancellerCalls == 1)
        #expect(out.calls == 1)
        #expect(out.error(CancelledError.self) != nil)
    }

    @Test func cancellingAPausedUnfiredDeferredFailsItOnceUnpaused() {
        // When a paused, unfired deferred is cancelled, it is fired with CancelledError but its errbacks wait for unpause().
        let d = Deferred<Int>()
        let out = Outcome(d)
        d.pause()

        d.cancel()
        #expect(d.called)
        #expect(!out.fired)

        d.unpause()
        #expect(out.error(CancelledError.self) != nil)
    }

    // MARK: - Releasing what a fired deferred captured

    @Test func firingReleasesObjectsCapturedOnlyByCallbacks() {
        // When a deferred fires, the callbacks that ran are dropped: objects only they captured are freed.
        weak var typedCapture: Token?
        weak var erasedCapture: Token?
        weak var errbackCapture: Token?
        let d = Deferred<Int>()
        do {
            let a = Token(), b = Token(), c = Token()
            typedCapture = a
            erasedCapture = b
            errbackCapture = c
            _ = d.addCallback { (v: Int) -> Int in withExtendedLifetime(a) { v + 1 } }
            d.addErrback { (_: Failure) -> Int in withExtendedLifetime(c) { 0 } }
            _ = d.addCallback { (v: Int) -> String in withExtendedLifetime(b) { "\(v)" } }
        }
        #expect(typedCapture != nil)
        #expect(erasedCapture != nil)
        #expect(errbackCapture != nil)

        d.callback(1)

        withExtendedLifetime(d) {
            #expect(typedCapture == nil)
            #expect(erasedCapture == nil)
            #expect(errbackCapture == nil)
        }
    }

    @Test func freeingAnUnfiredDeferredReleasesWhatItsManyCallbacksCaptured() {
        // When an unfired deferred holding a thousand callbacks is freed, objects only they captured are freed.
        weak var capture: Token?
        weak var weakD: Deferred<Int>?
        do {
            let token = Token()
            capture = token
            let d = Deferred<Int>()
            for _ in 0..<1000 { _ = d.addCallback { (v: Int) -> Int in withExtendedLifetime(token) { v + 1 } } }
            weakD = d
        }
        #expect(weakD == nil)
        #expect(capture == nil)
    }

    @Test func freeingADeferredPausedAmongItsCallbacksReleasesThoseNotRun() {
        // When a deferred paused halfway through its callbacks is freed, the callbacks not yet run are freed with it.
        weak var ranCapture: Token?
        weak var waitingCapture: Token?
        weak var weakD: Deferred<Int>?
        var ran = 0
        do {
            let early = Token(), late = Token()
            ranCapture = early
            waitingCapture = late
            let d = Deferred<Int>()
            for _ in 0..<10 {
                _ = d.addCallback { (v: Int) -> Int in withExtendedLifetime(early) { ran += 1; return v } }
            }
            _ = d.addCallback { (v: Int) -> Int in d.pause(); return v }
            for _ in 0..<10 {
                _ = d.addCallback { (v: Int) -> Int in withExtendedLifetime(late) { ran += 1; return v } }
            }
            d.callback(0)
            #expect(d.paused)
            weakD = d
        }
        #expect(ran == 10)
        #expect(ranCapture == nil)
        #expect(weakD == nil)
        #expect(waitingCapture == nil)
    }

    @Test func firingReleasesObjectsCapturedOnlyByTheCanceller() {
        // When a deferred fires (by callback or by cancel), its canceller is dropped: objects only it captured are freed.
        weak var firedCapture: Token?
        weak var cancelledCapture: Token?
        let fired: Deferred<Int>
        let cancelled: Deferred<Int>
        do {
            let a = Token(), b = Token()
            firedCapture = a
            cancelledCapture = b
            fired = Deferred<Int>(canceller: { _ in withExtendedLifetime(a) {} })
            cancelled = Deferred<Int>(canceller: { _ in withExtendedLifetime(b) {} })
        }
        #expect(firedCapture != nil)
        #expect(cancelledCapture != nil)

        fired.callback(1)
        cancelled.cancel()

        withExtendedLifetime((fired, cancelled)) {
            #expect(firedCapture == nil)
            #expect(cancelledCapture == nil)
        }
        cancelled.addErrback { _ in 0 }
    }

    @Test func aDeferredWhoseCancellerCapturesItselfIsFreedOnceFired() {
        // When a deferred's canceller captures the deferred, the cycle keeps it alive only until it fires.
        weak var weakD: Deferred<Int>?
        do {
            var d: Deferred<Int>?
            d = Deferred<Int>(canceller: { _ in d?.callback(-1) })
            weakD = d
        }
        #expect(weakD != nil)

        weakD?.callback(1)

        #expect(weakD == nil)
    }

    @Test func aDeferredWhoseCallbackCapturesItselfIsFreedOnceFired() {
        // When a deferred's callback captures the deferred, the cycle keeps it alive only until the callback has run.
        weak var weakD: Deferred<Int>?
        var seen: Int?
        do {
            let d = Deferred<Int>()
            _ = d.addCallback { (v: Int) -> Int in
                seen = withExtendedLifetime(d) { v }
                return v
            }
            weakD = d
        }
        #expect(weakD != nil)

        weakD?.callback(2)

        #expect(seen == 2)
        #expect(weakD == nil)
    }
}
