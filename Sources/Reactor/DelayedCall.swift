/// A function scheduled to run later by `callLater`: cancel it, move it, or ask when it runs.
///
/// A call is *active* from `callLater` until it runs or is cancelled. `cancel()` is idempotent and
/// never throws; `reset(_:)` and `delay(_:)` move an active call and do nothing on an inactive one.
/// Calls due at the same time run in the order they were scheduled.
///
/// ```swift
/// let timeout = reactor.callLater(30) { request.cancel() }
/// _ = request.addBoth { _ in timeout.cancel() }
/// ```
///
/// Twisted: `twisted.internet.base.DelayedCall`. Twisted raises `AlreadyCalled`/`AlreadyCancelled`
/// from `cancel`, `reset` and `delay` on an inactive call; here they are no-ops.
public final class DelayedCall {
    enum State {
        case pending, called, cancelled
    }

    /// The queue holding the call while it is pending; nil once it is not. Not retained (the queue
    /// holds its pending calls, and dropping a clock must release them); safe because the queue,
    /// when it goes, cancels every call it holds, which sets this back to nil.
    unowned(unsafe) var queue: TimerQueue?
    // What the queue and a pass touch on every call, in one stored struct: its accesses are
    // checked, and cost nothing measurable grouped so (as separate fields they cost over 1 %;
    // see `TimerQueue`'s safety budget).
    var slot: Slot

    struct Slot {
        var function: (() -> Void)?
        /// Whether the queue holds a current entry for the call (not once it is taken off: to run,
        /// or held back by a reactor pass).
        var inQueue = false
        var state = State.pending
    }

    var function: (() -> Void)? {
        get { slot.function }
        _modify { yield &slot.function }
    }
    var inQueue: Bool {
        get { slot.inQueue }
        _modify { yield &slot.inQueue }
    }
    var state: State {
        get { slot.state }
        _modify { yield &slot.state }
    }
    var time: Double
    var sequence: UInt64 = 0
    /// Bumped when the call moves; heap entries of older generations are stale.
    var generation: UInt32 = 0

    init(time: Double, function: consuming @escaping () -> Void) {
        self.time = time
        self.slot = Slot(function: function)
    }

    /// Whether the call has neither run nor been cancelled.
    public var active: Bool { state == .pending }

    /// When the call runs (or would have run), on its clock's `seconds()` scale.
    public func getTime() -> Double { time }

    /// Stops the call from running. Does nothing if it already ran or was cancelled.
    public func cancel() {
        guard state == .pending else { return }
        state = .cancelled
        function = nil
        queue?.cancelled(self)
        queue = nil
    }

    /// Makes the call run `secondsFromNow` seconds from now instead (if it is still active).
    public func reset(_ secondsFromNow: Double) {
        precondition(!secondsFromNow.isNaN, "DelayedCall.reset(_:) needs a number of seconds, got NaN")
        guard state == .pending, let queue else { return }
        queue.move(self, to: queue.now() + max(0, secondsFromNow))
    }

    /// Makes the call run `seconds` later than planned (if it is still active).
    public func delay(_ seconds: Double) {
        precondition(!seconds.isNaN, "DelayedCall.delay(_:) needs a number of seconds, got NaN")
        guard state == .pending, let queue else { return }
        queue.move(self, to: time + seconds)
    }

    /// Marks the call as run and hands back its function.
    func takeForRunning() -> (() -> Void)? {
        state = .called
        queue = nil
        return function.take()
    }
}
