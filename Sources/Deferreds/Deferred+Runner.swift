// MARK: - The runner

/// What the runner and the typed handles need from a chain's root, whatever its `Value`.
@usableFromInline protocol DeferredChain: AnyObject {
    var chainPhase: Phase { get }
    var chainPaused: Bool { get }
    var tailType: Any.Type { get }
    func fire(failed: Bool, _ result: Any, valueType: Any.Type, at location: SourceLocation)
    func appendStep(_ step: @escaping ErasedStep, expecting: Any.Type, producing: Any.Type)
    func cancelChain()
    func pauseChain()
    func unpauseChain()
    func bindAffinity(_ affinity: ThreadAffinity)
    // The runner's side.
    func advance() -> Advance
    var isRunning: Bool { get }
    var settledResult: (failed: Bool, result: Any)? { get }
    func takeResultForOuter() -> (failed: Bool, result: Any)
    func appendRaw(_ step: StoredStep)
    func receiveFromInner(failed: Bool, _ result: Any)
    func receiveForwarded(failed: Bool, _ result: Any, valueType: Any.Type) -> Bool
    // debugDescription's.
    func describeChain() -> (id: Int, detail: String)
    var chainDebugID: Int { get }
}

@usableFromInline enum Advance {
    case done
    case push(any DeferredChain)
}

extension Deferred: DeferredChain {
    @usableFromInline final var chainPhase: Phase { phase }
    @usableFromInline final var chainPaused: Bool { pauseCount > 0 }
    @usableFromInline final var tailType: Any.Type { laterType ?? Value.self }
    @usableFromInline final var isRunning: Bool { flags.contains(.running) }

    @inlinable final func fire(failed: Bool, _ result: Any, valueType: Any.Type, at location: SourceLocation) {
        guard accept(failed: failed, valueType: valueType, at: location) else { return }
        setResult(failed: failed, result)
        run()
    }

    /// Stores the first result; false when it is the one late fire after `cancel()`. `location` is
    /// the fire's (for the trap message, and the debug record).
    @inlinable final func accept(failed: Bool, valueType: Any.Type, at location: SourceLocation) -> Bool {
        if phase != .pending {
            if flags.contains(.suppressLateFire) {
                flags.remove(.suppressLateFire)
                return false
            }
            preconditionFailure(alreadyCalledMessage(firedAgainAt: location))
        }
        precondition(
            valueType == Value.self,
            "Deferred fired through a handle of type \(valueType); the chain starts with \(Value.self)")
        phase = failed ? .failed : .succeeded
        if extras != nil { firedWithExtras(at: location) }
        return true
    }

    /// The chain has just fired: releases the canceller (and what it captured), and records where
    /// it fired when debugging recorded its creation.
    @usableFromInline @inline(never) final func firedWithExtras(at location: SourceLocation) {
        guard let extras else { return }
        extras.canceller = nil
        #if DEBUG
        checkAffinity(extras)
        #endif
        if let debug = extras.debug, debug.created != nil, debug.firstFired == nil { debug.firstFired = location }
    }

    /// `firedWithExtras(at:)` for `callback(_:)`, which leaves packing the location to it.
    @usableFromInline @inline(never) final func firedWithExtras(at file: StaticString, _ line: UInt) {
        firedWithExtras(at: SourceLocation(file, line))
    }

    /// Checks that a handle typed `expecting` is the chain's current end, and records the new end.
    @inlinable final func extendTail(expecting: Any.Type, producing: Any.Type) {
        let tail = tailType
        precondition(
            tail == expecting,
            "Deferred<\(expecting)>: a step was added through a stale handle; the chain now ends in \(tail)")
        if producing != tail {
            laterType = producing == Value.self ? nil : producing
        }
    }

    @inlinable final func appendStep(_ step: @escaping ErasedStep, expecting: Any.Type, producing: Any.Type) {
        extendTail(expecting: expecting, producing: producing)
        appendRaw(.run(step))
        run()
    }

    /// Appends a step that takes and gives the root's own type (see `ChainStep`).
    @inlinable final func appendTyped(_ step: ChainStep<Value>) {
        extendTail(expecting: Value.self, producing: Value.self)
        append(step)
        run()
    }

    /// Whether a step added through a handle of type `T` can be stored typed: the handle is this
    /// root and the chain currently ends in the root's own type.
    @inlinable final func canAppendTyped<T>(_: T.Type) -> Bool {
        T.self == Value.self && laterType == nil && !flags.contains(.handle)
            && Int(erasedCursor) == erasedSteps.count
    }

    @inlinable final func appendRaw(_ step: StoredStep) {
        if firstStep == nil && !flags.contains(.firstTaken) {
            firstStep = .erased(step)
        } else {
            erasedSteps.append(step)
        }
    }

    @inlinable final func append(_ step: ChainStep<Value>) {
        if firstStep == nil && !flags.contains(.firstTaken) {
            firstStep = step
        } else if case .erased(let erased) = step {
            erasedSteps.append(erased)
        } else {
            moreSteps.append(step)
        }
    }

    @inlinable final var settledResult: (failed: Bool, result: Any)? {
        guard phase != .pending, pauseCount == 0, !flags.contains(.running) else { return nil }
        return (phase == .failed, result)
    }

    @inlinable final func takeResultForOuter() -> (failed: Bool, result: Any) {
        flags.insert(.consumed)
        return (phase == .failed, result)
    }

    @inlinable final func receiveFromInner(failed: Bool, _ newResult: Any) {
        pauseCount -= 1
        flags.remove(.waiting)
        setResult(failed: failed, newResult)
    }

    @inlinable final func receiveForwarded(failed: Bool, _ newResult: Any, valueType: Any.Type) -> Bool {
        guard accept(failed: failed, valueType: valueType, at: .unknown) else { return false }
        setResult(failed: failed, newResult)
        return true
    }

    /// Makes `newResult` (a `Failure` when `failed`) the current result.
    @inlinable final func setResult(failed: Bool, _ newResult: Any) {
        result = newResult
        phase = failed ? .failed : .succeeded
        flags.remove(.consumed)
    }

    /// Makes `value` the current (successful) result; boxes it straight into `result`.
    @inlinable final func setValue<T>(_ value: T) {
        result = value
        phase = .succeeded
        flags.remove(.consumed)
    }

    /// The inner deferred this chain waits for, if any.
    @inlinable final var waitingOn: (any DeferredChain)? {
        guard flags.contains(.waiting) else { return nil }
        return (result as AnyObject) as? any DeferredChain
    }

    @inlinable final func ensureExtras() -> ChainExtras {
        if let extras { return extras }
        let extras = ChainExtras()
        self.extras = extras
        return extras
    }

    /// Whether this is a chain's root, and it has fired and is neither paused nor running: a step
    /// added now would run at once.
    /// (A `suspended` chain may still hold steps, which must run first.)
    @inlinable final var isSettledRoot: Bool {
        phase != .pending && pauseCount == 0 && flags.isDisjoint(with: [.running, .suspended, .handle])
    }

    /// If `isSettledRoot`, marks the chain running, as the runner does around a step, and returns
    /// true: the caller then does what a step added now would do, and calls `endSettledStep()`.
    @inlinable final func beginStepIfSettled() -> Bool {
        guard isSettledRoot else { return false }
        flags.insert(.running)
        return true
    }

    /// Ends a step begun by `beginStepIfSettled()`: runs the steps added meanwhile, if any.
    @inlinable final func endSettledStep() {
        flags.remove(.running)
        // A settled chain has no steps stored (the runner drops them once run).
        if firstStep != nil || !moreSteps.isEmpty || !erasedSteps.isEmpty { run() }
    }

    /// Runs the chain's steps if it has fired, is not paused and is not already running.
    @inlinable final func run() {
        guard phase != .pending, pauseCount == 0, !flags.contains(.running) else { return }
        // The first chain runs specialised; only hand-overs to other chains go through the runner.
        if case .push(let next) = advance() { runChains(from: next, suspending: self) }
    }

    /// Runs this chain's steps until it ends, pauses, or hands its result to another chain.
    ///
    /// Returns `.push(other)` when `other` must run before this chain goes on; `runChains` resumes
    /// this chain afterwards. (Meanwhile it stays `running` when it fired a `chainDeferred`
    /// target, and is `suspended` when it resumed an outer chain: see `Flags.suspended`.)
    @inlinable final func advance() -> Advance {
        flags.remove(.suspended)
        flags.insert(.running)
        while pauseCount == 0 {
            guard let step = takeNextStep() else {
                guard let erased = erasedSteps.takeNext(cursor: &status.erasedCursor) else { break }
                if let next = apply(erased) { return next }
                continue
            }
            switch step {
            case .callback, .chain:
                if phase == .succeeded { runTypedSteps(step, input: unbox(result, as: Value.self)) }
            case .errback(let f, let origin):
                if phase == .failed {
                    do {
                        result = try f(unbox(result, as: Failure.self))
                        phase = .succeeded
                    } catch {
                        setResult(failed: true, Failure(error, origin: origin))
                    }
                }
            case .both(let f, let origin):
                runBoth(f, origin)
            case .erased(let f):
                if let next = apply(f) { return next }
            case .done:
                break
            }
        }
        if pauseCount == 0 {
            // Every step has run: drop them, so nothing they captured outlives the firing.
            flags.remove(.firstTaken)
            if !moreSteps.isEmpty {
                moreSteps.deallocate(from: Int(cursor))
                cursor = 0
            }
            if !erasedSteps.isEmpty {
                erasedSteps = .none
                erasedCursor = 0
            }
        }
        flags.remove(.running)
        return .done
    }

    /// Runs `first` and the typed steps after it on one unboxed value, then stores the result.
    /// (`resultUnset`: the chain has just fired, and `result` is still the initial `()`.)
    ///
    /// Stops early, with the chain's state set, when a step throws or the chain pauses (a step
    /// paused it, or it now waits for a deferred); stops at a step only `advance()` runs.
    @inlinable final func runTypedSteps(
        _ first: consuming ChainStep<Value>, input: Value, resultUnset: Bool = false
    ) {
        var value = input
        var step = consume first
        while true {
            switch consume step {
            case .callback(let f, let origin):
                do { value = try f(value) } catch {
                    setResult(failed: true, Failure(error, origin: origin))
                    return
                }
            case .chain(let f, let origin):
                let inner: Deferred<Value>
                do { inner = unsafeDowncast(try f(value), to: Deferred<Value>.self) } catch {
                    setResult(failed: true, Failure(error, origin: origin))
                    return
                }
                guard let innerValue = takeValue(of: inner) else { return }
                value = innerValue
            case .errback, .both, .erased, .done:
                break
            }
            guard pauseCount == 0, let next = takeNextTypedStep() else { break }
            step = next
        }
        if resultUnset {
            // `result` still holds the `()` it was created with: nothing to destroy. (Safety budget:
            // kept, as it pays: with `result = value`, the `create_fire` row of `make bench-deferred`
            // took 641 instructions per operation against 618, +3.7 %, by callgrind.)
            withUnsafeMutablePointer(to: &result) { $0.initialize(to: value) }
        } else {
            result = value
        }
    }

    /// The value of `inner`, a deferred a typed step returned, if it has one now. Otherwise nil,
    /// and this chain has taken `inner`'s failure or waits for `inner`.
    @inlinable final func takeValue(of inner: Deferred<Value>) -> Value? {
        if inner.flags.contains(.handle) {
            wait(for: inner.chain, expecting: Value.self)
            return nil
        }
        precondition(inner !== self, "A callback returned the Deferred it was added to")
        precondition(
            inner.laterType == nil,
            "A callback returned a stale Deferred<\(Value.self)> handle; its chain ends in \(inner.tailType)")
        guard inner.phase != .pending, inner.pauseCount == 0, !inner.flags.contains(.running) else {
            startWaiting(for: inner)
            return nil
        }
        inner.flags.insert(.consumed)
        guard inner.phase == .succeeded else {
            setResult(failed: true, inner.result)
            return nil
        }
        return unbox(inner.result, as: Value.self)
    }

    /// Makes this chain wait for `inner` (a deferred a step returned), or go on with its result at
    /// once if it has one.
    @inlinable final func wait(for inner: any DeferredChain, expecting: Any.Type) {
        precondition(inner !== self, "A callback returned the Deferred it was added to")
        let innerTail = inner.tailType
        precondition(
            innerTail == expecting,
            "A callback returned a stale Deferred<\(expecting)> handle; its chain ends in \(innerTail)")
        if let settled = inner.settledResult {
            _ = inner.takeResultForOuter()
            setResult(failed: settled.failed, settled.result)
        } else {
            startWaiting(for: inner)
        }
    }

    /// Pauses this chain until `inner` hands it its result; `result` holds `inner` meanwhile.
    @inlinable final func startWaiting(for inner: any DeferredChain) {
        pauseCount += 1
        flags.insert([.consumed, .waiting])
        result = inner as AnyObject
        inner.appendRaw(.resume(self))
    }

    /// Runs a typed `addBoth` step. Out of line: unspecialised, naming `Result<Value, Failure>` costs
    /// a metadata lookup, which `advance()` should not pay for the other kinds of step.
    @inlinable @inline(never) final func runBoth(
        _ f: (Result<Value, Failure>) throws -> Value, _ origin: SourceLocation
    ) {
        let outcome: Result<Value, Failure> =
            phase == .failed ? .failure(unbox(result, as: Failure.self)) : .success(unbox(result, as: Value.self))
        do {
            result = try f(outcome)
            phase = .succeeded
        } catch {
            setResult(failed: true, Failure(error, origin: origin))
        }
    }

    /// Applies an erased step; returns `.push(other)` when another chain must run first.
    @inlinable final func apply(_ stored: StoredStep) -> Advance? {
        let step: ErasedStep
        switch stored {
        case .run(let f):
            step = f
        case .resume(let outer):
            if ObjectIdentifier(type(of: outer)) == ObjectIdentifier(Deferred<Value>.self) {
                // An outer chain of this type (a deferred returned from its own type's callback):
                // direct calls instead of ones through the existential.
                let same = unsafeDowncast(outer, to: Deferred<Value>.self)
                same.receiveFromInner(failed: phase == .failed, result)
                flags.insert(.consumed)
                if same.flags.contains(.running) { return nil }
                suspendForOuter()
                return .push(outer)
            }
            outer.receiveFromInner(failed: phase == .failed, result)
            flags.insert(.consumed)
            if outer.isRunning { return nil }
            suspendForOuter()
            return .push(outer)
        }
        switch step(phase == .failed, result) {
        case .unchanged:
            break
        case .consumed:
            flags.insert(.consumed)
        case .success(let value):
            setResult(failed: false, value)
        case .failure(let failure):
            setResult(failed: true, failure)
        case .wait(let inner, let expecting):
            wait(for: inner, expecting: expecting)
        case .forward(let target, let valueType):
            flags.insert(.consumed)
            if target.receiveForwarded(failed: phase == .failed, result, valueType: valueType),
                !target.isRunning
            {
                return .push(target)
            }
        }
        return nil
    }

    /// This chain has handed its result to an outer chain, which runs next: until `runChains`
    /// comes back to this one, a step added to it runs at once (Twisted: the `_CONTINUE` hand-over
    /// leaves `_runningCallbacks` unset, so the outer chain's callbacks may re-enter this chain).
    @inlinable final func suspendForOuter() {
        flags.remove(.running)
        flags.insert(.suspended)
    }

    /// The next step to run, released from the chain so its captures go as soon as it has run.
    @inlinable final func takeNextStep() -> ChainStep<Value>? {
        if !flags.contains(.firstTaken) {
            guard let step = firstStep else { return nil }
            firstStep = nil
            flags.insert(.firstTaken)
            return step
        }
        let index = Int(cursor)
        guard index < moreSteps.count else { return nil }
        cursor += 1
        return moreSteps.take(index)
    }

    /// The next step if `runTypedSteps` runs it (taken from the chain), else nil.
    @inlinable final func takeNextTypedStep() -> ChainStep<Value>? {
        if !flags.contains(.firstTaken) {
            var step: ChainStep<Value>? = nil
            swap(&step, &firstStep)
            guard let taken = step, taken.isTyped else {
                firstStep = step
                return nil
            }
            flags.insert(.firstTaken)
            return taken
        }
        let index = Int(cursor)
        guard index < moreSteps.count, moreSteps.isTyped(index) else { return nil }
        cursor += 1
        return moreSteps.take(index)
    }
}

/// `value as! T`, several times quicker when `value` was boxed as exactly a `T` (the usual case:
/// the runtime's general cast handles every kind of conversion and pays for it, and so does
/// `type(of:)`, which looks for a class instance's dynamic type).
///
/// Safety budget: `_openExistential` and the `unsafeBitCast` (of a value to its own type) are kept
/// because they pay. With a plain `value as! T`, callgrind counted 1628 instructions per operation
/// on the `semaphore_run` row of `make bench-deferred` against 1450 (+12.3 %), and 2940 against 2718
/// on `deferred_list` (+8.2 %).
@inlinable func unbox<T>(_ value: Any, as _: T.Type = T.self) -> T {
    func open<Stored>(_ stored: Stored) -> T? {
        Stored.self == T.self ? unsafeBitCast(stored, to: T.self) : nil
    }
    if let unboxed = _openExistential(value, do: open) { return unboxed }
    return value as! T
}

/// The iterative runner: runs `start`, and every chain it hands a result to, without recursion.
///
/// A chain that resumes an outer chain (or fires a `chainDeferred` target) is suspended on a stack
/// while the other runs, then goes on with any steps added after the hand-over, as Twisted does.
/// `suspended` is the chain that handed over to `start`. Chains of its own type run specialised;
/// others through the existential.
@inlinable func runChains<Value>(from start: any DeferredChain, suspending suspended: Deferred<Value>) {
    let ownType = ObjectIdentifier(Deferred<Value>.self)
    var current = start
    var bottom: Deferred<Value>? = suspended
    var stack: [any DeferredChain] = []
    while true {
        let next =
            ObjectIdentifier(type(of: current)) == ownType
            ? unsafeDowncast(current, to: Deferred<Value>.self).advance() : current.advance()
        switch next {
        case .push(let next):
            stack.append(consume current)
            current = next
        case .done:
            if let previous = stack.popLast() {
                current = previous
            } else if let last = bottom {
                bottom = nil
                current = last
            } else {
                return
            }
        }
    }
}
