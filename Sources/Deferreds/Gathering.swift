/// A deferred that has already fired with `value`. Twisted: `defer.succeed`.
@inlinable public func succeed<V>(_ value: V) -> Deferred<V> {
    Deferred.succeed(value)
}

/// A deferred that has already failed with `error`. Twisted: `defer.fail`.
public func fail<V>(_ error: any Error, file: StaticString = #fileID, line: UInt = #line) -> Deferred<V> {
    Deferred.fail(error, file: file, line: line)
}

/// Calls `f` now and returns its result as a fired deferred, or its thrown error as a failed one.
///
/// Twisted: `defer.maybeDeferred`.
@inlinable @_disfavoredOverload public func maybeDeferred<V>(
    file: StaticString = #fileID, line: UInt = #line, _ f: () throws -> V
) -> Deferred<V> {
    do { return Deferred.succeed(try f()) } catch { return Deferred.fail(error, file: file, line: line) }
}

/// Calls `f` now and returns the deferred it returns, or a failed one if it throws.
@inlinable public func maybeDeferred<V>(
    file: StaticString = #fileID, line: UInt = #line, _ f: () throws -> Deferred<V>
) -> Deferred<V> {
    do { return try f() } catch { return Deferred.fail(error, file: file, line: line) }
}

/// The values of every deferred in the list, in order, once all have succeeded.
///
/// Fails with `FirstError` (the failure and its index) as soon as one fails. Cancelling the result
/// cancels every input. With `consumeErrors`, the inputs' failures count as handled.
///
/// Twisted: `defer.gatherResults`.
@inlinable public func gatherResults<V>(_ deferreds: [Deferred<V>], consumeErrors: Bool = false) -> Deferred<[V]> {
    DeferredList(deferreds, fireOnOneErrback: true, consumeErrors: consumeErrors).addCallback { results in
        try results.map { try $0.get() }
    }
}

/// The first deferred to succeed, as its index and value; the others are then cancelled.
///
/// Fails with `FailureGroup` (every failure, in input order) when all fail, or at once when the list
/// is empty. Cancelling the result cancels every input. The inputs' failures count as handled.
///
/// Twisted: `defer.race`.
@inlinable public func race<V>(_ deferreds: [Deferred<V>]) -> Deferred<(index: Int, value: V)> {
    let winner = Deferred<(index: Int, value: V)>(canceller: { _ in
        for d in deferreds { d.cancel() }
    })
    guard !deferreds.isEmpty else {
        winner.errback(FailureGroup(failures: []))
        return winner
    }
    let tally = RaceTally(deferreds.count)
    for (index, d) in deferreds.enumerated() {
        d.observe(consumingFailure: true) { outcome in
            guard !winner.called else { return }
            switch outcome {
            case .success(let value):
                winner.callback((index, value))
                for (other, loser) in deferreds.enumerated() where other != index { loser.cancel() }
            case .failure(let failure):
                tally.failures[index] = failure
                tally.remaining -= 1
                if tally.remaining == 0 { winner.errback(FailureGroup(failures: tally.failures.map { $0! })) }
            }
        }
    }
    return winner
}

/// `race`'s count of failed inputs.
@usableFromInline final class RaceTally {
    @usableFromInline var failures: [Failure?]
    @usableFromInline var remaining: Int
    @inlinable init(_ count: Int) {
        failures = Array(repeating: nil, count: count)
        remaining = count
    }
}
