// MARK: - Adding steps

extension Deferred {
    /// Appends a step that transforms a success; failures pass it by.
    ///
    /// `f` runs with the chain's current result when the chain reaches it (at once if the deferred
    /// has fired). If it throws, the chain continues on the error path with a `Failure` that records
    /// where this step was added.
    /// - Returns: a handle on the same chain, typed for `f`'s result (`self` when the type is unchanged).
    ///   Not `@discardableResult`: when the type changes, the next step must go on this handle.
    @inlinable
    public func addCallback<U>(
        _ f: @escaping (Value) throws -> U, file: StaticString = #fileID, line: UInt = #line
    ) -> Deferred<U> {
        let origin = SourceLocation(file, line)
        if canAppendTyped(U.self) {
            // U is Value here: the closure already has the typed step's type.
            appendTyped(.callback(f as! (Value) throws -> Value, origin))
            return unsafeDowncast(self, to: Deferred<U>.self)
        }
        return addErasedCallback(f, origin)
    }

    /// `addCallback` when the step is not stored typed. Out of line, to keep `addCallback` small
    /// where it is inlined.
    @inlinable @inline(never)
    final func addErasedCallback<U>(_ f: @escaping (Value) throws -> U, _ origin: SourceLocation) -> Deferred<U> {
        if laterType == nil, beginStepIfSettled() { return runAddedCallback(f, origin) }
        return append(producing: U.self) { failed, input in
            if failed { return .unchanged }
            do { return .success(try f(unbox(input))) } catch { return .failure(Failure(error, origin: origin)) }
        }
    }

    /// `addCallback(f)` on a settled root, after `beginStepIfSettled()`: runs `f` at once, as the
    /// runner would, without storing (and so allocating) a step. Out of line, to keep
    /// `addCallback` small where it is inlined.
    @inlinable @inline(never)
    final func runAddedCallback<U>(_ f: (Value) throws -> U, _ origin: SourceLocation) -> Deferred<U> {
        extendTail(expecting: Value.self, producing: U.self)
        if phase == .succeeded {
            do { setValue(try f(unbox(result))) } catch {
                setResult(failed: true, Failure(error, origin: origin))
            }
        }
        endSettledStep()
        return U.self == Value.self ? unsafeDowncast(self, to: Deferred<U>.self) : ChainHandle<U>(root: self)
    }

    /// Appends a step that returns a deferred: the chain waits until it fires, then continues with
    /// its result or failure.
    @inlinable
    public func addCallback<U>(
        _ f: @escaping (Value) throws -> Deferred<U>, file: StaticString = #fileID, line: UInt = #line
    ) -> Deferred<U> {
        let origin = SourceLocation(file, line)
        if canAppendTyped(U.self) {
            // U is Value here; stored typed, waiting on the returned deferred needs no boxing.
            appendTyped(.chain(f, origin))
            return unsafeDowncast(self, to: Deferred<U>.self)
        }
        return append(producing: U.self) { failed, input in
            if failed { return .unchanged }
            do { return .wait(try f(unbox(input)).chain, expecting: U.self) } catch {
                return .failure(Failure(error, origin: origin))
            }
        }
    }

    /// Appends a step that handles a failure; successes pass it by.
    ///
    /// Return a value to recover (the chain goes back to the success path); throw to keep failing
    /// (`try failure.trap(Expected.self)` rethrows failures it does not expect).
    @inlinable @discardableResult
    public func addErrback(
        _ f: @escaping (Failure) throws -> Value, file: StaticString = #fileID, line: UInt = #line
    ) -> Deferred<Value> {
        let origin = SourceLocation(file, line)
        if canAppendTyped(Value.self) {
            appendTyped(.errback(f, origin))
            return self
        }
        return append(producing: Value.self) { failed, input in
            if !failed { return .unchanged }
            do { return .success(try f(unbox(input))) } catch { return .failure(Failure(error, origin: origin)) }
        }
    }

    /// Appends a failure handler that returns a deferred: the chain waits for it.
    ///
    /// (Disfavoured so that a multi-statement errback of a `Deferred<Void>` with no `return`
    /// resolves to the plain overload; one that returns a deferred still picks this one.)
    @inlinable @discardableResult @_disfavoredOverload
    public func addErrback(
        _ f: @escaping (Failure) throws -> Deferred<Value>, file: StaticString = #fileID, line: UInt = #line
    ) -> Deferred<Value> {
        let origin = SourceLocation(file, line)
        return append(producing: Value.self) { failed, input in
            if !failed { return .unchanged }
            do { return .wait(try f(unbox(input)).chain, expecting: Value.self) } catch {
                return .failure(Failure(error, origin: origin))
            }
        }
    }

    /// Appends one step with both branches: `callback` for a success, `errback` for a failure.
    ///
    /// Unlike `addCallback(f).addErrback(g)`, `errback` does not see a failure thrown by `callback`.
    @inlinable
    public func addCallbacks<U>(
        _ callback: @escaping (Value) throws -> U, _ errback: @escaping (Failure) throws -> U,
        file: StaticString = #fileID, line: UInt = #line
    ) -> Deferred<U> {
        let origin = SourceLocation(file, line)
        return append(producing: U.self) { failed, input in
            do {
                return .success(failed ? try errback(unbox(input)) : try callback(unbox(input)))
            } catch {
                return .failure(Failure(error, origin: origin))
            }
        }
    }

    /// `addCallbacks` whose success branch returns a deferred to wait for, as in the tutorial:
    /// `d.addCallbacks(handleResponse, handleError)`.
    @inlinable
    public func addCallbacks<U>(
        _ callback: @escaping (Value) throws -> Deferred<U>, _ errback: @escaping (Failure) throws -> U,
        file: StaticString = #fileID, line: UInt = #line
    ) -> Deferred<U> {
        let origin = SourceLocation(file, line)
        return append(producing: U.self) { failed, input in
            do {
                if failed { return .success(try errback(unbox(input))) }
                return .wait(try callback(unbox(input)).chain, expecting: U.self)
            } catch {
                return .failure(Failure(error, origin: origin))
            }
        }
    }

    /// `addCallbacks` whose failure branch returns a deferred to wait for.
    @inlinable
    public func addCallbacks<U>(
        _ callback: @escaping (Value) throws -> U, _ errback: @escaping (Failure) throws -> Deferred<U>,
        file: StaticString = #fileID, line: UInt = #line
    ) -> Deferred<U> {
        let origin = SourceLocation(file, line)
        return append(producing: U.self) { failed, input in
            do {
                if failed { return .wait(try errback(unbox(input)).chain, expecting: U.self) }
                return .success(try callback(unbox(input)))
            } catch {
                return .failure(Failure(error, origin: origin))
            }
        }
    }

    /// `addCallbacks` whose branches both return a deferred to wait for.
    @inlinable
    public func addCallbacks<U>(
        _ callback: @escaping (Value) throws -> Deferred<U>,
        _ errback: @escaping (Failure) throws -> Deferred<U>,
        file: StaticString = #fileID, line: UInt = #line
    ) -> Deferred<U> {
        let origin = SourceLocation(file, line)
        return append(producing: U.self) { failed, input in
            do {
                let next = failed ? try errback(unbox(input)) : try callback(unbox(input))
                return .wait(next.chain, expecting: U.self)
            } catch {
                return .failure(Failure(error, origin: origin))
            }
        }
    }

    /// Appends a step that sees either outcome, as a `Result`.
    ///
    /// Return to continue on the success path; throw (for instance `try result.get()`) to fail.
    @inlinable
    public func addBoth<U>(
        _ f: @escaping (Result<Value, Failure>) throws -> U, file: StaticString = #fileID, line: UInt = #line
    ) -> Deferred<U> {
        let origin = SourceLocation(file, line)
        if canAppendTyped(U.self) {
            appendTyped(.both(f as! (Result<Value, Failure>) throws -> Value, origin))
            return unsafeDowncast(self, to: Deferred<U>.self)
        }
        return append(producing: U.self) { failed, input in
            let outcome: Result<Value, Failure> = failed ? .failure(unbox(input)) : .success(unbox(input))
            do { return .success(try f(outcome)) } catch { return .failure(Failure(error, origin: origin)) }
        }
    }

    /// `addBoth` with a step that returns a deferred to wait for.
    @inlinable
    public func addBoth<U>(
        _ f: @escaping (Result<Value, Failure>) throws -> Deferred<U>,
        file: StaticString = #fileID, line: UInt = #line
    ) -> Deferred<U> {
        let origin = SourceLocation(file, line)
        return append(producing: U.self) { failed, input in
            let outcome: Result<Value, Failure> = failed ? .failure(unbox(input)) : .success(unbox(input))
            do { return .wait(try f(outcome).chain, expecting: U.self) } catch {
                return .failure(Failure(error, origin: origin))
            }
        }
    }

    /// Fires `other` with this chain's current result when the chain reaches this point.
    ///
    /// This chain's result is left as it was, and a failure in it counts as handled (`other` now
    /// holds it). Firing `other` yourself as well is a programmer error (`AlreadyCalledError`).
    ///
    /// Twisted: `Deferred.chainDeferred` (where this chain's result becomes `None`).
    @inlinable
    public func chainDeferred(_ other: Deferred<Value>) {
        let target = other.chain
        _ = append(producing: Value.self) { _, _ in .forward(target, valueType: Value.self) }
    }

    /// Appends a step that observes the outcome without changing it and without marking a failure
    /// handled. Used by `DeferredList`, `race` and friends.
    @inlinable @discardableResult
    func observe(consumingFailure: Bool, _ f: @escaping (Result<Value, Failure>) -> Void) -> Deferred<Value> {
        append(producing: Value.self) { failed, input in
            f(failed ? .failure(unbox(input)) : .success(unbox(input)))
            return failed && consumingFailure ? .consumed : .unchanged
        }
    }

    /// Appends `step` to the chain (checking this handle is current) and returns the handle for `U`.
    @inlinable
    final func append<U>(producing: U.Type, _ step: @escaping ErasedStep) -> Deferred<U> {
        if !flags.contains(.handle) {
            // The root itself: a direct (specialised) call instead of one through the existential.
            appendStep(step, expecting: Value.self, producing: U.self)
            if U.self == Value.self { return unsafeDowncast(self, to: Deferred<U>.self) }
            return ChainHandle<U>(root: self)
        }
        let chain = self.chain
        chain.appendStep(step, expecting: Value.self, producing: U.self)
        if U.self == Value.self { return unsafeDowncast(self, to: Deferred<U>.self) }
        return ChainHandle<U>(root: chain)
    }
}
