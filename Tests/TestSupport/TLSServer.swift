import Foundation

/// An `openssl s_server -www` on a loopback port (127.0.0.1 only) with a certificate for the IP
/// address 127.0.0.1 made for the test (self-signed, or signed by `issuer`), or one given; stopped
/// (by its process) when the test ends.
public final class TLSServer {
    public let directory: String
    /// The server's certificate (PEM): the file to trust to reach it.
    public let certificate: String
    let process: ChildProcess
    public let port: Int

    /// - Parameters:
    ///   - issuer: signs the server's certificate; nil for a self-signed one.
    ///   - dnsName: a host name the certificate is also valid for (a test's DNS server answers it
    ///     with 127.0.0.1).
    ///   - replies: when given, the server answers `GET /name` with the bytes of `replies[name]` as
    ///     they are (openssl's `-HTTP` mode: each is a whole response, right or wrong), instead of
    ///     its `-www` status page.
    public convenience init(issuer: TestCertificateAuthority? = nil, dnsName: String? = nil,
                            replies: [String: String]? = nil) throws {
        let directory = try TLSServer.makeDirectory()
        let (certificate, key) = (directory + "/cert.pem", directory + "/key.pem")
        try TLSServer.makeCertificate(certificate, key: key, issuer: issuer, dnsName: dnsName)
        try self.init(directory: directory, certificate: certificate, key: key, options: [], replies: replies)
    }

    /// A server presenting `certificate` with its `key` (PEM files, e.g. from `TestCA.issue`).
    /// `options` go to s_server too (e.g. ["-no_ticket"]).
    public convenience init(certificate given: (certificate: String, key: String), options: [String] = []) throws {
        try self.init(directory: try TLSServer.makeDirectory(), certificate: given.certificate, key: given.key,
                      options: options, replies: nil)
    }

    private init(directory: String, certificate: String, key: String, options: [String],
                 replies: [String: String]?) throws {
        self.directory = directory
        self.certificate = certificate
        let output = directory + "/output.txt"
        let arguments = ["s_server", "-accept", "127.0.0.1:0", "-cert", certificate, "-key", key] + options
        if let replies {
            // -HTTP serves files relative to the working directory: the shell goes there first,
            // then becomes openssl (the same process, so stopping it by its PID still works).
            for (name, reply) in replies {
                try reply.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
            }
            process = try ChildProcess(
                "/bin/sh", ["-c", "cd \"$0\" && exec /usr/bin/openssl \"$@\"", directory] + arguments + ["-HTTP"],
                stdout: output, stderr: output)
        } else {
            process = try ChildProcess("/usr/bin/openssl", arguments + ["-www"], stdout: output, stderr: output)
        }
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

    /// The server's output so far (s_server's log of its connections).
    public var output: String { readText(directory + "/output.txt") }

    /// Kills the server by its PID and removes its folder (and the certificate it made, if any).
    public func stop() {
        process.wait(limit: 0)
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func makeDirectory() throws -> String {
        let directory = NSTemporaryDirectory() + "tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Makes a certificate for the IP address 127.0.0.1 (and `dnsName`, if given) and its key with
    /// openssl: self-signed, or signed by `issuer`.
    public static func makeCertificate(_ certificate: String, key: String,
                                       issuer: TestCertificateAuthority? = nil, dnsName: String? = nil) throws {
        let signing = issuer.map { ["-CA", $0.certificate, "-CAkey", $0.key] } ?? []
        let status = runCommand("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
            "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1" + (dnsName.map { ",DNS:\($0)" } ?? ""),
        ] + signing)
        guard status == 0 else { throw TLSServerError(message: "openssl req failed") }
    }
}

/// A certificate authority made for one test (its certificate and key, PEM files), to sign a
/// `TLSServer`'s certificate.
public struct TestCertificateAuthority: Sendable {
    public let certificate: String
    public let key: String

    /// Makes one in `directory`, files named after `name`, with a subject of its own (so its
    /// subject hash differs from every other CA's).
    public init(in directory: String, name: String) throws {
        certificate = directory + "/\(name).pem"
        key = directory + "/\(name)-key.pem"
        let subject = "/CN=swift-deferreds test CA \(name) \(getpid()) \(UInt32.random(in: 0...UInt32.max))"
        let status = runCommand("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
            "-days", "2", "-subj", subject,
        ])
        guard status == 0 else { throw TLSServerError(message: "openssl req (CA) failed") }
    }
}

/// The test's TLS server could not be made or started.
public struct TLSServerError: Error {
    public let message: String
}
