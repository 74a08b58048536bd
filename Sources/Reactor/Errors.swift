import Glibc

/// A system call failed where no more specific error applies.
public struct SystemCallError: Error, CustomStringConvertible {
    /// The system call that failed, such as "epoll_create1".
    public let call: String
    /// The `errno` it set.
    public let errno: Int32
    /// The failure of `call` with `errno`.
    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }
    public var description: String { "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// The connection was closed cleanly. Twisted: `twisted.internet.error.ConnectionDone`.
public struct ConnectionDone: Error, CustomStringConvertible {
    /// A clean close.
    public init() {}
    public var description: String { "Connection was closed cleanly." }
}

/// The connection was lost in a non-clean fashion. Twisted: `twisted.internet.error.ConnectionLost`.
public struct ConnectionLost: Error, CustomStringConvertible {
    /// Why, when known (for example "Connection reset by peer").
    public let reason: String?
    /// A lost connection, saying why when `reason` is known.
    public init(_ reason: String? = nil) { self.reason = reason }
    public var description: String {
        "Connection to the other side was lost in a non-clean fashion" + (reason.map { ": \($0)." } ?? ".")
    }
}

/// The other side refused the connection. Twisted: `twisted.internet.error.ConnectionRefusedError`.
public struct ConnectionRefusedError: Error, CustomStringConvertible {
    /// The host that was connected to, as given.
    public let host: String
    /// The port that was connected to.
    public let port: Int
    /// A refusal by `host` on `port`.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
    public var description: String { "Connection was refused by other side: \(host):\(port)." }
}

/// The host name could not be resolved. Twisted: `twisted.internet.error.DNSLookupError`.
public struct DNSLookupError: Error, CustomStringConvertible {
    /// Why a name has no addresses, as the resolver saw it.
    public enum Reason: Sendable, Equatable {
        /// The name does not exist (NXDOMAIN, or absent from the hosts file).
        case nameNotFound
        /// The name exists but has no address record (an answer with no A or AAAA: NODATA).
        case noAddresses
        /// No server answered in time, after every try.
        case timeout
        /// The server refused to answer (REFUSED).
        case refused
        /// The server failed to answer (SERVFAIL).
        case serverFailure
        /// No server could be reached (each one's port refused the query).
        case unreachable
        /// Anything else (a malformed name or answer, a resolver error): the message says.
        case other
    }

    /// The host name that could not be resolved.
    public let host: String
    /// Why the lookup failed.
    public let reason: Reason
    /// The resolver's message.
    public let message: String
    /// A failed lookup of `host`, with the resolver's `message`, of another kind than the resolver's
    /// (`reason` is `.other`).
    public init(host: String, message: String) {
        self.init(host: host, reason: .other, message: message)
    }

    /// A failed lookup of `host`, for `reason`, with the resolver's `message`.
    public init(host: String, reason: Reason, message: String) {
        self.host = host
        self.reason = reason
        self.message = message
    }

    public var description: String { "DNS lookup failed: \(host): \(message)." }
}

/// Connecting took longer than the connect timeout. Twisted: `twisted.internet.error.TCPTimedOutError`.
public struct ConnectTimeoutError: Error, CustomStringConvertible {
    /// The host that was connected to, as given.
    public let host: String
    /// The port that was connected to.
    public let port: Int
    /// The connect timeout that expired, in seconds.
    public let seconds: Double
    /// A connection to `host` on `port` not made within `seconds`.
    public init(host: String, port: Int, seconds: Double) {
        self.host = host
        self.port = port
        self.seconds = seconds
    }
    public var description: String { "Connecting to \(host):\(port) timed out after \(seconds) seconds." }
}

/// Connecting failed for another reason (the errno says which).
/// Twisted: `twisted.internet.error.ConnectError`.
public struct ConnectError: Error, CustomStringConvertible {
    /// The host that was connected to, as given.
    public let host: String
    /// The port that was connected to.
    public let port: Int
    /// The `errno` the connect failed with.
    public let errno: Int32
    /// A connection to `host` on `port` that failed with `errno`.
    public init(host: String, port: Int, errno: Int32) {
        self.host = host
        self.port = port
        self.errno = errno
    }
    public var description: String { "An error occurred while connecting to \(host):\(port): \(String(cString: strerror(errno)))." }
}

/// A port could not be listened on. Twisted: `twisted.internet.error.CannotListenError`.
public struct CannotListenError: Error, CustomStringConvertible {
    /// The interface the port was to listen on.
    public let interface: String
    /// The port number asked for.
    public let port: Int
    /// The `errno` that `bind` or `listen` failed with.
    public let errno: Int32
    /// A failure to listen on `interface`:`port` with `errno`.
    public init(interface: String, port: Int, errno: Int32) {
        self.interface = interface
        self.port = port
        self.errno = errno
    }
    public var description: String { "Couldn't listen on \(interface):\(port): \(String(cString: strerror(errno)))." }
}

/// An operation that needs a running reactor was asked of one that is not running.
/// Twisted: `twisted.internet.error.ReactorNotRunning`.
public struct ReactorNotRunning: Error, CustomStringConvertible {
    /// The error for an operation that needs a running reactor.
    public init() {}
    public var description: String { "The reactor is not running." }
}

/// A user-cancelled connection attempt. Twisted: `twisted.internet.error.ConnectingCancelledError`.
public struct ConnectingCancelledError: Error, CustomStringConvertible {
    /// The host that was being connected to, as given.
    public let host: String
    /// The port that was being connected to.
    public let port: Int
    /// A cancelled attempt to connect to `host` on `port`.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
    public var description: String { "Connecting to \(host):\(port) was cancelled." }
}
