/// The reactor's one thread-safe entry: queueing a function to run on the reactor's thread.
///
/// Every other method of every face is called on the reactor's thread (debug builds of
/// `EPollReactor` check it). Another thread that needs the reactor calls `callFromThread(_:)`;
/// the function runs in the reactor's next pass, after those queued before it by the same thread.
///
/// Twisted: `twisted.internet.interfaces.IReactorThreads.callFromThread` (the thread pool half of
/// Twisted's interface, `callInThread`, has no counterpart here).
public protocol ReactorThreads: AnyObject {
    /// Queues `f` to run on the reactor's thread. Safe from any thread.
    func callFromThread(_ f: @escaping @Sendable () -> Void)
}
