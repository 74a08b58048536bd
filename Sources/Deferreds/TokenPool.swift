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
/// Safety budget: the pool's mutable fields live in one stored struct, `state`, which skips the
/// runtime's exclusivity checks because it pays: with the dynamic checks, callgrind counted 1769
/// instructions per operation on the `semaphore_run` row of `make bench-deferred` against 1450
/// (+22 %). No access to them spans a call out (`release` pops a waiter before calling it back).
@usableFromInline final class TokenPool<Owner: TokenOwner> {
    @usableFromInline let limit: Int
    @usableFromInline @exclusivity(unchecked) var state: State

    /// What changes as tokens are taken and given back.
    @usableFromInline struct State {
        /// Tokens free now.
        @usableFromInline var tokens: Int
        /// Waiters in turn, cancelled ones included until their turn comes.
        @usableFromInline var waiting = WaitQueue<Deferred<Owner>>()
        /// How many of `waiting` were cancelled.
        @usableFromInline var cancelledWaiting = 0
        /// Whether `release(for:)`'s loop is handing tokens out (a release inside it only counts).
        @usableFromInline var handingOut = false

        @inlinable init(tokens: Int) { self.tokens = tokens }
    }

    @inlinable init(limit: Int) {
        self.limit = limit
        self.state = State(tokens: limit)
    }

    @inlinable var tokens: Int { state.tokens }

    @inlinable var waitingCount: Int { state.waiting.count - state.cancelledWaiting }

    /// True, and one token fewer, when a token is free and nobody is waiting for one.
    @inlinable func tryTake() -> Bool {
        guard state.tokens > 0, waitingCount == 0 else { return false }
        state.tokens -= 1
        return true
    }

    @inlinable func acquire(for owner: Owner) -> Deferred<Owner> {
        if tryTake() { return Deferred.succeed(owner) }
        let d = Deferred<Owner>(canceller: { [weak self] _ in self?.state.cancelledWaiting += 1 })
        state.waiting.push(d)
        return d
    }

    /// Returns a token; false when every token is already free (the caller traps).
    @inlinable func release(for owner: Owner) -> Bool {
        guard state.tokens < limit else { return false }
        state.tokens += 1
        guard !state.handingOut else { return true }
        state.handingOut = true
        while state.tokens > 0, let next = state.waiting.pop() {
            if next.called {
                state.cancelledWaiting -= 1
                continue
            }
            state.tokens -= 1
            next.callback(owner)
        }
        state.handingOut = false
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
