import Deferreds
import Reactor

/// TLS layered on a connection's transport: a `Protocol` for the TCP connection that wraps the
/// application's protocol and is its `Transport`, with OpenSSL working on memory BIOs in between.
///
/// Bytes from TCP go to OpenSSL; the plaintext it yields goes to the wrapped protocol's
/// `dataReceived`. What the wrapped protocol writes is encrypted and written to TCP at once. The
/// handshake is driven by the bytes arriving (a client end sends its hello on `makeConnection`).
///
/// The wrapped protocol is connected (`makeConnection`) only once the handshake is done, and
/// `handshakeDone` fires then (after it); a handshake that fails (a certificate refused, a server
/// speaking plain http, a connection cut short) fails `handshakeDone` with a `TLSError` saying why
/// and the wrapped protocol hears nothing: to it, as to libcurl's callers, the connection was never
/// made. (Twisted connects the wrapped protocol with TCP and holds its writes until the
/// handshake is done; here the handshake is part of connecting, as `connectTLS` presents it.)
///
/// After the handshake:
/// - `loseConnection()` sends close_notify, then closes TCP once it is written; the wrapped
///   protocol's `connectionLost` gets `ConnectionDone`. `abortConnection()` closes TCP at once.
/// - The peer's close_notify: we answer with ours and close; `ConnectionDone`.
/// - TCP closing cleanly without close_notify: the plaintext still buffered is delivered, then the
///   end is a `TLSError` saying the data may be truncated (OpenSSL's "unexpected eof while
///   reading"): the peer may have been cut off mid-record, and nothing proves otherwise.
/// - A TLS failure (a bad record, a fatal alert): TCP is closed at once; the `TLSError`.
/// - Any other TCP end (a reset): that reason, as TCP gave it.
/// - Flow control passes through: `pauseProducing()`/`resumeProducing()` pause and resume reading
///   TCP; a producer registered on this transport is registered on TCP's (whose buffer holds the
///   encrypted bytes).
///
/// States (`State`): `idle` → (`makeConnection`) `handshaking` → (handshake done) `open` →
/// (`loseConnection`, `abortConnection`, close_notify received, a TLS failure) `closing` → (TCP's
/// `connectionLost`, the wrapped protocol told) `closed`. A failed or abandoned handshake and TCP
/// ending before or during it go straight to `closed`. Nothing goes back.
///
/// Reactor-bound. Twisted: `twisted.protocols.tls.TLSMemoryBIOProtocol`.
final class TLSMemoryBIOProtocol: Protocol, Transport {
    /// Where the connection is; see the type's description for the transitions.
    enum State: Equatable {
        /// TCP is not connected yet.
        case idle
        /// TCP is up; the handshake goes on; the wrapped protocol is not connected.
        case handshaking
        /// The handshake is done; the wrapped protocol is connected; data flows both ways.
        case open
        /// The end has begun (our close_notify or abort, the peer's close_notify, a TLS failure);
        /// the wrapped protocol hears `reason` (or TCP's own, when nil) when TCP is gone.
        case closing(reason: Failure?)
        /// TCP is gone and the wrapped protocol (if it was connected) has been told.
        case closed

        static func == (lhs: State, rhs: State) -> Bool {
            switch (lhs, rhs) {
            case (.idle, .idle), (.handshaking, .handshaking), (.open, .open), (.closing, .closing),
                (.closed, .closed):
                return true
            default:
                return false
            }
        }
    }

    /// The application's protocol, connected once the handshake is done.
    let wrapped: Protocol
    let engine: TLSEngine
    private(set) var state = State.idle
    /// Fires once the handshake is done and the wrapped protocol connected; fails with a
    /// `TLSError` (or why TCP ended, or why it was abandoned) if it never gets there.
    let handshakeDone = Deferred<Void>()
    /// Writes OpenSSL could not take yet (a renegotiation waiting for the peer), in order.
    private var heldWrites: [[UInt8]] = []

    /// - Parameters:
    ///   - wrapped: the application's protocol.
    ///   - engine: a fresh OpenSSL end (client or server) for this one connection.
    init(wrapping wrapped: Protocol, engine: TLSEngine) {
        self.wrapped = wrapped
        self.engine = engine
    }

    /// The TLS connection's `Transport`, which is TCP's.
    private var tcp: (any Transport)? { transport }

    // MARK: - From TCP

    override func makeConnection(_ transport: any Transport) {
        self.transport = transport
        guard state == .idle else {
            // Abandoned while TCP was connecting.
            transport.abortConnection()
            return
        }
        state = .handshaking
        advanceHandshake()
    }

    override func dataReceived(_ bytes: [UInt8]) {
        switch state {
        case .handshaking:
            bytes.withUnsafeBytes { engine.feed($0) }
            advanceHandshake()
        case .open:
            bytes.withUnsafeBytes { engine.feed($0) }
            readAvailable(fromPeer: true)
        case .idle, .closing, .closed:
            // After the end began, what the peer still sends is not wanted.
            break
        }
    }

    override func connectionLost(_ reason: Failure) {
        switch state {
        case .idle, .closed:
            state = .closed
        case .handshaking:
            engine.feedEOF()
            let failure: Failure
            if reason.check(ConnectionDone.self) != nil, case .failed(let error) = engine.handshake() {
                failure = Failure(error)
            } else if reason.check(ConnectionDone.self) != nil {
                failure = Failure(TLSError(message:
                    "OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to \(engine.host):\(engine.port)"))
            } else {
                failure = Failure(TLSError(message: "OpenSSL SSL_connect: \(reason.getErrorMessage()) in connection to "
                    + "\(engine.host):\(engine.port)"))
            }
            failHandshake(failure)
        case .open:
            var ending = reason
            if reason.check(ConnectionDone.self) != nil {
                // A clean TCP end: what OpenSSL still holds, then close_notify or its absence.
                engine.feedEOF()
                var plaintext: [UInt8] = []
                var outcome = TLSEngine.Step.wantMore
                repeat { outcome = engine.read(into: &plaintext) } while outcome.isDone
                if !plaintext.isEmpty { wrapped.dataReceived(plaintext) }
                switch outcome {
                case .closedByPeer: ending = reason
                case .failed(let error): ending = Failure(error)
                case .done, .wantMore:
                    ending = Failure(TLSError(message: "the connection closed without a TLS close_notify: the data may be truncated"))
                }
            }
            tellWrapped(ending)
        case .closing(let stored):
            tellWrapped(stored ?? reason)
        }
        transport = nil
    }

    // MARK: - Transport (for the wrapped protocol)

    func write(_ bytes: [UInt8]) {
        guard state == .open, !bytes.isEmpty else { return }
        guard heldWrites.isEmpty else {
            heldWrites.append(bytes)
            return
        }
        switch engine.write(bytes) {
        case .done:
            flush()
        case .wantMore:
            heldWrites.append(bytes)
            flush()
        case .closedByPeer:
            flush()
        case .failed(let error):
            fail(error)
        }
    }

    func writeSequence(_ chunks: [[UInt8]]) {
        write(Array(chunks.joined()))
    }

    func loseConnection() {
        guard state == .open else { return }
        state = .closing(reason: nil)
        engine.shutdown()
        flush()
        tcp?.loseConnection()
    }

    func abortConnection() {
        switch state {
        case .open:
            state = .closing(reason: Failure(ConnectionAborted()))
            tcp?.abortConnection()
        case .closing:
            tcp?.abortConnection()
        case .idle, .handshaking, .closed:
            break
        }
    }

    /// Sends close_notify after what was written; reading goes on.
    func loseWriteConnection() {
        guard state == .open else { return }
        engine.shutdown()
        flush()
        tcp?.loseWriteConnection()
    }

    func getPeer() -> Address { tcp?.getPeer() ?? Address(family: .ipv4, host: engine.host, port: engine.port) }
    func getHost() -> Address { tcp?.getHost() ?? Address(family: .ipv4, host: "", port: 0) }

    func registerProducer(_ producer: any PushProducer, streaming: Bool) {
        tcp?.registerProducer(producer, streaming: streaming)
    }

    func unregisterProducer() { tcp?.unregisterProducer() }
    func pauseProducing() { tcp?.pauseProducing() }
    func resumeProducing() { tcp?.resumeProducing() }
    func stopProducing() { abortConnection() }

    // MARK: - Abandoning the handshake

    /// Gives up before the handshake is done (cancelled, timed out, TCP never connected):
    /// `handshakeDone` fails with `reason` and TCP, if up, is closed at once.
    func abandonHandshake(_ reason: Failure) {
        switch state {
        case .idle:
            failHandshake(reason)
        case .handshaking:
            failHandshake(reason)
            tcp?.abortConnection()
        case .open, .closing, .closed:
            break
        }
    }

    // MARK: - Steps

    private func advanceHandshake() {
        switch engine.handshake() {
        case .done:
            flush()
            engine.keepNewSession()
            state = .open
            wrapped.makeConnection(self)
            if !handshakeDone.called { handshakeDone.callback(()) }
            // Records that came with the last handshake message.
            if state == .open { readAvailable(fromPeer: false) }
        case .wantMore:
            flush()
        case .closedByPeer:
            flush()
            failHandshake(Failure(TLSError(message:
                "OpenSSL SSL_connect: the server closed the TLS connection during the handshake")))
            tcp?.loseConnection()
        case .failed(let error):
            // The alert OpenSSL made goes out before the close.
            flush()
            failHandshake(Failure(error))
            tcp?.loseConnection()
        }
    }

    private func failHandshake(_ reason: Failure) {
        state = .closed
        engine.settleFirst()
        if !handshakeDone.called { handshakeDone.errback(reason) }
    }

    /// Decrypts all that was fed and hands the plaintext to the wrapped protocol in one piece.
    /// `fromPeer`: bytes arrived after the handshake (not the handshake's own last read).
    private func readAvailable(fromPeer: Bool) {
        var plaintext: [UInt8] = []
        var outcome = TLSEngine.Step.wantMore
        // A page's response is usually one record: no second read just to hear "want more".
        repeat { outcome = engine.read(into: &plaintext) } while outcome.isDone && engine.hasPendingInput
        engine.keepNewSession()
        // The server's first flight after the handshake holds its tickets if it gives any (TLS
        // 1.3; a TLS 1.2 session came with the handshake): the others wait no longer than this.
        if fromPeer { engine.settleFirst() }
        flush()
        if !plaintext.isEmpty { wrapped.dataReceived(plaintext) }
        guard state == .open else { return }
        switch outcome {
        case .closedByPeer:
            state = .closing(reason: nil)
            engine.shutdown()
            flush()
            tcp?.loseConnection()
        case .failed(let error):
            fail(error)
        case .done, .wantMore:
            if !heldWrites.isEmpty { retryHeldWrites() }
        }
    }

    private func retryHeldWrites() {
        let writes = heldWrites
        heldWrites = []
        for (index, bytes) in writes.enumerated() {
            switch engine.write(bytes) {
            case .done, .closedByPeer:
                continue
            case .wantMore:
                heldWrites = Array(writes[index...])
            case .failed(let error):
                fail(error)
                return
            }
            break
        }
        flush()
    }

    /// A TLS failure once open: TCP closed at once, the wrapped protocol told `error`.
    private func fail(_ error: TLSError) {
        guard state == .open else { return }
        flush()
        state = .closing(reason: Failure(error))
        tcp?.abortConnection()
    }

    private func tellWrapped(_ reason: Failure) {
        state = .closed
        engine.settleFirst()
        wrapped.connectionLost(reason)
        wrapped.transport = nil
    }

    /// Writes what OpenSSL produced to TCP.
    private func flush() {
        // takeOutput asks OpenSSL what is pending: asking first as well cost a call a flush.
        let bytes = engine.takeOutput()
        if !bytes.isEmpty { tcp?.write(bytes) }
    }
}
