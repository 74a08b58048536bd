/// Fuzz target: WebAgent's TLS layer (`TLSMemoryBIOProtocol` over OpenSSL memory BIOs), client
/// side, fed bytes as if from the server.
///
/// Input: the first byte picks the mode and how the rest is cut into pieces (`pieces(of:seed:)`):
/// - even: the rest arrives during the handshake (the client's hello is out, nothing real came
///   back yet);
/// - odd: a real handshake with a server end is done first, the server sends a genuine record
///   of plaintext, and the rest arrives after it, as if a man in the middle added it.
/// Then TCP ends (cleanly, or with a reset when the second byte is odd).
///
/// Invariants:
/// - it never crashes or hangs; `handshakeDone` has fired by the end, once; the state ends
///   `.closed`;
/// - the wrapped protocol is connected at most once and only with the handshake done, hears
///   `connectionLost` exactly once when it was connected (and never when not), and gets no data
///   after it;
/// - bytes from the fuzzer never become plaintext: what the wrapped protocol received is a prefix
///   of what the genuine server sent (in the handshake mode: nothing at all);
/// - a handshake that fails, fails with `TLSError` (or the TCP reason's `TLSError`).
import Deferreds
import FuzzSupport
import Glibc
import Reactor
import ReactorTesting

@testable import WebAgent

/// A throwaway self-signed certificate for "fuzz.test" (EC P-256, 100 years) and its key: the
/// fuzzer's own server, trusted by its client. Not a secret of anything.
private let certificatePEM = """
-----BEGIN CERTIFICATE-----
MIIBlTCCATugAwIBAgIUL4/1HMlm+kPXtljTfYCJsHmnxJMwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJZnV6ei50ZXN0MCAXDTI2MTIwNzIzMzI1NloYDzIxMjYxMTEz
MjMzMjU2WjAUMRIwEAYDVQQDDAlmdXp6LnRlc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASAQNaSA5a/ClmodU5ZvN9fYQG8aQz26BC5Hy4EEIPfIP4+onip1Q2K
r9Yu91zFMNI+wJO8tbqM5MDUE4ojgspMo2kwZzAdBgNVHQ4EFgQUJekgmCKk3h7w
I0LTBzid/1vL6UkwHwYDVR0jBBgwFoAUJekgmCKk3h7wI0LTBzid/1vL6UkwDwYD
VR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglmdXp6LnRlc3QwCgYIKoZIzj0EAwID
SAAwRQIhAMavCSX/b/Wi6L8YJb0LiXWQANABg/OysgULr3ESm0uRAiA1b4ZgiFOA
GtTm7F0ElWneeB1Bn3hWqJX+mBq/iZl6Ng==
-----END CERTIFICATE-----
"""
private let keyPEM = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUGUuFeAnqY4yOGf2
CFuDPrLd9ZWGirj8RWVJac5uUX6hRANCAASAQNaSA5a/ClmodU5ZvN9fYQG8aQz2
6BC5Hy4EEIPfIP4+onip1Q2Kr9Yu91zFMNI+wJO8tbqM5MDUE4ojgspM
-----END PRIVATE KEY-----
"""

private final class Files {
    let certificate: String
    let key: String
    init() {
        let directory = "/tmp/fuzz-tls-\(getpid())"
        mkdir(directory, 0o700)
        certificate = directory + "/cert.pem"
        key = directory + "/key.pem"
        for (path, text) in [(certificate, certificatePEM), (key, keyPEM)] {
            let file = fopen(path, "w")
            _ = fputs(text + "\n", file)
            fclose(file)
        }
    }
}

nonisolated(unsafe) private let contexts: (client: TLSContext, server: TLSContext) = {
    let files = Files()
    do {
        return (try TLSContext(caFile: files.certificate),
                try TLSContext(serverCertificate: files.certificate, key: files.key))
    } catch {
        fatalError("fuzz-tls: cannot make the contexts: \(error)")
    }
}()

private final class Recorder: Protocol {
    var made = 0
    var lost = 0
    var received: [UInt8] = []
    var dataAfterLost = false

    override func connectionMade() { made += 1 }
    override func dataReceived(_ bytes: [UInt8]) {
        if lost > 0 { dataAfterLost = true }
        received += bytes
    }
    override func connectionLost(_ reason: Failure) { lost += 1 }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTLS(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = fuzzBytes(data, count)
    guard input.count >= 2 else { return 0 }
    let afterHandshake = input[0] & 1 == 1
    let reset = input[1] & 1 == 1
    let rest = Array(input.dropFirst(2))
    let (clientContext, serverContext) = contexts

    // The port (from the first byte) picks the server a session is kept for: an input may start
    // from a full handshake or resume one an earlier input left.
    guard let clientEngine = clientContext.clientEngine(host: "fuzz.test", port: Int(input[0]) + 70000),
        let serverEngine = serverContext.serverEngine()
    else { fatalError("fuzz-tls: no engine") }
    let app = Recorder()
    let client = TLSMemoryBIOProtocol(wrapping: app, engine: clientEngine)
    let server = TLSMemoryBIOProtocol(wrapping: Recorder(), engine: serverEngine)
    var handshakeEndings = 0
    var handshakeFailure: Failure?
    _ = client.handshakeDone.addCallbacks({ (_: Void) -> Void in handshakeEndings += 1 }, { (failure: Failure) -> Void in
        handshakeEndings += 1
        handshakeFailure = failure
    })
    _ = server.handshakeDone.addErrback { _ in }
    let clientTCP = StringTransport()
    let serverTCP = StringTransport()
    client.makeConnection(clientTCP)
    var genuine: [UInt8] = []
    if afterHandshake {
        server.makeConnection(serverTCP)
        for _ in 0..<20 {
            let (toServer, toClient) = (clientTCP.value(), serverTCP.value())
            if toServer.isEmpty && toClient.isEmpty { break }
            clientTCP.clear()
            serverTCP.clear()
            if !toServer.isEmpty { server.dataReceived(toServer) }
            if !toClient.isEmpty { client.dataReceived(toClient) }
        }
        invariant(client.state == .open && app.made == 1, "the genuine handshake did not complete")
        genuine = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        server.wrapped.transport?.write(genuine)
        client.dataReceived(serverTCP.value())
        serverTCP.clear()
        invariant(app.received == genuine, "the genuine record was not delivered")
    }
    for piece in pieces(of: rest, seed: fnv1a(input)) {
        client.dataReceived(piece)
        invariant(app.made <= 1, "connected twice")
        invariant(app.made == 0 || handshakeEndings == 1, "connected without the handshake")
    }
    client.connectionLost(Failure(reset ? ConnectionLost("reset") as any Error : ConnectionDone()))
    // The server's layer and its protocol hold each other until its TCP ends.
    server.connectionLost(Failure(ConnectionDone()))
    invariant(handshakeEndings == 1, "handshakeDone fired \(handshakeEndings) times")
    invariant(client.state == .closed, "the layer did not end closed: \(client.state)")
    invariant(app.lost == app.made, "connectionLost \(app.lost) times for \(app.made) connections")
    invariant(!app.dataAfterLost, "data after connectionLost")
    invariant(app.received.count <= genuine.count && Array(genuine.prefix(app.received.count)) == app.received,
              "bytes from the fuzzer became plaintext: \(app.received)")
    if let handshakeFailure {
        invariant(handshakeFailure.value is TLSError, "the handshake failed with \(handshakeFailure)")
        invariant(app.made == 0, "connected although the handshake failed")
    }
    return 0
}
