import CLinux
import Deferreds
import Glibc

/// A listening TCP socket: accepts connections and gives each a protocol from the factory.
///
/// Twisted: `twisted.internet.tcp.Port` (`IListeningPort`).
public final class ListeningPort: ReadDescriptor, OwnedSocket {
    let reactor: EPollReactor
    /// Let go of when the port closes: a factory that holds its port (a `WebServer` keeps its
    /// ports) would otherwise keep both alive after the reactor has dropped the port.
    private var factory: Factory?
    /// The listening socket's descriptor; -1 once the port is closed.
    public private(set) var fileDescriptor: Int32
    private let host: Address

    init(reactor: EPollReactor, factory: Factory, fileDescriptor: Int32) {
        self.reactor = reactor
        self.factory = factory
        self.fileDescriptor = fileDescriptor
        self.host = SocketAddress.local(of: fileDescriptor).address
    }

    /// The address the port listens on; `getHost().port` is the port the system picked for port 0.
    public func getHost() -> Address { host }

    /// Whether the port is still accepting.
    public var listening: Bool { fileDescriptor >= 0 }

    /// Stops accepting and closes the socket; connections already accepted go on.
    ///
    /// - Returns: a deferred that fires on the reactor's next pass, once the port is closed.
    @discardableResult
    public func stopListening() -> Deferred<Void> {
        let done = Deferred<Void>()
        if fileDescriptor >= 0 {
            reactor.removeReader(self)
            reactor.release(self)
            Glibc.close(fileDescriptor)
            fileDescriptor = -1
            stopFactory()
        }
        reactor.callLater(0) { done.callback(()) }
        return done
    }

    /// Accepts the connections waiting (at most 64 per call, so other descriptors get their turn)
    /// and gives each a protocol from the factory. Called by the reactor.
    public func doRead() throws {
        for _ in 0..<64 {
            guard fileDescriptor >= 0 else { return }
            var peer = SocketAddress()
            let fd = withUnsafeMutableBytes(of: &peer.storage) { raw in
                clinux_accept_nonblocking(
                    fileDescriptor, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &peer.length)
            }
            if fd < 0 {
                switch errno {
                case EINTR, ECONNABORTED: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: leave the connection queued and report it; a later pass retries.
                    reactor.logError(
                        "Could not accept a connection on \(host):",
                        Failure(SystemCallError(call: "accept4", errno: errno)))
                    return
                default:
                    return
                }
            }
            let address = peer.address
            guard let handler = factory?.buildProtocol(address) else {
                Glibc.close(fd)
                continue
            }
            TCPConnection(reactor: reactor, fileDescriptor: fd, peer: address).start(with: handler)
        }
    }

    func shutDown(_ reason: Failure) {
        connectionLost(reason)
    }

    func closeSilently() {
        if fileDescriptor >= 0 {
            Glibc.close(fileDescriptor)
            fileDescriptor = -1
        }
        factory = nil
    }

    /// The reactor dropped the port (it shut down): closes the socket, tells the factory it has
    /// stopped and lets go of it.
    public func connectionLost(_ reason: Failure) {
        reactor.release(self)
        if fileDescriptor >= 0 {
            Glibc.close(fileDescriptor)
            fileDescriptor = -1
            stopFactory()
        }
    }

    /// Tells the factory the port is closed, and lets go of it.
    private func stopFactory() {
        let stopped = factory
        factory = nil
        stopped?.stopFactory()
    }
}

extension EPollReactor {
    /// Listens for TCP connections on `interface`:`port` (port 0 picks a free one).
    ///
    /// Each accepted connection gets a protocol from `factory.buildProtocol(peerAddress)`.
    /// `interface` is a numeric IPv4 or IPv6 address ("127.0.0.1", "::1", "0.0.0.0", "::").
    /// - Throws: `CannotListenError` (with the errno) when the socket cannot be bound or listened on.
    ///
    /// Twisted: `IReactorTCP.listenTCP`.
    public func listenTCP(_ port: Int, _ factory: Factory, interface: String = "127.0.0.1", backlog: Int = 1024)
        throws -> ListeningPort
    {
        assertInLoop()
        guard (0...65535).contains(port), let address = SocketAddress(numericHost: interface, port: port) else {
            throw CannotListenError(interface: interface, port: port, errno: EINVAL)
        }
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw CannotListenError(interface: interface, port: port, errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if address.family == AF_INET6 {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let bound = address.withSockaddr { bind(fd, $0, $1) }
        guard bound == 0, listen(fd, Int32(backlog)) == 0 else {
            let error = errno
            Glibc.close(fd)
            throw CannotListenError(interface: interface, port: port, errno: error)
        }
        let listeningPort = ListeningPort(reactor: self, factory: factory, fileDescriptor: fd)
        factory.startFactory()
        adopt(listeningPort)
        addReader(listeningPort)
        return listeningPort
    }
}
