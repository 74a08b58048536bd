/// An error travelling down a deferred's callback chain, with where it was created.
///
/// Every error that enters a chain — through `errback(_:)`, `Deferred.fail(_:)` or a callback that
/// throws — is wrapped in a `Failure`, so errbacks receive one type whatever went wrong. A `Failure`
/// is never wrapped in another one: throwing a `Failure` (as `trap(_:)` does when nothing matches)
/// passes it on unchanged, with its original origin.
///
/// ```swift
/// d.addErrback { failure in
///     try failure.trap(ConnectionRefusedError.self)   // anything else keeps failing
///     return fallbackPage
/// }
/// ```
///
/// Twisted: `twisted.python.failure.Failure`. Swift has no stack capture at runtime, so the
/// "traceback" is the source location where the failure was created.
public struct Failure: Error, CustomStringConvertible {
    /// The error this failure carries (never itself a `Failure`).
    public let value: any Error
    @usableFromInline let origin: SourceLocation

    /// The file (`#fileID`) where the failure was created: where `errback(_:)` or
    /// `Deferred.fail(_:)` was called, or where the callback that threw was added.
    public var file: String { origin.file }
    /// The line where the failure was created (see `file`).
    public var line: Int { origin.line }

    /// Wraps `error`; if it already is a `Failure`, that failure is returned unchanged.
    public init(_ error: any Error, file: StaticString = #fileID, line: UInt = #line) {
        if let failure = error as? Failure {
            self = failure
        } else {
            self.value = error
            self.origin = SourceLocation(file, line)
        }
    }

    @inlinable init(_ error: any Error, origin: SourceLocation) {
        if let failure = error as? Failure {
            self = failure
        } else {
            self.value = error
            self.origin = origin
        }
    }

    /// The first of `types` that `value` is an instance of, or `nil` when none matches.
    ///
    /// Twisted: `Failure.check`.
    public func check(_ types: any Error.Type...) -> (any Error.Type)? {
        types.first { Failure.matches(value, $0) }
    }

    /// The first of `types` that `value` is an instance of; when none matches, rethrows this failure.
    ///
    /// Use it in an errback to handle only the errors you expect and let the rest keep failing.
    /// - Throws: `self`, unchanged, when no type matches.
    ///
    /// Twisted: `Failure.trap`.
    @discardableResult
    public func trap(_ types: any Error.Type...) throws -> any Error.Type {
        if let match = types.first(where: { Failure.matches(value, $0) }) { return match }
        throw self
    }

    /// A one-line, human-readable message for `value`.
    ///
    /// Twisted: `Failure.getErrorMessage`.
    public func getErrorMessage() -> String {
        Failure.message(of: value)
    }

    /// The error's type, its message and where the failure was created, on three lines.
    ///
    /// Twisted: `Failure.getTraceback`.
    public func getTraceback() -> String {
        "Traceback (failure created at \(file):\(line)):\n\(type(of: value)): \(getErrorMessage())\n"
    }

    public var description: String {
        "[Failure instance: \(type(of: value)): \(getErrorMessage())]"
    }

    static func matches(_ value: any Error, _ type: any Error.Type) -> Bool {
        func isInstance<T: Error>(_: T.Type) -> Bool { value is T }
        return isInstance(type)
    }

    static func message(of error: any Error) -> String {
        if let described = error as? CustomStringConvertible { return described.description }
        return String(describing: error)
    }
}
