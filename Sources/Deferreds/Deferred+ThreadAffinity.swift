// MARK: - Thread affinity (debug builds)

/// The owner a chain is bound to by `Deferred.setThreadAffinity(_:_:)`: who it is, for the trap's
/// message, and whether the calling thread may fire the chain now.
@usableFromInline struct ThreadAffinity {
    @usableFromInline let owner: String
    @usableFromInline let mayFireHere: () -> Bool

    @usableFromInline init(owner: String, mayFireHere: @escaping () -> Bool) {
        self.owner = owner
        self.mayFireHere = mayFireHere
    }
}

extension Deferred {
    /// Binds the chain to an owner's thread: in debug builds, firing it (`callback(_:)`,
    /// `errback(_:)`, or `cancel()` when that fires it) asserts `mayFireHere()` first, and traps
    /// with a message naming `owner` when it returns false. Release builds compile this to
    /// nothing: no check, no storage.
    ///
    /// A reactor binds the deferreds it makes and fires itself (`deferLater`'s, `retry`'s,
    /// `LoopingCall.start`'s, `connectProtocol`'s) to its loop thread, so a deferred handed across
    /// threads is caught where it is fired, not where the reactor's state is later found damaged.
    /// Deferreds knows nothing of reactors: the check is the owner's closure (it should not keep
    /// the owner alive: the chain holds it until it fires). Binding again replaces the check; the
    /// check is dropped once the chain has fired. Through a handle, it binds the chain's root.
    ///
    /// - Parameters:
    ///   - owner: what owns the chain, for the message (`"EPollReactor"`).
    ///   - mayFireHere: whether the calling thread may fire the chain; called on the firing thread.
    @inlinable
    public final func setThreadAffinity(_ owner: String, _ mayFireHere: @escaping () -> Bool) {
        #if DEBUG
        chain.bindAffinity(ThreadAffinity(owner: owner, mayFireHere: mayFireHere))
        #endif
    }

    @usableFromInline final func bindAffinity(_ affinity: ThreadAffinity) {
        #if DEBUG
        ensureExtras().affinity = affinity
        #endif
    }

    /// Asserts the chain's thread affinity, if it has one, as it fires; then drops it.
    @usableFromInline final func checkAffinity(_ extras: ChainExtras) {
        #if DEBUG
        guard let affinity = extras.affinity else { return }
        extras.affinity = nil
        assert(
            affinity.mayFireHere(),
            "Deferred<\(Value.self)> fired off its owner's thread: it belongs to \(affinity.owner), "
                + "whose deferreds fire on its loop (hand work over with callFromThread)")
        #endif
    }
}
