import Synchronization

/// A result that is not there yet, and the chain of steps that will process it.
///
/// A `Deferred` holds one callback chain. `callback(_:)` or `errback(_:)` fires it once with the
/// first result; each step added with `addCallback`, `addErrback`, `addCallbacks` or `addBoth`
/// receives the result of the step before it. A callback that throws switches the chain to the error
/// path; an errback that returns switches it back. Steps added after the deferred has fired run at
/// once, in order.
///
/// A step that returns another `Deferred` pauses this chain until that inner deferred fires; the
/// inner result (or failure) then continues this chain. This is what makes a `DeferredSemaphore`
/// hold its token until a response body has been delivered: the step that got the token returns
/// a deferred that fires only when the body is done.
///
/// ```swift
/// let d = Deferred<Int>()
/// d.addCallback { $0 * 2 }
///  .addCallback { n -> Deferred<String> in lookUp(n) }   // the chain waits for lookUp
///  .addErrback { failure in "unknown" }                   // recovers
/// d.callback(21)
/// ```
///
/// **One chain, typed handles.** Each `add…` call appends to the same chain and returns a handle
/// typed for the chain's new result. When the type does not change the handle is the same object;
/// when it does, the new handle shares the chain (`called`, `paused` and `cancel()` are the chain's)
/// and is the one to add the next step to. Adding to a handle whose type no longer matches the end
/// of the chain is a programmer error (a trap), so the steps that can change the type
/// (`addCallback`, `addCallbacks`, `addBoth`) are not `@discardableResult`: dropping their handle
/// is a compile-time warning at the line that changed the type, not a trap at the next step. Write
/// `_ = d.addCallback { … }` for a last step whose handle you do not need. `addErrback`, which
/// always returns `self`, may be discarded.
///
/// ```swift
/// let d = Deferred<Int>()
/// let text = d.addCallback { "\($0)" }     // a Deferred<String> on the same chain
/// _ = text.addCallback { print($0) }       // the last step: its Deferred<Void> is not needed
///
/// d.addCallback { "\($0)" }                // warning: result unused (the String handle is lost)
/// d.addCallback { $0 + 1 }                 // traps: the chain now ends in String, not Int
/// ```
///
/// (Swift cannot make only the same-type case discardable: an overload taking `(Value) -> Value`
/// would also capture every multi-statement closure without a `return`, which then fails to
/// compile with "missing return".)
///
/// **Steps added while the chain runs.** A step added to a deferred from inside one of its own
/// steps is appended and runs after the steps already queued. A step added to a deferred that has
/// just handed its result to the chain now running (the inner deferred that resumed it) runs at
/// once, before the adding step returns, after any steps that deferred still had queued.
///
/// **Threads.** A deferred is not thread-safe and not `Sendable`: create, fire and extend it on one
/// thread (the reactor's). Debug builds check this where an owner says so: a deferred bound with
/// `setThreadAffinity(_:_:)` asserts its owner's rule as it fires (`callback`, `errback`, or
/// `cancel()` firing it), and a reactor binds the deferreds it makes (`deferLater`, `retry`,
/// `LoopingCall.start`, `connectProtocol`) to its loop thread. Release builds check nothing.
/// The runner is iterative, so a chain of a million deferreds, each waiting
/// on the next, or a million callbacks on one deferred, run without growing the stack.
///
/// **Programmer errors** trap with a message: firing twice (`AlreadyCalledError`), firing or
/// extending through a handle of the wrong type, a step that returns the deferred it belongs to,
/// unbalanced `unpause()`.
///
/// Twisted: `twisted.internet.defer.Deferred` (the order of re-entrant steps is `_runCallbacks`'s,
/// where `_runningCallbacks` is set only on the deferred whose callback executes). Differences:
/// results are typed, and a type-changing step's handle must be used; a deferred returned
/// from a callback keeps its own result (Twisted sets it to `None`) and only stops reporting an
/// unhandled failure, because the outer chain now holds it.
public class Deferred<Value> {
    // The chain's state lives in its root (the object `init` created); a handle of another type is
    // a `ChainHandle` forwarding to it. Kept small (the fields are ordered to leave no padding): a
    // pending deferred with one callback costs one 128-byte allocation plus the callback's closure.
    // No stored property has a type that depends on `Value` in layout (a `Value?` would cost a
    // metadata lookup in every deinit): results are boxed in `Any`, steps hold closures and
    // references.
    //
    // Safety budget: the chain's fields skip the runtime's exclusivity checks because it pays.
    // Each access to a class's stored property otherwise costs a dynamic check
    // (`swift_beginAccess`), and the runner touches these fields on every step. They are five
    // unchecked stored properties: the three kinds of step, whose types depend on `Value`, and two
    // structs, `status` (a `ChainStatus`) and `state` (a `ChainState`), which hold the other
    // fields (see those types for why five and not one). Each pays on its own, by callgrind, per
    // operation of `make bench-deferred` (against 639 instructions for create_fire, 122 for
    // many_callbacks and 1975 for deep_chain with all five unchecked), checking only:
    // `firstStep`, create_fire 890 (+39 %); `status`, 1281 (+100 %); `state`, 895 (+40 %);
    // `moreSteps`, many_callbacks 244 (+100 %); `erasedSteps`, deep_chain 2530 (+28 %). All five
    // checked: create_fire 1984, many_callbacks 249, deep_chain 5905. What it gives up: an
    // overlapping access (a step that extends its chain while the runner is inside an access to
    // a field) would go unnoticed; the runner takes each step out of the chain before calling it,
    // so no access is open while a step runs. The properties after these five name the fields of
    // `status` and `state`, one each.
    @usableFromInline @exclusivity(unchecked) final var firstStep: ChainStep<Value>?
    /// Set by the initialisers, not by a default value: that one would be a call, made by every
    /// `init` (a property initialiser is not inlined into another module).
    @usableFromInline @exclusivity(unchecked) final var status: ChainStatus
    @usableFromInline @exclusivity(unchecked) final var state = ChainState()
    /// The steps after `firstStep` that keep the root's type (nothing allocated for a deferred
    /// with one step, the common case); those before `cursor` have run and been moved out.
    @usableFromInline @exclusivity(unchecked) final var moreSteps = StepBuffer<Value>()
    /// Type-erased steps, after `firstStep` and `moreSteps`. Kept apart so that the runner, which
    /// often works unspecialised (on a chain another chain hands its result to), never needs
    /// `Value`'s metadata for them. A typed step added while some are pending is erased too.
    @usableFromInline @exclusivity(unchecked) final var erasedSteps: ErasedSteps<Value> = .none
    @inlinable final var result: Any {
        get { state.result }
        _modify { yield &state.result }
    }
    @inlinable final var pauseCount: UInt16 {
        get { status.pauseCount }
        _modify { yield &status.pauseCount }
    }
    @inlinable final var phase: Phase {
        get { status.phase }
        _modify { yield &status.phase }
    }
    @inlinable final var flags: Flags {
        get { status.flags }
        _modify { yield &status.flags }
    }
    @inlinable final var cursor: Int32 {
        get { status.cursor }
        _modify { yield &status.cursor }
    }
    @inlinable final var erasedCursor: Int32 {
        get { status.erasedCursor }
        _modify { yield &status.erasedCursor }
    }
    @inlinable final var extras: ChainExtras? {
        get { state.extras }
        _modify { yield &state.extras }
    }
    @inlinable final var laterType: Any.Type? {
        get { state.laterType }
        _modify { yield &state.laterType }
    }

    /// Creates an unfired deferred.
    ///
    /// - Parameters:
    ///   - canceller: called by `cancel()` while the deferred is unfired. It may fire the
    ///     deferred (with any result); if it does not, `cancel()` errbacks with `CancelledError`.
    ///     It is released once the deferred fires.
    ///   - file: where the deferred is created, recorded when debugging is on (`setDebugging(_:)`).
    ///   - line: the line of `file`.
    @inlinable
    public init(
        canceller: ((Deferred<Value>) -> Void)? = nil, file: StaticString = #fileID, line: UInt = #line
    ) {
        status = ChainStatus()
        if let canceller { setCanceller(canceller) }
        if _slowPath(deferredDebugging.load(ordering: .relaxed)) { recordCreation(file, line) }
    }

    /// A `ChainHandle`'s: the chain's root records what debugging needs.
    @inlinable init(handle: ()) {
        status = ChainStatus()
    }

    @usableFromInline
    final func setCanceller(_ canceller: @escaping (Deferred<Value>) -> Void) {
        ensureExtras().canceller = { object in canceller(unsafeDowncast(object, to: Deferred<Value>.self)) }
    }

    deinit {
        if moreSteps.block != nil { moreSteps.deallocate(from: Int(cursor)) }
        guard phase == .failed, !flags.contains(.consumed) else { return }
        reportUnhandled(unbox(result, as: Failure.self), debug: extras?.debug)
    }

    /// A deferred that has already fired with `value`.
    ///
    /// `file` and `line` are recorded as where it was created when debugging is on.
    @inlinable
    public static func succeed(_ value: Value, file: StaticString = #fileID, line: UInt = #line) -> Deferred<Value> {
        let d = Deferred<Value>(file: file, line: line)
        d.phase = .succeeded
        d.result = value
        return d
    }

    /// A deferred that has already failed with `error` (wrapped in a `Failure` unless it is one).
    public static func fail(_ error: any Error, file: StaticString = #fileID, line: UInt = #line)
        -> Deferred<Value>
    {
        let d = Deferred<Value>(file: file, line: line)
        d.phase = .failed
        d.result = Failure(error, file: file, line: line)
        return d
    }

    /// Whether `callback(_:)` or `errback(_:)` has been called on the chain.
    @inlinable public final var called: Bool {
        flags.contains(.handle) ? chain.chainPhase != .pending : phase != .pending
    }

    /// Whether the chain is paused: by `pause()`, or waiting for a deferred a step returned.
    @inlinable public final var paused: Bool {
        flags.contains(.handle) ? chain.chainPaused : pauseCount > 0
    }

    /// Fires the chain with its first result.
    ///
    /// The callbacks already added run now, before this returns (unless the chain is paused).
    /// Calling it on a fired deferred is a programmer error (`AlreadyCalledError`), except once after
    /// `cancel()` fired it with `CancelledError`: that late result is ignored. `file` and `line`
    /// name this call in that trap, and are recorded as the first fire when debugging is on.
    @inlinable
    public final func callback(_ value: Value, file: StaticString = #fileID, line: UInt = #line) {
        if flags.contains(.handle) || phase != .pending {
            // Through a handle; or a late fire after cancel() (ignored), or a second one (a trap).
            fireOutOfLine(value, file, line)
        } else {
            // What accept() does, inline: the type is the root's own.
            phase = .succeeded
            if extras != nil { firedWithExtras(at: file, line) }
            // Typed steps at the head of the chain take the value as it is, unboxed.
            if pauseCount == 0, let first = takeNextTypedStep() {
                flags.insert(.running)
                runTypedSteps(first, input: value, resultUnset: true)
                flags.remove(.running)
                // The common case — that was the only step — needs no trip through the runner.
                if pauseCount == 0, moreSteps.isEmpty, erasedSteps.isEmpty {
                    flags.remove(.firstTaken)
                    return
                }
            } else {
                result = value
            }
            run()
        }
    }

    /// `callback(_:)` through a handle, or on a root that has fired. Out of line, to keep `callback` small.
    @inlinable @inline(never)
    final func fireOutOfLine(_ value: Value, _ file: StaticString, _ line: UInt) {
        if flags.contains(.handle) {
            chain.fire(failed: false, value, valueType: Value.self, at: SourceLocation(file, line))
        } else {
            _ = accept(failed: false, valueType: Value.self, at: SourceLocation(file, line))
        }
    }

    /// Fires the chain with a failure; `error` is wrapped in a `Failure` unless it is one.
    ///
    /// Same rules as `callback(_:)`.
    @inlinable
    public final func errback(_ error: any Error, file: StaticString = #fileID, line: UInt = #line) {
        let failure = Failure(error, file: file, line: line)
        if flags.contains(.handle) {
            chain.fire(failed: true, failure, valueType: Value.self, at: failure.origin)
        } else {
            fire(failed: true, failure, valueType: Value.self, at: failure.origin)
        }
    }

    /// The object holding the chain's state: `self`, or the root a `ChainHandle` forwards to.
    @usableFromInline var chain: any DeferredChain { self }
}

/// A handle typed `Value` on a chain whose root has another type.
@usableFromInline
final class ChainHandle<Value>: Deferred<Value> {
    @usableFromInline let root: any DeferredChain

    @inlinable init(root: any DeferredChain) {
        self.root = root
        super.init(handle: ())
        flags = .handle
    }

    @inlinable override var chain: any DeferredChain { root }
}
