import Synchronization

/// A serial executor whose jobs run on a reactor's thread, as steps of its loop.
///
/// `enqueue` may be called from any thread: it queues the job through the reactor's one
/// thread-safe entry (`callFromThread`, a pthread mutex and an eventfd), and the reactor runs it at
/// the start of its next pass, in the order jobs and thread calls were queued. A job enqueued while
/// the loop runs jobs waits for the next pass, so a task that keeps resuming never starves timers or
/// descriptors. Jobs enqueued before `run()` wait for it; jobs enqueued after `close()` never run
/// (their tasks stay suspended for ever).
///
/// Code isolated to an actor that uses this executor runs on the reactor's thread, between the
/// reactor's callbacks, never during one; so it may create, fire and await deferreds, and use
/// agents and protocols of that reactor, and Swift 6's checker proves that those non-`Sendable`
/// objects stay in that one isolation domain.
///
/// `ReactorActor` (the global actor) uses the executor of the global `reactor`. A program or a test
/// with a reactor of its own gives an actor of its own this executor:
///
/// ```swift
/// actor Crawler {
///     nonisolated let executor: ReactorExecutor
///     let reactor: EPollReactor
///     init(_ reactor: sending EPollReactor) {
///         self.executor = ReactorExecutor(reactor)
///         self.reactor = reactor
///     }
///     nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
///
///     func fetch(_ url: String) async throws -> [UInt8] {
///         let response = try await Agent(reactor).request("GET", url).value
///         return try await readBody(response).value
///     }
/// }
/// ```
///
/// Such an actor owns its reactor, so `run()` is called from its isolation too: on the reactor's
/// thread, before the loop starts, `crawler.assumeIsolated { $0.reactor.run() }` (the jobs then run
/// nested in `run()`, as every reactor callback does).
///
/// **Also a task executor.** Swift resumes a suspended task (a continuation, a `Task.value`) on the
/// task's preferred executor — the global thread pool when it has none — and only then does the
/// task hop back to its actor. So that a task waiting on the reactor is woken by the reactor itself,
/// without a thread of the pool (which tests blocked in `run()` may all be holding), this executor
/// is also a `TaskExecutor`: `Deferred.value` prefers it while it waits, and `withTaskExecutorPreference`
/// or `Task(executorPreference:)` can prefer it for any other code. Jobs of such tasks run on the
/// reactor's thread like the actor's own, in the same queue.
///
/// **Isolation checks.** `checkIsolated()` (behind `assumeIsolated` and `preconditionIsolated`)
/// passes on the reactor's thread: the thread that created the reactor until `run()` is called, then
/// the thread that runs it. That lets callback-style code, which runs on the reactor's thread outside
/// any task, enter isolated code with `ReactorActor.assumeIsolated { … }`.
///
/// Twisted has no executor: its coroutines are driven by deferred callbacks. This executor is what
/// makes the reactor's single thread visible to the Swift compiler.
public final class ReactorExecutor: SerialExecutor, TaskExecutor {
    private let queue: ThreadCallQueue
    /// Made on first use (`asUnownedTaskExecutor`); it refers back to this executor, unowned.
    private let taskSide = AtomicLazyReference<TaskSide>()

    /// An executor for `reactor`'s loop. It keeps only the reactor's thread-safe queue, so it is
    /// `Sendable` and may be created or used on any thread once made.
    public init(_ reactor: EPollReactor) {
        queue = reactor.threadQueue
    }

    /// Queues `job` to run on the reactor's thread in its next pass. Safe from any thread.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let serial = asUnownedSerialExecutor()
        queue.callFromThread { job.runSynchronously(on: serial) }
    }

    /// The task-executor side (see "Also a task executor").
    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        let side = taskSide.load() ?? taskSide.storeIfNil(TaskSide(owner: self))
        return UnownedTaskExecutor(ordinary: side)
    }

    /// Traps unless called on the reactor's thread (see "Isolation checks").
    public func checkIsolated() {
        precondition(
            queue.isReactorThread,
            "ReactorExecutor: not on the reactor's thread; isolated code must run on the reactor's loop")
    }

    /// Whether the caller runs on the reactor's thread (see "Isolation checks").
    public func isIsolatingCurrentContext() -> Bool? {
        queue.isReactorThread
    }

    /// Runs the jobs of tasks that prefer the reactor: on its thread, already isolated to the
    /// reactor's serial executor, so that such a task resuming in actor code needs no second pass.
    ///
    /// A separate object because one `enqueue` cannot tell a task's job from an actor's, and the
    /// two must run differently: an actor's jobs run on the serial executor alone, so that tasks
    /// which do not prefer the reactor (most of them) see an ordinary actor — `Task.immediate`
    /// starts at once, and returning from a call costs no extra pass.
    private final class TaskSide: TaskExecutor {
        unowned let owner: ReactorExecutor

        init(owner: ReactorExecutor) { self.owner = owner }

        func enqueue(_ job: consuming ExecutorJob) {
            let job = UnownedJob(job)
            let serial = owner.asUnownedSerialExecutor()
            let task = asUnownedTaskExecutor()
            owner.queue.callFromThread { job.runSynchronously(isolatedTo: serial, taskExecutor: task) }
        }
    }
}
