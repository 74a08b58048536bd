import Deferreds
import Foundation
import Reactor
import TestSupport
import Testing

@testable import WebAgent

/// How a request ended once its body was read, as text: "200 hi", "200 partial hi" (the body ran to
/// the close: PotentialDataLoss), or the failure as `describe` names it.
private func ending(of deferred: Deferred<Response>) -> Deferred<String> {
    deferred.addCallback { response -> Deferred<String> in
        readBody(response).addBoth { result -> String in
            switch result {
            case .success(let bytes):
                return "\(response.code) \(String(decoding: bytes, as: UTF8.self))"
            case .failure(let failure):
                if let partial = failure.value as? PartialDownloadError {
                    return "\(response.code) partial \(String(decoding: partial.response, as: UTF8.self))"
                }
                return describe(failure)
            }
        }
    }.addErrback { describe($0) }
}

/// A body producer of unknown length (sent chunked) that writes `pieces` 10 ms apart on the reactor
/// (libcurl has asked for bytes by then, and paused its reading), then finishes; it records
/// whether it was stopped.
private final class LateProducer: BodyProducer {
    let reactor: any ReactorTime
    var pieces: [[UInt8]]
    private(set) var finished = false
    private(set) var stopped = false
    private let done = Deferred<Void>()

    init(_ reactor: any ReactorTime, _ pieces: [String]) {
        self.reactor = reactor
        self.pieces = pieces.map { Array($0.utf8) }
    }

    var length: Int? { nil }

    func startProducing(_ consumer: any BodyConsumer) -> Deferred<Void> {
        writeNext(consumer)
        return done
    }

    private func writeNext(_ consumer: any BodyConsumer) {
        _ = reactor.callLater(0.01) { [self] in
            guard !stopped else { return }
            if pieces.isEmpty {
                finished = true
                done.callback(())
                return
            }
            consumer.write(pieces.removeFirst())
            writeNext(consumer)
        }
    }

    func pauseProducing() {}
    func resumeProducing() {}
    func stopProducing() { stopped = true }
}

/// `CurlTransfer` carrying out its machines through a real libcurl, against s_server's scripted
/// replies and nginx: the integration layer over `CurlTransferStateMachineTests`.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct CurlTransferTests {
    @Test func theHeadsLimitsAndEndsOfResponsesOverHTTPS() throws {
        // When an https response has interim 1xx heads, a body past the agent's limit, a head past
        // it, or a body that runs to the close, the request gets the final head, BodyTooLarge,
        // HeadersTooLarge (inside ResponseFailed) or PotentialDataLoss, as over http.
        let server = try TLSServer(replies: [
            "interim": "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
                + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
            "large": "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + String(repeating: "b", count: 40),
            "fields": "HTTP/1.1 200 OK\r\nX-Long: " + String(repeating: "h", count: 300) + "\r\nContent-Length: 2\r\n\r\nhi",
            "close": "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end",
        ])
        defer { server.stop() }
        var endings: [String: String] = [:]
        try withReactor { reactor in
            let agent = Agent(reactor, caFile: server.certificate, maxBodyBytes: 30, maxHeaderBytes: 200)
            let all = ["interim", "large", "fields", "close"].map { name in
                ending(of: agent.request("GET", "https://127.0.0.1:\(server.port)/\(name)")).addCallback {
                    endings[name] = $0
                }
            }
            _ = DeferredList(all).addBoth { _ in reactor.stop() }
        }
        #expect(endings["interim"] == "200 hi")
        #expect(endings["large"] == "ResponseFailed>BodyTooLarge")
        #expect(endings["fields"] == "ResponseFailed>HeadersTooLarge")
        #expect(endings["close"] == "200 partial to the end")
    }

    @Test func aCancelOrATimeoutBeforeTheResponseFailsTheRequestItself() throws {
        // When an https request is cancelled before its response, or its timeout passes first, the
        // request fails with CancelledError or TimeoutError itself (not ResponseNeverReceived).
        let server = try TLSServer(replies: ["slow": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"])
        defer { server.stop() }
        var endings: [String: String] = [:]
        try withReactor { reactor in
            let agent = Agent(reactor, caFile: server.certificate)
            let url = "https://127.0.0.1:\(server.port)/slow"
            let cancelled = agent.request("GET", url)
            let timedOut = agent.request("GET", url, nil, nil, timeout: 0)
            let all = [ending(of: cancelled).addCallback { endings["cancelled"] = $0 },
                       ending(of: timedOut).addCallback { endings["timedOut"] = $0 }]
            cancelled.cancel()
            _ = DeferredList(all).addBoth { _ in reactor.stop() }
        }
        #expect(endings["cancelled"] == "CancelledError")
        #expect(endings["timedOut"] == "TimeoutError")
    }
}

/// nginx on a loopback port serving https (HTTP/2 through ALPN when `http2`), storing the body of
/// each PUT as a file (WebDAV): it reads a request's body whole before it answers. Stopped by its
/// PID.
private final class PutServer {
    let directory: String
    let certificate: String
    let port: Int
    private var pid: Int32 = 0

    init(http2: Bool) throws {
        directory = NSTemporaryDirectory() + "put-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        for folder in ["/logs", "/files", "/temp"] {
            // nginx's workers run as another user when the tests run as root: they must write here.
            try FileManager.default.createDirectory(atPath: directory + folder, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o777])
        }
        certificate = directory + "/cert.pem"
        let key = directory + "/key.pem"
        try TLSServer.makeCertificate(certificate, key: key)
        port = freeLoopbackPort()
        let config = """
            daemon on;
            pid \(directory)/nginx.pid;
            error_log \(directory)/logs/error.log;
            events { worker_connections 64; }
            http {
                access_log off;
                client_body_temp_path \(directory)/temp;
                server {
                    listen 127.0.0.1:\(port) ssl\(http2 ? " http2" : "");
                    ssl_certificate \(certificate);
                    ssl_certificate_key \(key);
                    location / { root \(directory)/files; dav_methods PUT; }
                }
            }
            """
        try config.write(toFile: directory + "/nginx.conf", atomically: true, encoding: .utf8)
        guard runCommand("/usr/sbin/nginx", ["-p", directory, "-c", directory + "/nginx.conf"]) == 0 else {
            throw TLSError(message: "nginx did not start")
        }
        pid = Int32((try? String(contentsOfFile: directory + "/nginx.pid", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
    }

    /// The body stored by a PUT of `/name`.
    func stored(_ name: String) -> String { readText(directory + "/files/" + name) }

    func stop() {
        if pid > 0 { kill(pid, SIGTERM) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct CurlTransferUploadTests {
    @Test(arguments: [false, true])
    func aBodyWrittenLateIsSentWholeOverHTTPS(http2: Bool) throws {
        // When an https request's body producer writes its pieces late (libcurl's reading pauses
        // and resumes), over HTTP/1.1 or HTTP/2, the server gets the whole body and the producer
        // finishes without being stopped.
        let server = try PutServer(http2: http2)
        defer { server.stop() }
        var result: String?
        var producer: LateProducer?
        try withReactor { reactor in
            let late = LateProducer(reactor, ["one ", "two ", "three"])
            producer = late
            let agent = Agent(reactor, caFile: server.certificate)
            _ = ending(of: agent.request("PUT", "https://127.0.0.1:\(server.port)/late", nil, late)).addCallback {
                result = $0
                reactor.stop()
            }
        }
        #expect(result == "201 ")
        #expect(server.stored("late") == "one two three")
        #expect(producer?.finished == true && producer?.stopped == false)
    }

    @Test func aFailingBodyProducerFailsTheRequestWithRequestTransmissionFailed() throws {
        // When an https request's body producer fails, libcurl's reading aborts the transfer and the
        // request fails with RequestTransmissionFailed holding the producer's error.
        let server = try PutServer(http2: false)
        defer { server.stop() }
        var failure: Failure?
        try withReactor { reactor in
            let agent = Agent(reactor, caFile: server.certificate)
            _ = agent.request("PUT", "https://127.0.0.1:\(server.port)/failed", nil, FailingProducer())
                .addCallbacks({ _ in Issue.record("the request did not fail") }, { failure = $0 })
                .addBoth { _ in reactor.stop() }
        }
        let failed = failure?.value as? RequestTransmissionFailed
        #expect(failed?.reasons.first?.value is FailingProducer.Broken, "\(String(describing: failure))")
    }
}
