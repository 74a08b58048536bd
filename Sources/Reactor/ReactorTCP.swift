import Deferreds

/// TCP: listening for connections and making them.
///
/// `listenTCP` gives each accepted connection a protocol from the factory; `connectTCP` starts an
/// outgoing attempt at once and tells the factory how it ends (`clientConnectionFailed`, or
/// `buildProtocol` and later `clientConnectionLost`), never from inside the call itself.
///
/// `EPollReactor` does it with sockets; `MemoryReactor` (in `ReactorTesting`) records the calls
/// and lets a test complete or fail each connection by hand.
///
/// Twisted: `twisted.internet.interfaces.IReactorTCP`.
public protocol ReactorTCP: AnyObject {
    /// What `listenTCP` returns: `ListeningPort` for `EPollReactor`.
    associatedtype TCPPort: ListeningPortProtocol

    /// Listens on `interface`:`port` (port 0 picks a free one).
    ///
    /// - Throws: `CannotListenError` when the port cannot be bound or listened on.
    func listenTCP(_ port: Int, _ factory: Factory, interface: String, backlog: Int) throws -> TCPPort

    /// Starts connecting to `host`:`port`, giving up after `timeout` seconds (0: never).
    @discardableResult
    func connectTCP(_ host: String, _ port: Int, _ factory: ClientFactory, timeout: Double) -> Connector
}

extension ReactorTCP {
    /// Listens on 127.0.0.1:`port`, with a backlog of 1,024.
    public func listenTCP(_ port: Int, _ factory: Factory) throws -> TCPPort {
        try listenTCP(port, factory, interface: "127.0.0.1", backlog: 1024)
    }

    /// Listens on `interface`:`port`, with a backlog of 1,024.
    public func listenTCP(_ port: Int, _ factory: Factory, interface: String) throws -> TCPPort {
        try listenTCP(port, factory, interface: interface, backlog: 1024)
    }

    /// Starts connecting to `host`:`port`, giving up after 30 seconds.
    @discardableResult
    public func connectTCP(_ host: String, _ port: Int, _ factory: ClientFactory) -> Connector {
        connectTCP(host, port, factory, timeout: 30)
    }
}

/// A port `listenTCP` opened: its address, and stopping it.
///
/// Twisted: `twisted.internet.interfaces.IListeningPort` (named with `Protocol`, like Swift's
/// `IteratorProtocol`, because `ListeningPort` is the socket class).
public protocol ListeningPortProtocol: AnyObject {
    /// The address the port listens on (with the port the system picked for port 0).
    func getHost() -> Address
    /// Whether the port still accepts connections.
    var listening: Bool { get }
    /// Stops accepting; connections already made go on.
    ///
    /// - Returns: a deferred that fires once the port is closed.
    @discardableResult
    func stopListening() -> Deferred<Void>
}

extension ListeningPort: ListeningPortProtocol {}
