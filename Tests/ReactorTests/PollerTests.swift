import Testing

@testable import Reactor

@Suite struct PollThrottleTests {
    @Test func aPassThatWouldWaitAlwaysPolls() {
        // When a pass's timeout is not 0 (a timer later, or none), it polls however recent the last poll.
        var throttle = PollThrottle()
        let decisions = [(0, 10.0), (5, 10.0), (-1, 10.0)].map { throttle.shouldPoll(timeout: $0, passStart: $1) }
        #expect(decisions == [true, true, true])
        #expect(throttle.skipped == 0)
    }

    @Test func passesThatWouldNotWaitSkipWhileTheLastPollIsRecent() {
        // When passes with timeout 0 start less than `interval` after the last poll, they skip; the first one
        // that starts `interval` after it polls (the very first pass too), and the next ones count from there.
        var throttle = PollThrottle()
        let interval = PollThrottle.interval
        let starts = [100, 100 + interval / 4, 100 + interval / 2, 100 + interval, 100 + interval * 1.5,
                      100 + interval * 2.5]
        let decisions = starts.map { throttle.shouldPoll(timeout: 0, passStart: $0) }
        #expect(decisions == [true, false, false, true, false, true])
        #expect(throttle.skipped == 3)
    }

    @Test func aPollComesAtLeastEveryMaxSkipsPlusOnePasses() {
        // When passes with timeout 0 follow each other faster than the interval (here: no time passes at all),
        // exactly `maxSkipsInARow` skip between two polls.
        var throttle = PollThrottle()
        let every = PollThrottle.maxSkipsInARow + 1
        let polls = (0..<(3 * every)).filter { _ in throttle.shouldPoll(timeout: 0, passStart: 7) }
        #expect(polls == [0, every, 2 * every])
    }

    @Test func aPassThatWaitsRestartsTheCount() {
        // When a pass polls because it would wait, the skips in a row start again from zero.
        var throttle = PollThrottle()
        let skipping = (0..<PollThrottle.maxSkipsInARow).map { _ in throttle.shouldPoll(timeout: 0, passStart: 1) }
        #expect(skipping == [true] + Array(repeating: false, count: PollThrottle.maxSkipsInARow - 1))
        #expect(throttle.skipsInARow == PollThrottle.maxSkipsInARow - 1)
        let waiting = throttle.shouldPoll(timeout: 3, passStart: 1)
        #expect(waiting)
        #expect(throttle.skipsInARow == 0)
        let next = throttle.shouldPoll(timeout: 0, passStart: 1)
        #expect(!next)
    }
}
