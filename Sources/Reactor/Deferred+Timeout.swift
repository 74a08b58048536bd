import Deferreds

// MARK: - Timing out

/// Timeouts for any deferred, on any `ReactorTime`.
extension Deferred {
    /// Cancels this deferred if it has not fired within `seconds`, and turns the resulting
    /// `CancelledError` into `TimeoutError`.
    ///
    /// When `seconds` pass on `clock` first, `cancel()` is called on this chain: the canceller runs
    /// (or, if the chain is waiting for a deferred one of its steps returned, that deferred is
    /// cancelled). If that makes the chain fail with `CancelledError`, the steps added after this one
    /// see `TimeoutError(seconds:)` instead; a canceller that fires with its own value or error is
    /// left alone. When the chain gets past this point first, the timer is cancelled, so no delayed
    /// call is left behind on `clock`.
    ///
    /// The timeout covers the steps added *before* it: once the chain has reached it, the timer is
    /// gone, and a deferred returned by a later step can wait as long as it likes.
    ///
    /// ```swift
    /// agent.request("GET", url)
    ///     .addTimeout(30, clock: reactor)       // fails with TimeoutError after 30 s
    ///     .addErrback { failure in try failure.trap(TimeoutError.self); return fallback }
    /// ```
    ///
    /// - Parameters:
    ///   - seconds: how long to wait, on `clock`'s scale.
    ///   - clock: the clock that times out (a reactor, or a test `Clock`).
    ///   - onTimeoutCancel: when given, called instead of the `CancelledError` → `TimeoutError`
    ///     conversion, with the chain's result after a timed-out cancel and `seconds`; what it returns
    ///     or throws becomes the chain's result. It is not called when the chain fired in time.
    ///   - file: where a `TimeoutError` failure says it was created (the caller, by default).
    ///   - line: the line of `file` (the caller's, by default).
    /// - Returns: this deferred (the same chain), with the timeout step added.
    ///
    /// Twisted: `Deferred.addTimeout(timeout, clock, onTimeoutCancel=None)`.
    @discardableResult
    public func addTimeout(
        _ seconds: Double, clock: any ReactorTime,
        onTimeoutCancel: ((Result<Value, Failure>, Double) throws -> Value)? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) -> Deferred<Value> {
        var timedOut = false
        let timer = clock.callLater(seconds) { [self] in
            timedOut = true
            cancel()
        }
        let step = { (outcome: Result<Value, Failure>) throws -> Value in
            timer.cancel()
            guard timedOut else { return try outcome.get() }
            if let onTimeoutCancel { return try onTimeoutCancel(outcome, seconds) }
            if case .failure(let failure) = outcome, failure.check(CancelledError.self) != nil {
                throw TimeoutError(seconds: seconds)
            }
            return try outcome.get()
        }
        return addBoth(step, file: file, line: line)
    }
}
