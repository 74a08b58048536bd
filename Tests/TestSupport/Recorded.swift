import Deferreds

/// The outcome a chain reached, captured by a final `addBoth` step.
///
/// Being a step, it handles a failure: use it as the last step of the chain it watches.
public final class Recorded<V> {
    public private(set) var result: Result<V, Failure>?
    /// How many times the step ran (a chain runs each step at most once).
    public private(set) var calls = 0

    public init(_ d: Deferred<V>) {
        _ = d.addBoth { (r: Result<V, Failure>) -> Void in
            self.result = r
            self.calls += 1
        }
    }

    public var fired: Bool { result != nil }

    public var value: V? {
        if case .success(let v)? = result { return v }
        return nil
    }

    public var failure: Failure? {
        if case .failure(let f)? = result { return f }
        return nil
    }

    /// The failure's error when it is an `E`.
    public func error<E: Error>(_: E.Type) -> E? { failure?.value as? E }
}
