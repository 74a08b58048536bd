import Deferreds
import Reactor

/// One `listenTCP` call a `MemoryReactor` recorded: the port, its factory, and `accept(_:)` to
/// hand it a connection.
///
/// Twisted: an entry of `MemoryReactor.tcpServers` with its `_FakePort`.
public final class MemoryListeningPort: ListeningPortProtocol {
    /// The factory given to `listenTCP`.
    public let factory: Factory
    /// The backlog given to `listenTCP`.
    public let backlog: Int
    private let address: Address
    public private(set) var listening = true

    init(factory: Factory, address: Address, backlog: Int) {
        self.factory = factory
        self.address = address
        self.backlog = backlog
    }

    /// The interface and port listened on (a made-up port number for port 0).
    public func getHost() -> Address { address }

    /// Stops accepting: the factory hears `stopFactory()`; the deferred has fired already.
    @discardableResult
    public func stopListening() -> Deferred<Void> {
        if listening {
            listening = false
            factory.stopFactory()
        }
        return Deferred.succeed(())
    }

    /// Accepts a connection from `peer` over `transport`: the factory builds a protocol, which
    /// gets `makeConnection(transport)`.
    ///
    /// - Returns: the protocol, or nil when the factory refused the connection or the port has
    ///   stopped listening.
    @discardableResult
    public func accept(
        _ transport: any Transport, peer: Address = Address(family: .ipv4, host: "192.0.2.1", port: 54321)
    ) -> Protocol? {
        guard listening, let handler = factory.buildProtocol(peer) else { return nil }
        handler.makeConnection(transport)
        return handler
    }
}
