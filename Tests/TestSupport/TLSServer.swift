import Foundation

/// An `openssl s_server -www` on a loopback port (127.0.0.1 only) with a self-signed certificate
/// for the IP address 127.0.0.1 made for the test; stopped (by its process) when the test ends.
public final class TLSServer {
    public let directory: String
    /// The server's certificate (PEM): the file to trust to reach it.
    public let certificate: String
    let process: ChildProcess
    public let port: Int

    /// - Parameter dnsName: a host name the certificate is also valid for (a test's DNS server
    ///   answers it with 127.0.0.1).
    public init(dnsName: String? = nil) throws {
        directory = NSTemporaryDirectory() + "tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        certificate = directory + "/cert.pem"
        let key = directory + "/key.pem"
        try TLSServer.makeCertificate(certificate, key: key, dnsName: dnsName)

        let output = directory + "/output.txt"
        process = try ChildProcess(
            "/usr/bin/openssl", ["s_server", "-accept", "127.0.0.1:0", "-cert", certificate, "-key", key, "-www"],
            stdout: output, stderr: output)
        // s_server prints "ACCEPT [::]:PORT" once it listens.
        var found: Int?
        var text = ""
        for _ in 0..<5000 where found == nil && process.isRunning {
            text = readText(output)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("ACCEPT") }),
                let number = line.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) })
            {
                found = number
            } else {
                usleep(2_000)
            }
        }
        guard let found else {
            process.wait(limit: 0)
            throw TLSServerError(message: "openssl s_server did not start: \(text)")
        }
        port = found
    }

    /// Kills the server by its PID and removes the certificate.
    public func stop() {
        process.wait(limit: 0)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Makes a self-signed certificate for the IP address 127.0.0.1 (and its key) with openssl.
    public static func makeCertificate(_ certificate: String, key: String, dnsName: String? = nil) throws {
        let status = runCommand("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
            "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1" + (dnsName.map { ",DNS:\($0)" } ?? ""),
        ])
        guard status == 0 else { throw TLSServerError(message: "openssl req failed") }
    }
}

/// The test's TLS server could not be made or started.
public struct TLSServerError: Error {
    public let message: String
}
