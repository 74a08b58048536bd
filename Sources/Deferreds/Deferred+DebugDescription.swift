// MARK: - debugDescription

extension Deferred: CustomDebugStringConvertible {
    /// The deferred's type, a number naming its chain, and where the chain is, as Twisted's `repr`:
    ///
    /// ```text
    /// <Deferred<Int> #12>                                              unfired, no steps
    /// <Deferred<Int> #12, 1 step pending>                              unfired, with a step
    /// <Deferred<Int> #12 waiting on Deferred<String> #13, 2 steps pending>
    /// <Deferred<Int> #12 current result: 42>
    /// <Deferred<Int> #12 failed: TimeoutError(Deferred timed out after 5.0 seconds)>
    /// ```
    ///
    /// ", paused" is added while `pause()` holds the chain. The number is given when a chain is first
    /// described (or created, with `setDebugging(true)`) and stays the same; handles of one chain
    /// share it. Describing a deferred does not change it otherwise.
    ///
    /// Twisted: `Deferred.__repr__` (`<Deferred at 0x… current result: …>`).
    public var debugDescription: String {
        let described = chain.describeChain()
        return "<Deferred<\(Value.self)> #\(described.id)\(described.detail)>"
    }

    /// The chain's debug number, and its state as `debugDescription` prints it after the number.
    @usableFromInline final func describeChain() -> (id: Int, detail: String) {
        var detail = ""
        var userPauses = Int(pauseCount)
        if let inner = waitingOn {
            userPauses -= 1
            detail = " waiting on Deferred<\(inner.tailType)> #\(inner.chainDebugID)"
        } else if phase == .succeeded {
            detail = " current result: \(String(reflecting: result))"
        } else if phase == .failed {
            detail = " failed: \(Deferred.describe(unbox(result, as: Failure.self).value))"
        }
        let steps = pendingStepCount
        if steps > 0 { detail += steps == 1 ? ", 1 step pending" : ", \(steps) steps pending" }
        if userPauses > 0 { detail += ", paused" }
        return (chainDebugID, detail)
    }

    @usableFromInline final var chainDebugID: Int { debugInfo.id }

    /// The steps not yet run (a hand-over to a chain waiting for this one counts as one).
    final var pendingStepCount: Int {
        var count = moreSteps.count - Int(cursor) + erasedSteps.count - Int(erasedCursor)
        if !flags.contains(.firstTaken), firstStep != nil { count += 1 }
        return count
    }

    /// An error as `TypeName(details)`: its description in parentheses, or Swift's own rendering.
    static func describe(_ error: any Error) -> String {
        let typeName = String(describing: type(of: error))
        if let described = error as? CustomStringConvertible { return "\(typeName)(\(described.description))" }
        let text = String(describing: error)
        if text.hasPrefix(typeName) { return text }  // a struct: TypeName(field: value)
        if text == String(reflecting: type(of: error)) { return typeName }  // a class: its qualified name
        return "\(typeName).\(text)"  // an enum case
    }
}
