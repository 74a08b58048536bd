import Deferreds
import Reactor
import Testing

@testable import WebAgent

/// Every transition of `HTTP11ClientStateMachine`, driven by hand: no socket, no parser.
@Suite struct HTTP11ClientStateMachineTests {
    typealias Machine = HTTP11ClientStateMachine

    static let keep = Machine.RequestFacts(mayKeepAlive: true, mayRetry: true, bodySent: true)

    /// A machine whose request's response head has arrived (`framing` says how its body ends).
    static func receivingBody(_ framing: BodyFraming = .length(5), facts: Machine.RequestFacts = keep) -> Machine {
        var machine = Machine()
        machine.requestSent(facts)
        _ = machine.dataArrived()
        machine.headReceived(framing: framing)
        return machine
    }

    /// A machine that has served one response and is idle again.
    static func reused() -> Machine {
        var machine = receivingBody()
        machine.responseComplete(reusable: true)
        do { let value = machine.release(); #expect(value) }
        return machine
    }

    static func failure(_ action: Machine.LostAction) -> Failure? {
        if case .failExchange(let failure) = action { return failure }
        return nil
    }

    static func state(_ machine: Machine) -> String {
        switch machine.state {
        case .idle: "idle"
        case .waitingForResponse: "waitingForResponse"
        case .receivingHead: "receivingHead"
        case .receivingBody(_, let closeDelimited): closeDelimited ? "receivingBody(untilClose)" : "receivingBody"
        case .responseComplete(let reusable, let abortive): "responseComplete(\(reusable), \(abortive))"
        case .closing(let abortive): "closing(\(abortive))"
        case .closed: "closed"
        }
    }

    @Test func aRequestMovesAnIdleConnectionToWaiting() {
        // When a request is sent on an idle connection, it waits for the response and carries it.
        var machine = Machine()
        #expect(Self.state(machine) == "idle" && !machine.isCarrying)
        machine.requestSent(Self.keep)
        #expect(Self.state(machine) == "waitingForResponse" && machine.isCarrying)
    }

    @Test func theFirstBytesStartTheHead() {
        // When the first bytes of the response arrive, they are parsed and the head is under way;
        // later bytes are parsed too.
        var machine = Machine()
        machine.requestSent(Self.keep)
        do { let value = machine.dataArrived(); #expect(value == .parse) }
        #expect(Self.state(machine) == "receivingHead")
        do { let value = machine.dataArrived(); #expect(value == .parse) }
        #expect(Self.state(machine) == "receivingHead")
    }

    @Test func theHeadStartsTheBodyAndNotesACloseDelimitedOne() {
        // When the head is handed over, the body is under way; a body that runs to the close is noted.
        #expect(Self.state(Self.receivingBody(.chunked)) == "receivingBody")
        #expect(Self.state(Self.receivingBody(.untilClose)) == "receivingBody(untilClose)")
        var machine = Self.receivingBody()
        do { let value = machine.dataArrived(); #expect(value == .parse) }
    }

    @Test func bytesOnAnIdleConnectionCloseIt() {
        // When bytes arrive on an idle connection, it is not trusted: closed at once.
        var machine = Machine()
        do { let value = machine.dataArrived(); #expect(value == .closeUntrusted) }
        #expect(Self.state(machine) == "closing(true)")
        do { let value = machine.dataArrived(); #expect(value == .closeUntrusted) }
    }

    @Test func aCompleteReusableResponseMakesItIdleAgain() {
        // When a response completes, reusable by the parser and the request, with the upload done,
        // the connection is idle again and counts one served response.
        var machine = Self.receivingBody()
        machine.responseComplete(reusable: true)
        #expect(Self.state(machine) == "responseComplete(true, false)")
        #expect(!machine.isCarrying)
        do { let value = machine.release(); #expect(value) }
        #expect(Self.state(machine) == "idle")
        #expect(machine.servedResponses == 1)
        machine.requestSent(Self.keep)
        #expect(machine.isCarrying)
    }

    @Test func theParsersVerdictOrTheRequestsCanForbidReuse() {
        // When the parser says not reusable (Connection: close, HTTP/1.0) or the request does
        // (a non-persistent pool, Connection: close), the released connection is to be closed,
        // gracefully.
        var byParser = Self.receivingBody()
        byParser.responseComplete(reusable: false)
        do { let value = byParser.release(); #expect(!value) }
        #expect(Self.state(byParser) == "closing(false)")
        do { let value = byParser.close(); #expect(value == .loseConnection) }

        var byRequest = Self.receivingBody(facts: .init(mayKeepAlive: false, mayRetry: true, bodySent: true))
        byRequest.responseComplete(reusable: true)
        do { let value = byRequest.release(); #expect(!value) }
        do { let value = byRequest.close(); #expect(value == .loseConnection) }
    }

    @Test func aResponseBeforeTheUploadEndsAbortsTheConnection() {
        // When the response completes before the request body was sent whole, the connection is not
        // reused and is closed with a reset (the server may never read the rest).
        var machine = Self.receivingBody(facts: .init(mayKeepAlive: true, mayRetry: true, bodySent: false))
        machine.responseComplete(reusable: true)
        #expect(Self.state(machine) == "responseComplete(false, true)")
        do { let value = machine.release(); #expect(!value) }
        do { let value = machine.close(); #expect(value == .abortConnection) }
        #expect(Self.state(machine) == "closing(true)")
    }

    @Test func aBodySentBeforeTheResponseEndsLetsItBeReused() {
        // When the request body is sent whole while the response arrives (in any carrying state),
        // the complete response leaves the connection reusable.
        for stage in 0..<3 {
            var machine = Machine()
            machine.requestSent(.init(mayKeepAlive: true, mayRetry: true, bodySent: false))
            if stage == 0 { machine.requestBodySent() }
            _ = machine.dataArrived()
            if stage == 1 { machine.requestBodySent() }
            machine.headReceived(framing: .length(1))
            if stage == 2 { machine.requestBodySent() }
            machine.responseComplete(reusable: true)
            do { let value = machine.release(); #expect(value) }
        }
    }

    @Test func aBodySentAfterTheEndChangesNothing() {
        // When the request body is reported sent after the response completed or the connection
        // closed, the state stays as it was.
        var machine = Self.reused()
        machine.requestBodySent()
        #expect(Self.state(machine) == "idle")
        machine.abort()
        machine.requestBodySent()
        #expect(Self.state(machine) == "closing(true)")
    }

    @Test func closingAnIdleConnectionIsGraceful() {
        // When the pool closes an idle connection, it goes once what was written is sent.
        var machine = Self.reused()
        do { let value = machine.close(); #expect(value == .loseConnection) }
        #expect(Self.state(machine) == "closing(false)")
    }

    @Test func anAbortedExchangeAbortsTheConnection() {
        // When the exchange aborts (a timeout, a cancel), the connection closes with a reset, and a
        // later close by the pool is a reset too.
        var machine = Self.receivingBody()
        machine.abort()
        #expect(Self.state(machine) == "closing(true)" && !machine.isCarrying)
        do { let value = machine.close(); #expect(value == .abortConnection) }
    }

    @Test func aParseErrorInTheHeadIsAResponseFailed() {
        // When the parser fails while the head is incomplete, the exchange fails with
        // ResponseFailed holding the error, and the connection is aborted.
        var machine = Machine()
        machine.requestSent(Self.keep)
        _ = machine.dataArrived()
        let reason = machine.parseFailed(ParseError(message: "bad status line"))
        #expect((reason.value as? ResponseFailed)?.reasons.first?.value is ParseError)
        #expect(Self.state(machine) == "closing(true)")
    }

    @Test func aParseErrorInTheBodyIsTheBareError() {
        // When the parser fails after the head (a bad chunk), the body ends with the error itself.
        var machine = Self.receivingBody(.chunked)
        let reason = machine.parseFailed(ParseError(message: "bad chunk size"))
        #expect(reason.value is ParseError)
    }

    @Test func aLostIdleConnectionIsForgotten() {
        // When an idle or closing connection is lost, it only leaves the pool; a second report
        // changes nothing.
        var idle = Machine()
        guard case .forget = idle.connectionLost(Failure(ConnectionDone())) else {
            Issue.record("expected forget")
            return
        }
        #expect(idle.isClosed)
        guard case .forget = idle.connectionLost(Failure(ConnectionDone())) else {
            Issue.record("expected forget")
            return
        }
        var closing = Self.receivingBody()
        closing.abort()
        guard case .forget = closing.connectionLost(Failure(ConnectionDone())) else {
            Issue.record("expected forget")
            return
        }
    }

    @Test func aReusedConnectionLostBeforeAnyByteRetries() {
        // When a reused connection is lost before any byte of the response and the request may be
        // sent again, the exchange goes again on a fresh connection.
        var machine = Self.reused()
        machine.requestSent(Self.keep)
        guard case .retry = machine.connectionLost(Failure(ConnectionDone())) else {
            Issue.record("expected retry")
            return
        }
        #expect(machine.isClosed)
    }

    @Test func aFreshOrNonRetryableConnectionLostBeforeAnyByteFails() {
        // When a fresh connection, or a reused one whose request may not go again, is lost before
        // any byte, the exchange fails with ConnectionLost saying no response was sent.
        var fresh = Machine()
        fresh.requestSent(Self.keep)
        let reason = Self.failure(fresh.connectionLost(Failure(ConnectionDone())))
        #expect((reason?.value as? ConnectionLost)?.description.contains("without sending a response") == true)

        var reused = Self.reused()
        reused.requestSent(.init(mayKeepAlive: true, mayRetry: false, bodySent: true))
        #expect(Self.failure(reused.connectionLost(Failure(ConnectionDone())))?.value is ConnectionLost)
    }

    @Test func aConnectionLostInTheHeadIsAResponseFailed() {
        // When the connection is lost with part of the head received, even a reused one, the
        // exchange fails with ResponseFailed holding ConnectionLost.
        var machine = Self.reused()
        machine.requestSent(Self.keep)
        _ = machine.dataArrived()
        let reason = Self.failure(machine.connectionLost(Failure(ConnectionDone())))
        let inner = (reason?.value as? ResponseFailed)?.reasons.first?.value as? ConnectionLost
        #expect(inner?.description.contains("before the response was complete") == true)
    }

    @Test func aConnectionLostInTheBodyEndsIt() {
        // When the connection is lost during a framed body, the body ends with ConnectionLost
        // keeping the system's reason; during a body that runs to the close, with PotentialDataLoss.
        var framed = Self.receivingBody(.length(10))
        let reason = Self.failure(framed.connectionLost(Failure(ConnectionLost("reset by peer"))))
        #expect((reason?.value as? ConnectionLost)?.description.contains("reset by peer") == true)

        var untilClose = Self.receivingBody(.untilClose)
        #expect(Self.failure(untilClose.connectionLost(Failure(ConnectionDone())))?.value is PotentialDataLoss)
    }

    @Test func theLostReasonKeepsAConnectionLostAndNamesOthers() {
        // When the system's reason is already ConnectionLost it is kept; any other error becomes a
        // ConnectionLost with its message.
        let original = Failure(ConnectionLost("as is"))
        #expect((Machine.lost(original, beforeAnyResponse: true).value as? ConnectionLost)?.description
            .contains("as is") == true)
        let other = Machine.lost(Failure(TimeoutError(seconds: 2)), beforeAnyResponse: false)
        #expect(other.value is ConnectionLost)
    }
}
