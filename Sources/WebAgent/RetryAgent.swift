import Deferreds
import Reactor

/// An agent wrapper that retries idempotent requests after connection failures, timeouts and
/// "try again later" responses, waiting longer between attempts, as its `RetryPolicy` says.
///
/// What is retried (see `RetryPolicy` for the defaults and their reasons):
/// - only requests the policy may send twice: by default those without a body whose method is
///   idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE); any other request is passed through
///   untouched;
/// - failures the policy calls transient: by default refused, lost and timed-out connections, the
///   request's `timeout` (each attempt gets the whole of it) and a `ResponseNeverReceived` made of
///   those. A `DNSLookupError`, a TLS error, a response that cannot be parsed, bad input and
///   `CancelledError` end the request at once, unwrapped;
/// - responses whose status the policy retries: by default curl's `--retry` set, 408, 429, 500,
///   502, 503 and 504. Their bodies are read and discarded (so the connection can be reused) while
///   the agent waits.
///
/// Before retry *n* the agent waits `policy.delay(beforeRetry: n, retryAfter:)` seconds on
/// `clock`: a retried response's `Retry-After` (delta-seconds or an HTTP-date, capped at
/// `policy.maxRetryAfter`), else the backoff's wait, exponential with jitter.
///
/// After `attempts` attempts the last outcome is returned: a retryable response (a last 503, say)
/// as it is, with its body unread; a retryable failure wrapped in `RetriesExhausted`, whose
/// message says how many attempts were made. With `attempts` 1 the agent is transparent: each
/// request is sent once, through the wrapped agent, its outcome unchanged.
///
/// Cancelling the returned deferred cancels the attempt in flight (which then fails with
/// `CancelledError`) or the wait between attempts (`CancelledError`); no attempt follows.
///
/// `request(_:_:_:timeout:reading:)` retries a whole exchange, the reading of the body included,
/// so that a body cut off halfway is fetched again (getpage's `--retries`).
///
/// The attempts and waits are `Reactor.retry`'s machine (`retry(_:attempts:delayBeforeRetry:_:)`).
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
    /// What an exchange with retries reports as it goes (`request(_:_:_:timeout:events:reading:)`).
    public enum Event {
        /// Attempt `n` (1 for the first) is about to be sent.
        case attempt(Int)
        /// Attempt `n` failed with a retryable failure (a retried status is a `RetryableStatus`),
        /// and the next is sent after `wait` seconds.
        case retry(after: Int, Failure, wait: Double)
    }

    /// Methods that may be sent twice with the effect of once (RFC 9110 §9.2.2).
    public static let idempotentMethods: Set<String> = RetryPolicy.idempotentMethods
    /// The response statuses retried by default: `RetryPolicy.defaultStatuses`.
    public static let retryableStatuses: Set<Int> = RetryPolicy.defaultStatuses

    /// When to retry and how long to wait.
    public let policy: RetryPolicy
    /// Where the waits between attempts are scheduled.
    public let clock: any ReactorTime
    @usableFromInline let agent: any AgentProtocol

    /// The most attempts per request, the first included: `policy.attempts`.
    public var attempts: Int { policy.attempts }
    /// The waits between attempts when a response gives no `Retry-After`: `policy.backoff`.
    public var backoff: Backoff { policy.backoff }

    /// - Parameters:
    ///   - agent: the agent that sends each attempt.
    ///   - clock: where the waits between attempts are scheduled (the reactor, or a test `Clock`).
    ///   - policy: when to retry and how long to wait.
    public init(_ agent: any AgentProtocol, clock: any ReactorTime, policy: RetryPolicy) {
        self.agent = agent
        self.clock = clock
        self.policy = policy
    }

    /// - Parameters:
    ///   - agent: the agent that sends each attempt.
    ///   - clock: where the waits between attempts are scheduled (the reactor, or a test `Clock`).
    ///   - attempts: the most attempts per request, at least 1 (a programmer error otherwise).
    ///   - backoff: the waits between attempts; by default 1 s, doubling, with 10% jitter, at most 60 s.
    public convenience init(_ agent: any AgentProtocol, clock: any ReactorTime, attempts: Int = 3,
                            backoff: Backoff = Backoff()) {
        precondition(attempts >= 1, "RetryAgent: attempts must be at least 1, got \(attempts)")
        self.init(agent, clock: clock, policy: RetryPolicy(attempts: attempts, backoff: backoff))
    }

    public func request(_ method: String, _ uri: String, _ headers: Headers? = nil,
                        _ bodyProducer: (any BodyProducer)? = nil, timeout: Double? = nil) -> Deferred<Response> {
        guard policy.attempts > 1, policy.retries(method: method, hasBody: bodyProducer != nil) else {
            return agent.request(method, uri, headers, bodyProducer, timeout: timeout)
        }
        return exchange(method, uri, headers, timeout: timeout, events: nil) { succeed($0) }
    }

    /// Sends a request without a body and hands each response that is not retried to `reading`,
    /// whose deferred is the attempt's outcome: a retryable failure of it (a body that times out
    /// or loses its connection halfway) is retried as a failed request is, and `reading` is called
    /// again with the next attempt's response. `events` hears of each attempt and each retry.
    ///
    /// A request the policy may not retry (or with `attempts` 1) is sent once, and its response
    /// read once, whatever its status. The result
    /// fires with `reading`'s value, or fails as `request` does (`RetriesExhausted` when the
    /// attempts ran out on retryable failures).
    // Inlinable so that the path without retries (getpage's default, one call per URL) is
    // specialised for the caller's `T` instead of running Deferreds' unspecialised generic steps.
    @inlinable
    public func request<T>(_ method: String, _ uri: String, _ headers: Headers? = nil, timeout: Double? = nil,
                           events: ((Event) -> Void)? = nil,
                           reading: @escaping (Response) throws -> Deferred<T>) -> Deferred<T> {
        guard policy.attempts > 1, policy.retries(method: method, hasBody: false) else {
            events?(.attempt(1))
            return agent.request(method, uri, headers, nil, timeout: timeout).addCallback(reading)
        }
        return exchange(method, uri, headers, timeout: timeout, events: events, reading: reading)
    }

    /// The retried exchange on `Reactor.retry`'s machine.
    @usableFromInline
    func exchange<T>(_ method: String, _ uri: String, _ headers: Headers?, timeout: Double?,
                             events: ((Event) -> Void)?,
                             reading: @escaping (Response) throws -> Deferred<T>) -> Deferred<T> {
        let policy = policy
        let agent = agent
        var made = 0
        let attempts = policy.attempts
        let result = retry(clock, attempts: attempts, delayBeforeRetry: { failure, retry in
            let wait: Double
            if let status = failure.value as? RetryableStatus {
                wait = policy.delay(beforeRetry: retry, retryAfter: status.retryAfter)
            } else if policy.retries(failure) {
                wait = policy.delay(beforeRetry: retry)
            } else {
                return nil
            }
            events?(.retry(after: retry, failure, wait: wait))
            return wait
        }) { () -> Deferred<T> in
            made += 1
            let isLast = made >= attempts
            events?(.attempt(made))
            return agent.request(method, uri, headers, nil, timeout: timeout)
                .addCallback { (response: Response) throws -> Deferred<T> in
                    if !isLast && policy.retries(status: response.code) {
                        let status = RetryableStatus(
                            code: response.code, phrase: response.phrase,
                            retryAfter: response.headers.getLastRawHeader("Retry-After"))
                        response.discardBody()
                        throw status
                    }
                    return try reading(response)
                }
        }
        // A retryable failure of the last attempt: say that the attempts ran out.
        return result.addErrback { (failure: Failure) throws -> T in
            if made >= attempts && failure.check(CancelledError.self) == nil
                && policy.retries(failure) {
                throw RetriesExhausted(attempts: made, lastFailure: failure)
            }
            throw failure
        }
    }
}

/// A response whose status the retry policy retries, as the failure of its attempt: its body was
/// discarded, and the next attempt follows after its `Retry-After` or the backoff.
public struct RetryableStatus: Error, CustomStringConvertible {
    /// The response's status code (429, 503, …).
    public let code: Int
    /// The response's reason phrase, as sent (may be empty).
    public let phrase: String
    /// The response's `Retry-After` field, as sent.
    public let retryAfter: String?
    /// The failure of an attempt answered with `code` and `phrase`, and `Retry-After` if any.
    public init(code: Int, phrase: String, retryAfter: String?) {
        self.code = code
        self.phrase = phrase
        self.retryAfter = retryAfter
    }
    public var description: String { phrase.isEmpty ? "HTTP \(code)" : "HTTP \(code) \(phrase)" }
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
