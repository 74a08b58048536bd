import CLinux
import Glibc
import Synchronization

/// The reactor's one thread-safe entry: functions queued from any thread, run on the reactor's.
///
/// `callFromThread` appends under a pthread mutex (which ThreadSanitizer understands), raises an
/// atomic flag and wakes the reactor's `epoll_wait` through an eventfd. The reactor runs the queued
/// functions at the start of its next pass, in the order each thread queued them; it reads the flag
/// each pass and takes the mutex only when something is queued. Once the reactor is closed,
/// queued functions are dropped unrun, and so is anything queued later.
///
/// It also knows the reactor's thread — the one that created the reactor until `run()` starts,
/// then the one running it — so that `ReactorExecutor` can answer "is this the reactor's thread?"
/// from any thread.
///
/// Twisted: `IReactorThreads.callFromThread`.
public final class ThreadCallQueue: @unchecked Sendable {
    // @unchecked: `pending`, `loopThread` and `closed` are only touched under `mutex`; `wakeFD` is
    // immutable.
    let wakeFD: Int32
    /// Allocated, not a stored property: the mutex needs a stable address.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var pending: [@Sendable () -> Void] = []
    /// Whether `pending` is non-empty; written under `mutex`, read without it by the reactor's pass.
    private let queued = Atomic<Bool>(false)
    /// The reactor's thread (see the type's description).
    private var loopThread = pthread_self()
    /// The batch being run; only the reactor's thread touches it (swapped with `pending` under the lock).
    private var running: [@Sendable () -> Void] = []
    /// Set by `close()`: functions queued afterwards are dropped.
    private var closed = false

    init() throws {
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard wakeFD >= 0 else { throw SystemCallError(call: "eventfd", errno: errno) }
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        Glibc.close(wakeFD)
    }

    /// Queues `f` to run on the reactor's thread and wakes the reactor. Safe from any thread.
    ///
    /// The reactor's own thread needs no wake-up: the loop looks at the queue before it waits.
    public func callFromThread(_ f: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(mutex)
        // A closed reactor never runs its queue; keeping `f` there would also keep whatever it
        // holds (often the reactor itself, whose queue this is) alive for good.
        guard !closed else {
            pthread_mutex_unlock(mutex)
            return
        }
        let wakeNeeded = pending.isEmpty && pthread_equal(loopThread, pthread_self()) == 0
        pending.append(f)
        queued.store(true, ordering: .releasing)
        pthread_mutex_unlock(mutex)
        if wakeNeeded { wake() }
    }

    /// Makes the reactor's current or next `epoll_wait` return.
    func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    /// Clears the eventfd after a wake-up.
    func drainWakeups() {
        var count: UInt64 = 0
        _ = Glibc.read(wakeFD, &count, 8)
    }

    /// Records the calling thread as the reactor's (called by `run()`).
    func adoptCurrentThread() {
        pthread_mutex_lock(mutex)
        loopThread = pthread_self()
        pthread_mutex_unlock(mutex)
    }

    /// Whether the calling thread is the reactor's. Safe from any thread.
    public var isReactorThread: Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return pthread_equal(loopThread, pthread_self()) != 0
    }

    /// Whether nothing is queued. Without the lock: a function being queued right now may not be
    /// seen yet, but its `callFromThread` then wakes the reactor's `epoll_wait`.
    var isEmpty: Bool { !queued.load(ordering: .acquiring) }

    /// Runs every function queued so far, oldest first (on the reactor's thread). Functions queued
    /// while they run wait for the next call.
    @inline(__always)
    func runAll() {
        if queued.load(ordering: .acquiring) { runQueued() }
    }

    private func runQueued() {
        pthread_mutex_lock(mutex)
        swap(&pending, &running)
        queued.store(false, ordering: .relaxed)
        pthread_mutex_unlock(mutex)
        for call in running { call() }
        running.removeAll(keepingCapacity: true)
    }

    /// Stops queueing (for the reactor's `close()`) and takes every function queued so far, oldest
    /// first; functions queued afterwards are dropped.
    func close() -> [@Sendable () -> Void] {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        closed = true
        // No thread is the loop's any more: `isReactorThread` (and the executor's isolation
        // checks) answer false everywhere, also on the pooled thread that ran it.
        loopThread = 0
        let taken = pending
        pending = []
        queued.store(false, ordering: .relaxed)
        return taken
    }
}
