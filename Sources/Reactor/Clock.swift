/// Deterministic time for tests: nothing runs until you `advance` it.
///
/// `advance(_:)` moves the time forward and runs every call that is due by then, in time order —
/// including calls that those calls schedule, if they are due too. Calls due at the same time run
/// in the order they were scheduled.
///
/// ```swift
/// let clock = Clock()
/// let d = deferLater(clock, 5) { "done" }
/// clock.advance(4.9)    // d has not fired
/// clock.advance(0.1)    // d fires with "done"
/// ```
///
/// Twisted: `twisted.internet.task.Clock`. Its call list is kept sorted by insertion (quadratic for
/// many timers); this one uses the same heap as the reactor.
public final class Clock: ReactorTime {
    private var now: Double = 0
    private lazy var queue = TimerQueue(now: { [unowned self] in self.now })

    /// A clock at time 0 with no calls scheduled.
    public init() {}

    public func seconds() -> Double { now }

    @discardableResult
    public func callLater(_ delay: Double, _ f: consuming @escaping () -> Void) -> DelayedCall {
        queue.schedule(at: now + max(0, delay), f)
    }

    /// Moves time forward by `seconds` and runs every call due by then.
    public func advance(_ seconds: Double) {
        precondition(seconds >= 0, "Clock.advance(_:) cannot move time backwards (got \(seconds))")
        now += seconds
        while let call = queue.popDue(at: now) {
            call.takeForRunning()?()
        }
    }

    /// Advances by each amount in turn (running the calls due after each step).
    public func pump(_ timings: [Double]) {
        for amount in timings { advance(amount) }
    }

    /// The calls still pending, earliest first.
    public func getDelayedCalls() -> [DelayedCall] {
        queue.pendingCalls()
    }
}
