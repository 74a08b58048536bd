/// What owns a `TokenPool`: a semaphore or lock, whose `release()` traps on over-release.
@usableFromInline protocol TokenOwner: AnyObject {
    func release()
}

/// The tokens and the waiters of a `DeferredSemaphore` or `DeferredLock`.
///
/// Waiters are served first come, first served. Handing tokens out is a loop, not a recursion: a
/// waiter whose work finishes at once releases its token inside `callback`, and the loop that is
/// already running gives it to the next waiter. A cancelled waiter is skipped when its turn comes.
///
/// Safety budget: the pool's fields are `@exclusivity(unchecked)` because it pays: with the dynamic
/// checks, callgrind counted 2037 instructions per operation on the `semaphore_run` row of
/// `make bench-deferred` against 1387 (+47 %). No access to them spans a call out (`release`
/// pops a waiter before calling it back).
@usableFromInline final class TokenPool<Owner: TokenOwner> {
    @usableFromInline let limit: Int
    @usableFromInline @exclusivity(unchecked) var tokens: Int
    @usableFromInline @exclusivity(unchecked) var waiting = WaitQueue<Deferred<Owner>>()
    @usableFromInline @exclusivity(unchecked) var cancelledWaiting = 0
    @usableFromInline @exclusivity(unchecked) var handingOut = false

    @inlinable init(limit: Int) {
        self.limit = limit
        self.tokens = limit
    }

    @inlinable var waitingCount: Int { waiting.count - cancelledWaiting }

    /// True, and one token fewer, when a token is free and nobody is waiting for one.
    @inlinable func tryTake() -> Bool {
        guard tokens > 0, waitingCount == 0 else { return false }
        tokens -= 1
        return true
    }

    @inlinable func acquire(for owner: Owner) -> Deferred<Owner> {
        if tryTake() { return Deferred.succeed(owner) }
        let d = Deferred<Owner>(canceller: { [weak self] _ in self?.cancelledWaiting += 1 })
        waiting.push(d)
        return d
    }

    /// Returns a token; false when every token is already free (the caller traps).
    @inlinable func release(for owner: Owner) -> Bool {
        guard tokens < limit else { return false }
        tokens += 1
        guard !handingOut else { return true }
        handingOut = true
        while tokens > 0, let next = waiting.pop() {
            if next.called {
                cancelledWaiting -= 1
                continue
            }
            tokens -= 1
            next.callback(owner)
        }
        handingOut = false
        return true
    }

    /// Acquires a token for `owner`, runs `f`, and gives the token back through the owner's
    /// `release()` when `f`'s deferred fires or `f` throws.
    @inlinable
    func run<U>(for owner: Owner, _ f: @escaping () throws -> Deferred<U>) -> Deferred<U> {
        if tryTake() { return TokenPool.runHolding(owner, f) }
        return acquire(for: owner).addCallback { owner in TokenPool.runHolding(owner, f) }
    }

    @inlinable
    static func runHolding<U>(_ owner: Owner, _ f: () throws -> Deferred<U>) -> Deferred<U> {
        let d = maybeDeferred(f)
        // Already fired: the step below would run at once and pass the result through unchanged,
        // so do what it does without adding it (as the running step, for what release() triggers).
        if d.beginStepIfSettled() {
            owner.release()
            d.endSettledStep()
            return d
        }
        return d.addBoth { outcome in
            owner.release()
            return try outcome.get()
        }
    }
}
