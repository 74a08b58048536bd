import CCurl
import Deferreds
import Reactor
import Testing

@testable import WebAgent

/// Every transition of `CurlTransferStateMachine`, driven by hand: no libcurl, no socket.
@Suite struct CurlTransferStateMachineTests {
    typealias Machine = CurlTransferStateMachine

    static func machine(_ deferred: Deferred<Response> = Deferred(), method: String = "GET", upload: Bool = false,
                        maxHeaderBytes: Int = 16 * 1024, maxBodyBytes: Int? = nil) -> Machine {
        Machine(deferred: deferred, isHeadRequest: method == "HEAD", hasUpload: upload,
                maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes)
    }

    /// Hands `lines` to the machine as libcurl's header callback would (each with its CR LF);
    /// returns what it said of each.
    @discardableResult
    static func feed(_ machine: inout Machine, _ lines: [String]) -> [Machine.HeaderAction] {
        lines.map { line in Array((line + "\r\n").utf8).withUnsafeBytes { machine.headerLine($0) } }
    }

    /// A machine whose response head (`lines`) was handed over: it is receiving the body.
    static func receivingBody(_ lines: [String] = ["HTTP/1.1 200 OK", "Content-Length: 5", ""],
                              method: String = "GET", maxBodyBytes: Int? = nil) -> Machine {
        var machine = Self.machine(method: method, maxBodyBytes: maxBodyBytes)
        feed(&machine, lines)
        #expect(machine.headToHandOver() != nil)
        return machine
    }

    static func state(_ machine: Machine) -> String {
        switch machine.state {
        case .waitingForResponse: "waitingForResponse"
        case .receivingHead: "receivingHead"
        case .headReceived: "headReceived"
        case .receivingBody: "receivingBody"
        case .ended(let reason): "ended(\(type(of: reason.value)))"
        case .detached: "detached"
        }
    }

    static func run(_ machine: Machine) -> String {
        switch machine.run {
        case .running(let refused): refused.map { "running(refused: \(type(of: $0.value)))" } ?? "running"
        case .finished(let code, _): "finished(\(code.rawValue))"
        case .stopped: "stopped"
        }
    }

    static func upload(_ machine: Machine) -> String {
        CurlUploadStateMachineTests.state(machine.upload)
    }

    /// The reason a finished machine's news ends it with (nil: a libcurl error, or no end yet).
    static func endReason(_ machine: Machine) -> Failure? {
        if case .finished(.reason(let reason)) = machine.completion() { return reason }
        return nil
    }

    /// The libcurl error a finished machine's news ends it with, and whether the head was handed
    /// over.
    static func curlError(_ machine: Machine) -> (CURLcode, Bool)? {
        if case .finished(.curlError(let code, let receivedHead)) = machine.completion() { return (code, receivedHead) }
        return nil
    }

    /// The failure the response deferred gets, when the action fails it.
    static func responseFailure(_ action: Machine.EndAction?) -> Failure? {
        if case .failResponse(_, let failure) = action?.outcome { return failure }
        return nil
    }

    static func bodyEnding(_ action: Machine.EndAction?) -> Failure? {
        if case .endBody(let reason) = action?.outcome { return reason }
        return nil
    }

    // MARK: - The response's head

    @Test func aNewTransferWaitsForItsResponse() {
        // When a transfer is handed to libcurl, it waits for the response with libcurl running, and
        // its upload is being produced when the request has a body.
        let machine = Self.machine()
        #expect(Self.state(machine) == "waitingForResponse" && Self.run(machine) == "running")
        #expect(Self.upload(machine) == "none")
        #expect(machine.isRunning && !machine.hasEnded && !machine.isDetached)
        #expect(Self.upload(Self.machine(upload: true)) == "producing(false, false)")
        if case .running = machine.completion() {} else { Issue.record("a running transfer has no end") }
    }

    @Test func theFirstHeaderByteStartsTheHead() {
        // When the first header line arrives, it is taken and the head is under way.
        var machine = Self.machine()
        #expect(Self.feed(&machine, ["HTTP/1.1 200 OK"]) == [.taken])
        #expect(Self.state(machine) == "receivingHead")
        #expect(machine.headerBytes == 17)
        #expect(Self.feed(&machine, ["Content-Length: 5"]) == [.taken])
        #expect(Self.state(machine) == "receivingHead")
    }

    @Test func theEndOfAFinalHeadCompletesItAndItIsHandedOverOnce() {
        // When the blank line ends a final head, the head is complete (news to note); at the news
        // it is handed over once, with the response deferred, and the body is under way.
        let deferred = Deferred<Response>()
        var machine = Self.machine(deferred)
        #expect(machine.headToHandOver() == nil)
        #expect(Self.feed(&machine, ["HTTP/1.1 201 Created", "X-A: b", ""]) == [.taken, .taken, .headComplete])
        #expect(Self.state(machine) == "headReceived")
        let handed = machine.headToHandOver()
        #expect(handed?.0 === deferred)
        #expect(handed?.1.code == 201 && handed?.1.fields.first?.0 == "X-A")
        #expect(Self.state(machine) == "receivingBody")
        #expect(machine.headToHandOver() == nil)
    }

    @Test func interimHeadsAreSkippedBut101IsFinal() {
        // When 1xx interim heads come before the response, they are skipped (no news, the head
        // starts over); 101 Switching Protocols is final, and so is a status line without a number.
        var machine = Self.machine()
        #expect(Self.feed(&machine, ["HTTP/1.1 100 Continue", "", "HTTP/1.1 103 Early Hints", "Link: </a>", ""])
            == [.taken, .taken, .taken, .taken, .taken])
        #expect(Self.state(machine) == "receivingHead")
        #expect(Self.feed(&machine, ["HTTP/1.1 200 OK", ""]) == [.taken, .headComplete])
        #expect(machine.headToHandOver()?.1.fields.isEmpty == true)

        var switching = Self.machine()
        #expect(Self.feed(&switching, ["HTTP/1.1 101 Switching Protocols", ""]) == [.taken, .headComplete])
        var numberless = Self.machine()
        #expect(Self.feed(&numberless, ["HTTP/1.1 OK", ""]) == [.taken, .headComplete])
    }

    @Test func aStatusLineBeforeTheHandOverStartsTheHeadOver() {
        // When a new status line arrives after a complete head was found but before it was handed
        // over, the head starts over and the new one is the response's.
        var machine = Self.machine()
        Self.feed(&machine, ["HTTP/1.1 401 Unauthorized", ""])
        #expect(Self.state(machine) == "headReceived")
        #expect(Self.feed(&machine, ["HTTP/1.1 200 OK"]) == [.taken])
        #expect(Self.state(machine) == "receivingHead")
        #expect(machine.headToHandOver() == nil)
        #expect(Self.feed(&machine, [""]) == [.headComplete])
        #expect(machine.headToHandOver()?.1.code == 200)
    }

    @Test func headerLinesAfterTheHeadChangeNothing() {
        // When header lines arrive once the head was handed over (trailers), they are taken and
        // the body goes on, even past the header limit.
        var machine = Self.machine(maxHeaderBytes: 64)
        Self.feed(&machine, ["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", ""])
        _ = machine.headToHandOver()
        #expect(Self.feed(&machine, ["X-Trailer: " + String(repeating: "t", count: 100), ""]) == [.taken, .taken])
        #expect(Self.state(machine) == "receivingBody" && Self.run(machine) == "running")
    }

    @Test func aHeadOverTheLimitIsRefusedAndEndsTheTransfer() {
        // When the header bytes pass the limit before the head is complete, the line is refused and
        // the transfer ends with HeadersTooLarge whatever libcurl reports; the deferred fails with
        // ResponseFailed (part of the response arrived).
        var machine = Self.machine(maxHeaderBytes: 40)
        #expect(Self.feed(&machine, ["HTTP/1.1 200 OK", "X-Long: " + String(repeating: "x", count: 30)])
            == [.taken, .refused])
        #expect(Self.run(machine) == "running(refused: HeadersTooLarge)")
        machine.libcurlFinished(CURLE_WRITE_ERROR)
        let reason = Self.endReason(machine)
        #expect((reason?.value as? HeadersTooLarge)?.limit == 40)
        let failure = Self.responseFailure(machine.end(reason!))
        #expect((failure?.value as? ResponseFailed)?.reasons.first?.value is HeadersTooLarge)
    }

    // MARK: - The body

    @Test func bodyBytesAreCountedAgainstTheLimit() {
        // When body bytes would pass the limit, they are refused and the transfer ends with
        // BodyTooLarge whatever libcurl reports; bytes up to the limit are taken.
        var machine = Self.receivingBody(maxBodyBytes: 10)
        do { let value = machine.bodyArrived(6); #expect(value) }
        do { let value = machine.bodyArrived(4); #expect(value) }
        #expect(machine.bodyBytes == 10)
        do { let value = machine.bodyArrived(1); #expect(!value) }
        #expect(machine.bodyBytes == 10)
        #expect(Self.run(machine) == "running(refused: BodyTooLarge)")
        machine.libcurlFinished(CURLE_WRITE_ERROR)
        #expect((Self.endReason(machine)?.value as? BodyTooLarge)?.limit == 10)
        #expect(Self.bodyEnding(machine.end(Self.endReason(machine)!))?.value is BodyTooLarge)
    }

    @Test func withoutALimitEveryBodyByteIsTaken() {
        // When the agent sets no body limit, any amount is taken.
        var machine = Self.receivingBody()
        do { let value = machine.bodyArrived(1 << 40); #expect(value) }
    }

    // MARK: - libcurl finished

    @Test func aCompleteResponseEndsWithResponseDone() {
        // When libcurl finishes with CURLE_OK after a delimited body, the news ends the body with
        // ResponseDone; libcurl is not stopped (it already let go).
        var machine = Self.receivingBody()
        machine.libcurlFinished(CURLE_OK)
        #expect(Self.run(machine) == "finished(0)" && !machine.isRunning)
        let reason = Self.endReason(machine)
        #expect(reason?.value is ResponseDone)
        let action = machine.end(reason!)
        #expect(action?.stopTransfer == false && action?.stopProducer == false)
        #expect(Self.bodyEnding(action)?.value is ResponseDone)
        #expect(Self.state(machine) == "ended(ResponseDone)" && Self.run(machine) == "finished(0)")
        if case .ended = machine.completion() {} else { Issue.record("an ended transfer's news is .ended") }
    }

    @Test func aBodyThatRunsToTheCloseEndsWithPotentialDataLoss() {
        // When an HTTP/1.x response with a body has neither a length nor a transfer coding, a clean
        // finish is PotentialDataLoss; HTTP/2, HEAD, 204 and 304 responses are done.
        var closeDelimited = Self.receivingBody(["HTTP/1.1 200 OK", ""])
        closeDelimited.libcurlFinished(CURLE_OK)
        #expect(Self.endReason(closeDelimited)?.value is PotentialDataLoss)

        for (lines, method) in [(["HTTP/2 200", ""], "GET"), (["HTTP/1.1 200 OK", ""], "HEAD"),
                                (["HTTP/1.1 204 No Content", ""], "GET"), (["HTTP/1.1 304 Not Modified", ""], "GET"),
                                (["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", ""], "GET")] {
            var machine = Self.receivingBody(lines, method: method)
            machine.libcurlFinished(CURLE_OK)
            #expect(Self.endReason(machine)?.value is ResponseDone, "\(lines) \(method)")
        }
    }

    @Test func anErrorIsLibcurlsSayingWhetherTheHeadWasHandedOver() {
        // When libcurl finishes with an error, the news ends the transfer with that error, for
        // CurlErrors to map, told whether the response deferred had fired.
        var before = Self.machine()
        before.libcurlFinished(CURLE_COULDNT_CONNECT)
        #expect(Self.curlError(before).map { $0.0 == CURLE_COULDNT_CONNECT && !$0.1 } == true)

        var inHead = Self.machine()
        Self.feed(&inHead, ["HTTP/1.1 200 OK"])
        inHead.libcurlFinished(CURLE_RECV_ERROR)
        #expect(Self.curlError(inHead).map { $0.0 == CURLE_RECV_ERROR && !$0.1 } == true)

        var inBody = Self.receivingBody()
        inBody.libcurlFinished(CURLE_PARTIAL_FILE)
        #expect(Self.curlError(inBody).map { $0.0 == CURLE_PARTIAL_FILE && $0.1 } == true)
    }

    @Test func aFinishBeforeTheHeadFailsTheResponse() {
        // When libcurl's error ends the transfer before any response byte, the deferred fails with
        // ResponseNeverReceived (connection-level errors stay themselves); after a header byte,
        // with ResponseFailed.
        var before = Self.machine()
        before.libcurlFinished(CURLE_GOT_NOTHING)
        let never = Self.responseFailure(before.end(Failure(ConnectionLost("nothing"))))
        #expect((never?.value as? ResponseNeverReceived)?.reasons.first?.value is ConnectionLost)
        #expect(Self.state(before) == "ended(ConnectionLost)")

        var refused = Self.machine()
        refused.libcurlFinished(CURLE_COULDNT_CONNECT)
        let connectError = Self.responseFailure(refused.end(Failure(ConnectionRefusedError(host: "h", port: 1))))
        #expect(connectError?.value is ConnectionRefusedError)

        var inHead = Self.machine()
        Self.feed(&inHead, ["HTTP/1.1 200 OK"])
        inHead.libcurlFinished(CURLE_RECV_ERROR)
        let failed = Self.responseFailure(inHead.end(Failure(ConnectionLost("reset"))))
        #expect((failed?.value as? ResponseFailed)?.reasons.first?.value is ConnectionLost)
    }

    // MARK: - Failing early (timeout, cancel, a stopped body)

    @Test func failingWhileLibcurlRunsStopsIt() {
        // When the transfer fails while libcurl runs it, libcurl is to be stopped and the response
        // deferred fails; a timeout or a cancellation stays itself.
        let deferred = Deferred<Response>()
        var machine = Self.machine(deferred)
        let action = machine.end(Failure(TimeoutError(seconds: 1)))
        #expect(action?.stopTransfer == true && action?.stopProducer == false)
        if case .failResponse(let failed, let failure) = action?.outcome {
            #expect(failed === deferred)
            #expect(failure.value is TimeoutError)
        } else {
            Issue.record("the response deferred is not failed: \(String(describing: action))")
        }
        #expect(Self.state(machine) == "ended(TimeoutError)" && Self.run(machine) == "stopped")
        #expect(machine.hasEnded && !machine.isRunning)

        var inHead = Self.machine()
        Self.feed(&inHead, ["HTTP/1.1 200 OK"])
        #expect(Self.responseFailure(inHead.end(Failure(CancelledError())))?.value is CancelledError)
    }

    @Test func aParseErrorBeforeAnyByteIsResponseFailed() {
        // When the transfer fails with ParseError or HeadersTooLarge before a header line reached
        // us (libcurl refused the status line or the size), the deferred fails with ResponseFailed.
        var parse = Self.machine()
        #expect(Self.responseFailure(parse.end(Failure(ParseError(message: "bad"))))?.value is ResponseFailed)
        var size = Self.machine()
        #expect(Self.responseFailure(size.end(Failure(HeadersTooLarge(limit: 1))))?.value is ResponseFailed)
    }

    @Test func failingWithTheHeadFoundButNotHandedOverFailsTheResponse() {
        // When the transfer fails after the head was found but before the news handed it over, the
        // deferred fails (ResponseFailed) and the head is never handed over.
        var machine = Self.machine()
        Self.feed(&machine, ["HTTP/1.1 200 OK", ""])
        let failure = Self.responseFailure(machine.end(Failure(ConnectionLost())))
        #expect((failure?.value as? ResponseFailed)?.reasons.first?.value is ConnectionLost)
        #expect(machine.headToHandOver() == nil)
    }

    @Test func failingDuringTheBodyEndsTheBody() {
        // When the transfer fails while the body arrives, the body ends with the reason itself and
        // libcurl is stopped.
        var machine = Self.receivingBody()
        let action = machine.end(Failure(CancelledError()))
        #expect(action?.stopTransfer == true)
        #expect(Self.bodyEnding(action)?.value is CancelledError)
    }

    @Test func aUserCancelBeatsAFinishNotYetActedOn() {
        // When libcurl finished but the transfer fails before its news, the failure wins and
        // libcurl is not stopped again.
        var machine = Self.receivingBody()
        machine.libcurlFinished(CURLE_OK)
        let action = machine.end(Failure(CancelledError()))
        #expect(action?.stopTransfer == false)
        #expect(Self.bodyEnding(action)?.value is CancelledError)
        #expect(Self.run(machine) == "finished(0)")
    }

    @Test func theTransferEndsOnce() {
        // When the transfer has ended, another end (a timeout after a cancel, the news of a finish)
        // does nothing, and the first reason stays.
        var machine = Self.machine()
        #expect(machine.end(Failure(CancelledError())) != nil)
        #expect(machine.end(Failure(TimeoutError())) == nil)
        #expect(Self.state(machine) == "ended(CancelledError)")
    }

    // MARK: - Detaching

    @Test func detachingSilencesTheMachine() {
        // When the multi handle shuts down, the machine is detached: it ends nothing any more, its
        // news says nothing, and a body given later hears CancelledError.
        var machine = Self.receivingBody()
        #expect(machine.detach().value is CancelledError)
        #expect(machine.isDetached && machine.hasEnded)
        #expect(Self.state(machine) == "detached")
        #expect(machine.end(Failure(TimeoutError())) == nil)
        if case .running = machine.completion() {} else { Issue.record("a detached machine's news ends nothing") }
    }

    @Test func detachingAfterTheEndKeepsItsReason() {
        // When a transfer that already ended is detached, a body given later hears the end's reason.
        var machine = Self.receivingBody()
        _ = machine.end(Failure(TimeoutError()))
        #expect(machine.detach().value is TimeoutError)
    }

    // MARK: - The upload's part in the end

    @Test func aFailedUploadEndsTheTransferWithRequestTransmissionFailed() {
        // When the request body's producer failed and libcurl reports the abort or a success, the
        // transfer ends with RequestTransmissionFailed; another error stays libcurl's.
        var aborted = Self.machine(upload: true)
        _ = aborted.upload.producerFailed(Failure(ConnectionLost("disk")))
        aborted.libcurlFinished(CURLE_ABORTED_BY_CALLBACK)
        let reason = Self.endReason(aborted)
        #expect((reason?.value as? RequestTransmissionFailed)?.reasons.first?.value is ConnectionLost)
        #expect(Self.responseFailure(aborted.end(reason!))?.value is RequestTransmissionFailed)

        var ok = Self.machine(upload: true)
        _ = ok.upload.producerFailed(Failure(ConnectionLost("disk")))
        ok.libcurlFinished(CURLE_OK)
        #expect(Self.endReason(ok)?.value is RequestTransmissionFailed)

        var other = Self.machine(upload: true)
        _ = other.upload.producerFailed(Failure(ConnectionLost("disk")))
        other.libcurlFinished(CURLE_SEND_ERROR)
        #expect(Self.curlError(other)?.0 == CURLE_SEND_ERROR)
    }

    @Test func endingWhileTheProducerWritesStopsIt() {
        // When the transfer ends while the request body's producer is writing, the producer is to
        // be stopped; one that already finished is left alone.
        var machine = Self.machine(upload: true)
        #expect(machine.end(Failure(CancelledError()))?.stopProducer == true)
        #expect(Self.upload(machine) == "stopped")

        var produced = Self.machine(upload: true)
        _ = produced.upload.producerFinished()
        #expect(produced.end(Failure(CancelledError()))?.stopProducer == false)
    }

    @Test func invalidEventsTrap() async {
        // When libcurl finishes a transfer twice, or one taken out of it, the machine traps with
        // "Invalid state".
        await #expect(processExitsWith: .failure) {
            var machine = CurlTransferStateMachineTests.machine()
            machine.libcurlFinished(CURLE_OK)
            machine.libcurlFinished(CURLE_OK)
        }
        await #expect(processExitsWith: .failure) {
            var machine = CurlTransferStateMachineTests.machine()
            _ = machine.end(Failure(CancelledError()))
            machine.libcurlFinished(CURLE_OK)
        }
    }
}
