import Deferreds
import Testing

@testable import Reactor

@Suite("deferLater")
struct DeferLaterTests {

    @Test func firesWithTheValueAfterTheDelay() {
        // When the delay has passed on the clock, f is called and the deferred fires with its value, not before.
        let clock = Clock()
        var calls = 0
        let d = deferLater(clock, 5) { () -> String in
            calls += 1
            return "done"
        }
        let out = Recorded(d)

        clock.advance(4.5)
        #expect(!out.fired)
        #expect(calls == 0)
        clock.advance(0.5)
        #expect(out.value == "done")
        #expect(calls == 1)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func schedulesExactlyOneCallAtTheDelay() {
        // When deferLater is called, one delayed call is pending on the clock, due after the delay.
        let clock = Clock()
        clock.advance(3)

        let out = Recorded(deferLater(clock, 2) {})

        #expect(clock.getDelayedCalls().map { $0.getTime() } == [5])
        clock.advance(2)
        #expect(out.fired)
    }

    @Test func aThrowingFunctionFailsTheDeferred() {
        // When f throws, the deferred fails with that error, located where deferLater was called.
        let clock = Clock()
        let line = #line + 1
        let d = deferLater(clock, 1) { () throws -> Int in throw Boom(code: 7) }
        let out = Recorded(d)

        clock.advance(1)

        #expect(out.error(Boom.self) == Boom(code: 7))
        #expect(out.failure?.line == line)
        #expect(out.failure?.file.hasSuffix("DeferLaterTests.swift") == true)
    }

    @Test func cancellingBeforeTheDelayCancelsTheCallAndSkipsF() {
        // When the deferred is cancelled before the delay, it fails with CancelledError, the call goes, f never runs.
        let clock = Clock()
        var calls = 0
        let d = deferLater(clock, 5) { calls += 1 }
        let out = Recorded(d)

        d.cancel()

        #expect(out.error(CancelledError.self) == CancelledError())
        #expect(clock.getDelayedCalls().isEmpty)
        clock.advance(10)
        #expect(calls == 0)
        #expect(out.calls == 1)
    }

    @Test func cancellingAfterItFiredDoesNothing() {
        // When the deferred has already fired, cancelling it leaves its value in place.
        let clock = Clock()
        let d = deferLater(clock, 1) { 42 }
        clock.advance(1)

        d.cancel()

        #expect(Recorded(d).value == 42)
    }

    @Test func aReturnedDeferredIsWaitedFor() {
        // When f returns a deferred, the result fires only when that deferred fires, with its value.
        let clock = Clock()
        let inner = Deferred<String>()
        let d = deferLater(clock, 1) { inner }
        let out = Recorded(d)

        clock.advance(1)
        #expect(!out.fired)
        inner.callback("inner")
        #expect(out.value == "inner")
    }

    @Test func aReturnedDeferredCanBeScheduledByTheClockItself() {
        // When f returns another deferLater, the result fires once both delays have passed.
        let clock = Clock()
        let d = deferLater(clock, 1) { deferLater(clock, 2) { clock.seconds() } }
        let out = Recorded(d)

        clock.advance(1)
        clock.advance(1.5)
        #expect(!out.fired)
        clock.advance(0.5)
        #expect(out.value == 3)
    }

    @Test func cancellingWhileWaitingForTheReturnedDeferredCancelsIt() {
        // When the result is cancelled while waiting for f's deferred, that one is cancelled and its failure flows out.
        let clock = Clock()
        var innerCancelled = false
        let d = deferLater(clock, 1) { Deferred<Int>(canceller: { _ in innerCancelled = true }) }
        let out = Recorded(d)
        clock.advance(1)

        d.cancel()

        #expect(innerCancelled)
        #expect(out.error(CancelledError.self) != nil)
    }

    @Test func aNegativeDelayCountsAsZero() {
        // When the delay is negative, f runs at the next advance, even advance(0).
        let clock = Clock()
        let out = Recorded(deferLater(clock, -3) { "now" })

        clock.advance(0)

        #expect(out.value == "now")
    }

    @Test func callsDueTogetherFireInTheOrderTheyWereMade() {
        // When several deferLater calls have the same delay, their deferreds fire in the order they were made.
        let clock = Clock()
        var order: [Int] = []
        for i in 0..<5 { _ = deferLater(clock, 1) { order.append(i) } }

        clock.advance(1)

        #expect(order == [0, 1, 2, 3, 4])
    }
}
