// MARK: - Cancelling and pausing

extension Deferred {
    /// Cancels the operation this deferred stands for.
    ///
    /// - Unfired: calls the canceller given to `init(canceller:)`, if any. If the deferred is still
    ///   unfired afterwards, it errbacks with `CancelledError`, and one late `callback`/`errback`
    ///   (from the operation that did not know it was cancelled) is then ignored.
    /// - Fired, but waiting for a deferred one of its steps returned: cancels that inner deferred,
    ///   whose failure then flows into this chain.
    /// - Fired and not waiting: does nothing.
    ///
    /// Twisted: `Deferred.cancel`. Twisted ignores the late fire only when there is no canceller;
    /// here it is ignored whenever `cancel()` itself fired the deferred.
    public func cancel() {
        chain.cancelChain()
    }

    /// Stops the chain from running further steps until `unpause()`. Pauses nest.
    public func pause() {
        chain.pauseChain()
    }

    /// Undoes one `pause()`; when none is left, the chain goes on (if it has fired).
    ///
    /// More `unpause()` than `pause()` calls is a programmer error.
    public func unpause() {
        chain.unpauseChain()
    }
}

extension Deferred {
    @usableFromInline final func cancelChain() {
        if phase == .pending {
            if let canceller = extras?.canceller {
                extras?.canceller = nil
                canceller(self)
            }
            if phase == .pending {
                flags.insert(.suppressLateFire)
                fire(failed: true, Failure(CancelledError()), valueType: Value.self, at: .unknown)
            }
        } else if let inner = waitingOn {
            inner.cancelChain()
        }
    }

    @usableFromInline final func pauseChain() {
        precondition(pauseCount < UInt16.max, "Deferred.pause(): too many nested pauses")
        pauseCount += 1
    }

    @usableFromInline final func unpauseChain() {
        precondition(pauseCount > 0, "Deferred.unpause() without a matching pause()")
        pauseCount -= 1
        run()
    }
}
