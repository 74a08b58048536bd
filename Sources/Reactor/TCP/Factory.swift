import Deferreds

/// Makes a `Protocol` for each connection a listening port accepts.
///
/// Override `buildProtocol(_:)`, or use `Factory.forProtocol { MyProtocol() }`. Returning `nil`
/// refuses the connection (it is closed at once).
///
/// Twisted: `twisted.internet.protocol.Factory`.
open class Factory {
    private let make: ((Address) -> Protocol?)?

    /// A factory for subclasses that override `buildProtocol(_:)`.
    public init() {
        make = nil
    }

    /// A factory that calls `make` for every connection.
    public init(_ make: @escaping (Address) -> Protocol?) {
        self.make = make
    }

    /// A factory building a new protocol with `make()` for every connection.
    public static func forProtocol(_ make: @escaping () -> Protocol) -> Factory {
        Factory { _ in make() }
    }

    /// A new protocol for a connection from (or to) `address`, or nil to refuse it.
    open func buildProtocol(_ address: Address) -> Protocol? {
        make?(address)
    }

    /// Called when the factory starts being used by a port or connector.
    open func startFactory() {}

    /// Called when it stops being used.
    open func stopFactory() {}
}

/// A factory for outgoing connections, told how each attempt ends.
///
/// Twisted: `twisted.internet.protocol.ClientFactory`.
open class ClientFactory: Factory {
    /// The connector has started connecting.
    open func startedConnecting(_ connector: Connector) {}

    /// The connection could not be made (refused, timed out, name not found, cancelled).
    open func clientConnectionFailed(_ connector: Connector, _ reason: Failure) {}

    /// A connection that was made has ended.
    open func clientConnectionLost(_ connector: Connector, _ reason: Failure) {}
}
