#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The parts of a chain's state: its steps as stored, and what a step did.

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

/// A chain's result, its extras and its current result type, stored in its root
/// (`Deferred.state`) as one struct so that one unchecked stored property covers them (the safety
/// budget is stated at `Deferred.state`). Not generic: a field of a generic struct type (one
/// holding the steps, say) makes the deinit of every `Deferred` look up that struct's metadata to
/// destroy it (create_fire: 972 instructions per operation against 618, by callgrind), so the
/// steps, whose types depend on `Value`, stay stored properties of their own.
@usableFromInline struct ChainState {
    @usableFromInline var result: Any = ()
    @usableFromInline var extras: ChainExtras?
    /// The chain's current result type when it is no longer `Value`.
    @usableFromInline var laterType: Any.Type?

    @inlinable init() {}
}

/// Where a chain is: its phase, flags, pause count and the runner's cursors, stored in its root
/// (`Deferred.status`). A struct of its own, without references, so that its 4-byte alignment
/// lets it fill the bytes after `firstStep`'s tag: the root stays within 120 bytes (one 128-byte
/// allocation; `ChainState` with these fields made it 128, a 144-byte allocation).
@usableFromInline struct ChainStatus {
    @usableFromInline var pauseCount: UInt16 = 0
    @usableFromInline var phase: Phase = .pending
    @usableFromInline var flags: Flags = []
    /// The next step of `moreSteps` to run.
    @usableFromInline var cursor: Int32 = 0
    /// The next step of `erasedSteps` to run.
    @usableFromInline var erasedCursor: Int32 = 0

    @inlinable init() {}
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
    /// One of this chain's steps is executing, or the runner is between two of them (or suspended
    /// on a `chainDeferred` target, which runs inside this chain's step as in Twisted). A step
    /// added now waits for the runner. Twisted: `_runningCallbacks`.
    @inlinable static var running: Flags { Flags(rawValue: 1) }
    /// The chain has handed its result to an outer chain that waited for it, and that chain runs
    /// now; this one goes on with its remaining steps afterwards. Not `running`: a step added
    /// meanwhile (say, by the outer chain's callback) runs at once, after any steps still stored,
    /// as in Twisted, where `_runningCallbacks` is set only while one of the deferred's own
    /// callbacks executes.
    @inlinable static var suspended: Flags { Flags(rawValue: 64) }
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
///
/// Safety budget: this manual memory management is kept because it pays. With an `Array` of steps
/// instead (each taken out by a swap), callgrind counted 228 instructions per operation on the
/// `many_callbacks` row of `make bench-deferred` against 121 (+88 %), and 646 against 618 on
/// `create_fire` (+4.5 %).
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
        let newCapacity = max(2, capacity * 2)
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
    @usableFromInline var canceller: ((AnyObject) -> Void)?
    /// Where the chain was created and first fired (with debugging on), and its id once described.
    @usableFromInline var debug: DebugInfo?
    #if DEBUG
    /// Debug builds: the owner whose thread must fire the chain (`setThreadAffinity(_:_:)`).
    @usableFromInline var affinity: ThreadAffinity?
    #endif
}
