import Foundation

/// An `openssl s_server -www` on a loopback port (127.0.0.1 only) with a self-signed certificate
/// for the IP address 127.0.0.1 made for the test; stopped (by its process) when the test ends.
public final class TLSServer {
    public let directory: String
    /// The server's certificate (PEM): the file to trust to reach it.
    public let certificate: String
    let process = Process()
    public let port: Int

    public init() throws {
        directory = NSTemporaryDirectory() + "tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        certificate = directory + "/cert.pem"
        let key = directory + "/key.pem"
        try TLSServer.makeCertificate(certificate, key: key)

        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_server", "-accept", "127.0.0.1:0", "-cert", certificate, "-key", key, "-www"]
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // s_server prints "ACCEPT [::]:PORT" once it listens.
        var text = ""
        var found: Int?
        while found == nil {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("ACCEPT") }),
                let number = line.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) })
            {
                found = number
            }
        }
        guard let found else {
            process.terminate()
            throw TLSServerError(message: "openssl s_server did not start: \(text)")
        }
        port = found
    }

    /// Kills the server by its PID and removes the certificate.
    public func stop() {
        kill(process.processIdentifier, SIGKILL)
        // Until it has seen its child end, a running Process keeps itself alive (a leak at exit).
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Makes a self-signed certificate for the IP address 127.0.0.1 (and its key) with openssl.
    public static func makeCertificate(_ certificate: String, key: String) throws {
        let status = runCommand("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
            "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ])
        guard status == 0 else { throw TLSServerError(message: "openssl req failed") }
    }
}

/// The test's TLS server could not be made or started.
public struct TLSServerError: Error {
    public let message: String
}
