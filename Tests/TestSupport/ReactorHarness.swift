import Glibc
import Reactor
import Synchronization

/// An actor that owns a fresh reactor and runs on it: its executor is a `ReactorExecutor` on that
/// reactor, so code isolated to it runs on the reactor's thread and may use the reactor's
/// deferreds, agents and protocols — the per-test stand-in for `@ReactorActor` (whose reactor is the
/// global one, which tests leave alone).
public actor ReactorHarness {
    public nonisolated let executor: ReactorExecutor
    public let reactor: EPollReactor
    /// The thread of the reactor's loop, recorded by a reactor callback (not by the executor), so
    /// tests can check that isolated code really runs there. Closures handed to `Deferred.fromTask`
    /// capture this rather than the harness: in Swift 6.3.1 a `nonisolated(nonsending)` closure that
    /// captures an actor it is isolated to runs on the global pool instead.
    public nonisolated let loopThread = LoopThread()
    fileprivate var failure: (any Error)?

    init() throws {
        let reactor = try EPollReactor()
        self.executor = ReactorExecutor(reactor)
        self.reactor = reactor
    }

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Whether the caller runs on the thread of the reactor's loop.
    public nonisolated var onLoopThread: Bool { loopThread.isCurrent }

    fileprivate func perform(_ body: @Sendable (isolated ReactorHarness) async throws -> Void) async {
        do { try await body(self) } catch { failure = error }
        reactor.stop()
    }

    fileprivate nonisolated func recordLoopThread() { loopThread.record() }
}

/// The thread a reactor's loop runs on, as recorded when the loop started.
public final class LoopThread: Sendable {
    private let thread = Atomic<UInt>(0)

    fileprivate func record() { thread.store(pthread_self(), ordering: .releasing) }

    /// Whether the caller runs on the recorded thread.
    public var isCurrent: Bool {
        let recorded = thread.load(ordering: .acquiring)
        return recorded != 0 && pthread_equal(recorded, pthread_self()) != 0
    }
}

/// Runs `body` as a task isolated to a fresh `ReactorHarness`, turning the harness's reactor until
/// the body returns (or throws), then closes it. After `limit` seconds the reactor is stopped
/// anyway, so a broken test cannot hang the suite.
///
/// The reactor runs on the calling thread, which is where it was created: the harness's isolation
/// starts there (`assumeIsolated`), and the body's jobs run nested in `run()` like any other
/// reactor callback. Awaiting deferreds never needs the cooperative thread pool (`Deferred.value`
/// prefers the reactor's executor while it waits), which matters because tests blocked in `run()`
/// may be holding every thread of the pool; so bodies await deferreds, not `Task.value`.
///
/// - Returns: true when the time limit, not the body, stopped the reactor.
/// - Throws: what the body threw.
public func runReactorTask(
    limit: Double, _ body: @escaping @Sendable (isolated ReactorHarness) async throws -> Void
) throws -> Bool {
    let harness = try ReactorHarness()
    let (timedOut, failure) = harness.assumeIsolated { harness -> (Bool, (any Error)?) in
        let reactor = harness.reactor
        var timedOut = false
        reactor.callWhenRunning { harness.recordLoopThread() }
        let guardCall = reactor.callLater(limit) {
            timedOut = true
            reactor.stop()
        }
        Task {
            _ = harness
            await harness.perform(body)
        }
        reactor.run(installSignalHandlers: false)
        guardCall.cancel()
        reactor.close()
        return (timedOut, harness.failure)
    }
    if let failure { throw failure }
    return timedOut
}
