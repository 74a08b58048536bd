import Deferreds
import Foundation
import Reactor
import Testing

@testable import WebAgent

/// An `openssl s_server -www` on a loopback port with a self-signed certificate made for the test;
/// stopped (by its process) when the test ends.
final class TLSServer {
    let directory: String
    let certificate: String
    let process = Process()
    let port: Int

    init() throws {
        directory = NSTemporaryDirectory() + "tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        certificate = directory + "/cert.pem"
        let key = directory + "/key.pem"
        let make = Process()
        make.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        make.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                          "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        make.standardError = FileHandle.nullDevice
        make.standardOutput = FileHandle.nullDevice
        try make.run()
        make.waitUntilExit()
        guard make.terminationStatus == 0 else { throw TLSError(message: "openssl req failed") }

        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_server", "-accept", "0", "-cert", certificate, "-key", key, "-www"]
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
            throw TLSError(message: "openssl s_server did not start: \(text)")
        }
        port = found
    }

    /// Kills the server by its PID and removes the certificate.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct TLSTests {
    @Test func aSelfSignedCertificateIsRefusedByDefaultAndAcceptedWithItsCAFile() throws {
        // When the server's certificate is self-signed, the request fails with TLSError; with the
        // certificate given as the CA file, it succeeds.
        let server = try TLSServer()
        defer { server.stop() }
        var refused: Failure?
        var status: Int?
        try withReactor { reactor in
            let url = "https://127.0.0.1:\(server.port)/"
            Agent(reactor).request("GET", url).addBoth { result -> Deferred<Void> in
                if case .failure(let failure) = result { refused = failure }
                return Agent(reactor, caFile: server.certificate).request("GET", url)
                    .addCallback { response -> Deferred<[UInt8]> in
                        status = response.code
                        return readBody(response)
                    }.addCallback { _ in }
            }.addBoth { _ in reactor.stop() }
        }
        #expect(refused?.check(TLSError.self) != nil, "\(String(describing: refused))")
        #expect(status == 200)
    }
}
