import Glibc

/// A listening socket on 127.0.0.1 whose accept queue is full and never served: a connect to
/// `port` stays in progress (the kernel drops its SYNs) until the connector's timeout. Closed when
/// released.
public final class UnservedListener {
    private var descriptors: [Int32] = []
    public let port: Int

    public init() {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = boundLoopbackAddress(listener)
        listen(listener, 0)
        descriptors.append(listener)
        // Fill the backlog (0 still admits one) with connections nobody accepts.
        for _ in 0..<4 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    _ = connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            descriptors.append(fd)
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { descriptors.forEach { close($0) } }
}

/// A port on 127.0.0.1 that was free a moment ago (bound to 0, then released).
public func freeLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    return Int(UInt16(bigEndian: boundLoopbackAddress(fd).sin_port))
}

/// Binds `fd` to 127.0.0.1 on a port the kernel picks; returns the address bound.
private func boundLoopbackAddress(_ fd: Int32) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            _ = bind(fd, $0, length)
            _ = getsockname(fd, $0, &length)
        }
    }
    return address
}
