import Deferreds
import Reactor

/// The life of one HTTP/1.1 client connection, one exchange at a time, as a value type: it takes
/// events (a request was written, bytes arrived, the parser found the head or the end, the
/// connection was lost, the exchange aborted, the pool closes it) and returns what to do (parse,
/// fail the exchange with this reason, give the connection back to the pool, send the request
/// again, close or abort). `HTTP11Connection` carries the actions out; the parser
/// (`ResponseParser`) stays with it and reports to both.
///
/// What the machine decides:
/// - Whether a complete response leaves the connection reusable: the parser's verdict (HTTP/1.0
///   without keep-alive, `Connection: close`, a body that ran to the close, bytes after the end)
///   and the request's (a pool that keeps connections, no `Connection: close` in the request, its
///   body sent whole).
/// - How the exchange fails, by Twisted's rule: before any byte of the response, the bare reason
///   (which the exchange reports inside `ResponseNeverReceived`); once part of the head has
///   arrived, `ResponseFailed`; after the head, the body's end (`PotentialDataLoss` when the body
///   runs to the close).
/// - When a request lost with a reused connection goes again on a fresh one: no byte of its
///   response came back, and the pool's policy allows it (once).
///
/// An event that cannot happen in the current state (a request written on a connection that
/// carries one, a head before any byte) is a bug: `preconditionFailure("Invalid state: …")`.
///
/// Twisted: `twisted.web._newclient.HTTP11ClientProtocol` (its `_state`).
struct HTTP11ClientStateMachine {
    /// What the machine needs to know of the request being carried.
    struct RequestFacts {
        /// The request allows the connection to be kept after its response: the pool is
        /// persistent and the request does not say `Connection: close`.
        var mayKeepAlive: Bool
        /// The request may be sent again on a fresh connection if this kept one turns out closed
        /// before any byte of the response (the pool's `mayResend`, and not already sent again).
        var mayRetry: Bool
        /// The request's body (if any) has been written whole. Until then the request is being
        /// transmitted (Twisted: TRANSMITTING; a response may come before, as an early 413 does).
        var bodySent: Bool
    }

    enum State {
        /// Connected (or connecting), carrying nothing: idle in the pool, or about to be given an
        /// exchange. Bytes from the server now are not trusted. Twisted: QUIESCENT.
        case idle
        /// A request was written (its body may still be on its way: `bodySent` false); no byte of
        /// the response yet. Twisted: TRANSMITTING, then WAITING.
        case waitingForResponse(RequestFacts)
        /// Part of the response's head has arrived.
        case receivingHead(RequestFacts)
        /// The head was handed over; the body arrives. `closeDelimited`: it ends with the
        /// connection.
        case receivingBody(RequestFacts, closeDelimited: Bool)
        /// The response is complete; the connection is about to go back to the pool (`reusable`)
        /// or be closed (`abortive` when the request body was not sent whole: the server may
        /// never read the rest). Twisted: QUIESCENT, or TRANSMITTING_AFTER_RECEIVING_RESPONSE.
        case responseComplete(reusable: Bool, abortive: Bool)
        /// We are closing it (an exchange that failed or was cancelled, a response that leaves it
        /// unusable, the pool's choice); nothing more is expected of it. Twisted: ABORTING.
        case closing(abortive: Bool)
        /// The connection is gone. Twisted: CONNECTION_LOST.
        case closed
    }

    /// What to do with bytes that arrived.
    enum DataAction: Equatable {
        /// Feed them to the parser.
        case parse
        /// Nothing was asked (or the exchange is gone): leave the pool and abort the connection.
        case closeUntrusted
    }

    /// What to do once the connection is lost.
    enum LostAction {
        /// Nothing was carried: leave the pool.
        case forget
        /// Send the exchange again on a fresh connection, ahead of those waiting.
        case retry
        /// Leave the pool, then end the exchange with this reason.
        case failExchange(Failure)
    }

    /// How to close the transport.
    enum CloseAction: Equatable {
        /// Once what was written has been sent.
        case loseConnection
        /// At once (the peer sees a reset).
        case abortConnection
    }

    private(set) var state = State.idle
    /// Responses completed on this connection: one that has served any is "reused" for the next.
    private(set) var servedResponses = 0

    init() {}

    /// Whether the connection carries an exchange (a request written, its response not complete).
    var isCarrying: Bool {
        switch state {
        case .waitingForResponse, .receivingHead, .receivingBody: return true
        case .idle, .responseComplete, .closing, .closed: return false
        }
    }

    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    // MARK: - Events

    /// A request was written on the connection (given by the pool while idle).
    mutating func requestSent(_ facts: RequestFacts) {
        guard case .idle = state else { preconditionFailure("Invalid state: a request sent in \(state)") }
        state = .waitingForResponse(facts)
    }

    /// Bytes arrived from the server.
    mutating func dataArrived() -> DataAction {
        switch state {
        case .waitingForResponse(let facts):
            state = .receivingHead(facts)
            return .parse
        case .receivingHead, .receivingBody:
            return .parse
        case .idle, .closing:
            state = .closing(abortive: true)
            return .closeUntrusted
        case .closed:
            return .closeUntrusted
        case .responseComplete:
            preconditionFailure("Invalid state: bytes arrived in \(state)")
        }
    }

    /// The parser handed the head over; `framing` is how its body is delimited.
    mutating func headReceived(framing: BodyFraming) {
        guard case .receivingHead(let facts) = state else {
            preconditionFailure("Invalid state: a response head in \(state)")
        }
        state = .receivingBody(facts, closeDelimited: framing == .untilClose)
    }

    /// The request's body was written whole (a request goes from TRANSMITTING to WAITING, in
    /// Twisted's terms). Ignored once the response is complete or the connection closing.
    mutating func requestBodySent() {
        switch state {
        case .waitingForResponse(var facts):
            facts.bodySent = true
            state = .waitingForResponse(facts)
        case .receivingHead(var facts):
            facts.bodySent = true
            state = .receivingHead(facts)
        case .receivingBody(var facts, let closeDelimited):
            facts.bodySent = true
            state = .receivingBody(facts, closeDelimited: closeDelimited)
        case .idle, .responseComplete, .closing, .closed:
            break
        }
    }

    /// The parser found the end of the response; `reusable` is its verdict. The connection's fate
    /// is decided now (a response that came before its request body was sent whole leaves it to
    /// be aborted: Twisted's TRANSMITTING_AFTER_RECEIVING_RESPONSE, which ends by closing) and
    /// carried out by `release()` once the parser has returned.
    mutating func responseComplete(reusable: Bool) {
        guard case .receivingBody(let facts, closeDelimited: false) = state else {
            preconditionFailure("Invalid state: a response complete in \(state)")
        }
        servedResponses += 1
        state = .responseComplete(reusable: reusable && facts.mayKeepAlive && facts.bodySent,
                                  abortive: !facts.bodySent)
    }

    /// After a complete response: whether the connection goes back to the pool to be reused (it is
    /// idle again) or is to be closed (the pool then calls `close()`).
    mutating func release() -> Bool {
        guard case .responseComplete(let reusable, let abortive) = state else {
            preconditionFailure("Invalid state: a release in \(state)")
        }
        state = reusable ? .idle : .closing(abortive: abortive)
        return reusable
    }

    /// The parser rejected the response with `error`. Returns the reason the exchange fails with;
    /// the connection is aborted.
    mutating func parseFailed(_ error: any Error) -> Failure {
        let reason: Failure
        switch state {
        case .receivingHead:
            reason = Failure(ResponseFailed(reasons: [Failure(error)]))
        case .receivingBody:
            reason = Failure(error)
        case .idle, .waitingForResponse, .responseComplete, .closing, .closed:
            preconditionFailure("Invalid state: a parse error in \(state)")
        }
        state = .closing(abortive: true)
        return reason
    }

    /// The exchange ended on its own (a timeout, a cancellation, a body over its limit, a stopped
    /// body): the connection is aborted and not reused.
    mutating func abort() {
        if case .closed = state { return }
        state = .closing(abortive: true)
    }

    /// The pool closes the connection (not reused, idle too long, over the idle limits). Says how.
    mutating func close() -> CloseAction {
        switch state {
        case .closing(abortive: true), .responseComplete(_, abortive: true):
            state = .closing(abortive: true)
            return .abortConnection
        case .closed:
            return .loseConnection
        case .idle, .waitingForResponse, .receivingHead, .receivingBody, .responseComplete, .closing:
            state = .closing(abortive: false)
            return .loseConnection
        }
    }

    /// The connection was lost with `reason` (the server closed it, or we did).
    mutating func connectionLost(_ reason: Failure) -> LostAction {
        let previous = state
        state = .closed
        switch previous {
        case .idle, .closing, .responseComplete, .closed:
            return .forget
        case .waitingForResponse(let facts):
            if servedResponses > 0 && facts.mayRetry { return .retry }
            return .failExchange(Self.lost(reason, beforeAnyResponse: true))
        case .receivingHead:
            return .failExchange(Failure(ResponseFailed(reasons: [Self.lost(reason, beforeAnyResponse: false)])))
        case .receivingBody(_, closeDelimited: true):
            return .failExchange(Failure(PotentialDataLoss()))
        case .receivingBody(_, closeDelimited: false):
            return .failExchange(Self.lost(reason, beforeAnyResponse: false))
        }
    }

    /// The connection's end as the exchange reports it: always a `ConnectionLost`, saying what
    /// was missing when the server closed cleanly, and keeping the system's reason otherwise.
    static func lost(_ reason: Failure, beforeAnyResponse: Bool) -> Failure {
        if reason.value is ConnectionLost { return reason }
        if reason.check(ConnectionDone.self) != nil {
            return Failure(ConnectionLost(beforeAnyResponse
                ? "the server closed the connection without sending a response"
                : "the connection closed before the response was complete"))
        }
        return Failure(ConnectionLost(reason.getErrorMessage()))
    }
}
