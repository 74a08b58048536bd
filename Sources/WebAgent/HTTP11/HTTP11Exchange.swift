import Deferreds
import Reactor

/// One request and its response over a plain-HTTP/1.1 connection of the agent's pool.
///
/// The pool gives it a connection (`attach`); it writes the request, and the connection's parser
/// tells it the head (the response deferred fires), the body bytes and the end. Body bytes that
/// arrive before `deliverBody`, or while the body protocol is paused, are held and the connection
/// stops reading, so nothing piles up. A timeout, `cancel()`, `stopProducing()` or a dropped
/// response aborts the connection (it is not reused).
final class HTTP11Exchange: ResponseBody {
    /// Where the exchange stands; the connection's side is `HTTP11ClientStateMachine`, the body's
    /// `BodyDeliveryStateMachine`.
    private enum Phase {
        /// No connection yet: queued in the pool, or one is being made for it. The response
        /// deferred is pending.
        case waitingForConnection(Deferred<Response>)
        /// The request was sent on the connection; the head has not arrived (the deferred is
        /// pending).
        case awaitingHead(HTTP11Connection, Deferred<Response>)
        /// The head was handed over (the deferred fired); the body arrives on the connection.
        /// `hasNoBody`: the response has none (HEAD, 204, 304, a zero length), so dropping it
        /// aborts nothing.
        case receivingBody(HTTP11Connection, hasNoBody: Bool)
        /// The connection finished with it (the response complete, or the connection failed), or
        /// it failed (a timeout, a cancellation, a body over its limit, a stopped body, the pool
        /// shut down). The body protocol hears how through the body's machine.
        case ended
    }

    let request: Request
    let uri: URI
    let options: TransferOptions
    /// Strong: a pool lives at least as long as its exchanges in progress.
    let pool: HTTP11Connections
    /// Set once the exchange has been retried on a fresh connection after a reused one died.
    var retried = false

    private var phase: Phase
    private weak var response: Response?
    private var timeoutCall: DelayedCall?
    /// The connection's transport, kept for its addresses.
    private var transport: (any Transport)?

    /// The body's way to its protocol: held bytes, pause, the end; its source is the connection's
    /// reading.
    private var body = BodyDeliveryStateMachine(bufferLimit: HTTP11Exchange.bufferLimit)
    private var receivedBytes = 0
    private var keepAlive: HTTP11Exchange?

    private var upload: RequestUpload?

    /// Body bytes held before the connection stops reading.
    static let bufferLimit = 256 * 1024

    init(request: Request, uri: URI, options: TransferOptions, pool: HTTP11Connections, deferred: Deferred<Response>) {
        self.request = request
        self.uri = uri
        self.options = options
        self.pool = pool
        self.phase = .waitingForConnection(deferred)
    }

    /// The server (and proxy) whose connections it may use.
    var poolKey: HTTP11Connections.Key {
        HTTP11Connections.Key(host: uri.host, port: uri.port, proxy: options.proxy,
                              tls: uri.scheme == "https" ? TLSContext.Trust(caFile: options.caFile) : nil)
    }

    /// Whether a new connection may be made for it (it has not ended and has no connection).
    var isWaiting: Bool {
        if case .waitingForConnection = phase { return true }
        return false
    }

    /// The connection it is sent on, while it has one.
    private var connection: HTTP11Connection? {
        switch phase {
        case .awaitingHead(let connection, _), .receivingBody(let connection, _): return connection
        case .waitingForConnection, .ended: return nil
        }
    }

    // MARK: - Starting

    func begin() {
        if let timeout = options.timeout {
            timeoutCall = pool.reactor.callLater(timeout) { [weak self] in
                self?.fail(Failure(TimeoutError(seconds: timeout)))
            }
        }
        pool.start(self)
    }

    /// The pool hands over a connection: send the request on it.
    func attach(_ connection: HTTP11Connection) {
        guard case .waitingForConnection(let deferred) = phase else {
            preconditionFailure("Invalid state: a connection given to an exchange in \(phase)")
        }
        phase = .awaitingHead(connection, deferred)
        transport = connection.transport
        connection.send(head: requestHead())
        if let producer = request.bodyProducer {
            let upload = RequestUpload(producer: producer, chunked: producer.length == nil, exchange: self)
            self.upload = upload
            upload.start(on: connection)
        }
    }

    /// The request line and header block, as bytes.
    private func requestHead() -> [UInt8] {
        var bytes: [UInt8] = []
        let target = uri.requestTarget
        bytes.reserveCapacity(160 + target.utf8.count)
        bytes.append(contentsOf: request.method.utf8)
        bytes.append(0x20)
        if options.proxy != nil && uri.scheme == "http" {
            // Through a proxy (plain http; https goes through a tunnel): the absolute form (RFC 9112 §3.2.2), its path without dot segments too.
            bytes.append(contentsOf: uri.scheme.utf8)
            bytes.append(contentsOf: "://".utf8)
            uri.appendAuthority(to: &bytes)
        }
        bytes.append(contentsOf: target.utf8)
        bytes.append(contentsOf: " HTTP/1.1\r\n".utf8)
        let headers = request.headers
        if uri.scheme == "http", let authorization = options.proxy?.authorization,
            !headers.hasHeader("Proxy-Authorization") {
            bytes.append(contentsOf: "Proxy-Authorization: \(authorization)\r\n".utf8)
        }
        if !headers.hasHeader("Host") {
            bytes.append(contentsOf: "Host: ".utf8)
            uri.appendAuthority(to: &bytes)
            bytes.append(contentsOf: "\r\n".utf8)
        }
        headers.appendFieldLines(to: &bytes)
        if !pool.persistent && !headers.hasHeader("Connection") {
            bytes.append(contentsOf: "Connection: close\r\n".utf8)
        }
        if let producer = request.bodyProducer {
            if let length = producer.length {
                if !headers.hasHeader("Content-Length") {
                    bytes.append(contentsOf: "Content-Length: ".utf8)
                    bytes.appendDecimal(length)
                    bytes.append(contentsOf: "\r\n".utf8)
                }
            } else {
                bytes.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8)
            }
        } else if (request.method == "POST" || request.method == "PUT") && !headers.hasHeader("Content-Length") {
            bytes.append(contentsOf: "Content-Length: 0\r\n".utf8)
        }
        bytes.append(contentsOf: "\r\n".utf8)
        return bytes
    }

    // MARK: - From the connection's parser

    /// The response head arrived (`complete`: it has no body). Returns whether the exchange goes
    /// on (the user's callbacks may have cancelled it).
    func receivedHead(_ head: ResponseHead, complete: Bool) -> Bool {
        guard case .awaitingHead(let connection, let deferred) = phase else { return false }
        phase = .receivingBody(connection, hasNoBody: complete)
        let response = head.makeResponse(request: request, body: self)
        self.response = response
        deferred.callback(response)
        return isReceivingBody
    }

    private var isReceivingBody: Bool {
        if case .receivingBody = phase { return true }
        return false
    }

    /// Body bytes arrived (`whole`: the same bytes as an array, when the connection has one).
    /// Returns whether the exchange goes on.
    func receivedBody(_ bytes: UnsafeRawBufferPointer, whole: [UInt8]? = nil) -> Bool {
        guard isReceivingBody else { return false }
        if let limit = options.maxBodyBytes, receivedBytes + bytes.count > limit {
            fail(Failure(BodyTooLarge(limit: limit)))
            return false
        }
        receivedBytes += bytes.count
        let chunk = whole ?? Array(bytes)
        if let protocolHandler = body.received(chunk) {
            protocolHandler.dataReceived(chunk)
            return isReceivingBody
        }
        updateReading()
        return true
    }

    /// The connection is done with this exchange: the response ended (`reason` is `ResponseDone`
    /// or `PotentialDataLoss`) or the connection failed. The connection has already been released.
    func connectionFinished(_ reason: Failure) {
        let previous = phase
        if case .ended = previous { return }
        phase = .ended
        if let upload, !upload.isDone {
            upload.stop()
        }
        end(reason, after: previous)
    }

    // MARK: - Ending

    /// Fails the exchange now (timeout, cancellation, a dropped response, a body over its limit).
    func fail(_ reason: Failure) {
        let previous = phase
        if case .ended = previous { return }
        phase = .ended
        upload?.stop()
        switch previous {
        case .awaitingHead(let connection, _), .receivingBody(let connection, _):
            connection.abort()
        case .waitingForConnection:
            pool.forget(self)
        case .ended:
            break
        }
        end(reason, after: previous, discardingHeld: true)
    }

    /// Tells how the exchange ended (it was in `previous`): the response deferred fails, or the
    /// body's machine hears the end.
    private func end(_ reason: Failure, after previous: Phase, discardingHeld: Bool = false) {
        timeoutCall?.cancel()
        timeoutCall = nil
        switch previous {
        case .waitingForConnection(let deferred), .awaitingHead(_, let deferred):
            body.abandon(reason)
            deferred.errback(ResponseBody.neverReceived(reason))
        case .receivingBody:
            body.ended(reason, discardingHeld: discardingHeld)
            deliver()
        case .ended:
            break
        }
    }

    /// Carries out what the body's machine says: hands over what is held while the protocol takes
    /// it, tells the protocol how the body ended once all is delivered, then pauses or resumes the
    /// connection's reading.
    private func deliver() {
        while let delivery = body.nextDelivery() {
            switch delivery {
            case .deliver(let protocolHandler, let chunk):
                protocolHandler.dataReceived(chunk)
            case .connectionLost(let protocolHandler, let reason):
                keepAlive = nil
                protocolHandler.connectionLost(ResponseBody.bodyEnding(reason, response: response))
                protocolHandler.transport = nil
                return
            }
        }
        updateReading()
    }

    /// Pauses the connection's reading while bytes are held, resumes it when they are delivered.
    private func updateReading() {
        guard let connection else { return }
        switch body.sourceAction() {
        case .none: break
        case .pauseSource: connection.transport?.pauseProducing()
        case .resumeSource: connection.transport?.resumeProducing()
        }
    }

    // MARK: - The body side (ResponseBody)

    override func start(_ protocolHandler: Protocol) {
        if let reason = body.attach(protocolHandler) {
            protocolHandler.makeConnection(makeBodyTransport())
            protocolHandler.connectionLost(ResponseBody.bodyEnding(reason, response: response))
            return
        }
        keepAlive = self
        protocolHandler.makeConnection(makeBodyTransport())
        deliver()
    }

    override func responseReleased() {
        guard !body.hasProtocol, !wasDelivered else { return }
        if case .receivingBody(_, hasNoBody: false) = phase { fail(Failure(CancelledError())) }
        body.abandon(Failure(CancelledError()))
    }

    private func makeBodyTransport() -> BodyTransport {
        BodyTransport(
            pause: { [weak self] in
                guard let self, body.hasProtocol, !body.isPaused else { return }
                body.pause()
                updateReading()
            },
            resume: { [weak self] in
                guard let self, body.isPaused else { return }
                body.resume()
                deliver()
            },
            stop: { [weak self] in self?.fail(ResponseBody.stoppedByProtocol()) },
            peer: { [weak transport, uri] in transport?.getPeer() ?? Address(family: .ipv4, host: uri.host, port: uri.port) },
            host: { [weak transport] in transport?.getHost() ?? Address(family: .ipv4, host: "", port: 0) })
    }

    /// The reused connection it was sent on had been closed by the server: it goes back to the
    /// pool for a fresh one.
    func detachForRetry() {
        guard case .awaitingHead(_, let deferred) = phase else {
            preconditionFailure("Invalid state: an exchange sent again in \(phase)")
        }
        phase = .waitingForConnection(deferred)
        body.sourceReplaced()
    }

    /// The pool is shutting down: forget everything without calling anyone.
    func detach() {
        phase = .ended
        timeoutCall?.cancel()
        timeoutCall = nil
        body.abandon(Failure(CancelledError()))
        keepAlive = nil
    }

    /// Cancels the request (the canceller of the response deferred).
    func cancel() {
        fail(Failure(CancelledError()))
    }

    /// The request body failed: the exchange fails with `RequestTransmissionFailed`.
    fileprivate func uploadFailed(_ reason: Failure) {
        fail(Failure(RequestTransmissionFailed(reasons: [reason])))
    }
}

/// Writes a request body from its producer to the connection, chunked when its length is unknown,
/// pausing the producer while the connection's send buffer is full.
private final class RequestUpload: BodyConsumer, PushProducer {
    let producer: any BodyProducer
    let chunked: Bool
    weak var exchange: HTTP11Exchange?
    weak var connection: HTTP11Connection?
    private(set) var isDone = false

    init(producer: any BodyProducer, chunked: Bool, exchange: HTTP11Exchange) {
        self.producer = producer
        self.chunked = chunked
        self.exchange = exchange
    }

    func start(on connection: HTTP11Connection) {
        self.connection = connection
        connection.transport?.registerProducer(self, streaming: true)
        _ = producer.startProducing(self).addCallbacks({ [weak self] (_: Void) -> Void in
            guard let self, !isDone else { return }
            isDone = true
            if chunked { self.connection?.transport?.write(Array("0\r\n\r\n".utf8)) }
            self.connection?.transport?.unregisterProducer()
            self.connection?.requestBodySent()
        }, { [weak self] (failure: Failure) -> Void in
            guard let self, !isDone else { return }
            isDone = true
            self.connection?.transport?.unregisterProducer()
            exchange?.uploadFailed(failure)
        })
    }

    /// Stops the producer (the exchange ended before the body was sent).
    func stop() {
        guard !isDone else { return }
        isDone = true
        connection?.transport?.unregisterProducer()
        producer.stopProducing()
    }

    // BodyConsumer
    func write(_ bytes: [UInt8]) {
        guard !isDone, !bytes.isEmpty, let transport = connection?.transport else { return }
        if chunked {
            var framed: [UInt8] = []
            framed.reserveCapacity(bytes.count + 12)
            framed.appendHex(bytes.count)
            framed.append(contentsOf: "\r\n".utf8)
            framed.append(contentsOf: bytes)
            framed.append(contentsOf: "\r\n".utf8)
            transport.write(framed)
        } else {
            transport.write(bytes)
        }
    }

    // PushProducer: the connection's flow control, passed on to the body producer.
    func pauseProducing() { if !isDone { producer.pauseProducing() } }
    func resumeProducing() { if !isDone { producer.resumeProducing() } }
    func stopProducing() { stop() }
}

extension [UInt8] {
    /// Appends `value` (≥ 0) in decimal.
    mutating func appendDecimal(_ value: Int) {
        if value >= 10 { appendDecimal(value / 10) }
        append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    /// Appends `value` (≥ 0) in lower-case hex.
    mutating func appendHex(_ value: Int) {
        if value >= 16 { appendHex(value / 16) }
        let digit = UInt8(value % 16)
        append(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
    }
}
