import Deferreds
import Reactor

/// An agent wrapper that retries idempotent requests after connection failures, timeouts and
/// "try again later" responses, waiting longer between attempts.
///
/// What is retried:
/// - only requests without a body whose method is idempotent: GET, HEAD, OPTIONS, TRACE, PUT and
///   DELETE (a body producer cannot be replayed); any other request is passed through untouched;
/// - failures that say the server may do better next time: `ConnectionRefusedError`,
///   `ConnectionLost`, `ConnectError`, `ConnectTimeoutError`, `Deferreds.TimeoutError` (the
///   request's `timeout`; each attempt gets the whole of it), `ResponseNeverReceived` unless
///   the request was cancelled, and a `ResponseFailed` before any response holding only
///   `ConnectionLost` (the connection ended inside the header block). A `DNSLookupError` is not
///   retried: an unknown name stays unknown for longer than a backoff, and a failing resolver has its own retries. Nothing else (TLS
///   errors, bad responses, invalid input, `CancelledError`) is retried;
/// - responses 429, 502, 503 and 504. Their bodies are read and discarded (so the connection can
///   be reused) while the agent waits.
///
/// Before retry *n* the agent waits `backoff.delay(beforeRetry: n)` seconds on `clock`; a retried
/// response's `Retry-After` in delta-seconds replaces that wait, capped at `backoff.maxDelay` (an
/// HTTP-date `Retry-After` is ignored: the clock tells monotonic time, not the date).
///
/// After `attempts` attempts the last outcome is returned: a retryable response (a last 503, say)
/// as it is, with its body unread; a retryable failure wrapped in `RetriesExhausted`, whose
/// message says how many attempts were made. A failure that is not retryable ends the request at
/// once, unwrapped.
///
/// Cancelling the returned deferred cancels the attempt in flight (which then fails with
/// `CancelledError`) or the wait between attempts (`CancelledError`); no attempt follows.
///
/// ```swift
/// let agent = RetryAgent(Agent(reactor), clock: reactor, attempts: 4,
///                        backoff: Backoff(initial: 0.5, maxDelay: 10))
/// _ = agent.request("GET", "http://example.com/flaky").addCallback { response in readBody(response) }
/// ```
///
/// Twisted has no retrying agent; `HTTPConnectionPool` retries once, on a fresh connection, a
/// request whose persistent connection closed (`_RetryingHTTP11ClientProtocol`), with the same
/// idempotency rule (Twisted leaves PUT out).
public final class RetryAgent: AgentProtocol {
    /// Methods that may be sent twice with the effect of once (RFC 9110 §9.2.2).
    public static let idempotentMethods: Set<String> = ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]
    /// Response statuses that are retried.
    public static let retryableStatuses: Set<Int> = [429, 502, 503, 504]

    /// The most attempts per request, the first included.
    public let attempts: Int
    /// The waits between attempts (a `Retry-After` header, capped at `backoff.maxDelay`, takes
    /// precedence).
    public let backoff: Backoff
    /// Where the waits between attempts are scheduled.
    public let clock: any ReactorTime
    private let agent: any AgentProtocol

    /// - Parameters:
    ///   - agent: the agent that sends each attempt.
    ///   - clock: where the waits between attempts are scheduled (the reactor, or a test `Clock`).
    ///   - attempts: the most attempts per request, at least 1 (a programmer error otherwise).
    ///   - backoff: the waits between attempts; by default 1 s, doubling, with 10% jitter, at most 60 s.
    public init(_ agent: any AgentProtocol, clock: any ReactorTime, attempts: Int = 3, backoff: Backoff = Backoff()) {
        precondition(attempts >= 1, "RetryAgent: attempts must be at least 1, got \(attempts)")
        self.agent = agent
        self.clock = clock
        self.attempts = attempts
        self.backoff = backoff
    }

    public func request(_ method: String, _ uri: String, _ headers: Headers? = nil,
                        _ bodyProducer: (any BodyProducer)? = nil, timeout: Double? = nil) -> Deferred<Response> {
        guard bodyProducer == nil, RetryAgent.idempotentMethods.contains(method) else {
            return agent.request(method, uri, headers, bodyProducer, timeout: timeout)
        }
        let retrier = RequestRetrier(self) { [agent] in agent.request(method, uri, headers, nil, timeout: timeout) }
        retrier.attempt()
        return retrier.result
    }

    /// Whether a failed attempt is worth another.
    static func isRetryable(_ failure: Failure) -> Bool {
        if failure.check(ConnectionRefusedError.self, ConnectionLost.self, ConnectError.self,
                         ConnectTimeoutError.self, TimeoutError.self) != nil {
            return true
        }
        if let never = failure.value as? ResponseNeverReceived {
            return !never.reasons.contains { $0.check(CancelledError.self) != nil }
        }
        if let failed = failure.value as? ResponseFailed, failed.response == nil, !failed.reasons.isEmpty {
            return failed.reasons.allSatisfy { $0.check(ConnectionLost.self) != nil }
        }
        return false
    }

    /// The wait a retryable response asks for, in seconds: its `Retry-After` delta-seconds.
    static func retryAfter(_ response: Response) -> Double? {
        guard let value = response.headers.getLastRawHeader("Retry-After")?.trimmingSpaces(), !value.isEmpty,
              value.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return nil }
        return Double(value)
    }

    fileprivate func delay(beforeRetry retry: Int, after response: Response?) -> Double {
        if let response, let asked = RetryAgent.retryAfter(response) { return min(asked, backoff.maxDelay) }
        return backoff.delay(beforeRetry: retry)
    }
}

/// A request's retries ran out: `attempts` were made, and the last failed with `lastFailure`.
public struct RetriesExhausted: Error, CustomStringConvertible {
    /// How many attempts were made.
    public let attempts: Int
    /// The failure of the last attempt.
    public let lastFailure: Failure
    /// Retries that ran out after `attempts`, the last failing with `lastFailure`.
    public init(attempts: Int, lastFailure: Failure) {
        self.attempts = attempts
        self.lastFailure = lastFailure
    }
    public var description: String {
        "Gave up after \(attempts) attempt\(attempts == 1 ? "" : "s"): \(lastFailure.getErrorMessage())"
    }
}

/// The state of one retried request: the attempt in flight or the wait before the next one.
private final class RequestRetrier {
    private enum State {
        /// An attempt's deferred is in flight; `cancelled` once the result was cancelled.
        case attempting(Deferred<Response>, cancelled: Bool)
        case waiting(DelayedCall)
        case finished
    }

    private let owner: RetryAgent
    private let make: () -> Deferred<Response>
    /// The deferred the agent returned; its canceller holds this retrier until it fires.
    let result: Deferred<Response>
    private var state = State.finished
    private var made = 0

    init(_ owner: RetryAgent, make: @escaping () -> Deferred<Response>) {
        self.owner = owner
        self.make = make
        var cancel: () -> Void = {}
        result = Deferred<Response>(canceller: { _ in cancel() })
        cancel = { self.cancel() }
    }

    func attempt() {
        made += 1
        let pending = make()
        state = .attempting(pending, cancelled: false)
        _ = pending.addBoth { [self] (outcome: Result<Response, Failure>) -> Void in
            switch outcome {
            case .success(let response): attemptAnswered(response)
            case .failure(let failure): attemptFailed(failure)
            }
        }
    }

    private func attemptAnswered(_ response: Response) {
        guard RetryAgent.retryableStatuses.contains(response.code), made < owner.attempts, !wasCancelled else {
            finish(.success(response))
            return
        }
        let wait = owner.delay(beforeRetry: made, after: response)
        response.discardBody()
        state = .waiting(owner.clock.callLater(wait) { [self] in attempt() })
    }

    private func attemptFailed(_ failure: Failure) {
        guard !wasCancelled, RetryAgent.isRetryable(failure) else {
            finish(.failure(failure))
            return
        }
        guard made < owner.attempts else {
            finish(.failure(Failure(RetriesExhausted(attempts: made, lastFailure: failure))))
            return
        }
        let wait = owner.delay(beforeRetry: made, after: nil)
        state = .waiting(owner.clock.callLater(wait) { [self] in attempt() })
    }

    private var wasCancelled: Bool {
        if case .attempting(_, cancelled: true) = state { return true }
        return false
    }

    /// The result's canceller.
    private func cancel() {
        switch state {
        case .attempting(let pending, cancelled: _):
            state = .attempting(pending, cancelled: true)
            pending.cancel()
        case .waiting(let next):
            next.cancel()
            state = .finished
        case .finished:
            break
        }
    }

    private func finish(_ outcome: Result<Response, Failure>) {
        state = .finished
        // An attempt that ignored the cancel: the result has already failed with CancelledError.
        guard !result.called else { return }
        switch outcome {
        case .success(let response): result.callback(response)
        case .failure(let failure): result.errback(failure)
        }
    }
}
