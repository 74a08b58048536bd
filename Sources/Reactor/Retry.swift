import Deferreds

/// How long `retry` waits before each new attempt: exponential backoff with jitter.
///
/// The wait before retry *n* (n = 1 after the first failure) starts from
/// `base = min(maxDelay, initial * multiplier^(n-1))`, and jitter takes a random part of it away:
/// the wait is `base * (1 - jitter * r)`, with `r = random()` in `0..<1`. So with `jitter` 0 the
/// waits are exactly `initial`, `initial * multiplier`, … up to `maxDelay`; with `jitter` 1 each is
/// anywhere in `(0, base]` ("full jitter"), which keeps many clients that failed together from
/// retrying together. A wait is never longer than `maxDelay`.
///
/// ```swift
/// let backoff = Backoff(initial: 0.5, multiplier: 2, maxDelay: 30, jitter: 0.2)
/// backoff.delay(beforeRetry: 3)       // between 1.6 and 2 seconds
/// let fixed = Backoff(random: { 0.5 })   // deterministic, for tests
/// ```
///
/// Programmer errors (they trap): a negative or non-finite `initial` or `maxDelay`, a `multiplier`
/// below 1, a `jitter` outside `0...1`.
///
/// Twisted: `twisted.application.internet.backoffPolicy` (which *adds* up to one second of jitter;
/// here jitter is a fraction of the wait, so short waits stay short).
public struct Backoff {
    /// The wait before the first retry, in seconds.
    public var initial: Double
    /// The factor each wait grows by.
    public var multiplier: Double
    /// The longest wait, in seconds.
    public var maxDelay: Double
    /// The largest fraction of a wait that jitter takes away, in `0...1`.
    public var jitter: Double
    /// The random source: a number in `0..<1` per wait. Inject a fixed sequence in tests.
    public var random: () -> Double

    /// - Parameters:
    ///   - initial: the wait before the first retry (seconds, >= 0).
    ///   - multiplier: the factor each wait grows by (>= 1).
    ///   - maxDelay: the longest wait (seconds, >= 0).
    ///   - jitter: the largest fraction of a wait taken away at random (`0...1`).
    ///   - random: returns a number in `0..<1`; the system generator by default.
    public init(
        initial: Double = 1, multiplier: Double = 2, maxDelay: Double = 60, jitter: Double = 0.1,
        random: @escaping () -> Double = { Double.random(in: 0..<1) }
    ) {
        precondition(
            initial >= 0 && initial.isFinite, "Backoff: initial must be a finite number >= 0, got \(initial)")
        precondition(multiplier >= 1 && multiplier.isFinite, "Backoff: multiplier must be >= 1, got \(multiplier)")
        precondition(
            maxDelay >= 0 && maxDelay.isFinite, "Backoff: maxDelay must be a finite number >= 0, got \(maxDelay)")
        precondition(jitter >= 0 && jitter <= 1, "Backoff: jitter must be in 0...1, got \(jitter)")
        self.initial = initial
        self.multiplier = multiplier
        self.maxDelay = maxDelay
        self.jitter = jitter
        self.random = random
    }

    /// The same wait, `seconds`, before every retry (no growth, no jitter).
    public static func constant(_ seconds: Double) -> Backoff {
        Backoff(initial: seconds, multiplier: 1, maxDelay: seconds, jitter: 0)
    }

    /// No wait: each retry is made on the next turn of the clock.
    public static var immediate: Backoff { constant(0) }

    /// The wait before retry `retry` (1 for the first retry), drawing one random number if
    /// `jitter` is not 0.
    public func delay(beforeRetry retry: Int) -> Double {
        precondition(retry >= 1, "Backoff.delay(beforeRetry:): retries are numbered from 1, got \(retry)")
        var grown = initial
        for _ in 1..<retry where grown < maxDelay { grown *= multiplier }
        let base = min(maxDelay, grown)
        guard jitter > 0 else { return base }
        // The properties are checked by `init` only; clamp what a later assignment may have broken.
        let r = min(max(random(), 0), 1)
        return max(0, base * (1 - min(jitter, 1) * r))
    }
}

/// Calls `make` until the deferred it returns succeeds, at most `attempts` times, waiting longer
/// between attempts.
///
/// `make` is called at once. When its deferred fails (or `make` throws), and fewer than `attempts`
/// attempts have been made, and `shouldRetry` says yes to the failure, `retry` waits
/// `backoff.delay(beforeRetry: n)` on `clock` and calls `make` again. The returned deferred fires
/// with the first success, or fails with the last attempt's failure, unchanged (the failure
/// `shouldRetry` turned down, or the last attempt's). `shouldRetry` is not asked about the last
/// attempt's failure.
///
/// Cancelling the returned deferred stops retrying. During a wait, the wait is cancelled and the
/// deferred fails with `CancelledError`; during an attempt, the attempt's deferred is cancelled
/// and its outcome (normally `CancelledError`) becomes the result, without a retry.
///
/// ```swift
/// retry(reactor, attempts: 5, shouldRetry: { $0.check(ConnectionRefusedError.self) != nil }) {
///     agent.request("GET", url)
/// }
/// ```
///
/// - Parameters:
///   - clock: the clock to wait on (a reactor, or a test `Clock`).
///   - attempts: the most calls of `make`, at least 1 (a programmer error otherwise).
///   - backoff: the waits between attempts.
///   - shouldRetry: whether a failure is worth another attempt; every failure is, by default.
///   - make: starts one attempt. A thrown error counts as a failed attempt.
/// - Returns: a deferred that fires with the first attempt that succeeds.
///
/// Twisted has no `retry` in its core; this packages the usual `callLater` + errback loop.
public func retry<V>(
    _ clock: any ReactorTime, attempts: Int, backoff: Backoff = Backoff(),
    shouldRetry: @escaping (Failure) -> Bool = { _ in true },
    _ make: @escaping () throws -> Deferred<V>
) -> Deferred<V> {
    retry(clock, attempts: attempts, delayBeforeRetry: { failure, retry in
        shouldRetry(failure) ? backoff.delay(beforeRetry: retry) : nil
    }, make)
}

/// Calls `make` until the deferred it returns succeeds, at most `attempts` times, waiting as long
/// as `delayBeforeRetry` says between attempts: the machine under `retry(_:attempts:backoff:)` and
/// `RetryAgent`, for callers whose wait depends on the failure (a server's `Retry-After`, say).
///
/// After a failed attempt (or a `make` that throws), when fewer than `attempts` attempts have been
/// made, `delayBeforeRetry(failure, n)` is asked for the wait before retry `n` (1 after the first
/// attempt): `nil` ends the retrying with that failure, a number of seconds (at least 0) schedules
/// the next attempt on `clock`. It is not asked about the last attempt's failure. Results and
/// cancellation are as for `retry(_:attempts:backoff:shouldRetry:_:)`.
///
/// Programmer errors (they trap): `attempts` below 1.
public func retry<V>(
    _ clock: any ReactorTime, attempts: Int, delayBeforeRetry: @escaping (_ failure: Failure, _ retry: Int) -> Double?,
    _ make: @escaping () throws -> Deferred<V>
) -> Deferred<V> {
    precondition(attempts >= 1, "retry(_:attempts:): attempts must be at least 1, got \(attempts)")
    let retrier = Retrier(clock: clock, attempts: attempts, delayBeforeRetry: delayBeforeRetry, make: make)
    retrier.attempt()
    return retrier.result
}

/// The state of one `retry`: the attempt in flight or the wait before the next one.
private final class Retrier<V> {
    private enum State {
        /// `make` is being called.
        case starting
        /// An attempt's deferred is in flight. `cancelled`: the result was cancelled meanwhile.
        case attempting(Deferred<V>, cancelled: Bool)
        /// Waiting before the next attempt.
        case waiting(DelayedCall)
        /// The result has fired (or was cancelled during a wait).
        case finished
    }

    let clock: any ReactorTime
    let attempts: Int
    /// The wait before retry n after a failure, or nil to stop.
    let delayBeforeRetry: (Failure, Int) -> Double?
    let make: () throws -> Deferred<V>
    /// The deferred `retry` returned; its canceller holds this retrier until it fires.
    let result: Deferred<V>
    private var state = State.starting
    private var made = 0

    init(
        clock: any ReactorTime, attempts: Int, delayBeforeRetry: @escaping (Failure, Int) -> Double?,
        make: @escaping () throws -> Deferred<V>
    ) {
        self.clock = clock
        self.attempts = attempts
        self.delayBeforeRetry = delayBeforeRetry
        self.make = make
        // The result and this retrier hold each other until the result fires (and drops its canceller).
        var cancel: () -> Void = {}
        result = Deferred<V>(canceller: { _ in cancel() })
        bindToLoop(result, of: clock)
        cancel = { self.cancel() }
    }

    /// Makes one attempt and waits for its outcome.
    func attempt() {
        made += 1
        state = .starting
        let pending: Deferred<V>
        do {
            pending = try make()
        } catch {
            attemptFailed(Failure(error))
            return
        }
        // `make` may have cancelled the result itself: then this attempt is cancelled at once.
        let cancelled = result.called
        state = .attempting(pending, cancelled: cancelled)
        _ = pending.addBoth { [self] (outcome: Result<V, Failure>) in
            switch outcome {
            case .success(let value): finish(.success(value))
            case .failure(let failure): attemptFailed(failure)
            }
        }
        if cancelled { pending.cancel() }
    }

    /// Retries after the backoff wait, or ends with `failure`.
    private func attemptFailed(_ failure: Failure) {
        if case .attempting(_, cancelled: true) = state {
            finish(.failure(failure))
        } else if result.called {
            // The result was cancelled from inside `make` (which then threw): stop.
            state = .finished
        } else if made < attempts, let wait = delayBeforeRetry(failure, made) {
            state = .waiting(clock.callLater(max(0, wait)) { [self] in attempt() })
        } else {
            finish(.failure(failure))
        }
    }

    /// The result's canceller.
    private func cancel() {
        switch state {
        case .starting, .finished:
            // `make` is cancelling the result itself (`attempt()` sees it), or it has fired.
            break
        case .attempting(let pending, cancelled: _):
            state = .attempting(pending, cancelled: true)
            pending.cancel()
        case .waiting(let next):
            next.cancel()
            state = .finished
        }
    }

    private func finish(_ outcome: Result<V, Failure>) {
        state = .finished
        // A cancel that the attempt ignored has already failed the result with CancelledError.
        guard !result.called else { return }
        switch outcome {
        case .success(let value): result.callback(value)
        case .failure(let failure): result.errback(failure)
        }
    }
}
