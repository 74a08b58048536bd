import Deferreds
import TestSupport
import Testing

@testable import Reactor

@Suite("retry and Backoff")
struct RetryTests {

    /// A backoff without jitter: waits of 1, 2, 4, … seconds, at most 8.
    private let doubling = Backoff(initial: 1, multiplier: 2, maxDelay: 8, jitter: 0)

    /// The times of the calls pending on `clock`.
    private func pendingTimes(_ clock: Clock) -> [Double] {
        clock.getDelayedCalls().map { $0.getTime() }
    }

    // MARK: - Retrying

    @Test func aFirstSuccessIsTheResult() {
        // When the first attempt succeeds, make is called once and nothing is scheduled.
        let clock = Clock()
        var made = 0
        let out = Recorded(
            retry(clock, attempts: 3, backoff: doubling) { () -> Deferred<Int> in
                made += 1
                return succeed(5)
            })

        #expect(out.value == 5)
        #expect(made == 1)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func failuresAreRetriedAfterGrowingWaits() {
        // When attempts fail, each retry follows the backoff's wait (1 s, then 2 s); the first success is the result.
        let clock = Clock()
        var madeAt: [Double] = []
        let out = Recorded(
            retry(clock, attempts: 5, backoff: doubling) { () -> Deferred<String> in
                madeAt.append(clock.seconds())
                return madeAt.count < 3 ? fail(Boom(code: madeAt.count)) : succeed("third time")
            })

        #expect(madeAt == [0])
        #expect(pendingTimes(clock) == [1])
        clock.advance(1)
        #expect(madeAt == [0, 1])
        #expect(pendingTimes(clock) == [3])
        clock.advance(1.5)
        #expect(madeAt == [0, 1])
        clock.advance(0.5)

        #expect(madeAt == [0, 1, 3])
        #expect(out.value == "third time")
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func anAsynchronousFailureIsRetriedFromWhenItFails() {
        // When an attempt fails later, the wait starts from the time it failed.
        let clock = Clock()
        var attempts: [Deferred<Int>] = []
        let out = Recorded(
            retry(clock, attempts: 2, backoff: doubling) { () -> Deferred<Int> in
                let d = Deferred<Int>()
                attempts.append(d)
                return d
            })
        clock.advance(10)

        attempts[0].errback(Boom())
        #expect(pendingTimes(clock) == [11])
        clock.advance(1)
        attempts[1].callback(2)

        #expect(out.value == 2)
    }

    @Test func theFinalFailureIsTheLastAttemptsFailureUnchanged() {
        // When every attempt fails, the result fails with the last attempt's failure, created where it was.
        let clock = Clock()
        var made = 0
        var lines: [Int] = []
        let out = Recorded(
            retry(clock, attempts: 3, backoff: doubling) { () -> Deferred<Int> in
                made += 1
                lines.append(#line + 1)
                return fail(Boom(code: made))
            })

        clock.pump([1, 2, 4, 8])

        #expect(made == 3)
        #expect(out.error(Boom.self) == Boom(code: 3))
        #expect(out.failure?.line == lines.last)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func waitsStopGrowingAtMaxDelay() {
        // When the waits would grow past maxDelay, they stay at maxDelay (1, 2, 4, 8, 8 s).
        let clock = Clock()
        var madeAt: [Double] = []
        _ = Recorded(
            retry(clock, attempts: 6, backoff: doubling) { () -> Deferred<Int> in
                madeAt.append(clock.seconds())
                return fail(Boom())
            })

        clock.pump(Array(repeating: 1, count: 30))

        #expect(madeAt == [0, 1, 3, 7, 15, 23])
    }

    @Test func aThrowingMakeCountsAsAFailedAttempt() {
        // When make throws, that attempt counts as failed and is retried.
        let clock = Clock()
        var made = 0
        let out = Recorded(
            retry(clock, attempts: 2, backoff: .immediate) { () throws -> Deferred<Int> in
                made += 1
                if made == 1 { throw Boom(code: 1) }
                return succeed(made)
            })

        clock.advance(0)

        #expect(out.value == 2)
    }

    @Test func oneAttemptMeansNoRetry() {
        // When attempts is 1, a failure is the result at once and nothing is scheduled.
        let clock = Clock()
        var made = 0
        let out = Recorded(
            retry(clock, attempts: 1, backoff: doubling) { () -> Deferred<Int> in
                made += 1
                return fail(Boom(code: 1))
            })

        #expect(made == 1)
        #expect(out.error(Boom.self) == Boom(code: 1))
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func shouldRetryFalseStopsAtOnce() {
        // When shouldRetry turns a failure down, the result fails with it at once, with no wait and no other attempt.
        let clock = Clock()
        var made = 0
        var asked: [Int] = []
        let out = Recorded(
            retry(
                clock, attempts: 5, backoff: doubling,
                shouldRetry: { failure in
                    asked.append((failure.value as? Boom)?.code ?? -1)
                    return failure.check(Boom.self) != nil
                }
            ) { () -> Deferred<Int> in
                made += 1
                return made == 1 ? fail(Boom(code: 1)) : fail(CancelledError())
            })

        clock.advance(1)

        #expect(made == 2)
        #expect(asked == [1, -1])
        #expect(out.error(CancelledError.self) != nil)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func shouldRetryIsNotAskedAboutTheLastAttempt() {
        // When the last attempt fails, shouldRetry is not asked about it.
        let clock = Clock()
        var asked = 0
        let out = Recorded(
            retry(clock, attempts: 2, backoff: .immediate, shouldRetry: { _ in
                asked += 1
                return true
            }) { () -> Deferred<Int> in fail(Boom()) })

        clock.advance(0)

        #expect(asked == 1)
        #expect(out.error(Boom.self) != nil)
    }

    @Test func manySynchronousFailuresDoNotGrowTheStack() {
        // When 10,000 attempts fail at once with no wait, all run within one advance; the last failure is the result.
        let clock = Clock()
        var made = 0
        let out = Recorded(
            retry(clock, attempts: 10_000, backoff: .immediate) { () -> Deferred<Int> in
                made += 1
                return fail(Boom(code: made))
            })

        clock.advance(0)

        #expect(made == 10_000)
        #expect(out.error(Boom.self) == Boom(code: 10_000))
    }

    // MARK: - Jitter

    @Test func jitterTakesARandomFractionOffEachWait() {
        // When jitter is 0.5 and random gives 0.5, 0, 0.25, the waits are 1.5, 6 and 8.75 s (bases 2, 6, capped 10).
        let clock = Clock()
        let random = ScriptedRandom([0.5, 0, 0.25])
        let backoff = Backoff(initial: 2, multiplier: 3, maxDelay: 10, jitter: 0.5, random: random.next)
        var madeAt: [Double] = []
        _ = Recorded(
            retry(clock, attempts: 4, backoff: backoff) { () -> Deferred<Int> in
                madeAt.append(clock.seconds())
                return fail(Boom())
            })

        #expect(pendingTimes(clock) == [1.5])
        clock.advance(1.5)
        #expect(pendingTimes(clock) == [7.5])
        clock.advance(6)
        #expect(pendingTimes(clock) == [16.25])
        clock.advance(8.75)

        #expect(madeAt == [0, 1.5, 7.5, 16.25])
        #expect(random.draws == 3)
    }

    @Test func backoffDelaysFollowTheFormula() {
        // When a backoff computes delays, they grow by the multiplier, cap at maxDelay, and jitter scales them down.
        let none = Backoff(initial: 0.5, multiplier: 2, maxDelay: 3, jitter: 0)
        #expect((1...5).map { none.delay(beforeRetry: $0) } == [0.5, 1, 2, 3, 3])

        let full = Backoff(initial: 4, multiplier: 2, maxDelay: 100, jitter: 1, random: { 0.75 })
        #expect(full.delay(beforeRetry: 1) == 1)
        #expect(full.delay(beforeRetry: 2) == 2)

        #expect(Backoff.constant(2.5).delay(beforeRetry: 7) == 2.5)
        #expect(Backoff.immediate.delay(beforeRetry: 1) == 0)

        let huge = Backoff(initial: 1, multiplier: 10, maxDelay: 60, jitter: 0)
        #expect(huge.delay(beforeRetry: 10_000) == 60)
    }

    @Test func jitteredDelaysStayWithinTheirBand() {
        // When a seeded random source drives a jittered backoff, every wait lies in (base * (1 - jitter), base].
        var rng = SplitMix64(seed: 7)
        let backoff = Backoff(initial: 1, multiplier: 2, maxDelay: 30, jitter: 0.3) {
            Double.random(in: 0..<1, using: &rng)
        }
        for retry in 1...20 {
            let base = min(30, Double(1 << min(retry - 1, 20)))
            for _ in 0..<50 {
                let delay = backoff.delay(beforeRetry: retry)
                #expect(delay > base * 0.7 && delay <= base)
            }
        }
    }

    @Test func noJitterDrawsNoRandomNumber() {
        // When jitter is 0, the random source is never called.
        let random = ScriptedRandom([0.5])
        let backoff = Backoff(initial: 1, multiplier: 2, maxDelay: 10, jitter: 0, random: random.next)

        _ = (1...5).map { backoff.delay(beforeRetry: $0) }

        #expect(random.draws == 0)
    }

    // MARK: - Cancelling

    @Test func cancellingDuringAWaitStopsRetrying() {
        // When the result is cancelled during a wait, it fails with CancelledError, the wait goes, no attempt follows.
        let clock = Clock()
        var made = 0
        let d = retry(clock, attempts: 5, backoff: doubling) { () -> Deferred<Int> in
            made += 1
            return fail(Boom())
        }
        let out = Recorded(d)
        #expect(clock.getDelayedCalls().count == 1)

        d.cancel()
        clock.advance(100)

        #expect(out.error(CancelledError.self) != nil)
        #expect(made == 1)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func cancellingDuringAnAttemptCancelsItAndStopsRetrying() {
        // When the result is cancelled during an attempt, that attempt is cancelled and the result fails (Cancelled).
        let clock = Clock()
        var attempts: [Deferred<Int>] = []
        let d = retry(clock, attempts: 5, backoff: doubling) { () -> Deferred<Int> in
            let attempt = Deferred<Int>()
            attempts.append(attempt)
            return attempt
        }
        let out = Recorded(d)

        d.cancel()
        clock.advance(100)

        #expect(attempts.count == 1)
        #expect(attempts[0].called)
        #expect(out.error(CancelledError.self) != nil)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func anAttemptWhoseCancellerFiresKeepsThatOutcome() {
        // When the attempt in flight answers its cancellation with a value, the result fires with it; no retry follows.
        let clock = Clock()
        var made = 0
        let d = retry(clock, attempts: 5, backoff: doubling) { () -> Deferred<Int> in
            made += 1
            return Deferred<Int>(canceller: { $0.callback(-1) })
        }
        let out = Recorded(d)

        d.cancel()

        #expect(out.value == -1)
        #expect(made == 1)
    }

    @Test func makeCancellingTheResultCancelsItsOwnAttempt() {
        // When make cancels the result itself, the attempt it returns is cancelled and no other attempt follows.
        let clock = Clock()
        var made = 0
        var result: Deferred<Int>?
        var attemptCancelled = false
        result = retry(clock, attempts: 5, backoff: doubling) { () -> Deferred<Int> in
            made += 1
            if made == 1 { return fail(Boom()) }
            result?.cancel()
            return Deferred<Int>(canceller: { _ in attemptCancelled = true })
        }
        let out = Recorded(result!)

        clock.advance(100)

        #expect(made == 2)
        #expect(attemptCancelled)
        #expect(out.error(CancelledError.self) != nil)
        #expect(clock.getDelayedCalls().isEmpty)
    }

    @Test func cancellingAfterTheResultFiredDoesNothing() {
        // When the result has fired, cancelling it changes nothing and makes no attempt.
        let clock = Clock()
        var made = 0
        let d = retry(clock, attempts: 3, backoff: doubling) { () -> Deferred<Int> in
            made += 1
            return succeed(1)
        }

        d.cancel()

        #expect(Recorded(d).value == 1)
        #expect(made == 1)
    }

    @Test func theResultDoesNotOutliveItsRetry() {
        // When a retry has finished and the caller drops its deferred, the deferred is released.
        let clock = Clock()
        weak var weakResult: Deferred<Int>?
        do {
            let d = retry(clock, attempts: 3, backoff: .immediate) { () -> Deferred<Int> in fail(Boom()) }
            d.addErrback { _ in 0 }
            weakResult = d
            clock.advance(0)
        }

        #expect(weakResult == nil)
    }

    // MARK: - Programmer errors

    @Test func fewerThanOneAttemptTraps() async {
        // When retry is asked for 0 attempts, the process traps with a message naming the error.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = retry(Clock(), attempts: 0) { () -> Deferred<Int> in succeed(1) }
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("attempts must be at least 1"))
    }

    @Test func aJitterAboveOneTraps() async {
        // When a Backoff is made with a jitter above 1, the process traps with a message naming the error.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Backoff(jitter: 1.5)
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("jitter must be in 0...1"))
    }
}
