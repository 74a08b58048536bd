import Foundation

/// tinyproxy (Debian's package) on 127.0.0.1, on a free port, with a config made for the test:
/// an HTTP proxy that forwards plain requests (adding `Via: 1.1 <viaName>`) and opens CONNECT
/// tunnels to any port; with credentials, it asks for them (407) on both. Its log (`log`) names
/// each request it took. Stopped by its PID (`stop()`).
public final class TinyProxy {
    public let directory: String
    public let port: Int
    /// The name in the Via header it adds.
    public let viaName: String
    private let process: ChildProcess

    /// - Parameter credentials: a user and password the proxy requires (Basic), or nil for none.
    public init(credentials: (user: String, password: String)? = nil) throws {
        directory = NSTemporaryDirectory() + "tinyproxy-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        viaName = "tinyproxy-test-\(UInt32.random(in: 0...UInt32.max))"
        var lastError = ""
        for _ in 0..<5 {
            let port = freeLoopbackPort()
            var config = """
                Port \(port)
                Listen 127.0.0.1
                Timeout 30
                LogFile "\(directory)/log"
                LogLevel Info
                MaxClients 64
                Allow 127.0.0.1
                ViaProxyName "\(viaName)"

                """
            if let credentials { config += "BasicAuth \(credentials.user) \(credentials.password)\n" }
            try config.write(toFile: directory + "/tinyproxy.conf", atomically: true, encoding: .utf8)
            let process = try ChildProcess("/usr/bin/tinyproxy", ["-d", "-c", directory + "/tinyproxy.conf"],
                                           stdout: directory + "/output", stderr: directory + "/output")
            // Ready once it accepts a connection (the port was free a moment ago: another test may
            // have taken it, and then tinyproxy exits).
            var ready = false
            for _ in 0..<2500 where process.isRunning {
                if TinyProxy.accepts(port) {
                    ready = true
                    break
                }
                usleep(2_000)
            }
            if ready && process.isRunning {
                self.port = port
                self.process = process
                return
            }
            process.wait(limit: 0)
            lastError = readText(directory + "/output") + readText(directory + "/log")
        }
        throw TinyProxyError(message: "tinyproxy did not start: \(lastError)")
    }

    /// `http://127.0.0.1:port`, with the credentials given (percent-encoded as needed) if any.
    public func url(user: String? = nil, password: String? = nil) -> String {
        guard let user else { return "http://127.0.0.1:\(port)" }
        return "http://\(user):\(password ?? "")@127.0.0.1:\(port)"
    }

    /// What it has logged so far.
    public var log: String { readText(directory + "/log") }

    /// Kills it by its PID and removes its files.
    public func stop() {
        process.wait(limit: 0)
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

/// tinyproxy could not be started.
public struct TinyProxyError: Error {
    public let message: String
}
