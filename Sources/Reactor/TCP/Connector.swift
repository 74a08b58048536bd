import CLinux
import Deferreds
import Glibc

/// An outgoing TCP connection attempt, and then the connection it made.
///
/// `connectTCP` starts it at once: the host is resolved by the reactor's `nameResolver` (unless
/// it is a numeric address), then its addresses are raced as RFC 8305 ("Happy Eyeballs") says:
/// IPv6 and IPv4 alternate, starting with IPv6; each attempt is a non-blocking connect, and the
/// next one starts when the last has failed or `attemptDelay` seconds (on `clock`) after it
/// began, whichever comes first. The first to connect wins and the others are closed. Within
/// `timeout` seconds the factory hears either `clientConnectionFailed` — with
/// `ConnectionRefusedError`, `ConnectTimeoutError`, `DNSLookupError`, `ConnectingCancelledError`
/// or `ConnectError` (the last attempt's error when all failed) — or, once connected, gets
/// `buildProtocol` and later `clientConnectionLost`. Nothing is reported before `connectTCP`
/// returns.
///
/// Twisted: `twisted.internet.tcp.Connector` (`IConnector`), racing addresses as
/// `twisted.internet.endpoints.HostnameEndpoint` does.
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
    /// nil: the reactor's `nameResolver`, fetched only when a name is to be looked up (a numeric
    /// host never makes the reactor start its resolver).
    private let resolver: (any NameResolver)?
    private let clock: any ReactorTime
    private let attemptDelay: Double
    private(set) var state = State.resolving
    /// The connects in progress, oldest first.
    private var attempts: [ConnectAttempt] = []
    private var timer: DelayedCall?
    /// Starts the next attempt when the last one has not connected in `attemptDelay`.
    private var nextAttemptTimer: DelayedCall?
    private var lookup: Deferred<HostResolution>?
    /// Set while `start()` runs: a resolver that answers at once is heard from the loop.
    private var starting = false
    private var candidates: [SocketAddress] = []
    private var lastError: (any Error)?
    private var connection: TCPConnection?
    /// The transport a test connected a `MemoryReactor`'s connector with.
    private var memoryTransport: (any Transport)?
    /// Called with the protocol after its `makeConnection` (used by `connectProtocol`).
    var onConnected: ((Protocol) -> Void)?

    init(reactor: EPollReactor, host: String, port: Int, factory: ClientFactory, timeout: Double,
         resolver: (any NameResolver)? = nil, clock: (any ReactorTime)? = nil, attemptDelay: Double = 0.25)
    {
        self.reactor = reactor
        self.host = host
        self.port = port
        self.factory = factory
        self.timeout = timeout
        self.resolver = resolver
        self.clock = clock ?? reactor
        self.attemptDelay = attemptDelay
    }

    /// The number of connects in progress (for tests).
    var attemptsInProgress: Int { attempts.count }

    /// A connector that makes no connection by itself: `MemoryReactor` records it and the test
    /// completes or fails it (`completeInMemory`, `failInMemory`).
    package init(memoryHost host: String, port: Int, factory: ClientFactory, timeout: Double) {
        self.reactor = nil
        self.host = host
        self.port = port
        self.factory = factory
        self.timeout = timeout
        self.resolver = nil
        // Never read: a memory connector makes no attempts of its own.
        self.clock = Clock()
        self.attemptDelay = 0
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
            startNextAttempt()
        } else {
            starting = true
            resolve()
            starting = false
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

    private func resolve() {
        let lookup = (resolver ?? reactor.nameResolver).resolveHostName(host)
        self.lookup = lookup
        _ = lookup.addBoth { [self] outcome in resolved(outcome.mapError { DNSLookupError(host, $0) }) }
    }

    private func resolved(_ result: Result<HostResolution, DNSLookupError>) {
        guard state == .resolving else { return }
        if starting {
            reactor.callLater(0) { [self] in resolved(result) }
            return
        }
        lookup = nil
        switch result {
        case .success(let resolution):
            candidates = Connector.interleaved(resolution.addresses).compactMap {
                SocketAddress(numericHost: $0.host, port: port)
            }
            state = .connecting
            startNextAttempt()
        case .failure(let error):
            fail(error)
        }
    }

    /// The order of attempts (RFC 8305, section 4): the families alternate, IPv6 first.
    static func interleaved(_ addresses: [Address]) -> [Address] {
        let v6 = addresses.filter { $0.family == .ipv6 }
        let v4 = addresses.filter { $0.family == .ipv4 }
        var result: [Address] = []
        result.reserveCapacity(addresses.count)
        for index in 0..<max(v6.count, v4.count) {
            if index < v6.count { result.append(v6[index]) }
            if index < v4.count { result.append(v4[index]) }
        }
        return result
    }

    // MARK: - Connecting

    /// Starts connecting to the next candidate (skipping those whose connect fails at once); fails
    /// the connector when none is left and no attempt is in progress.
    private func startNextAttempt() {
        nextAttemptTimer?.cancel()
        nextAttemptTimer = nil
        while state == .connecting, !candidates.isEmpty {
            let address = candidates.removeFirst()
            let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                lastError = ConnectError(host: host, port: port, errno: errno)
                continue
            }
            let result = address.withSockaddr { Glibc.connect(fd, $0, $1) }
            // A connect that completes at once is still reported from the loop, as a writable socket:
            // never from inside connectTCP, before its caller holds the connector.
            if result == 0 || errno == EINPROGRESS {
                let attempt = ConnectAttempt(fd: fd, address: address) { [unowned self] attempt, error in
                    self.attemptEnded(attempt, error: error)
                }
                attempts.append(attempt)
                reactor.addWriter(attempt)
                if !candidates.isEmpty {
                    nextAttemptTimer = clock.callLater(attemptDelay) { [self] in
                        nextAttemptTimer = nil
                        startNextAttempt()
                    }
                }
                return
            }
            lastError = error(for: errno)
            Glibc.close(fd)
        }
        if state == .connecting && attempts.isEmpty {
            fail(lastError ?? ConnectError(host: host, port: port, errno: EHOSTUNREACH))
        }
    }

    private func attemptEnded(_ attempt: ConnectAttempt, error code: Int32) {
        reactor.removeWriter(attempt)
        attempts.removeAll { $0 === attempt }
        if code == 0 {
            abandonAttempts()
            connected(attempt.fileDescriptor, peer: attempt.address)
        } else {
            lastError = error(for: code)
            Glibc.close(attempt.fileDescriptor)
            startNextAttempt()
        }
    }

    /// Closes every connect still in progress and starts no more.
    private func abandonAttempts() {
        nextAttemptTimer?.cancel()
        nextAttemptTimer = nil
        candidates = []
        let abandoned = attempts
        attempts = []
        for attempt in abandoned {
            reactor.removeWriter(attempt)
            Glibc.close(attempt.fileDescriptor)
        }
    }

    private func error(for code: Int32) -> any Error {
        code == ECONNREFUSED
            ? ConnectionRefusedError(host: host, port: port) : ConnectError(host: host, port: port, errno: code)
    }

    private func connected(_ fd: Int32, peer address: SocketAddress) {
        timer?.cancel()
        timer = nil
        let peer = address.address
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
        abandonAttempts()
        let lookup = self.lookup
        self.lookup = nil
        lookup?.cancel()
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
    let address: SocketAddress
    private let done: (ConnectAttempt, Int32) -> Void

    init(fd: Int32, address: SocketAddress, done: @escaping (ConnectAttempt, Int32) -> Void) {
        self.fileDescriptor = fd
        self.address = address
        self.done = done
    }

    func doWrite() {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fileDescriptor, SOL_SOCKET, SO_ERROR, &code, &length) != 0 { code = errno }
        done(self, code)
    }

    func connectionLost(_ reason: Failure) {
        done(self, ECONNABORTED)
    }
}

extension EPollReactor {
    /// Starts connecting to `host`:`port`; the factory hears how it ends (see `Connector`).
    ///
    /// - Parameters:
    ///   - host: a host name or a numeric IPv4 or IPv6 address.
    ///   - port: the port to connect to (0 to 65535; another fails with `ConnectError`).
    ///   - factory: builds the protocol once connected and hears how the attempt ends.
    ///   - timeout: seconds for the whole attempt, lookup included (`ConnectTimeoutError`); 0 for
    ///     no limit.
    ///   - resolver: looks `host` up (default: `nameResolver`).
    ///   - clock: times `attemptDelay` (default: this reactor; tests pass a `Clock`).
    ///   - attemptDelay: seconds an attempt has before the next address is tried beside it (RFC
    ///     8305 recommends 0.25).
    ///
    /// Twisted: `IReactorTCP.connectTCP`, with `HostnameEndpoint`'s `attemptDelay`.
    @discardableResult
    public func connectTCP(_ host: String, _ port: Int, _ factory: ClientFactory, timeout: Double = 30,
                           resolver: (any NameResolver)? = nil, clock: (any ReactorTime)? = nil,
                           attemptDelay: Double = 0.25) -> Connector
    {
        assertInLoop()
        let connector = Connector(reactor: self, host: host, port: port, factory: factory, timeout: timeout,
                                  resolver: resolver, clock: clock, attemptDelay: attemptDelay)
        connector.start()
        return connector
    }

    /// Starts connecting to `host`:`port` with the reactor's `nameResolver`, attempts 0.25 s apart
    /// (see `Connector`); the factory hears how it ends. `ReactorTCP`'s requirement.
    ///
    /// Twisted: `IReactorTCP.connectTCP`.
    @discardableResult
    public func connectTCP(_ host: String, _ port: Int, _ factory: ClientFactory, timeout: Double = 30)
        -> Connector
    {
        connectTCP(host, port, factory, timeout: timeout, resolver: nil, clock: nil, attemptDelay: 0.25)
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
    bindToLoop(result, of: reactor)
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
