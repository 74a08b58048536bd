import Glibc

extension Address {
    /// The address `host` spells if it is a numeric IPv4 or IPv6 address (port 0); nil for a name.
    init?(numericHost host: String) {
        guard let socketAddress = SocketAddress(numericHost: host, port: 0) else { return nil }
        self = socketAddress.address
    }

    /// The host of an IPv4 or IPv6 socket address (port 0); nil for another family.
    init?(sockaddr address: UnsafePointer<sockaddr>) {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            var v4 = UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in.self)
            v4.sin_port = 0
            self = SocketAddress(copying: &v4).address
        case AF_INET6:
            var v6 = UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in6.self)
            v6.sin6_port = 0
            self = SocketAddress(copying: &v6).address
        default:
            return nil
        }
    }
}
