/// The failure a cancelled deferred fires with when its canceller did not fire it.
///
/// Twisted: `twisted.internet.defer.CancelledError`.
public struct CancelledError: Error, Equatable, CustomStringConvertible {
    /// The error a cancellation leaves in a deferred.
    public init() {}
    public var description: String { "Deferred was cancelled" }
}

/// Firing a deferred that has already fired.
///
/// This is a programmer error: `callback(_:)` and `errback(_:)` trap with a message naming it rather
/// than throwing it. The type exists so the name in that message means something to Twisted users.
///
/// Twisted: `twisted.internet.defer.AlreadyCalledError`.
public struct AlreadyCalledError: Error, CustomStringConvertible {
    /// The error named in the trap message of a second fire.
    public init() {}
    public var description: String { "AlreadyCalledError: the deferred has already been fired" }
}

/// The failure of `gatherResults(_:)` and of a `DeferredList` with `fireOnOneErrback`: the first
/// input that failed, and its index in the input list.
///
/// Twisted: `twisted.internet.defer.FirstError`.
public struct FirstError: Error, CustomStringConvertible {
    /// The failure of the first input that failed.
    public let subFailure: Failure
    /// The position of that input in the list given to `gatherResults` or `DeferredList`.
    public let index: Int
    /// A `FirstError` for the input at `index`, which failed with `subFailure`.
    public init(subFailure: Failure, index: Int) {
        self.subFailure = subFailure
        self.index = index
    }
    public var description: String { "FirstError[#\(index), \(subFailure.getErrorMessage())]" }
}

/// The failure of `race(_:)` when every input failed: their failures, in input order.
///
/// Twisted: `twisted.internet.defer.FailureGroup`.
public struct FailureGroup: Error, CustomStringConvertible {
    /// Every input's failure, in input order.
    public let failures: [Failure]
    /// A group of `failures`, in input order.
    public init(failures: [Failure]) { self.failures = failures }
    public var description: String {
        "FailureGroup of \(failures.count): " + failures.map { $0.getErrorMessage() }.joined(separator: "; ")
    }
}

/// What `Deferred.addTimeout(_:clock:)` (in the Reactor module) fails with when time runs out.
///
/// Declared here, beside the other deferred errors, so that code which only handles deferreds can
/// trap it without importing the reactor.
///
/// Twisted: `twisted.internet.defer.TimeoutError`.
public struct TimeoutError: Error, Equatable, CustomStringConvertible {
    /// The timeout that expired, in seconds, when known.
    public let seconds: Double?
    /// A timeout of `seconds`, or of an unknown length when `seconds` is nil.
    public init(seconds: Double? = nil) { self.seconds = seconds }
    public var description: String {
        if let seconds { return "Deferred timed out after \(seconds) seconds" }
        return "Deferred timed out"
    }
}

/// `DeferredQueue.put(_:)` on a queue that already holds `size` items.
///
/// Twisted: `twisted.internet.defer.QueueOverflow`.
public struct QueueOverflow: Error, CustomStringConvertible {
    /// The error `put(_:)` throws on a full queue.
    public init() {}
    public var description: String { "QueueOverflow: the queue is full" }
}

/// `DeferredQueue.get()` when `backlog` getters are already waiting.
///
/// Twisted: `twisted.internet.defer.QueueUnderflow`.
public struct QueueUnderflow: Error, CustomStringConvertible {
    /// The error `get()` throws when the backlog of getters is full.
    public init() {}
    public var description: String { "QueueUnderflow: too many getters are already waiting" }
}
