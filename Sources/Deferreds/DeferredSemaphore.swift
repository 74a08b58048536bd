/// A semaphore whose `acquire()` is a deferred: it limits how many operations run at once.
///
/// `run(f)` waits for a token, calls `f`, and gives the token back when the deferred `f` returned
/// fires — not when `f` returns. That is what keeps at most `limit` downloads in flight in the
/// tutorial: the deferred of each request fires only when its body has been delivered.
///
/// ```swift
/// let semaphore = DeferredSemaphore(tokens: 2)
/// let pages = urls.map { semaphore.run(getPage, $0) }   // at most 2 getPage in flight
/// ```
///
/// Waiters are served in order. Cancelling a waiting `acquire()` (or `run`) removes it from the line.
/// Programmer errors: `tokens < 1`; `release()` with every token already free.
///
/// Twisted: `twisted.internet.defer.DeferredSemaphore`.
public final class DeferredSemaphore: TokenOwner {
    @usableFromInline let pool: TokenPool<DeferredSemaphore>

    /// - Parameter tokens: how many holders at once; at least 1.
    public init(tokens: Int) {
        precondition(tokens >= 1, "DeferredSemaphore(tokens:) needs at least 1 token, got \(tokens)")
        pool = TokenPool(limit: tokens)
    }

    /// The number of tokens in all.
    public var limit: Int { pool.limit }
    /// The number of tokens free now.
    @inlinable public var tokens: Int { pool.tokens }
    /// The number of `acquire()` calls waiting for a token (cancelled ones not counted).
    public var waitingCount: Int { pool.waitingCount }

    /// A deferred that fires with the semaphore once a token is held: at once if one is free and
    /// nobody is waiting, else when `release()` hands one over. Cancelling it while it waits gives
    /// up the place in line (it fails with `CancelledError`).
    @inlinable public func acquire() -> Deferred<DeferredSemaphore> {
        pool.acquire(for: self)
    }

    /// Gives a token back; the longest waiter, if any, gets it now.
    ///
    /// Releasing more tokens than were acquired is a programmer error.
    @inlinable public func release() {
        precondition(
            pool.release(for: self),
            "DeferredSemaphore.release(): released more tokens than were acquired (limit \(limit))")
    }

    /// Acquires a token, runs `f`, and releases the token when `f`'s deferred fires (or `f` throws).
    ///
    /// - Returns: `f`'s deferred, which fires with its result once the token is released.
    ///   Cancelling it while it waits for a token gives up its place; `f` is then never called.
    @inlinable public func run<U>(_ f: @escaping () throws -> Deferred<U>) -> Deferred<U> {
        pool.run(for: self, f)
    }

    /// `run` with a function that returns a plain value.
    @inlinable @_disfavoredOverload public func run<U>(_ f: @escaping () throws -> U) -> Deferred<U> {
        run({ () throws -> Deferred<U> in Deferred.succeed(try f()) })
    }

    /// `run(f)` calling `f(arg)`, as in the tutorial's `semaphore.run(getPage, url)`.
    @inlinable public func run<A, U>(_ f: @escaping (A) throws -> Deferred<U>, _ arg: A) -> Deferred<U> {
        run({ () throws -> Deferred<U> in try f(arg) })
    }
}
