import Deferreds
import Reactor

/// One client connection speaking HTTP/1.1: carries one exchange at a time, then goes back to its
/// pool. Twisted: `twisted.web._newclient.HTTP11ClientProtocol`.
///
/// The response is parsed as it arrives. When it is complete the connection is released to the
/// pool *before* the exchange hears of it, so a request made from the body's `connectionLost`
/// (as the tutorial's chain does) can reuse it at once.
final class HTTP11Connection: Protocol, ResponseParserDelegate {
    /// Weak: a pool that nobody uses any more closes its idle connections as it goes.
    private weak var pool: HTTP11Connections?
    let key: HTTP11Connections.Key
    /// The exchange this connection carries now.
    private(set) var exchange: HTTP11Exchange?
    /// The exchange it was made for, until it is connected.
    var pendingExchange: HTTP11Exchange?
    /// The connection attempt, until it ends.
    var connecting: Deferred<HTTP11Connection>?
    private var parser = ResponseParser(isHeadRequest: false, maxHeaderBytes: 1)
    /// When it became idle (reactor seconds).
    var idleSince = 0.0
    /// Responses completed on it: a connection that has served one is "reused" for the next.
    private(set) var servedResponses = 0
    private(set) var isClosed = false
    // What the parser reported during the current `dataReceived`, acted on after it returns.
    private var responseComplete = false
    private var completeAndReusable = false
    /// The last response was complete before its request body was sent whole.
    private var responseBeforeUpload = false
    /// The bytes being parsed, during `dataReceived`.
    private var input: [UInt8] = []

    init(pool: HTTP11Connections, key: HTTP11Connections.Key) {
        self.pool = pool
        self.key = key
    }

    /// Starts carrying `exchange`: a fresh parser, then the exchange writes its request.
    func assign(_ exchange: HTTP11Exchange) {
        self.exchange = exchange
        parser = ResponseParser(isHeadRequest: exchange.request.method == "HEAD",
                                maxHeaderBytes: exchange.options.maxHeaderBytes)
        exchange.attach(self)
    }

    func send(head: [UInt8]) {
        transport?.write(head)
    }

    /// Drops the exchange and closes at once (the peer sees a reset); not reused.
    func abort() {
        exchange = nil
        transport?.abortConnection()
    }

    /// Closes once what was written has been sent; at once (a reset) when the response came
    /// before its request body was sent whole, whose rest the server may never read.
    func close() {
        exchange = nil
        if responseBeforeUpload {
            transport?.abortConnection()
        } else {
            transport?.loseConnection()
        }
    }

    // MARK: - Protocol

    override func dataReceived(_ bytes: [UInt8]) {
        guard let exchange else {
            // Nothing was asked: an idle connection the server writes to is not trusted again, and
            // leaves the pool now rather than when the close is reported.
            pool?.closed(self)
            transport?.abortConnection()
            return
        }
        do {
            input = bytes
            defer { input = [] }
            try bytes.withUnsafeBytes { try parser.parse($0, self) }
        } catch {
            self.exchange = nil
            transport?.abortConnection()
            exchange.connectionFinished(beforeHead(Failure(error)))
            return
        }
        if responseComplete {
            responseComplete = false
            self.exchange = nil
            servedResponses += 1
            responseBeforeUpload = !exchange.uploadIsDone
            // The exchange may have paused reading to hold its body (no deliverBody yet, or a paused
            // body protocol); the connection it gives back reads again, to see the server close it
            // while idle and the responses to later requests.
            transport?.resumeProducing()
            if let pool {
                pool.release(self, reusable: completeAndReusable && exchange.allowsReuse)
            } else {
                close()
            }
            exchange.connectionFinished(ResponseBody.responseDone)
        }
    }

    override func connectionLost(_ reason: Failure) {
        isClosed = true
        let exchange = self.exchange
        self.exchange = nil
        guard let exchange else {
            pool?.closed(self)
            return
        }
        if !parser.isCloseDelimited && !parser.receivedAny && servedResponses > 0 && !exchange.retried
            && exchange.pool.shouldRetry(exchange.request) {
            // A kept-alive connection the server had closed: once, on a fresh connection, ahead of
            // the requests that were waiting, when the pool's policy allows it for this request.
            exchange.retried = true
            exchange.detachForRetry()
            exchange.pool.closed(self, retrying: exchange)
            return
        }
        pool?.closed(self)
        if parser.isCloseDelimited {
            exchange.connectionFinished(Failure(PotentialDataLoss()))
        } else {
            exchange.connectionFinished(beforeHead(HTTP11Connection.lost(reason, before: !parser.receivedAny)))
        }
    }

    /// How the exchange's failure reads while its head is incomplete: as Twisted's parser has it,
    /// `ResponseFailed` once any byte of the response has arrived (a bad status line, a header block
    /// cut short or over its limit), and the bare reason (which the exchange reports inside
    /// `ResponseNeverReceived`) when none has. After the head, the body's end says what happened.
    private func beforeHead(_ reason: Failure) -> Failure {
        guard parser.receivedAny, !parser.headReceived else { return reason }
        return Failure(ResponseFailed(reasons: [reason]))
    }

    /// The connection's end as the exchange reports it: always a `ConnectionLost`, saying what
    /// was missing when the server closed cleanly, and keeping the system's reason otherwise.
    private static func lost(_ reason: Failure, before beforeAnyResponse: Bool) -> Failure {
        if reason.value is ConnectionLost { return reason }
        if reason.check(ConnectionDone.self) != nil {
            return Failure(ConnectionLost(beforeAnyResponse
                ? "the server closed the connection without sending a response"
                : "the connection closed before the response was complete"))
        }
        return Failure(ConnectionLost(reason.getErrorMessage()))
    }

    // MARK: - ResponseParserDelegate

    func parserReceivedHead(_ head: ResponseHead, framing: BodyFraming) -> Bool {
        guard let exchange else { return false }
        return exchange.receivedHead(head, complete: framing == .none) && self.exchange === exchange
    }

    func parserReceivedBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let exchange else { return false }
        // A read that is all body (a large body's reads) is handed over as it is, without a copy.
        let whole = input.withUnsafeBytes { $0.baseAddress == bytes.baseAddress && $0.count == bytes.count }
        return exchange.receivedBody(bytes, whole: whole ? input : nil) && self.exchange === exchange
    }

    func parserFinishedResponse(reusable: Bool) {
        responseComplete = true
        completeAndReusable = reusable
    }
}
