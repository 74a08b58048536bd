#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
/// when it does, the new handle shares the chain (`called`, `paused` and `cancel()` are the chain's).
/// Adding to a handle whose type no longer matches the end of the chain is a programmer error.
///
/// **Threads.** A deferred is not thread-safe and not `Sendable`: create, fire and extend it on one
/// thread (the reactor's). The runner is iterative, so a chain of a million deferreds, each waiting
/// on the next, or a million callbacks on one deferred, run without growing the stack.
///
/// **Programmer errors** trap with a message: firing twice (`AlreadyCalledError`), firing or
/// extending through a handle of the wrong type, a step that returns the deferred it belongs to,
/// unbalanced `unpause()`.
///
/// Twisted: `twisted.internet.defer.Deferred`. Differences: results are typed; a deferred returned
/// from a callback keeps its own result (Twisted sets it to `None`) and only stops reporting an
/// unhandled failure, because the outer chain now holds it.
public class Deferred<Value> {
    // The chain's state lives in its root (the object `init` created); a handle of another type is
    // a `ChainHandle` forwarding to it. Kept small (the fields are ordered to leave no padding): a
    // pending deferred with one callback costs one 128-byte allocation plus the callback's closure.
    // No stored property has a type that depends on `Value` in layout (a `Value?` would cost a
    // metadata lookup in every deinit): results are boxed in `Any`, steps hold closures.
    @usableFromInline @exclusivity(unchecked) final var result: Any = ()
    @usableFromInline @exclusivity(unchecked) final var firstStep: ChainStep<Value>?
    @usableFromInline @exclusivity(unchecked) final var pauseCount: UInt16 = 0
    @usableFromInline @exclusivity(unchecked) final var phase: Phase = .pending
    @usableFromInline @exclusivity(unchecked) final var flags: Flags = []
    /// The next step of `moreSteps` to run.
    @usableFromInline @exclusivity(unchecked) final var cursor: Int32 = 0
    /// The next step of `erasedSteps` to run.
    @usableFromInline @exclusivity(unchecked) final var erasedCursor: Int32 = 0
    /// The steps after `firstStep` that keep the root's type (nothing allocated for a deferred
    /// with one step, the common case); those before `cursor` have run and been moved out.
    @usableFromInline @exclusivity(unchecked) final var moreSteps = StepBuffer<Value>()
    /// Type-erased steps, after `firstStep` and `moreSteps`. Kept apart so that the runner, which
    /// often works unspecialised (on a chain another chain hands its result to), never touches a
    /// `Value`-dependent type for them. A typed step added while some are pending is erased too.
    @usableFromInline @exclusivity(unchecked) final var erasedSteps: ErasedSteps<Value> = .none
    @usableFromInline @exclusivity(unchecked) final var extras: ChainExtras?
    /// The chain's current result type when it is no longer `Value`.
    @usableFromInline @exclusivity(unchecked) final var laterType: Any.Type?

    /// Creates an unfired deferred.
    ///
    /// - Parameter canceller: called by `cancel()` while the deferred is unfired. It may fire the
    ///   deferred (with any result); if it does not, `cancel()` errbacks with `CancelledError`.
    ///   It is released once the deferred fires.
    @inlinable
    public init(canceller: ((Deferred<Value>) -> Void)? = nil) {
        if let canceller { setCanceller(canceller) }
    }

    @usableFromInline
    final func setCanceller(_ canceller: @escaping (Deferred<Value>) -> Void) {
        ensureExtras().canceller = { object in canceller(unsafeDowncast(object, to: Deferred<Value>.self)) }
    }

    deinit {
        if !moreSteps.isEmpty { moreSteps.deallocate(from: Int(cursor)) }
        guard phase == .failed, !flags.contains(.consumed) else { return }
        reportUnhandled(unbox(result, as: Failure.self))
    }

    /// A deferred that has already fired with `value`.
    @inlinable
    public static func succeed(_ value: Value) -> Deferred<Value> {
        let d = Deferred<Value>()
        d.phase = .succeeded
        d.result = value
        return d
    }

    /// A deferred that has already failed with `error` (wrapped in a `Failure` unless it is one).
    public static func fail(_ error: any Error, file: StaticString = #fileID, line: UInt = #line)
        -> Deferred<Value>
    {
        let d = Deferred<Value>()
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
    /// `cancel()` fired it with `CancelledError`: that late result is ignored.
    @inlinable
    public final func callback(_ value: Value) {
        if flags.contains(.handle) {
            chain.fire(failed: false, value, valueType: Value.self)
        } else if accept(failed: false, valueType: Value.self) {
            // Typed steps at the head of the chain take the value as it is, unboxed.
            if pauseCount == 0, let first = takeNextTypedStep() {
                flags.insert(.running)
                runTypedSteps(first, input: value)
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

    /// Fires the chain with a failure; `error` is wrapped in a `Failure` unless it is one.
    ///
    /// Same rules as `callback(_:)`.
    @inlinable
    public final func errback(_ error: any Error, file: StaticString = #fileID, line: UInt = #line) {
        let failure = Failure(error, file: file, line: line)
        if flags.contains(.handle) {
            chain.fire(failed: true, failure, valueType: Value.self)
        } else {
            fire(failed: true, failure, valueType: Value.self)
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
        super.init()
        flags = .handle
    }

    @inlinable override var chain: any DeferredChain { root }
}

// MARK: - Chain state

/// One step of a chain: given whether the chain is failing and its current result, what happens next.
@usableFromInline typealias ErasedStep = (_ failed: Bool, _ result: Any) -> StepResult

/// A type-erased step as stored: a closure, or the hand-over to the chain this one was returned
/// to (kept as data, so waiting on an inner deferred allocates no closure).
@usableFromInline enum StoredStep {
    case run(ErasedStep)
    case resume(any DeferredChain)
}

/// A step as the root of a chain stores it.
///
/// Steps that keep the root's own type (`addCallback { $0 + 1 }` on a `Deferred<Int>`) are stored
/// with their closure as it is, so adding one allocates nothing and running a row of them needs no
/// boxing; every other step is type-erased.
@usableFromInline enum ChainStep<Value> {
    case callback((Value) throws -> Value, SourceLocation)
    /// A callback returning a `Deferred<Value>` to wait for. (Typed `AnyObject` so that storing
    /// the caller's closure needs no reabstraction thunk, which would cost an allocation.)
    case chain((Value) throws -> AnyObject, SourceLocation)
    case errback((Failure) throws -> Value, SourceLocation)
    case both((Result<Value, Failure>) throws -> Value, SourceLocation)
    case erased(StoredStep)
    /// A step that has run (its closure released).
    case done

    /// Whether the step runs on the success path with the value unboxed (`runTypedSteps`); an
    /// errback counts, as a success passes it by.
    @inlinable var isTyped: Bool {
        switch self {
        case .callback, .chain, .errback: true
        case .both, .erased, .done: false
        }
    }
}

/// A chain's type-erased steps.
@usableFromInline enum ErasedSteps<Value> {
    case none
    /// Only the hand-over to an outer chain of the same type (one deferred's callback returned
    /// another of its type): kept without allocating a list, as a chain of such deferreds is
    /// common (a loop written as recursion) and each link has one.
    case resume(Deferred<Value>)
    case list([StoredStep])

    @inlinable var count: Int {
        switch self {
        case .none: 0
        case .resume: 1
        case .list(let steps): steps.count
        }
    }

    @inlinable var isEmpty: Bool {
        if case .none = self { return true }
        return count == 0
    }

    @inlinable mutating func append(_ step: consuming StoredStep) {
        switch consume self {
        case .none:
            switch consume step {
            case .resume(let outer) where ObjectIdentifier(type(of: outer)) == ObjectIdentifier(Deferred<Value>.self):
                self = .resume(unsafeDowncast(outer, to: Deferred<Value>.self))
            case let other:
                self = .list([other])
            }
        case .resume(let outer):
            self = .list([.resume(outer), step])
        case .list(var steps):
            steps.append(step)
            self = .list(steps)
        }
    }

    /// Takes the step at `cursor` out of the list, so its captures go once it has run, and moves
    /// `cursor` past it; nil when there is none.
    @inlinable mutating func takeNext(cursor: inout Int32) -> StoredStep? {
        switch consume self {
        case .none:
            self = .none
            return nil
        case .resume(let outer):
            // The only step: the list is empty again, `cursor` stays 0.
            self = .none
            return .resume(outer)
        case .list(var steps):
            let index = Int(cursor)
            guard index < steps.count else {
                self = .list(steps)
                return nil
            }
            var step = StoredStep.run { _, _ in .unchanged }
            swap(&step, &steps[index])
            self = .list(steps)
            cursor += 1
            return step
        }
    }
}

/// What a step did with the chain's result.
@usableFromInline enum StepResult {
    /// The result passes through untouched (a callback on the error path, or vice versa).
    case unchanged
    /// The result passes through, and a failure in it counts as handled.
    case consumed
    case success(Any)
    case failure(Failure)
    /// The step returned a deferred whose chain must end in `expecting`: wait for it.
    case wait(any DeferredChain, expecting: Any.Type)
    /// `chainDeferred(_:)`: fire `target`, whose first type is `valueType`, with the result.
    case forward(any DeferredChain, valueType: Any.Type)
}

/// Where a chain is in its life.
@usableFromInline enum Phase: UInt8 {
    case pending, succeeded, failed
}

@usableFromInline struct Flags: OptionSet, Sendable {
    @usableFromInline let rawValue: UInt8
    @inlinable init(rawValue: UInt8) { self.rawValue = rawValue }
    /// The runner is working through this chain's steps (possibly suspended for a chain it resumed).
    @inlinable static var running: Flags { Flags(rawValue: 1) }
    /// The failure in `result` was passed on or consumed: do not report it as unhandled.
    @inlinable static var consumed: Flags { Flags(rawValue: 2) }
    /// `cancel()` fired the chain: ignore one late `callback`/`errback`.
    @inlinable static var suppressLateFire: Flags { Flags(rawValue: 4) }
    /// `firstStep` has been taken by the runner; later steps are in `moreSteps`.
    @inlinable static var firstTaken: Flags { Flags(rawValue: 8) }
    /// The chain waits for an inner deferred, which `result` holds meanwhile (as in Twisted).
    @inlinable static var waiting: Flags { Flags(rawValue: 32) }
    /// This object is a `ChainHandle`, not the chain's root.
    @inlinable static var handle: Flags { Flags(rawValue: 16) }
}

/// The typed steps after a chain's first one, in one block of memory that `realloc` grows.
///
/// A chain of a million callbacks thus grows without copying (large blocks are remapped) and
/// without touching its memory twice, which an `Array` does each time it doubles. Steps are moved
/// out as they run, so freeing the block destroys nothing. The owner (a `Deferred`) frees it.
@usableFromInline struct StepBuffer<Value> {
    /// `[count: Int32, capacity: Int32, steps…]`; nil until the first step.
    @usableFromInline var block: UnsafeMutableRawPointer?

    @inlinable init() { block = nil }

    @usableFromInline static var headerSize: Int { 8 }

    /// How many steps were appended (those that ran included).
    @inlinable var count: Int {
        guard let block else { return 0 }
        return Int(block.load(as: Int32.self))
    }

    @inlinable var isEmpty: Bool { block == nil }

    @inlinable func slot(_ index: Int) -> UnsafeMutablePointer<ChainStep<Value>> {
        (block.unsafelyUnwrapped + StepBuffer.headerSize).assumingMemoryBound(to: ChainStep<Value>.self) + index
    }

    @inlinable mutating func append(_ step: __owned ChainStep<Value>) {
        let count = self.count
        if block == nil || Int32(count) == block.unsafelyUnwrapped.load(fromByteOffset: 4, as: Int32.self) {
            grow()
        }
        slot(count).initialize(to: step)
        block.unsafelyUnwrapped.storeBytes(of: Int32(count + 1), as: Int32.self)
    }

    @inlinable @inline(never) mutating func grow() {
        let capacity = block.map { Int($0.load(fromByteOffset: 4, as: Int32.self)) } ?? 0
        precondition(capacity < Int(Int32.max) / 2, "Deferred: too many callbacks on one deferred")
        let newCapacity = max(4, capacity * 2)
        // Steps (closures, locations, references) can be moved bit for bit, as realloc does.
        guard let grown = realloc(block, StepBuffer.headerSize + newCapacity * MemoryLayout<ChainStep<Value>>.stride)
        else { fatalError("Deferred: out of memory for callbacks") }
        if block == nil { grown.storeBytes(of: 0, as: Int32.self) }
        grown.storeBytes(of: Int32(newCapacity), toByteOffset: 4, as: Int32.self)
        (grown + StepBuffer.headerSize).bindMemory(to: ChainStep<Value>.self, capacity: newCapacity)
        block = grown
    }

    @inlinable func isTyped(_ index: Int) -> Bool { slot(index).pointee.isTyped }

    /// Moves the step at `index` out; its slot must not be read again.
    @inlinable func take(_ index: Int) -> ChainStep<Value> { slot(index).move() }

    /// Destroys the steps from `start` on (those not yet taken) and frees the block.
    @inlinable mutating func deallocate(from start: Int) {
        guard let block else { return }
        for index in start..<count { _ = slot(index).move() }
        free(block)
        self.block = nil
    }
}

/// The less common parts of a chain's state, allocated on first need.
@usableFromInline final class ChainExtras {
    @usableFromInline init() {}
    @usableFromInline @exclusivity(unchecked) var canceller: ((AnyObject) -> Void)?
}

/// What the runner and the typed handles need from a chain's root, whatever its `Value`.
@usableFromInline protocol DeferredChain: AnyObject {
    var chainPhase: Phase { get }
    var chainPaused: Bool { get }
    var tailType: Any.Type { get }
    func fire(failed: Bool, _ result: Any, valueType: Any.Type)
    func appendStep(_ step: @escaping ErasedStep, expecting: Any.Type, producing: Any.Type)
    func cancelChain()
    func pauseChain()
    func unpauseChain()
    // The runner's side.
    func advance() -> Advance
    var isRunning: Bool { get }
    var settledResult: (failed: Bool, result: Any)? { get }
    func takeResultForOuter() -> (failed: Bool, result: Any)
    func appendRaw(_ step: StoredStep)
    func receiveFromInner(failed: Bool, _ result: Any)
    func receiveForwarded(failed: Bool, _ result: Any, valueType: Any.Type) -> Bool
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

    @inlinable final func fire(failed: Bool, _ result: Any, valueType: Any.Type) {
        guard accept(failed: failed, valueType: valueType) else { return }
        setResult(failed: failed, result)
        run()
    }

    /// Stores the first result; false when it is the one late fire after `cancel()`.
    @inlinable final func accept(failed: Bool, valueType: Any.Type) -> Bool {
        if phase != .pending {
            if flags.contains(.suppressLateFire) {
                flags.remove(.suppressLateFire)
                return false
            }
            preconditionFailure("AlreadyCalledError: this Deferred has already fired; fire a deferred only once")
        }
        precondition(
            valueType == Value.self,
            "Deferred fired through a handle of type \(valueType); the chain starts with \(Value.self)")
        phase = failed ? .failed : .succeeded
        extras?.canceller = nil
        return true
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
        guard accept(failed: failed, valueType: valueType) else { return false }
        setResult(failed: failed, newResult)
        return true
    }

    /// Makes `newResult` (a `Failure` when `failed`) the current result.
    @inlinable final func setResult(failed: Bool, _ newResult: Any) {
        result = newResult
        phase = failed ? .failed : .succeeded
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
    @inlinable final var isSettledRoot: Bool {
        phase != .pending && pauseCount == 0 && !flags.contains(.running) && !flags.contains(.handle)
    }

    /// If `isSettledRoot`, runs `body` as a step added now would run (steps added meanwhile wait
    /// for it) and returns true; else false.
    @inlinable final func runIfSettled(_ body: () throws -> Void) rethrows -> Bool {
        guard isSettledRoot else { return false }
        flags.insert(.running)
        defer {
            flags.remove(.running)
            // A settled chain has no steps stored (the runner drops them once run).
            if firstStep != nil || !moreSteps.isEmpty || !erasedSteps.isEmpty { run() }
        }
        try body()
        return true
    }

    /// Runs the chain's steps if it has fired, is not paused and is not already running.
    @inlinable final func run() {
        guard phase != .pending, pauseCount == 0, !flags.contains(.running) else { return }
        // The first chain runs specialised; only hand-overs to other chains go through the runner.
        if case .push(let next) = advance() { runChains(from: next, suspending: self) }
    }

    /// Runs this chain's steps until it ends, pauses, or hands its result to another chain.
    ///
    /// Returns `.push(other)` when `other` must run before this chain goes on (this chain stays
    /// marked running and is resumed by `runChains` afterwards).
    @inlinable final func advance() -> Advance {
        flags.insert(.running)
        while pauseCount == 0 {
            guard let step = takeNextStep() else {
                guard let erased = erasedSteps.takeNext(cursor: &erasedCursor) else { break }
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
    ///
    /// Stops early, with the chain's state set, when a step throws or the chain pauses (a step
    /// paused it, or it now waits for a deferred); stops at a step only `advance()` runs.
    @inlinable final func runTypedSteps(_ first: consuming ChainStep<Value>, input: Value) {
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
        result = value
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
                return same.flags.contains(.running) ? nil : .push(outer)
            }
            outer.receiveFromInner(failed: phase == .failed, result)
            flags.insert(.consumed)
            return outer.isRunning ? nil : .push(outer)
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
