import Deferreds

/// Calls a function repeatedly, every `interval` seconds, until stopped.
///
/// `start(interval)` calls `f` at once (unless `now` is false), and then at the start time plus
/// every multiple of `interval`. The slots are fixed: a call that runs late does not shift the ones
/// after it, and when a call runs so late that slots have gone by (the clock jumped, or `f` took
/// longer than `interval`), the missed slots are **skipped**, not caught up: the next call is at
/// the next slot still in the future. `init(clock:withCount:)` tells `f` how many slots have gone
/// by since its last call.
///
/// When `f` returns a deferred, the loop waits for it: the next call is scheduled, from the time
/// it fires, at the next free slot. An interval of 0 calls `f` again on the next turn of the clock
/// (with a test `Clock`, within the same `advance`).
///
/// The deferred `start` returns fires with the `LoopingCall` when `stop()` ends the loop (after the
/// call in progress, if any, has finished), and fails with the error when `f` throws or its deferred
/// fails; that ends the loop too. Cancelling it stops the loop at once: the pending call is
/// cancelled, as is a deferred of `f`'s that the loop waits for, and it fails with `CancelledError`.
///
/// ```swift
/// let heartbeat = LoopingCall(clock: reactor) { connection.write(ping) }
/// heartbeat.start(30).addErrback { failure in log(failure) }
/// // … later
/// heartbeat.stop()
/// ```
///
/// Programmer errors (they trap): starting a loop that is running or still stopping, stopping or
/// resetting a loop that is not running, a negative or non-finite interval.
///
/// Twisted: `twisted.internet.task.LoopingCall`. Differences: the clock is a parameter of the
/// initialisers (Twisted defaults to the global reactor and lets tests replace `clock`); cancelling
/// `start`'s deferred stops the loop (in Twisted the loop goes on); `start` while a stopped loop
/// still waits for its last call's deferred traps (Twisted starts a second loop beside it); a
/// `withCount` loop counts afresh from each `start` and `reset()`.
public final class LoopingCall {
    /// Where the loop is in its life.
    private enum State {
        /// Not started, or ended (stopped, failed or cancelled) and its deferred fired.
        case idle
        /// Running; the next call is scheduled.
        case scheduled(DelayedCall)
        /// `f` is being called. `stopping`: `stop()` (or a cancel) came meanwhile.
        case calling(stopping: Bool)
        /// Waiting for the deferred `f` returned. `stopping` as for `calling`.
        case waiting(Deferred<Void>, stopping: Bool)
    }

    /// What the loop calls: nil when done at once, else a deferred to wait for. The argument is
    /// the number of slots since the last call (1 unless the loop counts them).
    private let body: (Int) throws -> Deferred<Void>?
    /// Whether `body` wants the slot count (`withCount`), which is then computed before each call.
    private let counts: Bool

    /// The clock the loop schedules its calls on; a change takes effect at the next scheduling.
    public var clock: any ReactorTime

    /// The interval of the current (or last) run, in seconds; nil before the first `start`.
    public private(set) var interval: Double?

    /// How many times `f` has been called since the last `start`.
    public private(set) var callCount = 0

    private var state = State.idle
    /// The deferred `start` returned, until it fires (or is cancelled).
    private var deferred: Deferred<LoopingCall>?
    /// When the current run started, or was last `reset()`: slot k is at `startTime + k * interval`.
    private var startTime: Double = 0
    /// When `f` was last called with a count (`withCount` only); nil before the first call of a run.
    private var lastCountedTime: Double?
    /// Whether the current run called `f` at its start.
    private var ranAtStart = false

    private init(clock: any ReactorTime, counts: Bool, body: @escaping (Int) throws -> Deferred<Void>?) {
        self.clock = clock
        self.counts = counts
        self.body = body
    }

    /// A loop that calls `f` on `clock`.
    ///
    /// Twisted: `LoopingCall(f)`, then `lc.clock = clock`.
    public convenience init(clock: any ReactorTime, _ f: @escaping () throws -> Void) {
        self.init(clock: clock, counts: false) { _ in
            try f()
            return nil
        }
    }

    /// A loop that calls `f` on `clock` and waits for the deferred it returns before going on.
    ///
    /// The deferred's value is ignored; its failure ends the loop. As in Twisted, the loop appends
    /// its own step to that deferred: afterwards the chain's result is `()` and a failure in it counts
    /// as handled (`start`'s deferred carries it). A `Deferred<Value>` handle kept on it is then stale
    /// for adding steps, unless `Value` is `Void`.
    ///
    /// ```swift
    /// let poll = LoopingCall(clock: reactor) { agent.request("GET", statusURL).addCallback(record) }
    /// ```
    public convenience init<Value>(clock: any ReactorTime, _ f: @escaping () throws -> Deferred<Value>) {
        // Generic over `Value` on purpose: a multi-statement closure without `return` cannot bind it,
        // so such a closure picks the `Void` initialiser instead of being ambiguous between the two.
        self.init(clock: clock, counts: false) { _ in try f().addCallback { _ in } }
    }

    /// A loop that calls `f` with the number of slots that have gone by since its last call.
    ///
    /// The count is at least 1: 1 when the loop keeps up, more when slots were skipped (the clock
    /// jumped, or a deferred `f` returned took that long). The first call of a run counts from the
    /// start (1 with `now: false` after one interval; 1 for the call at the start itself). With an
    /// interval of 0 it is always 1.
    ///
    /// ```swift
    /// let ticker = LoopingCall(clock: reactor, withCount: { ticks in frame += ticks })
    /// ```
    ///
    /// Twisted: `LoopingCall.withCount(countCallable)`.
    public convenience init(clock: any ReactorTime, withCount f: @escaping (Int) throws -> Void) {
        self.init(clock: clock, counts: true) { count in
            try f(count)
            return nil
        }
    }

    /// `init(clock:withCount:)` with an `f` that returns a deferred to wait for (see `init(clock:_:)`).
    public convenience init<Value>(
        clock: any ReactorTime, withCount f: @escaping (Int) throws -> Deferred<Value>
    ) {
        self.init(clock: clock, counts: true) { count in try f(count).addCallback { _ in } }
    }

    /// Whether the loop is running: started, and neither stopped nor ended by a failure.
    ///
    /// It turns false as soon as `stop()` is called, even while the loop still waits for the
    /// deferred of its last call.
    public var running: Bool {
        switch state {
        case .idle: false
        case .scheduled: true
        case .calling(let stopping), .waiting(_, let stopping): !stopping
        }
    }
}

// MARK: - Starting and stopping

extension LoopingCall {
    /// Starts calling `f` every `interval` seconds.
    ///
    /// - Parameters:
    ///   - interval: seconds between the slots, at least 0.
    ///   - now: whether to call `f` at once, before this returns; else the first call is after
    ///     one interval.
    /// - Returns: a deferred that fires with this `LoopingCall` once `stop()` has ended the loop, or
    ///   fails with the error `f` threw or its deferred failed with. Cancelling it stops the loop.
    ///
    /// Starting a loop that is running, or that was stopped while waiting for a deferred of `f`'s
    /// which has not fired yet, is a programmer error; so is a negative or non-finite interval.
    @discardableResult
    public func start(_ interval: Double, now: Bool = true) -> Deferred<LoopingCall> {
        guard case .idle = state else {
            preconditionFailure(
                running
                    ? "LoopingCall.start(_:now:): tried to start an already running LoopingCall; stop() it first"
                    : "LoopingCall.start(_:now:): tried to start a LoopingCall that is still stopping; "
                        + "start it again once the deferred of its last start() has fired")
        }
        precondition(
            interval >= 0 && interval.isFinite,
            "LoopingCall.start(_:now:): interval must be a finite number >= 0, got \(interval)")
        let loop = Deferred<LoopingCall>(canceller: { [weak self] _ in self?.cancelRun() })
        bindToLoop(loop, of: clock)
        deferred = loop
        self.interval = interval
        startTime = clock.seconds()
        ranAtStart = now
        lastCountedTime = nil
        callCount = 0
        if now {
            call()
        } else {
            schedule(from: startTime)
        }
        return loop
    }

    /// Stops the loop: no further call is made.
    ///
    /// If the loop is between calls, the deferred `start` returned fires now, with this
    /// `LoopingCall`. If `f` is running or the loop waits for its deferred, it fires once that call
    /// has finished (or fails, if the call fails). Stopping a loop that is not running is a
    /// programmer error.
    public func stop() {
        switch state {
        case .idle, .calling(stopping: true), .waiting(_, stopping: true):
            preconditionFailure("LoopingCall.stop(): tried to stop a LoopingCall that was not running")
        case .scheduled(let next):
            next.cancel()
            finish(.success(self))
        case .calling(stopping: false):
            state = .calling(stopping: true)
        case .waiting(let pending, stopping: false):
            state = .waiting(pending, stopping: true)
        }
    }

    /// Restarts the slots from now: the next call is one interval from now.
    ///
    /// Does nothing while `f` is running or the loop waits for its deferred (the slots then restart
    /// from the time of the next call). Resetting a loop that is not running is a programmer error.
    ///
    /// Twisted: `LoopingCall.reset`.
    public func reset() {
        precondition(running, "LoopingCall.reset(): tried to reset a LoopingCall that was not running")
        guard case .scheduled(let next) = state else { return }
        next.cancel()
        startTime = clock.seconds()
        if lastCountedTime != nil { lastCountedTime = startTime }
        schedule(from: startTime)
    }
}

// MARK: - The loop

extension LoopingCall {
    /// Calls `f` (the slot has come), then waits for it or schedules the next call.
    private func call() {
        state = .calling(stopping: false)
        let pending: Deferred<Void>?
        do {
            guard let count = slotsSinceLastCall() else {
                callFinished(.success(()))
                return
            }
            callCount += 1
            pending = try body(count)
        } catch {
            callFinished(.failure(Failure(error)))
            return
        }
        guard let pending else {
            callFinished(.success(()))
            return
        }
        guard case .calling(let stopping) = state else {
            preconditionFailure("LoopingCall: internal state changed while f was running")
        }
        state = .waiting(pending, stopping: stopping)
        _ = pending.addBoth { [self] (outcome: Result<Void, Failure>) in callFinished(outcome) }
    }

    /// Ends the loop, or schedules the next call, once a call of `f` is over.
    private func callFinished(_ outcome: Result<Void, Failure>) {
        let stopping: Bool
        switch state {
        case .calling(let flag), .waiting(_, let flag):
            stopping = flag
        case .idle, .scheduled:
            preconditionFailure("LoopingCall: a call finished while none was in progress")
        }
        switch outcome {
        case .failure(let failure):
            finish(.failure(failure))
        case .success where stopping:
            finish(.success(self))
        case .success:
            schedule(from: clock.seconds())
        }
    }

    /// Schedules the next call at the first slot after `time` (the next turn, for interval 0).
    private func schedule(from time: Double) {
        // The clock holds the loop while a call is scheduled, as Twisted's reactor does.
        let next = clock.callLater(delayToNextSlot(from: time)) { [self] in call() }
        state = .scheduled(next)
    }

    /// Seconds from `time` to the next slot that is strictly in the future.
    private func delayToNextSlot(from time: Double) -> Double {
        let interval = interval ?? 0
        guard interval > 0 else { return 0 }
        var into = (time - startTime).truncatingRemainder(dividingBy: interval)
        if into < 0 { into += interval }
        let untilNext = interval - into
        // A delay too small to change `time` (its digits fall off the end) means `time` is on a
        // slot: that slot is now, not the future, so the next one is a whole interval away.
        return time + untilNext == time ? interval : untilNext
    }

    /// The count to pass to `f`: 1 for a loop that does not count; for `withCount`, the slots gone
    /// by since the last call, or nil when none has (`f` is then not called for this slot).
    private func slotsSinceLastCall() -> Int? {
        guard counts, let interval else { return 1 }
        let now = clock.seconds()
        guard interval > 0 else {
            lastCountedTime = now
            return 1
        }
        let last = lastCountedTime ?? (ranAtStart ? startTime - interval : startTime)
        let count = slot(of: now, interval) - slot(of: last, interval)
        guard count >= 1 else { return nil }
        lastCountedTime = now
        return count < Double(Int.max) ? Int(count) : Int.max
    }

    /// The number of the slot `time` falls in (slot 0 starts at `startTime`), as a whole `Double`.
    private func slot(of time: Double, _ interval: Double) -> Double {
        ((time - startTime) / interval).rounded(.down)
    }

    /// The canceller of `start`'s deferred: ends the run without firing it (`cancel()` then fails it
    /// with `CancelledError`).
    private func cancelRun() {
        deferred = nil
        switch state {
        case .idle:
            break
        case .scheduled(let next):
            next.cancel()
            state = .idle
        case .calling:
            state = .calling(stopping: true)
        case .waiting(let pending, _):
            state = .waiting(pending, stopping: true)
            pending.cancel()
        }
    }

    /// Ends the run and fires `start`'s deferred (unless it was cancelled).
    ///
    /// The state is idle before the deferred fires, so its callbacks may start the loop again.
    private func finish(_ outcome: Result<LoopingCall, Failure>) {
        state = .idle
        guard let loop = deferred else { return }
        deferred = nil
        switch outcome {
        case .success(let value): loop.callback(value)
        case .failure(let failure): loop.errback(failure)
        }
    }
}
