import Deferreds
import Testing

@testable import Reactor

/// Ports of the LoopingCall cases of Twisted's `twisted/test/test_task.py`, with binary-exact
/// intervals (0.25, 0.5, …) so that the slot arithmetic is exact.
@Suite("LoopingCall")
struct LoopingCallTests {

    // MARK: - Basics

    @Test func callsAtOnceThenEveryInterval() {
        // When a loop starts with now: true, f runs at once and then at every multiple of the interval.
        let clock = Clock()
        var times: [Double] = []
        let loop = LoopingCall(clock: clock) { times.append(clock.seconds()) }

        loop.start(0.25)
        #expect(times == [0])
        clock.pump([0.125, 0.125, 0.25, 0.25])

        #expect(times == [0, 0.25, 0.5, 0.75])
        #expect(loop.callCount == 4)
        #expect(loop.running)
        #expect(loop.interval == 0.25)
        loop.stop()
    }

    @Test func delayedStartWaitsOneInterval() {
        // When a loop starts with now: false, the first call is one interval after the start.
        let clock = Clock()
        var times: [Double] = []
        let loop = LoopingCall(clock: clock) { times.append(clock.seconds()) }

        loop.start(0.5, now: false)
        #expect(times == [])
        clock.pump([0.25, 0.25, 0.5])

        #expect(times == [0.5, 1])
        loop.stop()
    }

    @Test func stopFiresTheDeferredWithTheLoopAndLeavesNoCall() {
        // When a running loop is stopped, start's deferred fires with the LoopingCall itself and no call is left.
        let clock = Clock()
        var calls = 0
        let loop = LoopingCall(clock: clock) { calls += 1 }
        let out = Recorded(loop.start(1))
        clock.pump([1, 1])

        loop.stop()

        #expect(out.value === loop)
        #expect(!loop.running)
        #expect(clock.getDelayedCalls().isEmpty)
        clock.advance(10)
        #expect(calls == 3)
    }

    @Test func stoppingBeforeADelayedStartNeverCalls() {
        // When a loop started with now: false is stopped at once, f is never called and no call is left (0 and 10 s).
        for interval in [0.0, 10] {
            let clock = Clock()
            var calls = 0
            let loop = LoopingCall(clock: clock) { calls += 1 }
            let out = Recorded(loop.start(interval, now: false))

            loop.stop()
            clock.advance(20)

            #expect(calls == 0)
            #expect(out.value === loop)
            #expect(clock.getDelayedCalls().isEmpty)
        }
    }

    @Test func stopFromInsideFEndsTheLoopAfterThatCall() {
        // When f stops its own loop, the deferred fires with the loop once f returns, and f is not called again.
        let clock = Clock()
        var calls = 0
        var loop: LoopingCall!
        defer { loop = nil }  // f refers to its own loop: break that cycle when the test ends
        loop = LoopingCall(clock: clock) {
            calls += 1
            if calls == 3 { loop.stop() }
        }
        let out = Recorded(loop.start(1))

        clock.pump([1, 1, 1, 1])

        #expect(calls == 3)
        #expect(out.value === loop)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func theLoopCanBeStartedAgainAfterItStopped() {
        // When a stopped loop is started again (from its deferred's callback, even), it runs from the new start time.
        let clock = Clock()
        var times: [Double] = []
        let loop = LoopingCall(clock: clock) { times.append(clock.seconds()) }
        var restarted: Recorded<LoopingCall>?
        _ = loop.start(1).addCallback { loop in
            clock.advance(0.5)  // the restart's slots are counted from here
            restarted = Recorded(loop.start(2))
        }
        clock.advance(1)

        loop.stop()
        clock.pump([2, 2])
        loop.stop()

        #expect(times == [0, 1, 1.5, 3.5, 5.5])
        #expect(restarted?.value === loop)
    }

    @Test func theClockKeepsARunningLoopAlive() {
        // When nothing but the clock refers to a running loop, the loop keeps running.
        let clock = Clock()
        var calls = 0
        do {
            let loop = LoopingCall(clock: clock) { calls += 1 }
            loop.start(1)
        }

        clock.pump([1, 1, 1])

        #expect(calls == 4)
        // The clock and the running loop hold each other: cancelling the pending call ends that.
        for call in clock.getDelayedCalls() { call.cancel() }
    }

    // MARK: - Skipping missed slots

    @Test func reactorTimeSkipsMissedSlots() {
        // When the clock jumps past several slots, f runs once, and the next call is at the next slot in the future.
        let clock = Clock()
        var times: [Double] = []
        let loop = LoopingCall(clock: clock) { times.append(clock.seconds()) }
        loop.start(0.5)
        #expect(times == [0])

        clock.advance(2)
        #expect(times == [0, 2])
        clock.advance(1)
        #expect(times == [0, 2, 3])
        clock.advance(0)
        #expect(times == [0, 2, 3])
        #expect(clock.getDelayedCalls().map { $0.getTime() } == [3.5])
        loop.stop()
    }

    @Test func callbackTimeSkipsSlotsItOverran() {
        // When f takes longer than the interval, the slots it overran are skipped; a slot that is "now" is skipped too.
        let clock = Clock()
        var times: [Double] = []
        var callDuration = 2.0
        let loop = LoopingCall(clock: clock) {
            times.append(clock.seconds())
            clock.advance(callDuration)
        }

        loop.start(0.5)
        #expect(times == [0])
        #expect(clock.seconds() == 2)

        clock.advance(0)  // the slot at 2 is the present, not the future: skipped
        #expect(times == [0])

        callDuration = 1
        clock.advance(0.5)
        #expect(times == [0, 2.5])
        #expect(clock.seconds() == 3.5)

        clock.advance(0)
        #expect(times == [0, 2.5])

        callDuration = 0
        clock.advance(0.5)
        #expect(times == [0, 2.5, 4])
        #expect(clock.seconds() == 4)
        loop.stop()
    }

    @Test func aLateCallDoesNotShiftTheSlots() {
        // When a call runs a little late, the next one is still on the grid of start + k * interval.
        let clock = Clock()
        var times: [Double] = []
        let loop = LoopingCall(clock: clock) { times.append(clock.seconds()) }
        loop.start(1)

        clock.advance(1.25)
        clock.advance(0.75)

        #expect(times == [0, 1.25, 2])
        loop.stop()
    }

    // MARK: - withCount

    @Test func withCountCountsSkippedSlots() {
        // When slots are skipped, a withCount loop's f gets the number of slots since its last call.
        let clock = Clock()
        var seen: [(time: Double, count: Int)] = []
        let loop = LoopingCall(clock: clock, withCount: { seen.append((clock.seconds(), $0)) })
        let interval = 0.5
        let delay = 0.03125

        loop.start(interval)
        clock.advance(interval + delay)
        clock.advance(interval * 4 + delay)
        clock.advance(0)

        #expect(seen.map(\.time) == [0, interval + delay, interval * 5 + delay * 2])
        #expect(seen.map(\.count) == [1, 1, 4])
        loop.stop()
    }

    @Test func withCountCountsOnlyWholeSlots() {
        // When less than two intervals pass between calls (the call at T+δ, then at 2.75T+δ), the count stays 1.
        let clock = Clock()
        var seen: [(time: Double, count: Int)] = []
        let loop = LoopingCall(clock: clock, withCount: { seen.append((clock.seconds(), $0)) })
        let interval = 0.5
        let delay = 0.03125

        loop.start(interval)
        clock.advance(interval + delay)
        clock.advance(interval * 1.75)
        clock.advance(interval * 0.25)

        #expect(seen.map(\.count) == [1, 1, 1, 1])
        #expect(seen.map(\.time) == [0, interval + delay, interval * 2.75 + delay, interval * 3 + delay])
        loop.stop()
    }

    @Test func withCountOnADelayedStartCountsFromTheStart() {
        // When a withCount loop starts with now: false and the clock jumps three intervals, the first count is 3.
        let clock = Clock()
        var counts: [Int] = []
        let loop = LoopingCall(clock: clock, withCount: { counts.append($0) })

        loop.start(1, now: false)
        clock.advance(3)
        clock.advance(1)

        #expect(counts == [3, 1])
        loop.stop()
    }

    @Test func withCountSurvivesFloatingPointBoundaries() {
        // When an interval of 0.1 is stepped ten times and nudged past 1.0, the counts add up to ten, none of them 0.
        let clock = Clock()
        var counts: [Int] = []
        let loop = LoopingCall(clock: clock, withCount: { counts.append($0) })
        let count = 10
        let timespan = 1.0
        let interval = timespan / Double(count)

        loop.start(interval, now: false)
        for _ in 0..<count { clock.advance(interval) }
        let epsilon = timespan - Array(repeating: interval, count: count).reduce(0, +)
        clock.advance(epsilon)

        #expect(abs(epsilon) > 0)  // the case is only interesting when 0.1 is inexact
        #expect(clock.seconds() >= timespan)
        #expect(counts.reduce(0, +) == count)
        #expect(!counts.contains(0))
        loop.stop()
    }

    @Test func withCountAndIntervalZeroAlwaysCountsOne() {
        // When a withCount loop has interval 0, every call counts 1, and all run within one advance(0) until stopped.
        let clock = Clock()
        var counts: [Int] = []
        var loop: LoopingCall!
        defer { loop = nil }  // f refers to its own loop: break that cycle when the test ends
        loop = LoopingCall(clock: clock, withCount: { count in
            counts.append(count)
            if counts.count > 4 { loop.stop() }
        })
        let out = Recorded(loop.start(0, now: false))

        clock.advance(0)

        #expect(counts == [1, 1, 1, 1, 1])
        #expect(out.value === loop)
    }

    @Test func withCountAndIntervalZeroWaitsForAReturnedDeferred() {
        // When an interval-0 withCount loop's f returns a pending deferred, the loop waits for it, then counts 1 again.
        let clock = Clock()
        let gate = Deferred<Void>()
        var counts: [Int] = []
        var loop: LoopingCall!
        defer { loop = nil }  // f refers to its own loop: break that cycle when the test ends
        loop = LoopingCall(clock: clock, withCount: { (count: Int) -> Deferred<Void> in
            counts.append(count)
            if counts.count == 2 { return gate }
            if counts.count > 4 { loop.stop() }
            return succeed(())
        })
        let out = Recorded(loop.start(0, now: false))

        clock.advance(0)
        #expect(counts == [1, 1])
        clock.advance(2)
        #expect(counts == [1, 1])

        gate.callback(())
        clock.advance(0)
        #expect(counts == [1, 1, 1, 1, 1])
        #expect(out.value === loop)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func withCountCountsSlotsMissedWhileWaitingForADeferred() {
        // When f's deferred outlasts several slots, f is not called meanwhile; the next count covers the slots missed.
        let clock = Clock()
        let gate = Deferred<Void>()
        var counts: [Int] = []
        let loop = LoopingCall(clock: clock, withCount: { (count: Int) -> Deferred<Void> in
            counts.append(count)
            return counts.count == 1 ? gate : succeed(())
        })

        loop.start(0.25, now: false)
        #expect(counts == [])
        clock.pump([0.25, 0.5])
        #expect(counts == [1])

        gate.callback(())
        clock.pump([0.25])
        #expect(counts == [1, 3])
        loop.stop()
    }

    // MARK: - Deferreds returned by f

    @Test func aReturnedDeferredDelaysTheNextCall() {
        // When f returns a deferred, the next call is not scheduled until it fires, then at the next free slot.
        let clock = Clock()
        var times: [Double] = []
        var gates: [Deferred<Void>] = []
        let loop = LoopingCall(clock: clock) { () -> Deferred<Void> in
            times.append(clock.seconds())
            let gate = Deferred<Void>()
            gates.append(gate)
            return gate
        }
        loop.start(1)
        #expect(clock.getDelayedCalls().isEmpty)

        clock.advance(3.5)
        #expect(times == [0])
        gates[0].callback(())
        #expect(clock.getDelayedCalls().map { $0.getTime() } == [4])
        clock.advance(0.5)
        #expect(times == [0, 4])
        loop.stop()
        #expect(loop.running == false)
        gates[1].callback(())
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func stopWhileWaitingFiresTheDeferredWhenFsDeferredFires() {
        // When the loop is stopped while waiting for f's deferred, start's deferred fires only once that one fires.
        let clock = Clock()
        let gate = Deferred<Void>()
        let loop = LoopingCall(clock: clock) { gate }
        let out = Recorded(loop.start(1))

        loop.stop()
        #expect(!loop.running)
        #expect(!out.fired)
        gate.callback(())

        #expect(out.value === loop)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func waitDeferredScheduledOnTheSameClock() {
        // When f's deferred, fired by the clock, stops the loop, no call is left behind (Twisted's testWaitDeferred).
        let clock = Clock()
        var loop: LoopingCall!
        defer { loop = nil }  // f refers to its own loop: break that cycle when the test ends
        loop = LoopingCall(clock: clock) { () -> Deferred<Void> in
            let d = Deferred<Void>()
            _ = d.addCallback { loop.stop() }
            clock.callLater(1) { d.callback(()) }
            return d
        }
        let out = Recorded(loop.start(0.25))

        clock.pump([0.25, 0.75])

        #expect(clock.getDelayedCalls().isEmpty)
        #expect(out.value === loop)
    }

    // MARK: - Failures

    @Test func aThrowingFunctionFailsTheDeferredAndEndsTheLoop() {
        // When f throws, start's deferred fails with that error and f is never called again.
        let clock = Clock()
        var calls = 0
        let loop = LoopingCall(clock: clock) {
            calls += 1
            if calls == 2 { throw Boom(code: 2) }
        }
        let out = Recorded(loop.start(1))

        clock.pump([1, 1, 1])

        #expect(out.error(Boom.self) == Boom(code: 2))
        #expect(calls == 2)
        #expect(!loop.running)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func aFailureAfterStopStillFailsTheDeferred() {
        // When f stops the loop and then throws, start's deferred fails with the error (Twisted's testFailAndStop).
        let clock = Clock()
        var loop: LoopingCall!
        defer { loop = nil }  // f refers to its own loop: break that cycle when the test ends
        loop = LoopingCall(clock: clock) {
            loop.stop()
            throw Boom(code: 3)
        }

        let out = Recorded(loop.start(0.125))

        #expect(out.error(Boom.self) == Boom(code: 3))
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func aFailedDeferredFromFFailsTheLoop() {
        // When f's deferred fails, start's deferred fails with that error, no call left (testFailurePropagation).
        let clock = Clock()
        let loop = LoopingCall(clock: clock) { () -> Deferred<Void> in
            let d = Deferred<Void>()
            clock.callLater(0.25) { d.errback(Boom(code: 4)) }
            return d
        }
        let out = Recorded(loop.start(1))

        clock.pump([0.25])

        #expect(out.error(Boom.self) == Boom(code: 4))
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func aFailureAfterStopWhileWaitingFailsTheDeferred() {
        // When the loop is stopped while waiting and f's deferred then fails, start's deferred fails with that error.
        let clock = Clock()
        let gate = Deferred<Void>()
        let loop = LoopingCall(clock: clock) { gate }
        let out = Recorded(loop.start(1))

        loop.stop()
        gate.errback(Boom(code: 5))

        #expect(out.error(Boom.self) == Boom(code: 5))
        #expect(clock.getDelayedCalls().isEmpty)
    }

    // MARK: - Interval 0, reset, cancel

    @Test func intervalZeroRunsAgainOnTheNextTurn() {
        // When the interval is 0, f runs again on each turn of the clock (within one advance(0) here) until stopped.
        let clock = Clock()
        var calls = 0
        var loop: LoopingCall!
        defer { loop = nil }  // f refers to its own loop: break that cycle when the test ends
        loop = LoopingCall(clock: clock) {
            calls += 1
            if calls > 5 { loop.stop() }
        }
        let out = Recorded(loop.start(0))
        #expect(calls == 1)
        #expect(clock.getDelayedCalls().map { $0.getTime() } == [0])

        clock.advance(0)

        #expect(calls == 6)
        #expect(out.value === loop)
    }

    @Test func resetRestartsTheSlotsFromNow() {
        // When a loop is reset, its next call is one interval from the reset (Twisted's test_reset).
        let clock = Clock()
        var calls = 0
        let loop = LoopingCall(clock: clock) { calls += 1 }
        loop.start(2, now: false)

        clock.advance(1)
        loop.reset()
        clock.advance(1)
        #expect(calls == 0)
        clock.advance(1)
        #expect(calls == 1)
        #expect(clock.getDelayedCalls().map { $0.getTime() } == [5])
        loop.stop()
    }

    @Test func cancellingTheDeferredStopsTheLoop() {
        // When start's deferred is cancelled, it fails with CancelledError, the pending call goes, and f runs no more.
        let clock = Clock()
        var calls = 0
        let loop = LoopingCall(clock: clock) { calls += 1 }
        let d = loop.start(1)
        let out = Recorded(d)

        d.cancel()
        clock.advance(5)

        #expect(out.error(CancelledError.self) != nil)
        #expect(calls == 1)
        #expect(!loop.running)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func cancellingTheDeferredWhileWaitingCancelsFsDeferred() {
        // When start's deferred is cancelled while the loop waits for f's deferred, that deferred is cancelled too.
        let clock = Clock()
        let gate = Deferred<Void>()
        let loop = LoopingCall(clock: clock) { gate }
        let d = loop.start(1)
        let out = Recorded(d)

        d.cancel()

        #expect(gate.called)
        #expect(out.error(CancelledError.self) != nil)
        #expect(!loop.running)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func cancellingTheDeferredFromInsideFEndsTheLoopAfterF() {
        // When f cancels start's deferred, it fails with CancelledError and f is not called again.
        let clock = Clock()
        var calls = 0
        var loopDeferred: Deferred<LoopingCall>?
        let loop = LoopingCall(clock: clock) {
            calls += 1
            if calls == 2 { loopDeferred?.cancel() }
        }
        loopDeferred = loop.start(1)
        let out = Recorded(loopDeferred!)

        clock.pump([1, 1, 1])

        #expect(calls == 2)
        #expect(out.error(CancelledError.self) != nil)
        #expect(!loop.running)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func aDeferredOfAnyTypeIsWaitedForAndItsValueIgnored() {
        // When f returns a Deferred<Int>, the loop waits for it and ignores its value.
        let clock = Clock()
        var gates: [Deferred<Int>] = []
        let loop = LoopingCall(clock: clock) { () -> Deferred<Int> in
            let gate = Deferred<Int>()
            gates.append(gate)
            return gate
        }
        loop.start(1)

        clock.advance(1)
        #expect(gates.count == 1)
        gates[0].callback(42)
        clock.advance(1)

        #expect(gates.count == 2)
        loop.stop()
        gates[1].callback(0)
    }

    @Test func aMultiStatementClosureWithoutReturnIsAPlainFunction() {
        // When f is a multi-statement closure returning nothing, the loop takes it as a plain function (no ambiguity).
        let clock = Clock()
        var log: [Int] = []
        let loop = LoopingCall(clock: clock) {
            log.append(log.count)
            if log.count == 2 { log.append(-1) }
        }

        loop.start(1)
        clock.advance(1)

        #expect(log == [0, 1, -1])
        loop.stop()
    }

    @Test func changingTheClockTakesEffectAtTheNextScheduling() {
        // When clock is replaced on a running loop, the call already scheduled stays; the next ones use the new clock.
        let first = Clock()
        let second = Clock()
        var calls = 0
        let loop = LoopingCall(clock: first) { calls += 1 }
        loop.start(1)

        loop.clock = second
        first.advance(1)
        #expect(calls == 2)
        #expect(first.getDelayedCalls().isEmpty)
        #expect(second.getDelayedCalls().count == 1)
        second.advance(1)
        #expect(calls == 3)
        loop.stop()
    }

    // MARK: - Programmer errors

    @Test func startingTwiceTraps() async {
        // When a running loop is started again, the process traps with a message naming the error.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let loop = LoopingCall(clock: Clock()) {}
            loop.start(1)
            loop.start(1)
        }
        #expect(stderrText(result).contains("already running"))
    }

    @Test func stoppingALoopThatIsNotRunningTraps() async {
        // When a loop that is not running is stopped, the process traps with a message naming the error.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            LoopingCall(clock: Clock()) {}.stop()
        }
        #expect(stderrText(result).contains("not running"))
    }

    @Test func aNegativeIntervalTraps() async {
        // When a loop is started with a negative interval, the process traps with a message naming the error.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            LoopingCall(clock: Clock()) {}.start(-1)
        }
        #expect(stderrText(result).contains("interval must be"))
    }

    @Test func startingALoopThatIsStillStoppingTraps() async {
        // When a loop stopped while waiting for f's deferred is started before that deferred fires, the process traps.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let gate = Deferred<Void>()
            let loop = LoopingCall(clock: Clock()) { gate }
            loop.start(1)
            loop.stop()
            loop.start(1)
        }
        #expect(stderrText(result).contains("still stopping"))
    }

    @Test func resettingALoopThatIsNotRunningTraps() async {
        // When a loop that is not running is reset, the process traps with a message naming the error.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            LoopingCall(clock: Clock()) {}.reset()
        }
        #expect(stderrText(result).contains("not running"))
    }

    private func stderrText(_ result: ExitTest.Result?) -> String {
        String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    }
}
