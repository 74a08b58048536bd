import Deferreds
import Reactor

/// One client connection speaking HTTP/1.1: carries one exchange at a time, then goes back to its
/// pool. Twisted: `twisted.web._newclient.HTTP11ClientProtocol`.
///
/// The response is parsed as it arrives. When it is complete the connection is released to the
/// pool *before* the exchange hears of it, so a request made from the body's `connectionLost`
/// (as the tutorial's chain does) can reuse it at once.
///
/// Its decisions (reuse, how the exchange fails, when a request goes again) are
/// `HTTP11ClientStateMachine`'s; this class carries them out on the transport, the pool and the
/// exchange.
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
    private var machine = HTTP11ClientStateMachine()
    /// When it became idle (reactor seconds).
    var idleSince = 0.0
    /// Responses completed on it: a connection that has served one is "reused" for the next.
    var servedResponses: Int { machine.servedResponses }
    var isClosed: Bool { machine.isClosed }
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
        machine.requestSent(HTTP11ClientStateMachine.RequestFacts(
            mayKeepAlive: exchange.pool.persistent && !exchange.request.headers.hasConnectionClose,
            mayRetry: !exchange.retried && exchange.pool.shouldRetry(exchange.request),
            bodySent: exchange.request.bodyProducer == nil))
        exchange.attach(self)
    }

    func send(head: [UInt8]) {
        transport?.write(head)
    }

    /// The request's body has been written whole.
    func requestBodySent() {
        machine.requestBodySent()
    }

    /// Drops the exchange and closes at once (the peer sees a reset); not reused.
    func abort() {
        exchange = nil
        machine.abort()
        transport?.abortConnection()
    }

    /// Closes once what was written has been sent; at once (a reset) when the response came
    /// before its request body was sent whole, whose rest the server may never read.
    func close() {
        exchange = nil
        switch machine.close() {
        case .loseConnection: transport?.loseConnection()
        case .abortConnection: transport?.abortConnection()
        }
    }

    // MARK: - Protocol

    override func dataReceived(_ bytes: [UInt8]) {
        guard machine.dataArrived() == .parse, let exchange else {
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
            let reason = machine.isCarrying ? machine.parseFailed(error) : nil
            machine.abort()
            transport?.abortConnection()
            if let reason { exchange.connectionFinished(reason) }
            return
        }
        guard case .responseComplete = machine.state else { return }
        self.exchange = nil
        let reusable = machine.release()
        // The exchange may have paused reading to hold its body (no deliverBody yet, or a paused
        // body protocol); the connection it gives back reads again, to see the server close it
        // while idle and the responses to later requests.
        transport?.resumeProducing()
        if let pool {
            pool.release(self, reusable: reusable)
        } else {
            close()
        }
        exchange.connectionFinished(ResponseBody.responseDone)
    }

    override func connectionLost(_ reason: Failure) {
        let exchange = self.exchange
        self.exchange = nil
        let action = machine.connectionLost(reason)
        guard let exchange else {
            pool?.closed(self)
            return
        }
        switch action {
        case .forget:
            pool?.closed(self)
        case .retry:
            // A kept-alive connection the server had closed: once, on a fresh connection, ahead of
            // the requests that were waiting, when the pool's policy allows it for this request.
            exchange.retried = true
            exchange.detachForRetry()
            exchange.pool.closed(self, retrying: exchange)
        case .failExchange(let failure):
            pool?.closed(self)
            exchange.connectionFinished(failure)
        }
    }

    // MARK: - ResponseParserDelegate

    func parserReceivedHead(_ head: ResponseHead, framing: BodyFraming) -> Bool {
        guard let exchange else { return false }
        machine.headReceived(framing: framing)
        return exchange.receivedHead(head, complete: framing == .none) && self.exchange === exchange
    }

    func parserReceivedBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let exchange else { return false }
        // A read that is all body (a large body's reads) is handed over as it is, without a copy.
        let whole = input.withUnsafeBytes { $0.baseAddress == bytes.baseAddress && $0.count == bytes.count }
        return exchange.receivedBody(bytes, whole: whole ? input : nil) && self.exchange === exchange
    }

    func parserFinishedResponse(reusable: Bool) {
        guard machine.isCarrying else { return }
        machine.responseComplete(reusable: reusable)
    }
}
