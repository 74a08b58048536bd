import COpenSSL

/// One end of a TLS connection in OpenSSL, over a pair of memory BIOs: bytes from the peer go in
/// with `feed`, bytes for the peer come out of `takeOutput`; nothing here touches a socket.
///
/// A thin driver of the library: the handshake, records, alerts, verification and session
/// tickets are all OpenSSL's. What this adds is turning OpenSSL's outcome codes into `Step`s and
/// its error queue and verify result into a `TLSError` that says why, worded as curl's command
/// line words it.
///
/// Reactor-bound (OpenSSL's error queue is per thread: every call is made on the reactor's).
final class TLSEngine {
    private let ssl: OpaquePointer
    /// The server's name or address as the URI gave it (for messages and the session cache);
    /// empty for a server end.
    let host: String
    let port: Int
    /// Holds the `SSL_CTX` (and its session cache) for as long as the connection lives.
    let context: TLSContext
    /// `feedEOF()` was called.
    private(set) var inputEnded = false

    /// What an operation came to.
    enum Step {
        /// It is done (the handshake), or bytes came out (a read, a write).
        case done(Int)
        /// OpenSSL needs more bytes from the peer.
        case wantMore
        /// The peer sent close_notify: it will send nothing more.
        case closedByPeer
        /// A failure: the connection is unusable.
        case failed(TLSError)

        /// Whether it is `.done`: the operation went through.
        var isDone: Bool {
            if case .done = self { return true }
            return false
        }
    }

    init(_ ssl: OpaquePointer, host: String, port: Int, context: TLSContext) {
        self.ssl = ssl
        self.host = host
        self.port = port
        self.context = context
    }

    deinit {
        copenssl_free(ssl)
    }

    /// Hands bytes that came from the peer to OpenSSL.
    func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        copenssl_feed(ssl, base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }

    /// The peer's TCP stream has ended: reads past what was fed see the end.
    func feedEOF() {
        inputEnded = true
        copenssl_feed_eof(ssl)
    }

    /// The bytes waiting to be sent to the peer (empty when none).
    func takeOutput() -> [UInt8] {
        let pending = copenssl_pending_output(ssl)
        guard pending > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: pending) { buffer, count in
            count = copenssl_take_output(ssl, buffer.baseAddress!, pending)
        }
    }

    /// Drives the handshake with what has been fed.
    func handshake() -> Step {
        step(copenssl_handshake(ssl), during: true)
    }

    /// Decrypts what has been fed, appending the plaintext to `plaintext`: `.done(count)` when
    /// some came (call again: more may follow), else why none did.
    func read(into plaintext: inout [UInt8]) -> Step {
        let scratch = context.readBuffer
        let result = copenssl_read(ssl, scratch.baseAddress!, Int32(scratch.count))
        if result > 0 {
            let bytes = UnsafeBufferPointer(rebasing: scratch[..<Int(result)])
            if plaintext.isEmpty { plaintext = Array(bytes) } else { plaintext.append(contentsOf: bytes) }
        }
        return step(result, during: false)
    }

    /// Whether a read may yield more (bytes fed but not yet decrypted); when not, `read` would
    /// answer `.wantMore`, so the caller can skip it.
    var hasPendingInput: Bool { copenssl_has_pending_input(ssl) != 0 }

    /// Encrypts `bytes` whole into the output.
    func write(_ bytes: [UInt8]) -> Step {
        guard !bytes.isEmpty else { return .done(0) }
        let result = bytes.withUnsafeBufferPointer { copenssl_write(ssl, $0.baseAddress!, Int32($0.count)) }
        return step(result, during: false)
    }

    /// Queues close_notify in the output.
    func shutdown() {
        copenssl_shutdown(ssl)
    }

    /// The ALPN protocol the server selected ("" when none).
    var negotiatedProtocol: String {
        var name = [CChar](repeating: 0, count: 64)
        _ = copenssl_alpn_selected(ssl, &name, name.count)
        return TLSEngine.text(name)
    }

    /// Whether the handshake resumed a session instead of a full handshake.
    var sessionReused: Bool { copenssl_session_reused(ssl) != 0 }

    /// Whether this connection makes the first handshake to its server, which others wait for
    /// (`TLSContext.whenReadyToHandshake`) until `settleFirst()`.
    var isFirstToServer = false

    /// Moves the latest session the server gave (if any) into the context's cache for this server.
    func keepNewSession() {
        guard !host.isEmpty, let session = copenssl_take_new_session(ssl) else { return }
        context.store(session, host: host, port: port)
        settleFirst()
    }

    /// For the first connection to its server: lets the ones waiting for it begin (once).
    func settleFirst() {
        guard isFirstToServer else { return }
        isFirstToServer = false
        context.settleFirst(host: host, port: port)
    }

    /// The text of a NUL-terminated C buffer.
    static func text(_ buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func step(_ result: Int32, during handshake: Bool) -> Step {
        if result > 0 { return .done(Int(result)) }
        switch result {
        case Int32(COPENSSL_WANT_MORE): return .wantMore
        case Int32(COPENSSL_CLOSED): return .closedByPeer
        default: return .failed(failure(handshake: handshake))
        }
    }

    /// Why the last operation failed, as curl's command line says it: a certificate the verifier
    /// refused ("SSL certificate problem: certificate has expired", or for a name mismatch "SSL: no
    /// alternative certificate subject name matches target host name 'h1.test'"), else OpenSSL's
    /// first error ("error:0A00010B:SSL routines::wrong version number"), else the end of the stream.
    private func failure(handshake: Bool) -> TLSError {
        let verify = copenssl_verify_result(ssl)
        var first = ""
        var buffer = [CChar](repeating: 0, count: 256)
        while copenssl_next_error(&buffer, buffer.count) != 0 {
            if first.isEmpty { first = TLSEngine.text(buffer) }
        }
        if handshake && verify != 0 {
            if copenssl_verify_is_name_mismatch(verify) != 0 {
                return TLSError(message: "SSL: no alternative certificate subject name matches target host name '\(host)'")
            }
            return TLSError(message: "SSL certificate problem: \(String(cString: copenssl_verify_error_string(verify)))")
        }
        if inputEnded {
            // The peer closed TCP without close_notify (OpenSSL 3: "unexpected eof while reading").
            // During the handshake, curl's words for it; after it, the data may be cut short.
            let reason = first.isEmpty ? "" : ": \(first)"
            return TLSError(message: handshake
                ? "OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to \(host):\(port) (the server closed the connection during the TLS handshake\(reason))"
                : "the connection closed without a TLS close_notify: the data may be truncated\(reason)")
        }
        if !first.isEmpty { return TLSError(message: handshake ? "OpenSSL SSL_connect: \(first)" : first) }
        return TLSError(message: handshake
            ? "OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to \(host):\(port)" : "OpenSSL SSL_read: SSL_ERROR_SYSCALL")
    }
}
