import Synchronization

/// Turns deferred debugging on or off (off by default).
///
/// While it is on, each `Deferred` created records where (`#fileID` and line of the `Deferred()`,
/// `Deferred.succeed` or `Deferred.fail` call), and where it was first fired (`callback`/`errback`).
/// Both are then printed when that deferred is fired a second time (the `AlreadyCalledError` trap)
/// and added to its "Unhandled error in Deferred" report. Turn it on at start-up: deferreds created
/// while it was off record nothing. Off, it costs one relaxed atomic load per deferred created.
///
/// ```swift
/// setDebugging(true)
/// let d = Deferred<Int>()      // recorded: created here
/// d.callback(1)                // recorded: first fired here
/// d.callback(2)                // traps, naming both places
/// ```
///
/// Twisted: `twisted.internet.defer.setDebugging`. Differences: a source location for each event,
/// not a stack.
public func setDebugging(_ on: Bool) {
    deferredDebugging.store(on, ordering: .relaxed)
}

/// Whether deferred debugging is on (see `setDebugging(_:)`).
///
/// Twisted: `twisted.internet.defer.getDebugging`.
public func getDebugging() -> Bool {
    deferredDebugging.load(ordering: .relaxed)
}

/// `setDebugging`'s switch; read by every `Deferred.init`.
@usableFromInline let deferredDebugging = Atomic<Bool>(false)

/// The source of `DebugInfo.id`s: a deferred gets the next one when it is first described or,
/// with debugging on, when it is created.
private let nextDebugID = Atomic<Int>(1)

/// What debugging knows about one deferred (kept in its `ChainExtras`).
///
/// Twisted: `twisted.internet.defer.DebugInfo` (`creator`, `invoker`).
@usableFromInline final class DebugInfo {
    /// A small number naming the deferred in `debugDescription`, unique in the process.
    let id: Int
    /// Where the deferred was created, when debugging was on then.
    var created: SourceLocation?
    /// Where it was first fired, when it was created with debugging on.
    var firstFired: SourceLocation?

    init() {
        id = nextDebugID.add(1, ordering: .relaxed).oldValue
    }

    /// The creation and first-fire lines, in Twisted's " C:" / " I:" form; empty without either.
    var trail: String {
        var lines: [String] = []
        if let created { lines.append(" C: Deferred was created at \(created.file):\(created.line)") }
        if let firstFired { lines.append(" I: First Invoker was at \(firstFired.file):\(firstFired.line)") }
        return lines.joined(separator: "\n")
    }
}

extension Deferred {
    /// Records where this (root) deferred is being created: out of line, as debugging is rare.
    @usableFromInline @inline(never) final func recordCreation(_ file: StaticString, _ line: UInt) {
        let debug = DebugInfo()
        debug.created = SourceLocation(file, line)
        ensureExtras().debug = debug
    }

    /// The chain's debug record, made (with a fresh id) if it has none.
    final var debugInfo: DebugInfo {
        let extras = ensureExtras()
        if let debug = extras.debug { return debug }
        let debug = DebugInfo()
        extras.debug = debug
        return debug
    }

    /// The trap message for a second fire at `location`, with the debug trail when there is one.
    @usableFromInline @inline(never) final func alreadyCalledMessage(firedAgainAt location: SourceLocation) -> String {
        var message = "AlreadyCalledError: this Deferred has already fired; fire a deferred only once"
            + " (fired again at \(location.file):\(location.line))"
        if let trail = extras?.debug?.trail, !trail.isEmpty { message += "\n" + trail }
        return message
    }
}
