import Deferreds
import Foundation
import Reactor
import ReactorTesting
import TestSupport
import Testing

@testable import WebAgent

/// An application protocol that records what it hears.
private final class Recorder: Protocol {
    var made = 0
    var received: [UInt8] = []
    var reason: Failure?
    var onData: ((Recorder) -> Void)?

    override func connectionMade() { made += 1 }
    override func dataReceived(_ bytes: [UInt8]) {
        received += bytes
        onData?(self)
    }
    override func connectionLost(_ reason: Failure) { self.reason = reason }
}

/// A certificate authority, a server certificate from it for `names`, and the two contexts.
private final class Certificates {
    let ca: TestCA
    let client: TLSContext
    let server: TLSContext

    init(names: [String] = ["h1.test", "127.0.0.1"], expired: Bool = false) throws {
        ca = try TestCA()
        let issued = try ca.issue(for: names, expired: expired)
        client = try TLSContext(caFile: ca.certificate)
        server = try TLSContext(serverCertificate: issued.certificate, key: issued.key)
    }

    deinit { ca.remove() }
}

/// A client and a server TLS layer, each over a StringTransport, and their application protocols;
/// `pump()` carries the bytes each wrote to the other until neither has more.
private final class Pair {
    let clientApp = Recorder()
    let serverApp = Recorder()
    let client: TLSMemoryBIOProtocol
    let server: TLSMemoryBIOProtocol
    let clientTCP = StringTransport()
    let serverTCP = StringTransport()
    var clientHandshake: Result<Void, Failure>?
    var serverHandshake: Result<Void, Failure>?

    init(_ certificates: Certificates, host: String = "h1.test") throws {
        client = TLSMemoryBIOProtocol(wrapping: clientApp,
                                      engine: try #require(certificates.client.clientEngine(host: host, port: 443)))
        server = TLSMemoryBIOProtocol(wrapping: serverApp, engine: try #require(certificates.server.serverEngine()))
        _ = client.handshakeDone.addCallbacks({ self.clientHandshake = .success(()) },
                                              { self.clientHandshake = .failure($0) })
        _ = server.handshakeDone.addCallbacks({ self.serverHandshake = .success(()) },
                                              { self.serverHandshake = .failure($0) })
        client.makeConnection(clientTCP)
        server.makeConnection(serverTCP)
    }

    func pump() {
        for _ in 0..<100 {
            let toServer = clientTCP.value()
            let toClient = serverTCP.value()
            if toServer.isEmpty && toClient.isEmpty { return }
            clientTCP.clear()
            serverTCP.clear()
            if !toServer.isEmpty { server.dataReceived(toServer) }
            if !toClient.isEmpty { client.dataReceived(toClient) }
        }
        Issue.record("the two ends never stopped talking")
    }

    /// Ends both TCP connections (if not ended), so each layer lets go of its protocol (the
    /// protocol holds its transport, the layer, until `connectionLost`).
    func end() {
        if client.state != .closed { client.connectionLost(Failure(ConnectionDone())) }
        if server.state != .closed { server.connectionLost(Failure(ConnectionDone())) }
    }

    var clientError: TLSError? {
        if case .failure(let failure) = clientHandshake { return failure.value as? TLSError }
        return nil
    }
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct TLSMemoryBIOProtocolTests {
    @Test func theHandshakeConnectsBothProtocolsAndBytesFlowBothWaysEncrypted() throws {
        // When a client and a server layer exchange their bytes, both handshakes complete, each
        // wrapped protocol is connected once (not before), ALPN picks http/1.1, and what one writes
        // the other receives, never in clear on the wire.
        let pair = try Pair(try Certificates())
        defer { pair.end() }
        #expect(pair.clientApp.made == 0 && pair.clientApp.transport == nil)
        #expect(!pair.clientTCP.value().isEmpty, "the client hello was not sent")
        pair.pump()
        #expect(pair.client.state == .open && pair.server.state == .open)
        #expect(pair.clientApp.made == 1 && pair.serverApp.made == 1)
        #expect(pair.client.engine.negotiatedProtocol == "http/1.1")
        let secret = Array("GET /secret HTTP/1.1\r\n\r\n".utf8)
        pair.clientApp.transport?.write(secret)
        let wire = pair.clientTCP.value()
        #expect(!wire.isEmpty && !String(decoding: wire, as: UTF8.self).contains("secret"))
        pair.pump()
        #expect(pair.serverApp.received == secret)
        pair.serverApp.transport?.writeSequence([Array("HTTP/1.1 200 OK\r\n".utf8), Array("\r\n".utf8)])
        pair.pump()
        #expect(pair.clientApp.received == Array("HTTP/1.1 200 OK\r\n\r\n".utf8))
    }

    @Test func aCertificateForAnotherNameFailsTheHandshakeNamingTheHost() throws {
        // When the certificate is for h1.test and the client asked for h2.test (or for 127.0.0.2,
        // an address, when it is for 127.0.0.1), the handshake fails with curl's message naming the
        // host; the client's protocol is never connected and its TCP connection is closed.
        for host in ["h2.test", "127.0.0.2"] {
            let pair = try Pair(try Certificates(), host: host)
            defer { pair.end() }
            pair.pump()
            let error = try #require(pair.clientError, "\(host): \(String(describing: pair.clientHandshake))")
            #expect(error.message == "SSL: no alternative certificate subject name matches target host name '\(host)'")
            #expect(pair.clientApp.made == 0)
            #expect(pair.clientTCP.disconnecting)
            #expect(pair.client.state == .closed)
        }
    }

    @Test func anIPAddressIsCheckedAsAnAddress() throws {
        // When the client connects to 127.0.0.1 and the certificate lists IP:127.0.0.1, the
        // handshake succeeds (no SNI is needed for an address).
        let pair = try Pair(try Certificates(), host: "127.0.0.1")
        defer { pair.end() }
        pair.pump()
        #expect(pair.client.state == .open, "\(String(describing: pair.clientHandshake))")
    }

    @Test func anIPv6AddressIsCheckedAsAnAddressToo() throws {
        // When the certificate lists IP:::1, a client for ::1 (as a URI's [::1] gives it) completes
        // the handshake, and one for ::2 fails naming it.
        let certificates = try Certificates(names: ["::1"])
        #expect(TLSContext.isIPLiteral("::1") && TLSContext.isIPLiteral("fe80::1%25eth0"))
        #expect(!TLSContext.isIPLiteral("h1.test"))
        let good = try Pair(certificates, host: "::1")
        defer { good.end() }
        good.pump()
        #expect(good.client.state == .open, "\(String(describing: good.clientHandshake))")
        let bad = try Pair(certificates, host: "::2")
        defer { bad.end() }
        bad.pump()
        #expect(bad.clientError?.message == "SSL: no alternative certificate subject name matches target host name '::2'")
    }

    @Test func anExpiredCertificateOrAnUnknownIssuerSaysSo() throws {
        // When the certificate has expired, or comes from a CA the client does not trust, the
        // handshake fails with the verifier's reason in curl's words.
        let expired = try Pair(try Certificates(expired: true))
        defer { expired.end() }
        expired.pump()
        #expect(expired.clientError?.message == "SSL certificate problem: certificate has expired")
        let certificates = try Certificates()
        let other = try Certificates()
        let stranger = TLSMemoryBIOProtocol(wrapping: Recorder(),
                                            engine: try #require(other.client.clientEngine(host: "h1.test", port: 443)))
        let server = TLSMemoryBIOProtocol(wrapping: Recorder(), engine: try #require(certificates.server.serverEngine()))
        var failure: Failure?
        _ = stranger.handshakeDone.addErrback { failure = $0 }
        _ = server.handshakeDone.addErrback { _ in }  // the client's alert ("unknown ca")
        let (a, b) = (StringTransport(), StringTransport())
        stranger.makeConnection(a)
        server.makeConnection(b)
        for _ in 0..<10 {
            let (toServer, toClient) = (a.value(), b.value())
            a.clear()
            b.clear()
            if !toServer.isEmpty { server.dataReceived(toServer) }
            if !toClient.isEmpty { stranger.dataReceived(toClient) }
        }
        #expect((failure?.value as? TLSError)?.message == "SSL certificate problem: unable to get local issuer certificate",
                "\(String(describing: failure))")
        stranger.connectionLost(Failure(ConnectionDone()))
        server.connectionLost(Failure(ConnectionDone()))
    }

    @Test func plainHTTPOnTheTLSPortIsAWrongVersionNumber() throws {
        // When the server answers the client hello with an HTTP response, the handshake fails with
        // OpenSSL's reason ("wrong version number") and the client's protocol is never connected.
        let pair = try Pair(try Certificates())
        defer { pair.end() }
        pair.client.dataReceived(Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8))
        let error = try #require(pair.clientError, "\(String(describing: pair.clientHandshake))")
        #expect(error.message.contains("wrong version number"), "\(error.message)")
        #expect(pair.clientApp.made == 0)
    }

    @Test func aHandshakeCutShortSaysTheConnectionClosed() throws {
        // When TCP ends (cleanly) before the server said anything, the handshake fails with curl's
        // words for it, naming the server, and the client's protocol hears nothing.
        let pair = try Pair(try Certificates())
        defer { pair.end() }
        pair.client.connectionLost(Failure(ConnectionDone()))
        let error = try #require(pair.clientError, "\(String(describing: pair.clientHandshake))")
        #expect(error.message.hasPrefix("OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to h1.test:443"),
                "\(error.message)")
        #expect(pair.clientApp.reason == nil && pair.clientApp.made == 0)
        #expect(pair.client.state == .closed)
    }

    @Test func loseConnectionSendsCloseNotifyAndBothSidesEndCleanly() throws {
        // When the client's protocol calls loseConnection, close_notify goes out and TCP is closed
        // after it; the server answers with its own and closes; each protocol hears ConnectionDone.
        let pair = try Pair(try Certificates())
        defer { pair.end() }
        pair.pump()
        pair.clientApp.transport?.loseConnection()
        #expect(pair.client.state == .closing(reason: nil))
        #expect(pair.clientTCP.connection == .losing && !pair.clientTCP.value().isEmpty)
        pair.pump()
        #expect(pair.serverTCP.connection == .losing, "the server did not close after close_notify")
        pair.client.connectionLost(Failure(ConnectionDone()))
        pair.server.connectionLost(Failure(ConnectionDone()))
        #expect(pair.clientApp.reason?.check(ConnectionDone.self) != nil, "\(String(describing: pair.clientApp.reason))")
        #expect(pair.serverApp.reason?.check(ConnectionDone.self) != nil, "\(String(describing: pair.serverApp.reason))")
        #expect(pair.client.state == .closed && pair.clientApp.transport == nil)
        // Writes after the end are dropped, not sent.
        pair.clientApp.write(to: pair.client)
        #expect(pair.clientTCP.value().isEmpty)
    }

    @Test func tcpEndingWithoutCloseNotifyIsATruncationError() throws {
        // When TCP ends cleanly in the middle of a record (no close_notify), the client's protocol
        // gets what was whole, then a TLSError saying the data may be truncated; the same at a
        // record boundary, since nothing shows the peer meant to stop there.
        for cut in [true, false] {
            let pair = try Pair(try Certificates())
            defer { pair.end() }
            pair.pump()
            pair.serverApp.transport?.write(Array("first".utf8))
            let first = pair.serverTCP.value()
            pair.serverTCP.clear()
            pair.serverApp.transport?.write(Array(repeating: UInt8(ascii: "x"), count: 1000))
            let second = pair.serverTCP.value()
            pair.client.dataReceived(first + (cut ? Array(second.prefix(second.count / 2)) : []))
            pair.client.connectionLost(Failure(ConnectionDone()))
            #expect(pair.clientApp.received == Array("first".utf8), "cut: \(cut)")
            let error = try #require(pair.clientApp.reason?.value as? TLSError,
                                     "cut: \(cut): \(String(describing: pair.clientApp.reason))")
            #expect(error.message.contains("truncated"), "\(error.message)")
        }
    }

    @Test func garbageAfterTheHandshakeIsATLSErrorAndAnAbort() throws {
        // When bytes that are not a TLS record arrive on an open connection, the client's TCP is
        // aborted and its protocol hears a TLSError (not the TCP reason) when TCP is gone.
        let pair = try Pair(try Certificates())
        defer { pair.end() }
        pair.pump()
        pair.client.dataReceived(Array(repeating: 0x17, count: 64))
        #expect(pair.clientTCP.connection == .aborted)
        pair.client.connectionLost(Failure(ConnectionAborted()))
        #expect(pair.clientApp.reason?.value is TLSError, "\(String(describing: pair.clientApp.reason))")
    }

    @Test func abortConnectionAndFlowControlPassThroughToTCP() throws {
        // When the wrapped protocol pauses, resumes, registers a producer or aborts, TCP's
        // transport does the same, and the protocol then hears ConnectionAborted.
        final class Producer: PushProducer {
            func pauseProducing() {}
            func resumeProducing() {}
            func stopProducing() {}
        }
        let pair = try Pair(try Certificates())
        defer { pair.end() }
        pair.pump()
        let transport = try #require(pair.clientApp.transport)
        transport.pauseProducing()
        #expect(pair.clientTCP.producerState == .paused)
        transport.resumeProducing()
        #expect(pair.clientTCP.producerState == .producing)
        let producer = Producer()
        transport.registerProducer(producer, streaming: true)
        #expect(pair.clientTCP.producer === producer && pair.clientTCP.streaming)
        transport.unregisterProducer()
        #expect(pair.clientTCP.producer == nil)
        #expect(transport.getPeer() == pair.clientTCP.getPeer())
        transport.abortConnection()
        #expect(pair.clientTCP.connection == .aborted)
        pair.client.connectionLost(Failure(ConnectionLost("reset")))
        #expect(pair.clientApp.reason?.value is ConnectionAborted, "\(String(describing: pair.clientApp.reason))")
    }

    @Test func aSecondConnectionToTheServerResumesTheSession() throws {
        // When a client context has completed a handshake with a server (and read its ticket), the
        // next connection to that host:port resumes the session; one to another port does not.
        let certificates = try Certificates()
        let first = try Pair(certificates)
        defer { first.end() }
        first.pump()
        #expect(!first.client.engine.sessionReused)
        #expect(certificates.client.sessionCount == 1)
        let second = try Pair(certificates)
        defer { second.end() }
        second.pump()
        #expect(second.client.state == .open && second.client.engine.sessionReused)
        let client = TLSMemoryBIOProtocol(wrapping: Recorder(),
                                          engine: try #require(certificates.client.clientEngine(host: "h1.test", port: 444)))
        let server = TLSMemoryBIOProtocol(wrapping: Recorder(), engine: try #require(certificates.server.serverEngine()))
        let (a, b) = (StringTransport(), StringTransport())
        client.makeConnection(a)
        server.makeConnection(b)
        for _ in 0..<10 {
            let (toServer, toClient) = (a.value(), b.value())
            a.clear()
            b.clear()
            if !toServer.isEmpty { server.dataReceived(toServer) }
            if !toClient.isEmpty { client.dataReceived(toClient) }
        }
        #expect(client.state == .open && !client.engine.sessionReused)
        client.connectionLost(Failure(ConnectionDone()))
        server.connectionLost(Failure(ConnectionDone()))
    }

    @Test func aMissingCAFileIsATLSErrorNamingIt() throws {
        // When the CA file cannot be read, making the context fails with TLSError naming the file.
        #expect {
            _ = try TLSContext(caFile: "/nonexistent/ca.pem")
        } throws: { error in
            (error as? TLSError)?.message.contains("/nonexistent/ca.pem") == true
        }
    }
}

extension Recorder {
    /// Writes a byte through `layer` as this protocol would (used after the end: dropped).
    fileprivate func write(to layer: TLSMemoryBIOProtocol) {
        layer.write([1])
    }
}
