import Deferreds
import Foundation
import Reactor
import TestSupport
import Testing

@testable import WebAgent

/// nginx on a loopback port serving HTTPS, with HTTP/2 (ALPN) unless `http2` is false, with a
/// certificate made for the test; stopped by its PID. `/` answers "h2 ok", `/connection` the
/// serial number of the connection the request came on. It listens on `tlsPorts` ports with TLS
/// and `plainPorts` without (plain http), and logs every request (`requests()`).
final class H2Server {
    let directory: String
    let certificate: String
    let port: Int
    /// Every port serving TLS (`port` first), then those serving plain http.
    let tlsPorts: [Int]
    let plainPorts: [Int]
    private var pid: Int32 = 0

    /// One request as nginx logged it.
    struct LoggedRequest {
        /// nginx's serial number of the connection it came on.
        var connection: String
        /// Whether that connection's TLS session was resumed (not a full handshake).
        var sessionReused: Bool
        var port: Int
        var path: String
    }

    init(http2: Bool = true, tlsPorts tlsCount: Int = 1, plainPorts plainCount: Int = 0,
         maxStreams: Int = 128) throws {
        directory = NSTemporaryDirectory() + "h2-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory + "/logs", withIntermediateDirectories: true)
        certificate = directory + "/cert.pem"
        let key = directory + "/key.pem"
        try TLSServer.makeCertificate(certificate, key: key)
        tlsPorts = (0..<max(1, tlsCount)).map { _ in freeLoopbackPort() }
        plainPorts = (0..<plainCount).map { _ in freeLoopbackPort() }
        port = tlsPorts[0]
        let listens = tlsPorts.map { "listen 127.0.0.1:\($0) ssl\(http2 ? " http2" : "");" }
            + plainPorts.map { "listen 127.0.0.1:\($0);" }
        let config = """
            daemon on;
            pid \(directory)/nginx.pid;
            error_log \(directory)/logs/error.log;
            events { worker_connections 64; }
            http {
                log_format requests '$connection $ssl_session_reused $server_port $uri';
                access_log \(directory)/logs/access.log requests;
                http2_max_concurrent_streams \(maxStreams);
                ssl_session_cache shared:TLS:1m;
                server {
                    \(listens.joined(separator: "\n        "))
                    ssl_certificate \(certificate);
                    ssl_certificate_key \(key);
                    location / { return 200 "h2 ok\\n"; }
                    location /connection { return 200 "$connection"; }
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

    /// The requests nginx has logged so far, in the order they ended.
    func requests() -> [LoggedRequest] {
        readText(directory + "/logs/access.log").split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 4, let port = Int(fields[2]) else { return nil }
            return LoggedRequest(connection: String(fields[0]), sessionReused: fields[1] == "r", port: port,
                                 path: String(fields[3]))
        }
    }

    /// Stops nginx by its PID and removes its files.
    func stop() {
        if pid > 0 { kill(pid, SIGTERM) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct HTTP2Tests {
    @Test func http2IsNegotiatedOverTLSAndShowsInTheResponseVersion() throws {
        // When the pool opts in to HTTP/2 and the server offers h2 through ALPN, the response's
        // version is ("HTTP", 2, 0) and its phrase is empty.
        let server = try H2Server()
        defer { server.stop() }
        var version: (String, Int, Int)?
        var phrase: String?
        var body: [UInt8]?
        try withReactor { reactor in
            let pool = HTTPConnectionPool(reactor, persistent: false)
            pool.http2 = true
            _ = Agent(reactor, pool: pool, caFile: server.certificate).request("GET", "https://127.0.0.1:\(server.port)/")
                .addCallback { response -> Deferred<[UInt8]> in
                    version = response.version
                    phrase = response.phrase
                    return readBody(response)
                }
                .addBoth { result -> Void in
                    if case .success(let bytes) = result { body = bytes }
                    reactor.stop()
                }
        }
        #expect(version.map { $0 == ("HTTP", 2, 0) } == true)
        #expect(phrase == "")
        #expect(body == Array("h2 ok\n".utf8))
    }
}

/// The serial numbers of the nginx connections that `count` https requests made one after the
/// other through `pool` came on (with the methods `methods` names, GET past its end).
private func connectionNumbers(_ server: H2Server, _ pool: HTTPConnectionPool, _ reactor: EPollReactor,
                               count: Int, methods: [String] = []) -> Deferred<[String]> {
    let agent = Agent(reactor, pool: pool, caFile: server.certificate)
    var numbers: [String] = []
    func next() -> Deferred<[String]> {
        guard numbers.count < count else { return Deferred.succeed(numbers) }
        let method = numbers.count < methods.count ? methods[numbers.count] : "GET"
        return agent.request(method, "https://127.0.0.1:\(server.port)/connection")
            .addCallback { readBody($0) }
            .addCallback { bytes -> Deferred<[String]> in
                numbers.append(String(decoding: bytes, as: UTF8.self))
                return next()
            }
    }
    return next()
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct HTTPSPoolTests {
    @Test func aPersistentPoolReusesItsHTTPSConnectionAndANonPersistentOneDoesNot() throws {
        // When https requests to one server follow one another, a persistent pool sends them all on
        // one kept connection (HTTP/1.1 over TLS, libcurl's cache), and a non-persistent pool opens
        // a connection for each.
        let server = try H2Server(http2: false)
        defer { server.stop() }
        var kept: [String] = []
        var fresh: [String] = []
        try withReactor { reactor in
            _ = connectionNumbers(server, HTTPConnectionPool(reactor, persistent: true), reactor, count: 3)
                .addCallback { numbers -> Deferred<[String]> in
                    kept = numbers
                    return connectionNumbers(server, HTTPConnectionPool(reactor, persistent: false), reactor, count: 3)
                }
                .addCallback { fresh = $0 }
                .addErrback { failure in Issue.record("\(failure)") }
                .addBoth { _ in reactor.stop() }
        }
        #expect(kept.count == 3 && Set(kept).count == 1, "\(kept)")
        #expect(fresh.count == 3 && Set(fresh).count == 3, "\(fresh)")
        #expect(Set(kept).isDisjoint(with: fresh))
    }

    @Test func aRequestThePoolMayNotSendTwiceGoesOnANewHTTPSConnection() throws {
        // When a persistent pool with the HTTP/2 opt-in (libcurl) has a kept https connection, a POST goes on a new one (libcurl
        // would send it again by itself if the kept one turned out closed), a DELETE after it goes
        // on a kept one, and with retryNonIdempotentRequests the POST uses the kept one too.
        let server = try H2Server(http2: false)
        defer { server.stop() }
        var strict: [String] = []
        var optedIn: [String] = []
        try withReactor { reactor in
            let methods = ["GET", "POST", "DELETE"]
            let pool = HTTPConnectionPool(reactor, persistent: true)
            let lenient = HTTPConnectionPool(reactor, persistent: true)
            lenient.retryNonIdempotentRequests = true
            pool.http2 = true
            lenient.http2 = true
            _ = connectionNumbers(server, pool, reactor, count: 3, methods: methods)
                .addCallback { numbers -> Deferred<[String]> in
                    strict = numbers
                    return connectionNumbers(server, lenient, reactor, count: 2, methods: methods)
                }
                .addCallback { optedIn = $0 }
                .addErrback { failure in Issue.record("\(failure)") }
                .addBoth { _ in reactor.stop() }
        }
        #expect(strict.count == 3 && strict[1] != strict[0], "\(strict)")
        #expect(strict.count == 3 && strict.prefix(2).contains(strict[2]), "\(strict)")
        #expect(optedIn.count == 2 && optedIn[0] == optedIn[1], "\(optedIn)")
    }
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct TLSTests {
    @Test func overHTTPSABadStatusLineIsResponseFailedAndNothingAtAllResponseNeverReceived() throws {
        // When an https server answers with a bad status line, the request fails with ResponseFailed
        // (bytes of a response arrived, Twisted's rule, as over http); when it answers nothing, with
        // ResponseNeverReceived.
        let server = try TLSServer(replies: ["bad": "HTTP/1.1 OK\r\n\r\n", "cut": "HTTP/1.1 200 OK\r\nX-A: 1\r\n",
                                             "empty": ""])
        defer { server.stop() }
        var endings: [String: String] = [:]
        try withReactor { reactor in
            let agent = Agent(reactor, caFile: server.certificate)
            let all = ["bad", "cut", "empty"].map { name in
                readOutcome(of: agent.request("GET", "https://127.0.0.1:\(server.port)/\(name)")).addCallback { result in
                    switch result {
                    case .success(let response): endings[name] = "response \(response.code)"
                    case .failure(let failure): endings[name] = describe(failure)
                    }
                }
            }
            _ = DeferredList(all).addBoth { _ in reactor.stop() }
        }
        #expect(endings["bad"] == "ResponseFailed>ParseError")
        #expect(endings["cut"]?.hasPrefix("ResponseFailed>") == true, "\(endings)")
        #expect(endings["empty"]?.hasPrefix("ResponseNeverReceived>") == true, "\(endings)")
    }

    @Test func aSelfSignedCertificateIsRefusedByDefaultAndAcceptedWithItsCAFile() throws {
        // When the server's certificate is self-signed, the request fails with TLSError itself (not
        // wrapped, not a generic transfer error); with the certificate given as the CA file, it
        // succeeds, over HTTP/1.x since this server offers no h2.
        let server = try TLSServer()
        defer { server.stop() }
        var refused: ReadOutcome?
        var accepted: ReadOutcome?
        try withReactor { reactor in
            let url = "https://127.0.0.1:\(server.port)/"
            _ = readOutcome(of: Agent(reactor).request("GET", url)).addCallback { result -> Deferred<Void> in
                refused = result
                return readOutcome(of: Agent(reactor, caFile: server.certificate).request("GET", url))
                    .addCallback { accepted = $0 }
            }.addBoth { _ in reactor.stop() }
        }
        guard case .failure(let failure) = refused else {
            Issue.record("a self-signed certificate was accepted: \(String(describing: refused))")
            return
        }
        let tls = try #require(failure.value as? TLSError, "\(failure)")
        #expect(tls.message.contains("certificate"), "\(tls.message)")
        guard case .success(let response) = accepted else {
            Issue.record("refused with the CA file: \(String(describing: accepted))")
            return
        }
        #expect(response.code == 200)
        #expect(response.version.0 == "HTTP" && response.version.1 == 1)
    }

    @Test func aBodyAskedForAfterItsPoolClosedEndsAndStillNamesItsServer() throws {
        // When an https body is asked for only after its pool has closed (libcurl's handle for it
        // reset for reuse or freed), the body still ends (whole, or cancelled if it was still
        // coming) and its transport still names the server: nothing is read from the handle after
        // the transfer gave it back.
        final class PeerRecorder: Protocol {
            var peer: Address?
            var reason: Failure?
            let done = Deferred<Void>()
            override func connectionMade() { peer = transport?.getPeer() }
            override func connectionLost(_ reason: Failure) {
                self.reason = reason
                done.callback(())
            }
        }
        let server = try TLSServer()
        defer { server.stop() }
        let body = PeerRecorder()
        try withReactor { reactor in
            let pool = HTTPConnectionPool(reactor)
            _ = Agent(reactor, pool: pool, caFile: server.certificate)
                .request("GET", "https://127.0.0.1:\(server.port)/")
                .addCallback { response -> Deferred<Void> in
                    pool.closeCachedConnections().addCallback { _ -> Deferred<Void> in
                        response.deliverBody(body)
                        return body.done
                    }
                }
                .addErrback { failure in Issue.record("\(failure)") }
                .addBoth { _ in reactor.stop() }
        }
        #expect(body.peer == Address(family: .ipv4, host: "127.0.0.1", port: server.port))
        // s_server -www ends its HTTP/1.0 body by closing (PotentialDataLoss).
        let reason = try #require(body.reason)
        #expect(reason.check(PotentialDataLoss.self, ResponseDone.self, CancelledError.self) != nil, "\(reason)")
    }

    @Test func aBodyProtocolThatStopsItsTransportGetsResponseFailedOverHTTPS() throws {
        // When an https body protocol calls stopProducing() or abortConnection() in dataReceived, its
        // connectionLost gets ResponseFailed holding ConnectionAborted and the response, as over http.
        let server = try TLSServer()
        defer { server.stop() }
        for abort in [false, true] {
            let body = StoppingProtocol(abort: abort)
            var response: Response?
            try withReactor { reactor in
                _ = Agent(reactor, caFile: server.certificate).request("GET", "https://127.0.0.1:\(server.port)/")
                    .addCallback { r -> Deferred<Void> in
                        response = r
                        r.deliverBody(body)
                        return body.done
                    }
                    .addErrback { failure in Issue.record("\(failure)") }
                    .addBoth { _ in reactor.stop() }
            }
            let failed = try #require(body.reason?.value as? ResponseFailed, "\(String(describing: body.reason))")
            #expect(failed.reasons.first?.value is ConnectionAborted, "\(failed)")
            #expect(failed.response === response)
            #expect(body.chunksAfterStop == 0, "abort: \(abort)")
        }
    }

    @Test func theCAFileDoesNotTurnVerificationOff() throws {
        // When the CA file holds another certificate, or the URL names a host the certificate is not
        // for (localhost; it is for the address 127.0.0.1), the request still fails with TLSError.
        let server = try TLSServer()
        defer { server.stop() }
        let otherCertificate = server.directory + "/other.pem"
        try TLSServer.makeCertificate(otherCertificate, key: server.directory + "/other-key.pem")
        var wrongIssuer: ReadOutcome?
        var wrongHost: ReadOutcome?
        try withReactor { reactor in
            _ = readOutcome(of: Agent(reactor, caFile: otherCertificate)
                    .request("GET", "https://127.0.0.1:\(server.port)/"))
                .addCallback { result -> Deferred<Void> in
                    wrongIssuer = result
                    return readOutcome(of: Agent(reactor, caFile: server.certificate)
                        .request("GET", "https://localhost:\(server.port)/"))
                        .addCallback { wrongHost = $0 }
                }.addBoth { _ in reactor.stop() }
        }
        for (name, result) in [("another CA", wrongIssuer), ("another host", wrongHost)] {
            guard case .failure(let failure) = result else {
                Issue.record("\(name): accepted: \(String(describing: result))")
                continue
            }
            #expect(failure.value is TLSError, "\(name): \(failure)")
        }
    }
}
