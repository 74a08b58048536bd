/// A deferred that fires once every deferred in a list has fired, with all their outcomes in order.
///
/// Its result is one `Result` per input, in input order, whether each succeeded or failed. With
/// `fireOnOneErrback`, it fails with `FirstError` (the failure and its index) as soon as one input
/// fails. Cancelling the list cancels every input. An empty list fires at once with `[]`.
///
/// The inputs stay usable: the list only observes them, so steps added to them afterwards see the
/// same result. With `consumeErrors`, their failures count as handled (no "Unhandled error in
/// Deferred" report for them); steps added later still receive the failure.
///
/// ```swift
/// _ = DeferredList(pages).addCallback { results in
///     for case .failure(let f) in results { print(f.getErrorMessage()) }
/// }
/// ```
///
/// Twisted: `twisted.internet.defer.DeferredList`. `fireOnOneCallback` would change the result's type,
/// so it is `race(_:)` here; `consumeErrors` keeps the failure in the input instead of replacing it
/// with `None`.
///
/// Safety budget: the results gathered so far and the count still awaited live in one stored struct,
/// `tally`, which skips the runtime's exclusivity checks because it pays: with the dynamic checks,
/// callgrind counted 2856 instructions per operation on the `deferred_list` row of
/// `make bench-deferred` against 2718 (+5.1 %). No access to it spans a call out.
public final class DeferredList<V>: Deferred<[Result<V, Failure>]> {
    /// Whether the list fails with `FirstError` at the first input that fails, instead of waiting
    /// for every input.
    public let fireOnOneErrback: Bool
    /// Whether the inputs' failures count as handled, so that they are not reported as
    /// "Unhandled error in Deferred"; the inputs keep their failures.
    public let consumeErrors: Bool
    @usableFromInline @exclusivity(unchecked) var tally: Tally

    /// The inputs' outcomes so far (by index) and how many inputs have not fired yet.
    @usableFromInline struct Tally {
        @usableFromInline var results: [Result<V, Failure>?]
        @usableFromInline var remaining: Int

        @inlinable init(count: Int) {
            results = Array(repeating: nil, count: count)
            remaining = count
        }
    }

    /// Observes `deferreds`; the list fires once every one has fired (or at the first failure, with
    /// `fireOnOneErrback`).
    ///
    /// - Parameters:
    ///   - deferreds: the deferreds to wait for; they stay usable, and steps added to them later see
    ///     the same results.
    ///   - fireOnOneErrback: fail with `FirstError` as soon as one input fails.
    ///   - consumeErrors: mark the inputs' failures handled.
    @inlinable
    public init(_ deferreds: [Deferred<V>], fireOnOneErrback: Bool = false, consumeErrors: Bool = false) {
        self.fireOnOneErrback = fireOnOneErrback
        self.consumeErrors = consumeErrors
        self.tally = Tally(count: deferreds.count)
        super.init(canceller: { _ in
            for d in deferreds { d.cancel() }
        })
        if deferreds.isEmpty {
            callback([])
            return
        }
        for (index, d) in deferreds.enumerated() {
            d.observe(consumingFailure: consumeErrors) { outcome in
                self.record(outcome, at: index)
            }
        }
    }

    @inlinable
    final func record(_ outcome: Result<V, Failure>, at index: Int) {
        guard !called else { return }
        if fireOnOneErrback, case .failure(let failure) = outcome {
            tally.results = []
            errback(FirstError(subFailure: failure, index: index))
            return
        }
        tally.results[index] = outcome
        tally.remaining -= 1
        if tally.remaining == 0 {
            let all = tally.results.map { $0! }
            tally.results = []
            callback(all)
        }
    }
}
