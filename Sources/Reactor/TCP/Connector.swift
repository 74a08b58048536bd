import CLinux
import Deferreds
import Dispatch
import Glibc

/// An outgoing TCP connection attempt, and then the connection it made.
///
/// `connectTCP` starts it at once: the host is resolved (off the reactor's thread unless it is a
/// numeric address), each address is tried in turn with a non-blocking connect, and within
/// `timeout` seconds the factory hears either `clientConnectionFailed` — with
/// `ConnectionRefusedError`, `ConnectTimeoutError`, `DNSLookupError`, `ConnectingCancelledError`
/// or `ConnectError` — or, once connected, gets `buildProtocol` and later `clientConnectionLost`.
///
/// Twisted: `twisted.internet.tcp.Connector` (`IConnector`).
public final class Connector {
    enum State {
        case resolving, connecting, connected, failed, disconnected
    }

    /// Nil only for a connector a `MemoryReactor` records, which never touches it.
    let reactor: EPollReactor!
    let factory: ClientFactory
    /// The host to connect to, as given to `connectTCP` (a name or a numeric address).
    public let host: String
    /// The port to connect to.
    public let port: Int
    /// Seconds allowed for the whole attempt, name lookup included, before it fails with
    /// `ConnectTimeoutError`; 0 for no limit.
    public let timeout: Double
    private(set) var state = State.resolving
    private var attempt: ConnectAttempt?
    private var timer: DelayedCall?
    private var candidates: [SocketAddress] = []
    /// The address being tried.
    private var current: SocketAddress?
    private var lastError: (any Error)?
    private var connection: TCPConnection?
    /// The transport a test connected a `MemoryReactor`'s connector with.
    private var memoryTransport: (any Transport)?
    /// Called with the protocol after its `makeConnection` (used by `connectProtocol`).
    var onConnected: ((Protocol) -> Void)?

    init(reactor: EPollReactor, host: String, port: Int, factory: ClientFactory, timeout: Double) {
        self.reactor = reactor
        self.host = host
        self.port = port
        self.factory = factory
        self.timeout = timeout
    }

    /// A connector that makes no connection by itself: `MemoryReactor` records it and the test
    /// completes or fails it (`completeInMemory`, `failInMemory`).
    package init(memoryHost host: String, port: Int, factory: ClientFactory, timeout: Double) {
        self.reactor = nil
        self.host = host
        self.port = port
        self.factory = factory
        self.timeout = timeout
    }

    /// The transport of the connection, once connected.
    public var transport: (any Transport)? { connection ?? memoryTransport }

    /// Where the connector connects to.
    public func getDestination() -> (host: String, port: Int) { (host, port) }

    func start() {
        factory.startFactory()
        factory.startedConnecting(self)
        if timeout > 0 {
            timer = reactor.callLater(timeout) { [self] in
                timer = nil
                fail(ConnectTimeoutError(host: host, port: port, seconds: timeout))
            }
        }
        guard (0...65535).contains(port) else {
            fail(ConnectError(host: host, port: port, errno: EINVAL))
            return
        }
        if let numeric = SocketAddress(numericHost: host, port: port) {
            candidates = [numeric]
            state = .connecting
            tryNext()
        } else {
            resolve()
        }
    }

    /// Gives up a connection attempt still in progress (`ConnectingCancelledError`).
    public func stopConnecting() {
        guard state == .resolving || state == .connecting else { return }
        fail(ConnectingCancelledError(host: host, port: port))
    }

    /// Stops connecting, or closes the connection if it is made.
    public func disconnect() {
        if state == .connected {
            transport?.loseConnection()
        } else {
            stopConnecting()
        }
    }

    // MARK: - Resolving

    /// Looks the name up on a worker thread. The worker carries no reference to the connector
    /// (or to anything it holds): the reactor keeps it meanwhile, so that it is released on the
    /// reactor's thread whatever happens first, the answer or the reactor's `close()`.
    private func resolve() {
        let host = self.host
        let port = self.port
        let queue = reactor.threadQueue
        let id = reactor.attachment(PendingLookups.self) { PendingLookups() }.add(self)
        let reactorAddress = UInt(bitPattern: Unmanaged.passUnretained(reactor).toOpaque())
        DispatchQueue.global().async {
            let result = Connector.lookUp(host: host, port: port)
            queue.callFromThread {
                // Run by the reactor's own loop (a closed reactor drops it), so the reactor is alive.
                let reactor = Unmanaged<EPollReactor>.fromOpaque(UnsafeRawPointer(bitPattern: reactorAddress)!)
                    .takeUnretainedValue()
                reactor.attachment(PendingLookups.self) { PendingLookups() }.take(id)?.resolved(result)
            }
        }
    }

    /// getaddrinfo, on a worker thread: socket address bytes, or the error message.
    private static func lookUp(host: String, port: Int) -> Result<[[UInt8]], DNSLookupError> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            return .failure(DNSLookupError(host: host, message: String(cString: gai_strerror(status))))
        }
        defer { freeaddrinfo(list) }
        var addresses: [[UInt8]] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let current = node {
            if let address = current.pointee.ai_addr {
                addresses.append(Array(UnsafeRawBufferPointer(start: address, count: Int(current.pointee.ai_addrlen))))
            }
            node = current.pointee.ai_next
        }
        return addresses.isEmpty
            ? .failure(DNSLookupError(host: host, message: "no addresses")) : .success(addresses)
    }

    private func resolved(_ result: Result<[[UInt8]], DNSLookupError>) {
        guard state == .resolving else { return }
        switch result {
        case .success(let addresses):
            candidates = addresses.map { SocketAddress(bytes: $0) }
            state = .connecting
            tryNext()
        case .failure(let error):
            fail(error)
        }
    }

    // MARK: - Connecting

    private func tryNext() {
        guard state == .connecting else { return }
        guard !candidates.isEmpty else {
            fail(lastError ?? ConnectError(host: host, port: port, errno: EHOSTUNREACH))
            return
        }
        let address = candidates.removeFirst()
        current = address
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            lastError = ConnectError(host: host, port: port, errno: errno)
            tryNext()
            return
        }
        let result = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        // A connect that completes at once is still reported from the loop, as a writable socket:
        // never from inside connectTCP, before its caller holds the connector.
        if result == 0 || errno == EINPROGRESS {
            let attempt = ConnectAttempt(fd: fd) { [unowned self] error in
                self.attemptEnded(fd, error: error)
            }
            self.attempt = attempt
            reactor.addWriter(attempt)
        } else {
            lastError = error(for: errno)
            Glibc.close(fd)
            tryNext()
        }
    }

    private func attemptEnded(_ fd: Int32, error code: Int32) {
        if let attempt { reactor.removeWriter(attempt) }
        attempt = nil
        if code == 0 {
            connected(fd)
        } else {
            lastError = error(for: code)
            Glibc.close(fd)
            tryNext()
        }
    }

    private func error(for code: Int32) -> any Error {
        code == ECONNREFUSED
            ? ConnectionRefusedError(host: host, port: port) : ConnectError(host: host, port: port, errno: code)
    }

    private func connected(_ fd: Int32) {
        timer?.cancel()
        timer = nil
        let peer = (current ?? SocketAddress.peer(of: fd)).address
        let connection = TCPConnection(reactor: reactor, fileDescriptor: fd, peer: peer)
        guard let handler = factory.buildProtocol(peer) else {
            Glibc.close(fd)
            state = .disconnected
            factory.stopFactory()
            return
        }
        state = .connected
        self.connection = connection
        connection.onClose = { [self] reason in
            state = .disconnected
            self.connection = nil
            factory.clientConnectionLost(self, reason)
            factory.stopFactory()
        }
        connection.start(with: handler)
        let onConnected = self.onConnected
        self.onConnected = nil
        onConnected?(handler)
    }

    private func fail(_ error: any Error) {
        guard state == .resolving || state == .connecting else { return }
        state = .failed
        timer?.cancel()
        timer = nil
        if let attempt {
            reactor.removeWriter(attempt)
            Glibc.close(attempt.fileDescriptor)
            self.attempt = nil
        }
        onConnected = nil
        factory.clientConnectionFailed(self, Failure(error))
        factory.stopFactory()
    }
}

// MARK: - In memory, for MemoryReactor

extension Connector {
    /// Starts a memory connector: the factory hears `startFactory` and `startedConnecting`.
    package func startInMemory() {
        state = .connecting
        factory.startFactory()
        factory.startedConnecting(self)
    }

    /// Connects a memory connector over `transport`: the factory builds a protocol for `peer`,
    /// which gets `makeConnection(transport)`. Returns the protocol, or nil when the factory
    /// refused (or the attempt is over already).
    package func completeInMemory(_ transport: any Transport, peer: Address) -> Protocol? {
        guard state == .resolving || state == .connecting else { return nil }
        guard let handler = factory.buildProtocol(peer) else {
            state = .disconnected
            factory.stopFactory()
            return nil
        }
        state = .connected
        memoryTransport = transport
        handler.makeConnection(transport)
        let onConnected = self.onConnected
        self.onConnected = nil
        onConnected?(handler)
        return handler
    }

    /// Fails a memory connector's attempt: the factory hears `clientConnectionFailed(error)`.
    package func failInMemory(_ error: any Error) {
        fail(error)
    }

    /// Ends a memory connector's connection: the factory hears `clientConnectionLost(reason)`.
    package func loseInMemory(_ reason: Failure) {
        guard state == .connected else { return }
        state = .disconnected
        memoryTransport = nil
        factory.clientConnectionLost(self, reason)
        factory.stopFactory()
    }
}

/// A socket whose non-blocking connect is in progress; writable means it finished.
private final class ConnectAttempt: WriteDescriptor {
    let fileDescriptor: Int32
    private let done: (Int32) -> Void

    init(fd: Int32, done: @escaping (Int32) -> Void) {
        self.fileDescriptor = fd
        self.done = done
    }

    func doWrite() {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fileDescriptor, SOL_SOCKET, SO_ERROR, &code, &length) != 0 { code = errno }
        done(code)
    }

    func connectionLost(_ reason: Failure) {
        done(ECONNABORTED)
    }
}

/// The connectors of a reactor waiting for a name lookup, by lookup number (a reactor attachment,
/// released by its `close()`).
private final class PendingLookups {
    private var connectors: [Int: Connector] = [:]
    private var lastID = 0

    func add(_ connector: Connector) -> Int {
        lastID += 1
        connectors[lastID] = connector
        return lastID
    }

    func take(_ id: Int) -> Connector? {
        connectors.removeValue(forKey: id)
    }
}

extension EPollReactor {
    /// Starts connecting to `host`:`port`; the factory hears how it ends.
    ///
    /// Twisted: `IReactorTCP.connectTCP`.
    @discardableResult
    public func connectTCP(_ host: String, _ port: Int, _ factory: ClientFactory, timeout: Double = 30)
        -> Connector
    {
        assertInLoop()
        let connector = Connector(reactor: self, host: host, port: port, factory: factory, timeout: timeout)
        connector.start()
        return connector
    }
}

/// Connects `protocol` to `host`:`port`.
///
/// - Returns: a deferred that fires with `protocol` once it is connected (after its
///   `connectionMade`), or fails with the connection error. Cancelling it while connecting stops
///   the attempt (`ConnectingCancelledError`).
///
/// Twisted: `twisted.internet.endpoints.connectProtocol` with a TCP client endpoint.
public func connectProtocol<P: Protocol>(
    _ reactor: any ReactorTCP, host: String, port: Int, _ protocol: P, timeout: Double = 30
) -> Deferred<P> {
    let factory = OneShotFactory<P>(`protocol`)
    var connector: Connector?
    let result = Deferred<P> { _ in connector?.stopConnecting() }
    factory.result = result
    connector = reactor.connectTCP(host, port, factory, timeout: timeout)
    if factory.result != nil {
        connector?.onConnected = { _ in
            let result = factory.result
            factory.result = nil
            connector = nil
            result?.callback(`protocol`)
        }
    }
    return result
}

/// The factory behind `connectProtocol`: one protocol, one deferred.
private final class OneShotFactory<P: Protocol>: ClientFactory {
    let handler: P
    var result: Deferred<P>?

    init(_ handler: P) {
        self.handler = handler
        super.init()
    }

    override func buildProtocol(_ address: Address) -> Protocol? { handler }

    override func clientConnectionFailed(_ connector: Connector, _ reason: Failure) {
        let result = self.result
        self.result = nil
        result?.errback(reason)
    }
}
