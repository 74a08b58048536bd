import Deferreds
import Glibc
import Reactor

/// When and how long to wait before a request is sent again: the one retry policy of `RetryAgent`
/// and of getpage's `--retries`.
///
/// A policy answers four questions, each a pure function of its input so that it can be tested
/// without a network or a clock:
/// - `retries(method:hasBody:)`: may this request be sent twice? Only when its method is in
///   `methods` (the idempotent ones, RFC 9110 §9.2.2, by default) and it has no body producer (a
///   producer cannot be replayed).
/// - `retries(status:)`: does this response say "try again later"? When its code is in `statuses`.
/// - `retries(_:)`: does this failure say the server may do better next time? `failures` decides;
///   by default `RetryPolicy.isTransient`.
/// - `delay(beforeRetry:retryAfter:)`: how long to wait. The response's `Retry-After`, when it
///   has a valid one, in delta-seconds or as an HTTP-date (measured against `now`, the wall clock),
///   capped at `maxRetryAfter`; otherwise `backoff.delay(beforeRetry:)`, exponential with jitter.
///
/// The default statuses are curl's `--retry` set: 408 Request Timeout, 429 Too Many Requests, 500
/// Internal Server Error, 502 Bad Gateway, 503 Service Unavailable and 504 Gateway Timeout. They are
/// the answers that describe a passing state of the server or of the path to it. Other 5xx codes
/// describe something a second attempt will not change (501 Not Implemented, 505 HTTP Version Not
/// Supported, 507 Insufficient Storage, 508 Loop Detected, …), so they are final.
///
/// `attempts` counts the first request: 3 means at most two retries.
///
/// ```swift
/// var policy = RetryPolicy(attempts: 4, backoff: Backoff(initial: 0.5, maxDelay: 10))
/// policy.statuses.remove(500)
/// let agent = RetryAgent(Agent(reactor), clock: reactor, policy: policy)
/// ```
///
/// Programmer errors (they trap): `attempts` below 1, a negative or non-finite `maxRetryAfter`.
///
/// Twisted has no retry policy; `twisted.application.internet.backoffPolicy` is the backoff part.
public struct RetryPolicy {
    /// Methods that may be sent twice with the effect of once (RFC 9110 §9.2.2).
    public static let idempotentMethods: Set<String> = ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]
    /// curl's `--retry` statuses: 408, 429, 500, 502, 503 and 504.
    public static let defaultStatuses: Set<Int> = [408, 429, 500, 502, 503, 504]

    /// The most attempts per request, the first included (at least 1).
    public var attempts: Int
    /// The waits between attempts when the response gives no `Retry-After`.
    public var backoff: Backoff
    /// Response codes that are retried.
    public var statuses: Set<Int>
    /// Methods that are retried (a request with a body producer never is).
    public var methods: Set<String>
    /// Whether a failed attempt is worth another.
    public var failures: (Failure) -> Bool
    /// The longest wait a `Retry-After` can ask for, in seconds; a longer one is cut to it.
    public var maxRetryAfter: Double
    /// The wall clock, in seconds since 1970, that an HTTP-date `Retry-After` is measured against.
    public var now: () -> Double

    /// - Parameters:
    ///   - attempts: the most attempts per request, at least 1.
    ///   - backoff: the waits between attempts; by default 1 s, doubling, with 10% jitter, at most 60 s.
    ///   - statuses: the response codes that are retried; curl's set by default.
    ///   - methods: the methods that are retried; the idempotent ones by default.
    ///   - failures: whether a failure is retried; `RetryPolicy.isTransient` by default.
    ///   - maxRetryAfter: the cap on a `Retry-After` wait; `backoff.maxDelay` by default.
    ///   - now: the wall clock for HTTP-dates; the system's real-time clock by default.
    public init(
        attempts: Int = 3, backoff: Backoff = Backoff(), statuses: Set<Int> = RetryPolicy.defaultStatuses,
        methods: Set<String> = RetryPolicy.idempotentMethods,
        failures: @escaping (Failure) -> Bool = RetryPolicy.isTransient,
        maxRetryAfter: Double? = nil, now: @escaping () -> Double = RetryPolicy.wallClock
    ) {
        precondition(attempts >= 1, "RetryPolicy: attempts must be at least 1, got \(attempts)")
        let cap = maxRetryAfter ?? backoff.maxDelay
        precondition(cap >= 0 && cap.isFinite, "RetryPolicy: maxRetryAfter must be a finite number >= 0, got \(cap)")
        self.attempts = attempts
        self.backoff = backoff
        self.statuses = statuses
        self.methods = methods
        self.failures = failures
        self.maxRetryAfter = cap
        self.now = now
    }

    /// Whether a request may be retried at all.
    public func retries(method: String, hasBody: Bool) -> Bool {
        !hasBody && methods.contains(method)
    }

    /// Whether a response with this code is retried (while attempts remain).
    public func retries(status: Int) -> Bool {
        statuses.contains(status)
    }

    /// Whether a failed attempt is retried (while attempts remain).
    public func retries(_ failure: Failure) -> Bool {
        failures(failure)
    }

    /// The wait before retry `retry` (1 for the first retry): the `Retry-After` field's value when
    /// it is valid (capped at `maxRetryAfter`), otherwise the backoff's wait.
    public func delay(beforeRetry retry: Int, retryAfter: String? = nil) -> Double {
        if let retryAfter, let asked = RetryPolicy.retryAfterSeconds(retryAfter, now: now()) {
            return min(asked, maxRetryAfter)
        }
        return backoff.delay(beforeRetry: retry)
    }

    /// The failures that say the server or the path to it may do better next time:
    /// `ConnectionRefusedError`, `ConnectionLost`, `ConnectionDone`, `ConnectError`,
    /// `ConnectTimeoutError`, `Deferreds.TimeoutError`, and a `ResponseNeverReceived` or
    /// `ResponseFailed` (a body cut off halfway) whose every reason is one of these. So a
    /// cancelled request, a response that could not be parsed, a TLS error, a `DNSLookupError`
    /// (an unknown name stays unknown longer than a backoff; the resolver has its own retries) and
    /// a programmer's bad input are final.
    public static func isTransient(_ failure: Failure) -> Bool {
        if failure.check(ConnectionRefusedError.self, ConnectionLost.self, ConnectionDone.self, ConnectError.self,
                         ConnectTimeoutError.self, TimeoutError.self) != nil {
            return true
        }
        // A proxy that could not be reached: as the same failure to reach a server would be.
        if let proxy = failure.value as? ProxyConnectError { return isTransient(proxy.reason) }
        if let never = failure.value as? ResponseNeverReceived {
            return !never.reasons.isEmpty && never.reasons.allSatisfy(isTransient)
        }
        if let failed = failure.value as? ResponseFailed {
            return !failed.reasons.isEmpty && failed.reasons.allSatisfy(isTransient)
        }
        return false
    }

    /// The system's real-time clock, in seconds since 1970.
    public static func wallClock() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// The wait a `Retry-After` value asks for, in seconds from `now` (seconds since 1970): its
    /// delta-seconds, or the time until its HTTP-date (0 for a date in the past); nil when the value
    /// is neither (RFC 9110 §10.2.3). The three date formats of RFC 9110 §5.6.7 are accepted.
    public static func retryAfterSeconds(_ value: String, now: Double) -> Double? {
        let text = value.trimmingSpaces()
        guard !text.isEmpty else { return nil }
        if text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
            return Double(text)
        }
        guard let date = httpDate(text) else { return nil }
        return max(0, date - now)
    }

    /// An HTTP-date as seconds since 1970: IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), the
    /// obsolete RFC 850 form ("Sunday, 06-Nov-94 08:49:37 GMT") or asctime's ("Sun Nov  6 08:49:37
    /// 1994"); nil for anything else.
    static func httpDate(_ text: String) -> Double? {
        let fields = text.split(separator: " ")
        let day: Substring, month: Substring, year: Substring, time: Substring
        if fields.count == 6, fields[0].hasSuffix(","), fields[5] == "GMT" {
            (day, month, year, time) = (fields[1], fields[2], fields[3], fields[4])
        } else if fields.count == 4, fields[0].hasSuffix(","), fields[3] == "GMT" {
            let parts = fields[1].split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 3 else { return nil }
            (day, month, year, time) = (parts[0], parts[1], parts[2], fields[2])
        } else if fields.count == 5 {
            (month, day, time, year) = (fields[1], fields[2], fields[3], fields[4])
        } else {
            return nil
        }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let clock = time.split(separator: ":", omittingEmptySubsequences: false)
        guard let monthIndex = months.firstIndex(of: String(month)),
              let d = number(day), let y = number(year), (1...31).contains(d),
              clock.count == 3, let h = number(clock[0]), let m = number(clock[1]), let s = number(clock[2]),
              h < 24, m < 60, s <= 60
        else { return nil }
        // RFC 850's two-digit year: RFC 9110 reads one more than 50 years ahead as the last century.
        let fullYear = year.count == 2 ? (y < 70 ? 2000 + y : 1900 + y) : y
        guard year.count == 2 || year.count == 4 else { return nil }
        let days = daysSince1970(year: fullYear, month: monthIndex + 1, day: d)
        return Double(days * 86_400 + h * 3_600 + m * 60 + s)
    }

    /// A run of ASCII digits (at most 4) as a number.
    private static func number(_ digits: Substring) -> Int? {
        guard !digits.isEmpty, digits.count <= 4,
              digits.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return nil }
        return Int(digits)
    }

    /// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
    private static func daysSince1970(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
