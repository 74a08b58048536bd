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
    // The chain's state lives in its root handle (the one created by `init`); derived handles
    // forward to it through `extras.forward`. Kept small: a pending deferred with one callback
    // costs one object plus the callback's closure.
    final var result: Any = ()
    final var firstStep: Step?
    final var moreSteps: [Step] = []
    final var extras: ChainExtras?
    final var cursor: Int32 = 0
    final var pauseCount: UInt16 = 0
    final var phase: Phase = .pending
    final var flags: Flags = []

    /// Creates an unfired deferred.
    ///
    /// - Parameter canceller: called by `cancel()` while the deferred is unfired. It may fire the
    ///   deferred (with any result); if it does not, `cancel()` errbacks with `CancelledError`.
    ///   It is released once the deferred fires.
    public init(canceller: ((Deferred<Value>) -> Void)? = nil) {
        if let canceller {
            let extras = ChainExtras()
            extras.canceller = { object in canceller(unsafeDowncast(object, to: Deferred<Value>.self)) }
            self.extras = extras
        }
    }

    /// A handle of type `Value` on the chain whose root is `root`.
    init(forwardingTo root: any DeferredChain) {
        let extras = ChainExtras()
        extras.forward = root
        self.extras = extras
    }

    deinit {
        guard phase == .failed, !flags.contains(.consumed), extras?.forward == nil else { return }
        reportUnhandled(result as! Failure)
    }

    /// A deferred that has already fired with `value`.
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
    public var called: Bool { chain.chainPhase != .pending }

    /// Whether the chain is paused: by `pause()`, or waiting for a deferred a step returned.
    public var paused: Bool { chain.chainPaused }

    /// Fires the chain with its first result.
    ///
    /// The callbacks already added run now, before this returns (unless the chain is paused).
    /// Calling it on a fired deferred is a programmer error (`AlreadyCalledError`), except once after
    /// `cancel()` fired it with `CancelledError`: that late result is ignored.
    public func callback(_ value: Value) {
        chain.fire(failed: false, value, valueType: Value.self)
    }

    /// Fires the chain with a failure; `error` is wrapped in a `Failure` unless it is one.
    ///
    /// Same rules as `callback(_:)`.
    public func errback(_ error: any Error, file: StaticString = #fileID, line: UInt = #line) {
        chain.fire(failed: true, Failure(error, file: file, line: line), valueType: Value.self)
    }

    /// The object holding the chain's state: `self`, or the root this handle forwards to.
    @inline(__always) final var chain: any DeferredChain {
        if let forward = extras?.forward { return forward }
        return self
    }
}

// MARK: - Chain state

/// One step of a chain: given whether the chain is failing and its current result, what happens next.
typealias Step = (_ failed: Bool, _ result: Any) -> StepResult

/// What a step did with the chain's result.
enum StepResult {
    /// The result passes through untouched (a callback on the error path, or vice versa).
    case unchanged
    /// The result passes through, and a failure in it counts as handled.
    case consumed
    case success(Any)
    case failure(Failure)
    /// The step returned a deferred whose chain must end in `expecting`: wait for it.
    case wait(any DeferredChain, expecting: Any.Type)
    /// This chain was returned by a step of `outer`: hand the result over and let `outer` go on.
    case resume(any DeferredChain)
    /// `chainDeferred(_:)`: fire `target`, whose first type is `valueType`, with the result.
    case forward(any DeferredChain, valueType: Any.Type)
}

/// Where a chain is in its life.
enum Phase: UInt8 {
    case pending, succeeded, failed
}

struct Flags: OptionSet {
    let rawValue: UInt8
    /// The runner is working through this chain's steps (possibly suspended for a chain it resumed).
    static let running = Flags(rawValue: 1)
    /// The failure in `result` was passed on or consumed: do not report it as unhandled.
    static let consumed = Flags(rawValue: 2)
    /// `cancel()` fired the chain: ignore one late `callback`/`errback`.
    static let suppressLateFire = Flags(rawValue: 4)
}

/// The rarely used parts of a chain's state, allocated on first need.
final class ChainExtras {
    /// On a derived handle: the root holding the chain.
    var forward: (any DeferredChain)?
    /// On a root: the chain's current result type, when it is no longer the root's `Value`.
    var tailType: Any.Type?
    var canceller: ((AnyObject) -> Void)?
    /// The inner deferred this chain is paused on.
    var waitingOn: (any DeferredChain)?
}

/// What the runner and the typed handles need from a chain's root, whatever its `Value`.
protocol DeferredChain: AnyObject {
    var chainPhase: Phase { get }
    var chainPaused: Bool { get }
    var tailType: Any.Type { get }
    var headType: Any.Type { get }
    func fire(failed: Bool, _ result: Any, valueType: Any.Type)
    func appendStep(_ step: @escaping Step, expecting: Any.Type, producing: Any.Type)
    func cancelChain()
    func pauseChain()
    func unpauseChain()
    // The runner's side.
    func advance() -> Advance
    var isRunning: Bool { get }
    var settledResult: (failed: Bool, result: Any)? { get }
    func takeResultForOuter() -> (failed: Bool, result: Any)
    func appendRaw(_ step: @escaping Step)
    func receiveFromInner(failed: Bool, _ result: Any)
    func receiveForwarded(failed: Bool, _ result: Any, valueType: Any.Type) -> Bool
}

enum Advance {
    case done
    case push(any DeferredChain)
}

extension Deferred: DeferredChain {
    final var chainPhase: Phase { phase }
    final var chainPaused: Bool { pauseCount > 0 }
    final var tailType: Any.Type { extras?.tailType ?? Value.self }
    final var headType: Any.Type { Value.self }
    final var isRunning: Bool { flags.contains(.running) }

    final func fire(failed: Bool, _ result: Any, valueType: Any.Type) {
        guard accept(failed: failed, result, valueType: valueType) else { return }
        run()
    }

    /// Stores the first result; false when it is the one late fire after `cancel()`.
    private final func accept(failed: Bool, _ newResult: Any, valueType: Any.Type) -> Bool {
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
        result = newResult
        extras?.canceller = nil
        return true
    }

    final func appendStep(_ step: @escaping Step, expecting: Any.Type, producing: Any.Type) {
        let tail = tailType
        precondition(
            tail == expecting,
            "Deferred<\(expecting)>: a step was added through a stale handle; the chain now ends in \(tail)")
        if producing != tail {
            let extras = ensureExtras()
            extras.tailType = producing == Value.self ? nil : producing
        }
        appendRaw(step)
        run()
    }

    final func appendRaw(_ step: @escaping Step) {
        if firstStep == nil && moreSteps.isEmpty {
            firstStep = step
        } else {
            moreSteps.append(step)
        }
    }

    final var settledResult: (failed: Bool, result: Any)? {
        guard phase != .pending, pauseCount == 0, !flags.contains(.running) else { return nil }
        return (phase == .failed, result)
    }

    final func takeResultForOuter() -> (failed: Bool, result: Any) {
        flags.insert(.consumed)
        return (phase == .failed, result)
    }

    final func receiveFromInner(failed: Bool, _ newResult: Any) {
        pauseCount -= 1
        extras?.waitingOn = nil
        setResult(failed: failed, newResult)
    }

    final func receiveForwarded(failed: Bool, _ newResult: Any, valueType: Any.Type) -> Bool {
        accept(failed: failed, newResult, valueType: valueType)
    }

    @inline(__always) private final func setResult(failed: Bool, _ newResult: Any) {
        result = newResult
        phase = failed ? .failed : .succeeded
        flags.remove(.consumed)
    }

    final func ensureExtras() -> ChainExtras {
        if let extras { return extras }
        let extras = ChainExtras()
        self.extras = extras
        return extras
    }

    /// Runs the chain's steps if it has fired, is not paused and is not already running.
    final func run() {
        guard phase != .pending, pauseCount == 0, !flags.contains(.running) else { return }
        runChains(from: self)
    }

    /// Runs this chain's steps until it ends, pauses, or hands its result to another chain.
    ///
    /// Returns `.push(other)` when `other` must run before this chain goes on (this chain stays
    /// marked running and is resumed by `runChains` afterwards).
    final func advance() -> Advance {
        flags.insert(.running)
        while pauseCount == 0, let step = takeNextStep() {
            switch step(phase == .failed, result) {
            case .unchanged:
                break
            case .consumed:
                flags.insert(.consumed)
            case .success(let value):
                result = value
                phase = .succeeded
            case .failure(let failure):
                setResult(failed: true, failure)
            case .wait(let inner, let expecting):
                precondition(inner !== self, "A callback returned the Deferred it was added to")
                let innerTail = inner.tailType
                precondition(
                    innerTail == expecting,
                    "A callback returned a stale Deferred<\(expecting)> handle; its chain ends in \(innerTail)")
                if let settled = inner.settledResult {
                    _ = inner.takeResultForOuter()
                    setResult(failed: settled.failed, settled.result)
                } else {
                    pauseCount += 1
                    flags.insert(.consumed)
                    ensureExtras().waitingOn = inner
                    let outer: any DeferredChain = self
                    inner.appendRaw { _, _ in .resume(outer) }
                }
            case .resume(let outer):
                outer.receiveFromInner(failed: phase == .failed, result)
                flags.insert(.consumed)
                if !outer.isRunning { return .push(outer) }
            case .forward(let target, let valueType):
                flags.insert(.consumed)
                if target.receiveForwarded(failed: phase == .failed, result, valueType: valueType),
                    !target.isRunning
                {
                    return .push(target)
                }
            }
        }
        if pauseCount == 0 {
            // Every step has run: drop them, so nothing they captured outlives the firing.
            firstStep = nil
            moreSteps = []
            cursor = 0
            extras?.waitingOn = nil
        }
        flags.remove(.running)
        return .done
    }

    /// The step at `cursor`, replacing it by a no-op so its captures are released as it runs.
    @inline(__always) private final func takeNextStep() -> Step? {
        if cursor == 0 {
            guard let step = firstStep else { return nil }
            firstStep = { _, _ in .unchanged }
            cursor = 1
            return step
        }
        let index = Int(cursor) - 1
        guard index < moreSteps.count else { return nil }
        let step = moreSteps[index]
        moreSteps[index] = { _, _ in .unchanged }
        cursor += 1
        return step
    }
}

/// The iterative runner: runs `start`, and every chain it hands a result to, without recursion.
///
/// A chain that resumes an outer chain (or fires a `chainDeferred` target) is suspended on a stack
/// while the other runs, then goes on with any steps added after the hand-over, as Twisted does.
func runChains(from start: any DeferredChain) {
    var current = start
    var suspended: [any DeferredChain] = []
    while true {
        switch current.advance() {
        case .push(let next):
            suspended.append(current)
            current = next
        case .done:
            guard let previous = suspended.popLast() else { return }
            current = previous
        }
    }
}
