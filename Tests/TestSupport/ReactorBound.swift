/// Carries a reactor-bound value into a `@Sendable` closure, for tests that hand it to another
/// thread on purpose.
///
/// @unchecked: the test promises the value is used on one thread at a time, and that its last
/// release does not race its reactor (the tests join their threads or close the reactor first).
public struct ReactorBound<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}
