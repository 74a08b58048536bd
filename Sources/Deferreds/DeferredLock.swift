/// A lock whose `acquire()` is a deferred: one holder at a time, the others wait in line.
///
/// ```swift
/// let lock = DeferredLock()
/// lock.run { appendToLog(entry) }   // runs after the previous holder's deferred fired
/// ```
///
/// Programmer error: `release()` on an unlocked lock.
///
/// Twisted: `twisted.internet.defer.DeferredLock`.
public final class DeferredLock: TokenOwner {
    @usableFromInline let pool = TokenPool<DeferredLock>(limit: 1)

    /// Creates an unlocked lock.
    public init() {}

    /// Whether someone holds the lock.
    public var locked: Bool { pool.tokens == 0 }
    /// The number of `acquire()` calls waiting (cancelled ones not counted).
    public var waitingCount: Int { pool.waitingCount }

    /// A deferred that fires with the lock once it is held. Cancelling it while it waits gives up
    /// the place in line.
    @inlinable public func acquire() -> Deferred<DeferredLock> {
        pool.acquire(for: self)
    }

    /// Unlocks; the longest waiter, if any, gets the lock now.
    @inlinable public func release() {
        precondition(pool.release(for: self), "DeferredLock.release(): the lock is not locked")
    }

    /// Acquires the lock, runs `f`, and releases the lock when `f`'s deferred fires (or `f` throws).
    @inlinable public func run<U>(_ f: @escaping () throws -> Deferred<U>) -> Deferred<U> {
        pool.run(for: self, f)
    }

    /// `run` with a function that returns a plain value.
    @inlinable @_disfavoredOverload public func run<U>(_ f: @escaping () throws -> U) -> Deferred<U> {
        run({ () throws -> Deferred<U> in Deferred.succeed(try f()) })
    }
}
