import Deferreds
import Reactor

/// One HTTP connection on the server side: parses requests, answers them one at a time in order,
/// and decides when the connection ends.
///
/// Requests are parsed only while no response is in progress, so pipelined requests wait in the
/// parser's buffer; when more than `maxBufferedWhileBusy` bytes wait there, reading pauses until
/// the response is done. A connection that is to close after a response shuts down its sending
/// side and drains what the client still sends (up to `lingerTimeout`), so a request the client
/// already sent does not make our close a reset. When the client shuts down its sending side,
/// the requests already received are answered before the connection closes, except one still
/// waiting for a deferred route: its deferred is cancelled and the connection closed.
///
/// Twisted: `twisted.web.http.HTTPChannel`.
final class HTTPChannel: Protocol, HalfCloseableProtocol {
    enum State {
        /// Waiting for (or parsing) the next request.
        case reading
        /// A response is being sent.
        case responding
        /// The last response was sent and our side shut; dropping input until the client closes.
        case lingering
        /// A fault left the connection hanging on purpose: dropping input, sending nothing.
        case stalled
        case closed
    }

    private weak var server: WebServer?
    private let reactor: any ReactorTime
    private var parser: HTTPRequestParser
    private(set) var state = State.reading
    private var writer: ResponseWriter?
    /// A deferred route's answer being waited for.
    private var pendingAnswer: Deferred<HTTPResponse>?
    /// The client shut down its sending side.
    private var peerClosedSending = false
    private var readingPaused = false
    private var processing = false
    private var timer: DelayedCall?

    private static let maxBufferedWhileBusy = 1 << 20
    private static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    init(server: WebServer, limits: HTTPRequestParser.Limits) {
        self.server = server
        self.reactor = server.reactor
        self.parser = HTTPRequestParser(limits: limits)
    }

    override func connectionMade() {
        server?.channelOpened(self)
        startIdleTimer()
    }

    override func dataReceived(_ bytes: [UInt8]) {
        switch state {
        case .reading:
            timer?.cancel()
            timer = nil
            parser.feed(bytes)
            processRequests()
        case .responding:
            parser.feed(bytes)
            if parser.bufferedByteCount > HTTPChannel.maxBufferedWhileBusy && !readingPaused {
                readingPaused = true
                transport?.pauseProducing()
            }
        case .lingering, .stalled, .closed:
            break
        }
    }

    func readConnectionLost() {
        peerClosedSending = true
        switch state {
        case .reading:
            processRequests()
        case .responding:
            // A response being sent goes on (the client may only have half-closed); a deferred
            // answer not there yet is given up, as Twisted does when a client goes away.
            if pendingAnswer != nil { transport?.loseConnection() }
        case .lingering, .stalled:
            transport?.loseConnection()
        case .closed:
            break
        }
    }

    override func connectionLost(_ reason: Failure) {
        state = .closed
        timer?.cancel()
        timer = nil
        let writer = self.writer
        self.writer = nil
        writer?.abandon()
        let pending = pendingAnswer
        pendingAnswer = nil
        pending?.cancel()
        server?.channelClosed(self)
    }

    /// Closes the connection for `WebServer.stop()`: cleanly when idle, with a reset otherwise.
    func shutDown() {
        switch state {
        case .reading where parser.isIdle:
            transport?.loseConnection()
        case .reading, .responding, .lingering, .stalled:
            transport?.abortConnection()
        case .closed:
            break
        }
    }

    // MARK: - Requests

    /// Takes requests out of the parser and answers them while no response is in progress.
    private func processRequests() {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while state == .reading {
            let event: HTTPRequestParser.Event?
            do {
                event = try parser.next()
            } catch {
                respond(to: nil, with: HTTPChannel.errorResponse(error))
                return
            }
            guard let event else {
                if peerClosedSending {
                    transport?.loseConnection()
                } else {
                    startIdleTimer()
                }
                return
            }
            switch event {
            case .continueExpected:
                transport?.write(HTTPChannel.continueLine)
            case .request(var request):
                request.remoteAddress = transport?.getPeer()
                guard let server else {
                    respond(to: request, with: .status(503))
                    continue
                }
                switch server.handle(request) {
                case .now(let response):
                    respond(to: request, with: response)
                case .later(let deferred):
                    wait(for: deferred, answering: request)
                }
            }
        }
    }

    /// Waits for a deferred route's answer; cancelled if the connection goes first.
    private func wait(for deferred: Deferred<HTTPResponse>, answering request: HTTPRequest) {
        state = .responding
        pendingAnswer = deferred
        let token = ObjectIdentifier(deferred)
        _ = deferred.addCallbacks(
            { [weak self] (response: HTTPResponse) -> Void in
                self?.answerArrived(token, request, response)
            },
            { [weak self] (failure: Failure) -> Void in
                var response = HTTPResponse.text(
                    "500 Internal Server Error: \(failure.getErrorMessage())\n", status: 500)
                response.closeConnection = true
                self?.answerArrived(token, request, response)
            })
    }

    private func answerArrived(_ token: ObjectIdentifier, _ request: HTTPRequest, _ response: HTTPResponse) {
        guard state == .responding, let pending = pendingAnswer, ObjectIdentifier(pending) == token else { return }
        pendingAnswer = nil
        // When the response is done, responseFinished goes on with pipelined requests.
        respond(to: request, with: response)
    }

    private func respond(to request: HTTPRequest?, with response: HTTPResponse) {
        guard let transport else { return }
        state = .responding
        let prepared = PreparedResponse(
            response, for: request, date: server?.dateField ?? httpDate(0), serverName: server?.serverName ?? "")
        let writer = ResponseWriter(prepared, transport: transport, clock: reactor) { [unowned self] ending in
            self.responseFinished(ending)
        }
        self.writer = writer
        writer.start()
    }

    /// What the writer reports when the response is done (or broken off on purpose).
    private func responseFinished(_ ending: ResponseWriter.Ending) {
        guard state == .responding else { return }
        writer = nil
        switch ending {
        case .keepAlive:
            state = .reading
            if readingPaused {
                readingPaused = false
                transport?.resumeProducing()
            }
            if !processing {
                // A response finished later (streamed, delayed): go on with pipelined requests
                // from the loop, not from inside the transport's write path.
                reactor.callLater(0) { [weak self] in self?.processRequests() }
            }
        case .close:
            state = .lingering
            if peerClosedSending {
                transport?.loseConnection()
            } else {
                transport?.loseWriteConnection()
                if readingPaused {
                    readingPaused = false
                    transport?.resumeProducing()
                }
                let timeout = server?.lingerTimeout ?? 0
                timer = reactor.callLater(timeout) { [weak self] in self?.transport?.loseConnection() }
            }
        case .stall:
            state = .stalled
            if readingPaused {
                readingPaused = false
                transport?.resumeProducing()
            }
        case .reset:
            state = .stalled
            transport?.abortConnection()
        }
    }

    private func startIdleTimer() {
        timer?.cancel()
        timer = nil
        guard let idle = server?.idleTimeout, state == .reading else { return }
        timer = reactor.callLater(idle) { [weak self] in
            guard let self, self.state == .reading else { return }
            self.transport?.loseConnection()
        }
    }

    /// The answer to a request that could not be parsed; the connection closes after it.
    static func errorResponse(_ error: HTTPParseError) -> HTTPResponse {
        var response = HTTPResponse.text(
            "\(error.status) \(HTTPResponse.reasonPhrase(for: error.status)): \(error.detail)\n", status: error.status)
        response.closeConnection = true
        return response
    }
}
