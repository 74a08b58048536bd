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
    private enum BodyState {
        case waiting
        case delivering(Protocol)
        case finished
    }

    let request: Request
    let uri: URI
    let options: TransferOptions
    /// Strong: a pool lives at least as long as its exchanges in progress.
    let pool: HTTP11Connections
    /// Set once the exchange has been retried on a fresh connection after a reused one died.
    var retried = false

    private var responseDeferred: Deferred<Response>?
    private weak var response: Response?
    private var timeoutCall: DelayedCall?
    private(set) var connection: HTTP11Connection?
    /// The connection's transport, kept for its addresses.
    private var transport: (any Transport)?

    private var bodyState = BodyState.waiting
    private var held = HeldChunks()
    private var receivedBytes = 0
    private var pausedByProtocol = false
    private var readingPaused = false
    /// The response has no body (HEAD, 204, 304, a zero length): dropping it aborts nothing.
    private var hasNoBody = false
    /// How the exchange ended, once it has; told to the body protocol when it is given.
    private var ending: Failure?
    private var keepAlive: HTTP11Exchange?

    private var upload: RequestUpload?

    /// Body bytes held before the connection stops reading.
    static let bufferLimit = 256 * 1024

    init(request: Request, uri: URI, options: TransferOptions, pool: HTTP11Connections, deferred: Deferred<Response>) {
        self.request = request
        self.uri = uri
        self.options = options
        self.pool = pool
        self.responseDeferred = deferred
    }

    /// The server (and proxy) whose connections it may use.
    var poolKey: HTTP11Connections.Key {
        HTTP11Connections.Key(host: uri.host, port: uri.port, proxy: options.proxy,
                              tls: uri.scheme == "https" ? TLSContext.Trust(caFile: options.caFile) : nil)
    }

    /// Whether a new connection may be made for it (it has not ended and has no connection).
    var isWaiting: Bool { ending == nil && connection == nil }

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
        self.connection = connection
        transport = connection.transport
        connection.send(head: requestHead())
        if let producer = request.bodyProducer {
            let upload = RequestUpload(producer: producer, chunked: producer.length == nil, exchange: self)
            self.upload = upload
            upload.start(on: connection)
        }
    }

    /// Whether the connection may carry another request once the response is complete.
    var allowsReuse: Bool {
        pool.persistent && !request.headers.hasConnectionClose && uploadIsDone
    }

    /// Whether the request body (if any) has been written whole.
    var uploadIsDone: Bool { upload?.isDone ?? true }

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
        guard let deferred = responseDeferred else { return false }
        responseDeferred = nil
        hasNoBody = complete
        let response = head.makeResponse(request: request, body: self)
        self.response = response
        deferred.callback(response)
        return connection != nil
    }

    /// Body bytes arrived (`whole`: the same bytes as an array, when the connection has one).
    /// Returns whether the exchange goes on.
    func receivedBody(_ bytes: UnsafeRawBufferPointer, whole: [UInt8]? = nil) -> Bool {
        guard ending == nil else { return false }
        if let limit = options.maxBodyBytes, receivedBytes + bytes.count > limit {
            fail(Failure(BodyTooLarge(limit: limit)))
            return false
        }
        receivedBytes += bytes.count
        if case .delivering(let protocolHandler) = bodyState, !pausedByProtocol, held.byteCount == 0 {
            protocolHandler.dataReceived(whole ?? Array(bytes))
            return ending == nil
        }
        held.append(whole ?? Array(bytes))
        updateReading()
        return true
    }

    /// The connection is done with this exchange: the response ended (`reason` is `ResponseDone`
    /// or `PotentialDataLoss`) or the connection failed. The connection has already been released.
    func connectionFinished(_ reason: Failure) {
        connection = nil
        guard ending == nil else { return }
        if let upload, !upload.isDone {
            upload.stop()
        }
        end(reason)
    }

    // MARK: - Ending

    /// Fails the exchange now (timeout, cancellation, a dropped response, a body over its limit).
    func fail(_ reason: Failure) {
        guard ending == nil else { return }
        upload?.stop()
        if let connection {
            self.connection = nil
            connection.abort()
        } else {
            pool.forget(self)
        }
        held.removeAll()
        end(reason)
    }

    private func end(_ reason: Failure) {
        ending = reason
        timeoutCall?.cancel()
        timeoutCall = nil
        if let deferred = responseDeferred {
            responseDeferred = nil
            bodyState = .finished
            deferred.errback(ResponseBody.neverReceived(reason))
            return
        }
        if case .delivering(let protocolHandler) = bodyState {
            finishDelivery(protocolHandler)
        }
    }

    /// Hands over what is buffered, then, once all is delivered and the exchange has ended, tells
    /// the protocol how.
    private func finishDelivery(_ protocolHandler: Protocol) {
        while !pausedByProtocol, let chunk = held.popFirst() {
            protocolHandler.dataReceived(chunk)
            if case .finished = bodyState { return }
        }
        guard held.byteCount == 0, let ending else {
            updateReading()
            return
        }
        bodyState = .finished
        keepAlive = nil
        protocolHandler.connectionLost(ResponseBody.bodyEnding(ending, response: response))
        protocolHandler.transport = nil
    }

    /// Pauses the connection's reading while bytes are held, resumes it when they are delivered.
    private func updateReading() {
        guard let connection else { return }
        let shouldPause: Bool
        switch bodyState {
        case .waiting: shouldPause = held.byteCount > 0
        case .delivering: shouldPause = pausedByProtocol || held.byteCount > HTTP11Exchange.bufferLimit
        case .finished: shouldPause = false
        }
        if shouldPause != readingPaused {
            readingPaused = shouldPause
            if shouldPause { connection.transport?.pauseProducing() } else { connection.transport?.resumeProducing() }
        }
    }

    // MARK: - The body side (ResponseBody)

    override func start(_ protocolHandler: Protocol) {
        if case .finished = bodyState {
            protocolHandler.makeConnection(makeBodyTransport())
            protocolHandler.connectionLost(ResponseBody.bodyEnding(ending ?? Failure(CancelledError()), response: response))
            return
        }
        bodyState = .delivering(protocolHandler)
        keepAlive = self
        protocolHandler.makeConnection(makeBodyTransport())
        if case .delivering = bodyState { finishDelivery(protocolHandler) }
    }

    override func responseReleased() {
        if case .waiting = bodyState, !wasDelivered {
            if ending == nil && !hasNoBody { fail(Failure(CancelledError())) }
            bodyState = .finished
            held.removeAll()
        }
    }

    private func makeBodyTransport() -> BodyTransport {
        BodyTransport(
            pause: { [weak self] in
                guard let self, !pausedByProtocol else { return }
                pausedByProtocol = true
                updateReading()
            },
            resume: { [weak self] in
                guard let self, pausedByProtocol else { return }
                pausedByProtocol = false
                if case .delivering(let protocolHandler) = bodyState { finishDelivery(protocolHandler) }
            },
            stop: { [weak self] in self?.fail(ResponseBody.stoppedByProtocol()) },
            peer: { [weak transport, uri] in transport?.getPeer() ?? Address(family: .ipv4, host: uri.host, port: uri.port) },
            host: { [weak transport] in transport?.getHost() ?? Address(family: .ipv4, host: "", port: 0) })
    }

    /// The reused connection it was sent on had been closed by the server: it goes back to the
    /// pool for a fresh one.
    func detachForRetry() {
        connection = nil
        readingPaused = false
    }

    /// The pool is shutting down: forget everything without calling anyone.
    func detach() {
        ending = Failure(CancelledError())
        timeoutCall?.cancel()
        timeoutCall = nil
        responseDeferred = nil
        connection = nil
        bodyState = .finished
        keepAlive = nil
        held.removeAll()
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
