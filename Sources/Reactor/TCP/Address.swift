import Glibc

/// The address of one end of a TCP connection.
///
/// Twisted: `twisted.internet.address.IPv4Address` / `IPv6Address` (type "TCP").
public struct Address: Hashable, Sendable, CustomStringConvertible {
    /// The address family: IPv4 or IPv6.
    public enum Family: Sendable {
        /// An IPv4 address ("127.0.0.1").
        case ipv4
        /// An IPv6 address ("::1").
        case ipv6
    }

    /// Whether the address is IPv4 or IPv6.
    public let family: Family
    /// The numeric host ("127.0.0.1", "::1").
    public let host: String
    /// The port number.
    public let port: Int

    /// The address `host` (numeric) and `port` in `family`.
    public init(family: Family, host: String, port: Int) {
        self.family = family
        self.host = host
        self.port = port
    }

    public var description: String {
        family == .ipv6 ? "TCP [\(host)]:\(port)" : "TCP \(host):\(port)"
    }
}

/// A socket address in its C form, with conversions to and from `Address`.
struct SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)

    /// Parses a numeric IPv4 or IPv6 host; nil when `host` is a name.
    init?(numericHost host: String, port: Int) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port)).bigEndian
            address.sin_addr = v4
            self.init(copying: &address)
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(truncatingIfNeeded: port)).bigEndian
            address.sin6_addr = v6
            self.init(copying: &address)
        } else {
            return nil
        }
    }

    init() {}

    init<T>(copying address: inout T) {
        length = socklen_t(MemoryLayout<T>.size)
        withUnsafeMutableBytes(of: &storage) { target in
            withUnsafeBytes(of: &address) { target.copyMemory(from: $0) }
        }
    }

    init(bytes: [UInt8]) {
        length = socklen_t(bytes.count)
        withUnsafeMutableBytes(of: &storage) { target in
            bytes.withUnsafeBytes { target.copyMemory(from: $0) }
        }
    }

    var family: Int32 { Int32(storage.ss_family) }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    var address: Address {
        withUnsafeBytes(of: storage) { raw -> Address in
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            if family == AF_INET6 {
                var v6 = raw.load(as: sockaddr_in6.self)
                inet_ntop(AF_INET6, &v6.sin6_addr, &text, socklen_t(text.count))
                return Address(family: .ipv6, host: String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
                               port: Int(UInt16(bigEndian: v6.sin6_port)))
            }
            var v4 = raw.load(as: sockaddr_in.self)
            inet_ntop(AF_INET, &v4.sin_addr, &text, socklen_t(text.count))
            return Address(family: .ipv4, host: String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
                           port: Int(UInt16(bigEndian: v4.sin_port)))
        }
    }

    /// The local address of a socket.
    static func local(of fd: Int32) -> SocketAddress {
        var result = SocketAddress()
        withUnsafeMutableBytes(of: &result.storage) { raw in
            _ = getsockname(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &result.length)
        }
        return result
    }

    /// The peer address of a connected socket.
    static func peer(of fd: Int32) -> SocketAddress {
        var result = SocketAddress()
        withUnsafeMutableBytes(of: &result.storage) { raw in
            _ = getpeername(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &result.length)
        }
        return result
    }
}
