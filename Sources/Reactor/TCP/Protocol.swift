import Deferreds

/// The handler of one connection's events: subclass it and override what you need.
///
/// The reactor calls `makeConnection(_:)` when the connection is up (which sets `transport` and
/// calls `connectionMade()`), `dataReceived(_:)` for each chunk of bytes as it arrives (chunk
/// boundaries mean nothing), and `connectionLost(_:)` exactly once at the end — with
/// `ConnectionDone` after a clean close and `ConnectionLost` (or a more specific error) otherwise.
/// After `connectionLost`, `transport` is gone.
///
/// ```swift
/// final class Echo: Protocol {
///     override func dataReceived(_ bytes: [UInt8]) { transport?.write(bytes) }
/// }
/// ```
///
/// Twisted: `twisted.internet.protocol.Protocol`. The name is Twisted's; it compiles on Linux.
open class Protocol {
    /// The connection's transport, from `makeConnection` until `connectionLost`.
    public var transport: (any Transport)?

    /// A protocol not yet connected (`transport` is nil).
    public init() {}

    /// Sets `transport`, then calls `connectionMade()`.
    open func makeConnection(_ transport: any Transport) {
        self.transport = transport
        connectionMade()
    }

    /// The connection is up; `transport` is set.
    open func connectionMade() {}

    /// Some bytes arrived.
    open func dataReceived(_ bytes: [UInt8]) {}

    /// The connection is over. `reason` holds `ConnectionDone` after a clean close.
    open func connectionLost(_ reason: Failure) {}
}

/// A protocol that wants to hear about the two directions closing separately.
///
/// When the peer shuts down its side, a conforming protocol gets `readConnectionLost()` instead of
/// the connection being closed, and may go on writing; `transport.loseWriteConnection()` shuts
/// down our side. The connection ends (`connectionLost`) once both sides are shut.
///
/// Twisted: `twisted.internet.interfaces.IHalfCloseableProtocol`.
public protocol HalfCloseableProtocol: AnyObject {
    /// The peer will send nothing more.
    func readConnectionLost()
    /// Our side has been shut down after `loseWriteConnection()` (the buffer was flushed).
    func writeConnectionLost()
}

extension HalfCloseableProtocol {
    public func writeConnectionLost() {}
}
