import CCurl
import Deferreds
import Reactor

/// The life of one libcurl transfer (`CurlTransfer`) as a value type: it takes events (a header
/// line or body bytes from libcurl's callbacks, libcurl finished with a code, the transfer's news,
/// the transfer failed or was detached) and says what to do (accept or refuse the bytes, hand the
/// head over, stop libcurl and the request body's producer, fail the response deferred or end the
/// body with this reason). `CurlTransfer` carries the actions out against libcurl and the multi
/// handle; the body's way to its protocol is `BodyDeliveryStateMachine`'s.
///
/// Three sides, each an enum:
/// - The response (`State`): waiting for it, receiving its head (1xx interim heads skipped), the
///   head received but not yet handed over, receiving its body, ended, detached.
/// - libcurl (`Run`): running it, finished with a code not yet acted on, or stopped by us.
/// - The request body (`upload`, a `CurlUploadStateMachine` the transfer drives directly): none,
///   being produced, produced, failed, stopped.
///
/// What the machine decides:
/// - Which header and body bytes are refused for being over the agent's limits, and that the
///   transfer then ends with `HeadersTooLarge` or `BodyTooLarge` whatever libcurl reports.
/// - Which head is the response's: a new status line starts over, a 1xx head (but 101) is skipped.
/// - How a finished transfer ends: `ResponseDone`, `PotentialDataLoss` for a body that runs to the
///   close, `RequestTransmissionFailed` when the request body failed, or libcurl's error (mapped by
///   `CurlErrors`, told whether the head had been handed over).
/// - How the response deferred fails, by Twisted's rule: before any byte of the response,
///   `ResponseNeverReceived` (or the connection-level error itself, see
///   `ResponseBody.neverReceived`); once a header byte has arrived (or libcurl refused the status
///   line or the header size), `ResponseFailed`. After the head was handed over, the body hears
///   the reason instead.
/// - Which of libcurl and the producer must be stopped when the transfer ends early.
///
/// An event that cannot happen (libcurl finishing a transfer twice, or one taken out of it) is a
/// bug: `preconditionFailure("Invalid state: …")`.
///
/// Twisted: `twisted.web._newclient.HTTP11ClientProtocol` (its `_state`), for the part of an
/// exchange libcurl leaves to us.
struct CurlTransferStateMachine {
    /// Where the response stands. The host's name was looked up before the transfer was made
    /// (`CurlTransfer.lookUp`); the first state is the transfer handed to libcurl.
    enum State {
        /// Handed to libcurl (connecting, a TLS handshake, a proxy's tunnel, sending the request);
        /// no byte of the response yet. A failure now is the bare reason (inside
        /// `ResponseNeverReceived` unless it is a connection-level error). The response deferred
        /// is pending. Twisted: TRANSMITTING, then WAITING.
        case waitingForResponse(Deferred<Response>)
        /// Header bytes have arrived: part of a head, or whole 1xx interim heads, which are
        /// skipped. A failure now is `ResponseFailed`. The response deferred is pending. Twisted:
        /// WAITING, with part of the response parsed.
        case receivingHead(Deferred<Response>)
        /// The response's head is complete. It was found inside libcurl's header callback, where
        /// no user code runs: it is handed over (the deferred fires) at the transfer's next news.
        /// A new status line before then starts the head over. (Twisted fires the deferred from its
        /// parser at once; libcurl's callbacks must not run user code.)
        case headReceived(Deferred<Response>)
        /// The response deferred fired; the body arrives (through `BodyDeliveryStateMachine`).
        /// Twisted: WAITING with the response delivered and its body parsed, or
        /// TRANSMITTING_AFTER_RECEIVING_RESPONSE while the request body is still being sent.
        case receivingBody
        /// The transfer ended with `reason`: `ResponseDone`, `PotentialDataLoss`, or a failure (a
        /// timeout, `CancelledError`, a limit, libcurl's error). The response deferred was failed,
        /// or the body's machine was told; later events change nothing. Twisted: QUIESCENT after
        /// a response; ABORTING, then CONNECTION_LOST, after a failure.
        case ended(Failure)
        /// The multi handle shut down: nobody is told anything any more.
        case detached
    }

    /// libcurl's side of the transfer.
    enum Run {
        /// In the multi handle. `refused`: a callback refused bytes over a limit (libcurl will
        /// finish with a write error), and the transfer ends with this reason whatever the code.
        case running(refused: Failure?)
        /// libcurl finished with `code` (the easy handle went back to the multi handle); the end is
        /// decided at the transfer's next news.
        case finished(CURLcode, refused: Failure?)
        /// We took it out of the multi handle (the transfer ended before libcurl finished).
        case stopped
    }

    /// How a finished transfer ends, as far as the machine can tell without the easy handle.
    enum Ending {
        /// With this reason.
        case reason(Failure)
        /// With libcurl's error `code`, for `CurlErrors.error(for:…)` to map (with the handle's
        /// record); `receivedHead`: the response deferred had fired.
        case curlError(CURLcode, receivedHead: Bool)
    }

    /// What the transfer's news says about its end.
    enum Completion {
        /// libcurl is still running it (or it was detached): nothing to end.
        case running
        /// libcurl finished: end the transfer this way (`end(_:)`).
        case finished(Ending)
        /// The transfer has already ended: only deliver what the body still holds.
        case ended
    }

    /// What to do with a header line libcurl handed over.
    enum HeaderAction: Equatable {
        /// Taken.
        case taken
        /// Taken, and it completed the response's head: note news, to hand the head over.
        case headComplete
        /// Refused: the head is over the limit (libcurl then aborts with a write error).
        case refused
    }

    /// What to do when the transfer ends.
    struct EndAction {
        /// How the reason goes on.
        enum Outcome {
            /// Fail the response deferred with this failure, and abandon the body.
            case failResponse(Deferred<Response>, Failure)
            /// End the body with this reason (its protocol hears it after the bytes held).
            case endBody(Failure)
        }

        /// Take the transfer out of the multi handle: libcurl was still running it.
        var stopTransfer: Bool
        /// Tell the request body's producer `stopProducing`: it was still writing.
        var stopProducer: Bool
        var outcome: Outcome
    }

    private(set) var state: State
    private(set) var run = Run.running(refused: nil)
    /// The request body's side.
    var upload: CurlUploadStateMachine
    /// The response's head as its lines arrive (a new status line starts over).
    private(set) var head = ResponseHead()
    /// Header bytes received so far (every status line and field, line ends included).
    private(set) var headerBytes = 0
    /// Body bytes received so far.
    private(set) var bodyBytes = 0
    let isHeadRequest: Bool
    let maxHeaderBytes: Int
    let maxBodyBytes: Int?

    /// A transfer handed to libcurl, whose response fires `deferred`.
    /// - Parameters:
    ///   - isHeadRequest: the request's method is HEAD (its response has no body).
    ///   - hasUpload: the request has a body, whose producer is started with the transfer.
    init(deferred: Deferred<Response>, isHeadRequest: Bool, hasUpload: Bool, maxHeaderBytes: Int,
         maxBodyBytes: Int?) {
        state = .waitingForResponse(deferred)
        upload = CurlUploadStateMachine(hasBody: hasUpload)
        self.isHeadRequest = isHeadRequest
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
    }

    /// Whether libcurl is still running the transfer (not finished, not stopped).
    var isRunning: Bool {
        if case .running = run { return true }
        return false
    }

    /// Whether the transfer has ended (or was detached): `end(_:)` would do nothing.
    var hasEnded: Bool {
        switch state {
        case .ended, .detached: return true
        case .waitingForResponse, .receivingHead, .headReceived, .receivingBody: return false
        }
    }

    /// Whether the multi handle shut down under the transfer.
    var isDetached: Bool {
        if case .detached = state { return true }
        return false
    }

    // MARK: - libcurl's callbacks

    /// A header line arrived (libcurl's header callback).
    ///
    /// Refused while the response's head is incomplete and the header bytes so far pass
    /// `maxHeaderBytes`. Header lines after the head (trailers) are taken and change nothing.
    mutating func headerLine(_ bytes: UnsafeRawBufferPointer) -> HeaderAction {
        headerBytes += bytes.count
        switch state {
        case .waitingForResponse(let deferred):
            state = .receivingHead(deferred)
        case .receivingHead, .headReceived, .receivingBody, .ended, .detached:
            break
        }
        if headerBytes > maxHeaderBytes, case .receivingHead = state {
            refuse(Failure(HeadersTooLarge(limit: maxHeaderBytes)))
            return .refused
        }
        switch head.take(bytes) {
        case .statusLine:
            if case .headReceived(let deferred) = state { state = .receivingHead(deferred) }
        case .end:
            let code = head.code
            // A 1xx head is interim (but 101, Switching Protocols); a status line without a number
            // is taken as final, to fail where the response is made.
            if code >= 200 || code == 101 || code == 0, case .receivingHead(let deferred) = state {
                state = .headReceived(deferred)
                return .headComplete
            }
        case .field, .ignored:
            break
        }
        return .taken
    }

    /// Body bytes arrived (libcurl's write callback, once the body's machine may hold them).
    /// Returns false when they pass `maxBodyBytes`: they are refused, and the transfer ends with
    /// `BodyTooLarge`.
    mutating func bodyArrived(_ count: Int) -> Bool {
        if let limit = maxBodyBytes, bodyBytes + count > limit {
            refuse(Failure(BodyTooLarge(limit: limit)))
            return false
        }
        bodyBytes += count
        return true
    }

    private mutating func refuse(_ reason: Failure) {
        if case .running(refused: nil) = run { run = .running(refused: reason) }
    }

    /// libcurl finished the transfer with `code` (found by the multi handle after an action).
    mutating func libcurlFinished(_ code: CURLcode) {
        guard case .running(let refused) = run else {
            preconditionFailure("Invalid state: libcurl finished a transfer in \(run)")
        }
        run = .finished(code, refused: refused)
    }

    // MARK: - The transfer's news (outside libcurl's callbacks)

    /// The head to hand over, once: the response deferred fires with it (the machine is now
    /// receiving the body). Nil unless the head is complete and was not handed over.
    mutating func headToHandOver() -> (Deferred<Response>, ResponseHead)? {
        guard case .headReceived(let deferred) = state else { return nil }
        state = .receivingBody
        return (deferred, head)
    }

    /// What the news says about the transfer's end (it changes nothing: `end(_:)` does).
    func completion() -> Completion {
        switch state {
        case .ended:
            return .ended
        case .detached:
            return .running
        case .waitingForResponse, .receivingHead, .headReceived, .receivingBody:
            break
        }
        guard case .finished(let code, let refused) = run else { return .running }
        return .finished(ending(code, refused: refused))
    }

    /// How a transfer libcurl finished with `code` ends.
    private func ending(_ code: CURLcode, refused: Failure?) -> Ending {
        if let refused { return .reason(refused) }
        if code == CURLE_OK {
            if let reason = upload.failure {
                return .reason(Failure(RequestTransmissionFailed(reasons: [reason])))
            }
            return .reason(bodyIsCloseDelimited ? Failure(PotentialDataLoss()) : ResponseBody.responseDone)
        }
        if code == CURLE_ABORTED_BY_CALLBACK, let reason = upload.failure {
            return .reason(Failure(RequestTransmissionFailed(reasons: [reason])))
        }
        if case .receivingBody = state { return .curlError(code, receivedHead: true) }
        return .curlError(code, receivedHead: false)
    }

    /// Whether the response's body runs to the close of the connection (HTTP/1.x, a status with a
    /// body, neither a length nor a transfer coding): its end may have lost data.
    var bodyIsCloseDelimited: Bool {
        let code = head.code
        guard head.major < 2, !isHeadRequest, code != 204, code != 304, code >= 200 else { return false }
        return !head.hasContentLength && !head.hasTransferEncoding
    }

    // MARK: - Ending

    /// The transfer ends with `reason`: libcurl finished (the reason from `completion()`), or it
    /// fails now (a timeout, a cancellation, a stopped or dropped body, a start that failed).
    /// Returns what to do, or nil when it had already ended or was detached (nothing is done).
    mutating func end(_ reason: Failure) -> EndAction? {
        let outcome: EndAction.Outcome
        switch state {
        case .waitingForResponse(let deferred):
            outcome = .failResponse(deferred, Self.failureBeforeHead(reason, anyByte: false))
        case .receivingHead(let deferred), .headReceived(let deferred):
            outcome = .failResponse(deferred, Self.failureBeforeHead(reason, anyByte: true))
        case .receivingBody:
            outcome = .endBody(reason)
        case .ended, .detached:
            return nil
        }
        state = .ended(reason)
        let stopTransfer = isRunning
        if stopTransfer { run = .stopped }
        let stopProducer = upload.transferEnded()
        return EndAction(stopTransfer: stopTransfer, stopProducer: stopProducer, outcome: outcome)
    }

    /// How the response deferred fails before the head was handed over, by Twisted's rule:
    /// `ResponseFailed` once any byte of the response arrived (`anyByte`: a header line reached
    /// us), or when libcurl refused the status line (`ParseError`) or the header size
    /// (`HeadersTooLarge`); otherwise `ResponseNeverReceived`, or the connection-level error itself
    /// (`ResponseBody.neverReceived`). Timeouts and cancellations stay themselves.
    static func failureBeforeHead(_ reason: Failure, anyByte: Bool) -> Failure {
        let never = ResponseBody.neverReceived(reason)
        guard never.value is ResponseNeverReceived,
              anyByte || reason.check(ParseError.self, HeadersTooLarge.self) != nil
        else { return never }
        return Failure(ResponseFailed(reasons: [reason]))
    }

    /// The multi handle shuts down: the machine ignores everything from now on. Returns the reason
    /// a body protocol given later hears: the end's, or `CancelledError`.
    mutating func detach() -> Failure {
        let reason: Failure
        if case .ended(let ending) = state { reason = ending } else { reason = Failure(CancelledError()) }
        state = .detached
        return reason
    }
}
