import Deferreds
import TestSupport
import Testing

@testable import Reactor

@Suite("Clock: deterministic time")
struct ClockTests {

    @Test func advanceRunsOnlyTheCallsThatAreDue() {
        // When the clock advances, calls due by the new time run (one due exactly then included); later ones wait.
        let clock = Clock()
        var ran: [String] = []
        clock.callLater(1) { ran.append("a") }
        clock.callLater(2) { ran.append("b") }
        clock.callLater(3) { ran.append("c") }

        clock.advance(0.5)
        #expect(ran == [])
        clock.advance(1.5)
        #expect(ran == ["a", "b"])
        #expect(clock.seconds() == 2)
        clock.advance(1)
        #expect(ran == ["a", "b", "c"])
    }

    @Test func advanceZeroRunsCallsDueNow() {
        // When a call is scheduled with delay 0 (or a negative delay), it runs at the next advance, even advance(0).
        let clock = Clock()
        var ran: [Int] = []
        clock.callLater(0) { ran.append(1) }
        clock.callLater(-5) { ran.append(2) }
        #expect(ran == [])

        clock.advance(0)

        #expect(ran == [1, 2])
        #expect(clock.seconds() == 0)
    }

    @Test func pumpAdvancesStepByStep() {
        // When the clock is pumped, it advances by each amount in turn and runs the calls due after each step.
        let clock = Clock()
        var seen: [Double] = []
        for delay in [0.5, 1.5, 2.5] {
            clock.callLater(delay) { seen.append(clock.seconds()) }
        }

        clock.pump([1, 1, 1])

        #expect(seen == [1, 2, 3])
        #expect(clock.seconds() == 3)
    }

    @Test func getDelayedCallsIsSortedByTime() {
        // When calls are scheduled out of order, getDelayedCalls lists them earliest first.
        let clock = Clock()
        for delay in [5.0, 1, 4, 2, 3] { clock.callLater(delay) {} }

        #expect(clock.getDelayedCalls().map { $0.getTime() } == [1, 2, 3, 4, 5])
    }

    @Test func callsDueAtTheSameTimeRunInSchedulingOrder() {
        // When several calls are due at the same time, they run in the order they were scheduled.
        let clock = Clock()
        var ran: [Int] = []
        for i in 0..<50 { clock.callLater(Double(i % 2) + 1) { ran.append(i) } }
        let sameTime = clock.getDelayedCalls()

        clock.advance(2)

        let expected = (0..<50).filter { $0 % 2 == 0 } + (0..<50).filter { $0 % 2 == 1 }
        #expect(ran == expected)
        #expect(sameTime.count == 50)
    }

    @Test func aCallScheduledAtTheSameTimeByADelayedCallRunsAfterTheOthers() {
        // When a running call schedules another for the same time, the new one runs after those already due.
        let clock = Clock()
        var ran: [String] = []
        clock.callLater(1) {
            ran.append("first")
            clock.callLater(0) { ran.append("added") }
        }
        clock.callLater(1) { ran.append("second") }

        clock.advance(1)

        #expect(ran == ["first", "second", "added"])
    }

    @Test func callsThatBecomeDueDuringAdvanceRunInIt() {
        // When a call made or moved during advance is due by its end time, it runs in that advance; later ones wait.
        let clock = Clock()
        var ran: [String] = []
        let moved = clock.callLater(20) { ran.append("moved from 20 to now") }
        clock.callLater(1) {
            ran.append("at 1")
            clock.callLater(0) { ran.append("made at 1, due now") }
            moved.reset(0)
            // Time already reads 10 here (see timeDuringAdvanceIsTheEndTime): this one is due at 10.5.
            clock.callLater(0.5) { ran.append("too late") }
        }

        clock.advance(10)

        #expect(ran == ["at 1", "moved from 20 to now", "made at 1, due now"])
        #expect(clock.getDelayedCalls().map { $0.getTime() } == [10.5])
    }

    @Test func timeDuringAdvanceIsTheEndTime() {
        // When calls run during advance, seconds() already reads the advance's end time (as in Twisted's Clock).
        let clock = Clock()
        var seen: [Double] = []
        clock.callLater(1) { seen.append(clock.seconds()) }
        clock.callLater(3) { seen.append(clock.seconds()) }

        clock.advance(5)

        #expect(seen == [5, 5])
    }

    @Test func callLaterZeroDuringAdvanceRunsInTheSameAdvance() {
        // When a call made during advance has delay 0, it runs before advance returns, however deep the chain.
        let clock = Clock()
        var count = 0
        func again() {
            count += 1
            if count < 1000 { clock.callLater(0, again) }
        }
        clock.callLater(1, again)

        clock.advance(1)

        #expect(count == 1000)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func cancelStopsACallAndIsIdempotent() {
        // When a call is cancelled (twice, even), it never runs, is inactive, and is gone from getDelayedCalls.
        let clock = Clock()
        var ran = false
        let call = clock.callLater(1) { ran = true }
        let other = clock.callLater(2) {}

        call.cancel()
        call.cancel()

        #expect(!call.active)
        #expect(clock.getDelayedCalls().count == 1)
        #expect(clock.getDelayedCalls().first === other)
        clock.advance(5)
        #expect(!ran)
    }

    @Test func cancellingARunCallDoesNothing() {
        // When a call that already ran is cancelled, nothing happens and it stays inactive.
        let clock = Clock()
        var runs = 0
        let call = clock.callLater(1) { runs += 1 }
        clock.advance(1)

        call.cancel()
        clock.advance(1)

        #expect(runs == 1)
        #expect(!call.active)
    }

    @Test func aCallCancelledByAnEarlierCallInTheSameAdvanceDoesNotRun() {
        // When a due call cancels another call due in the same advance, the cancelled one does not run.
        let clock = Clock()
        var ran: [String] = []
        var later: DelayedCall?
        clock.callLater(1) {
            ran.append("canceller")
            later?.cancel()
        }
        later = clock.callLater(2) { ran.append("cancelled") }

        clock.advance(3)

        #expect(ran == ["canceller"])
    }

    @Test func activeAndGetTimeFollowTheCallsLife() {
        // When a call is pending it is active and knows its time; once run it is inactive and keeps that time.
        let clock = Clock()
        clock.advance(10)
        var activeWhileRunning: Bool?
        var call: DelayedCall!
        call = clock.callLater(2.5) { activeWhileRunning = call.active }

        #expect(call.active)
        #expect(call.getTime() == 12.5)
        clock.advance(2.5)
        #expect(activeWhileRunning == false)
        #expect(!call.active)
        #expect(call.getTime() == 12.5)
    }

    @Test func resetMovesACallRelativeToNow() {
        // When a call is reset, it runs that many seconds from now instead, earlier or later.
        let clock = Clock()
        var ran: [String] = []
        let a = clock.callLater(5) { ran.append("a") }
        clock.callLater(3) { ran.append("b") }
        clock.advance(1)

        a.reset(1)

        #expect(a.getTime() == 2)
        #expect(clock.getDelayedCalls().map { $0.getTime() } == [2, 3])
        clock.advance(1)
        #expect(ran == ["a"])
        a.reset(10)  // inactive now: no effect
        #expect(a.getTime() == 2)
        clock.advance(10)
        #expect(ran == ["a", "b"])
    }

    @Test func resetCanPushACallLater() {
        // When a call is reset to later than planned, it does not run at its old time.
        let clock = Clock()
        var ran = false
        let call = clock.callLater(1) { ran = true }

        call.reset(5)
        clock.advance(4.5)
        #expect(!ran)
        clock.advance(0.5)
        #expect(ran)
    }

    @Test func delayMovesACallRelativeToItsTime() {
        // When a call is delayed, it runs that many seconds after its planned time.
        let clock = Clock()
        var ranAt: Double?
        let call = clock.callLater(2) { ranAt = clock.seconds() }
        clock.advance(1)

        call.delay(3)

        #expect(call.getTime() == 5)
        clock.advance(3)
        #expect(ranAt == nil)
        clock.advance(1)
        #expect(ranAt == 5)
    }

    @Test func resetAndDelayOnACancelledCallDoNothing() {
        // When a cancelled call is reset or delayed, it stays cancelled and never runs.
        let clock = Clock()
        var ran = false
        let call = clock.callLater(1) { ran = true }
        call.cancel()

        call.reset(1)
        call.delay(1)
        clock.advance(10)

        #expect(!ran)
        #expect(!call.active)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func aRunCallReleasesItsFunction() {
        // When a call has run or been cancelled, what its function captured is released.
        final class Token {}
        let clock = Clock()
        weak var ranToken: Token?
        weak var cancelledToken: Token?
        do {
            let a = Token()
            let b = Token()
            ranToken = a
            cancelledToken = b
            clock.callLater(1) { _ = a }
            clock.callLater(1) { _ = b }.cancel()
        }

        #expect(cancelledToken == nil)
        #expect(ranToken != nil)
        clock.advance(1)
        #expect(ranToken == nil)
    }

    @Test func manyRandomTimersRunInTimeOrder() {
        // When 100,000 random timers (a tenth cancelled) meet random advances, each runs once, in order, never early.
        let clock = Clock()
        var rng = SplitMix64(seed: 42)
        let count = 100_000
        var times: [Double] = []
        var calls: [DelayedCall] = []
        var runOrder: [Int] = []
        var ranEarly = 0
        times.reserveCapacity(count)
        runOrder.reserveCapacity(count)
        for i in 0..<count {
            // Coarse times, so that many timers tie.
            let time = Double(Int.random(in: 0..<5_000, using: &rng)) / 4
            times.append(time)
            calls.append(
                clock.callLater(time) {
                    if clock.seconds() < time { ranEarly += 1 }
                    runOrder.append(i)
                })
        }
        var cancelled = Set<Int>()
        while cancelled.count < count / 10 { cancelled.insert(Int.random(in: 0..<count, using: &rng)) }
        for i in cancelled { calls[i].cancel() }
        #expect(clock.getDelayedCalls().count == count - cancelled.count)

        while clock.seconds() < 1_250 {
            clock.advance(Double(Int.random(in: 1...40, using: &rng)) / 8)
        }

        let expected = (0..<count).filter { !cancelled.contains($0) }.sorted { (times[$0], $0) < (times[$1], $1) }
        #expect(runOrder.count == expected.count)
        #expect(runOrder == expected)
        #expect(ranEarly == 0)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func timersInAndOutOfOrderWithMovesAndCancelsRunInTimeOrder() {
        // When timers come in rising runs broken by drops, and some are then moved (reset, delay) or cancelled,
        // each live one runs once, in (time, scheduling) order.
        let clock = Clock()
        var rng = SplitMix64(seed: 7)
        let count = 20_000
        var times: [Double] = []
        var calls: [DelayedCall] = []
        var runOrder: [Int] = []
        var time = 0.0
        for i in 0..<count {
            if Int.random(in: 0..<50, using: &rng) == 0 { time = Double(Int.random(in: 0..<4_000, using: &rng)) / 4 }
            time += Double(Int.random(in: 0..<3, using: &rng)) / 4
            times.append(time)
            calls.append(clock.callLater(time) { runOrder.append(i) })
        }
        var cancelled = Set<Int>()
        for i in 0..<count {
            switch Int.random(in: 0..<20, using: &rng) {
            case 0:
                calls[i].cancel()
                cancelled.insert(i)
            case 1:
                let amount = Double(Int.random(in: -40...40, using: &rng)) / 4
                calls[i].delay(amount)
                times[i] += amount
            case 2:
                let delay = Double(Int.random(in: 0..<4_000, using: &rng)) / 4
                calls[i].reset(delay)
                times[i] = delay
            default:
                break
            }
        }
        #expect(clock.getDelayedCalls().count == count - cancelled.count)
        while clock.seconds() < 2_000 {
            clock.advance(Double(Int.random(in: 1...40, using: &rng)) / 8)
        }
        let expected = (0..<count).filter { !cancelled.contains($0) }.sorted { (times[$0], $0) < (times[$1], $1) }
        #expect(runOrder == expected)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func advancingBackwardsTraps() async {
        // When the clock is asked to advance by a negative amount, the process traps with a message saying so.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            Clock().advance(-1)
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("cannot move time backwards"))
    }

    // MARK: - Ownership and bad input

    @Test func droppingTheClockReleasesItsPendingCalls() {
        // When a clock with pending calls is dropped, the calls are cancelled and what they captured is released.
        final class Token {}
        weak var token: Token?
        var call: DelayedCall?
        do {
            let clock = Clock()
            let t = Token()
            token = t
            call = clock.callLater(1) { _ = t }
        }
        #expect(token == nil)
        #expect(call?.active == false)
    }

    @Test func delayingACallByNaNIsAProgrammerError() async {
        // When a call is delayed by NaN, the process traps instead of wedging the timer heap.
        await #expect(processExitsWith: .failure) {
            let clock = Clock()
            clock.callLater(1) {}.delay(.nan)
        }
    }

    @Test func resettingACallOfADroppedClockDoesNothing() async {
        // When a call outlives its clock, reset(_:) on it is a harmless no-op.
        await #expect(processExitsWith: .success) {
            var call: DelayedCall?
            do {
                let clock = Clock()
                call = clock.callLater(1) {}
            }
            call?.reset(1)
        }
    }
}
