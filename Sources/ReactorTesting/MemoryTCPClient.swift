import Deferreds
import Reactor

/// One `connectTCP` call a `MemoryReactor` recorded: where to, with which factory, and the means
/// to end the attempt as the test wants.
///
/// Twisted: an entry of `MemoryReactor.tcpClients` with its `_FakeConnector`; where a Twisted test
/// calls the factory itself, `complete(with:)` and `fail(_:)` do it in the order a real reactor
/// would.
public final class MemoryTCPClient {
    /// The connector `connectTCP` returned.
    public let connector: Connector
    /// The factory given to `connectTCP`.
    public let factory: ClientFactory

    init(connector: Connector, factory: ClientFactory) {
        self.connector = connector
        self.factory = factory
    }

    /// The host given to `connectTCP`.
    public var host: String { connector.host }
    /// The port given to `connectTCP`.
    public var port: Int { connector.port }
    /// The timeout given to `connectTCP`.
    public var timeout: Double { connector.timeout }

    /// Connects: the factory builds a protocol for `peer` (default: the host and port connected
    /// to), which gets `makeConnection(transport)`; `connectProtocol`'s deferred fires.
    ///
    /// - Returns: the protocol, or nil when the factory refused the connection or the attempt
    ///   was already over (failed, cancelled or completed).
    @discardableResult
    public func complete(with transport: any Transport, peer: Address? = nil) -> Protocol? {
        let family: Address.Family = host.contains(":") ? .ipv6 : .ipv4
        return connector.completeInMemory(transport, peer: peer ?? Address(family: family, host: host, port: port))
    }

    /// Fails the attempt with `error` (say `ConnectionRefusedError(host:port:)`): the factory hears
    /// `clientConnectionFailed`. Does nothing if the attempt is already over.
    public func fail(_ error: any Error) {
        connector.failInMemory(error)
    }

    /// Ends a completed connection for the factory: it hears `clientConnectionLost(reason)`. The
    /// protocol's own `connectionLost` is the test's to call, as with Twisted's `StringTransport`.
    public func lose(_ reason: Failure) {
        connector.loseInMemory(reason)
    }
}
