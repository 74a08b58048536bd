import Deferreds

/// The reactor's life: whether it runs, stopping it, and the functions that run when it starts or
/// stops.
///
/// Library code that must act at startup or shutdown (a connection pool closing its connections
/// before the reactor stops) takes this face instead of `EPollReactor`, so that a test can hand it
/// a `MemoryReactor` and fire the events by hand.
///
/// Everything here is called on the reactor's thread (see `ReactorThreads` for the one exception).
///
/// Twisted: `twisted.internet.interfaces.IReactorCore`. `run()` is not part of the face: only
/// programs run a reactor, and they hold the concrete one.
public protocol ReactorCore: AnyObject {
    /// Whether the reactor is running (including while its shutdown triggers run).
    var running: Bool { get }

    /// Starts the shutdown: the shutdown triggers run, then the reactor stops. Does nothing if it
    /// is not running.
    func stop()

    /// Runs `f` once the reactor is running: at once if it is, else after the startup triggers.
    func callWhenRunning(_ f: @escaping () -> Void)

    /// Adds `f` to the triggers of `event` in `phase`.
    ///
    /// - Returns: an identifier for `removeSystemEventTrigger(_:)`.
    @discardableResult
    func addSystemEventTrigger(_ phase: EventPhase, _ event: SystemEvent, _ f: @escaping () -> Void) -> TriggerID

    /// Adds a trigger that returns a deferred; in the `.before` phase the event waits until it fires.
    @discardableResult
    func addSystemEventTrigger(
        _ phase: EventPhase, _ event: SystemEvent, _ f: @escaping () -> Deferred<Void>
    ) -> TriggerID

    /// Removes a trigger that has not run yet (an unknown or spent identifier is ignored).
    func removeSystemEventTrigger(_ id: TriggerID)
}
