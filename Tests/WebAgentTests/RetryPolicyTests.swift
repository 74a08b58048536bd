import Deferreds
import Reactor
import Testing

@testable import WebAgent

@Suite struct RetryPolicyTests {
    /// Backoff without jitter: 1, 2, 4, … seconds, at most 30.
    private let backoff = Backoff(initial: 1, multiplier: 2, maxDelay: 30, jitter: 0)

    @Test func defaultStatusesAreCurlsRetrySet() {
        // When no statuses are given, exactly 408, 429, 500, 502, 503 and 504 are retried.
        let policy = RetryPolicy()
        let retried = (100...599).filter { policy.retries(status: $0) }
        #expect(retried == [408, 429, 500, 502, 503, 504])
        #expect(RetryAgent.retryableStatuses == RetryPolicy.defaultStatuses)
    }

    @Test func onlyIdempotentMethodsWithoutABodyAreRetried() {
        // When a request is a GET, PUT, DELETE, HEAD, OPTIONS or TRACE without a body it may be retried; else not.
        let policy = RetryPolicy()
        for method in ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"] {
            #expect(policy.retries(method: method, hasBody: false), "\(method)")
        }
        #expect(!policy.retries(method: "PUT", hasBody: true))
        #expect(!policy.retries(method: "POST", hasBody: false))
        #expect(!policy.retries(method: "PATCH", hasBody: false))
        #expect(RetryPolicy(methods: ["GET", "POST"]).retries(method: "POST", hasBody: false))
    }

    @Test func transientFailuresAreRetriedAndTheRestAreFinal() {
        // When a failure is a lost, refused or timed-out connection (also inside the wrappers) it is
        // retried; a cancel, a parse error, DNS and TLS failures are not.
        let policy = RetryPolicy()
        let transient: [any Error] = [
            ConnectionRefusedError(host: "h", port: 80), ConnectionLost(), TimeoutError(seconds: 1),
            ConnectTimeoutError(host: "h", port: 80, seconds: 1), ConnectError(host: "h", port: 80, errno: 113),
            ResponseNeverReceived(reasons: [Failure(ConnectionLost())]),
            ResponseFailed(reasons: [Failure(TimeoutError(seconds: 1))]),
        ]
        for error in transient { #expect(policy.retries(Failure(error)), "\(error)") }
        let final: [any Error] = [
            CancelledError(), DNSLookupError(host: "x", message: "unknown"), TLSError(message: "bad"),
            ResponseNeverReceived(reasons: [Failure(CancelledError())]),
            ResponseNeverReceived(reasons: [Failure(ConnectionLost()), Failure(ParseError(message: "bad"))]),
            ResponseFailed(reasons: []), ParseError(message: "bad status"),
        ]
        for error in final { #expect(!policy.retries(Failure(error)), "\(error)") }
        #expect(RetryPolicy(failures: { _ in true }).retries(Failure(CancelledError())))
    }

    @Test func retryAfterInSecondsReplacesTheBackoffAndIsCapped() {
        // When Retry-After is 7 the wait is 7; when it is 1000 the wait is maxRetryAfter; a bad value falls back.
        let policy = RetryPolicy(backoff: backoff, maxRetryAfter: 120)
        #expect(policy.delay(beforeRetry: 3, retryAfter: "7") == 7)
        #expect(policy.delay(beforeRetry: 3, retryAfter: " 0 ") == 0)
        #expect(policy.delay(beforeRetry: 1, retryAfter: "1000") == 120)
        #expect(policy.delay(beforeRetry: 3, retryAfter: "-5") == 4)
        #expect(policy.delay(beforeRetry: 3, retryAfter: "soon") == 4)
        #expect(policy.delay(beforeRetry: 3, retryAfter: "") == 4)
        #expect(policy.delay(beforeRetry: 2) == 2)
        // By default the cap is the backoff's longest wait.
        #expect(RetryPolicy(backoff: backoff).delay(beforeRetry: 1, retryAfter: "1000") == 30)
    }

    @Test func retryAfterAsAnHTTPDateIsMeasuredAgainstTheWallClock() {
        // When Retry-After is a date 90 s after `now`, in any of RFC 9110's three formats, the wait is 90 s.
        // 1994-11-06 08:49:37 UTC is 784111777 seconds after 1970.
        let policy = RetryPolicy(backoff: backoff, maxRetryAfter: 1000, now: { 784_111_777 - 90 })
        #expect(policy.delay(beforeRetry: 1, retryAfter: "Sun, 06 Nov 1994 08:49:37 GMT") == 90)
        #expect(policy.delay(beforeRetry: 1, retryAfter: "Sunday, 06-Nov-94 08:49:37 GMT") == 90)
        #expect(policy.delay(beforeRetry: 1, retryAfter: "Sun Nov  6 08:49:37 1994") == 90)
        // A date in the past means now; a far one is capped; a malformed one falls back to the backoff.
        #expect(RetryPolicy(now: { 784_111_777 + 5 }).delay(beforeRetry: 1, retryAfter: "Sun, 06 Nov 1994 08:49:37 GMT") == 0)
        #expect(policy.delay(beforeRetry: 1, retryAfter: "Mon, 07 Nov 1994 08:49:37 GMT") == 1000)
        #expect(policy.delay(beforeRetry: 2, retryAfter: "Sun, 06 Nov 1994 25:49:37 GMT") == 2)
        #expect(policy.delay(beforeRetry: 2, retryAfter: "Sun, 06 Foo 1994 08:49:37 GMT") == 2)
        #expect(policy.delay(beforeRetry: 2, retryAfter: "Sun, 06 Nov 1994 08:49:37 UTC") == 2)
        #expect(RetryPolicy.httpDate("Thu, 01 Jan 1970 00:00:00 GMT") == 0)
        #expect(RetryPolicy.httpDate("Tue, 29 Feb 2000 12:00:00 GMT") == 951_825_600)
    }

    @Test func jitterKeepsEveryWaitWithinItsBounds() {
        // When jitter is 0.25, every wait before retry n lies in [0.75 base, base], and the random source sets where.
        var draws: [Double] = [0, 0.999_999, 0.5]
        let jittered = Backoff(initial: 2, multiplier: 2, maxDelay: 10, jitter: 0.25, random: { draws.removeFirst() })
        let policy = RetryPolicy(backoff: jittered)
        #expect(policy.delay(beforeRetry: 1) == 2)
        #expect(abs(policy.delay(beforeRetry: 2) - 3) < 1e-5)
        #expect(policy.delay(beforeRetry: 4) == 8.75)
        let system = RetryPolicy(backoff: Backoff(initial: 2, multiplier: 2, maxDelay: 10, jitter: 0.25))
        for retry in 1...6 {
            let base = min(10, 2 * Double(1 << (retry - 1)))
            for _ in 0..<50 {
                let wait = system.delay(beforeRetry: retry)
                #expect(wait > 0.75 * base - 1e-9 && wait <= base, "retry \(retry): \(wait)")
            }
        }
        // A Retry-After is the server's: no jitter is taken from it.
        #expect(system.delay(beforeRetry: 1, retryAfter: "3") == 3)
    }

    @Test func exchangeRetriesABodyThatFailsHalfwayOnTheClock() {
        // When reading the first response's body fails with ConnectionLost, the request is sent again
        // after the backoff on the clock, the second body is read, and the events tell both attempts.
        let clock = Clock()
        let agent = ScriptedAgent([.respond(200, [:])])
        var events: [String] = []
        var reads = 0
        var outcome: Result<Int, Failure>?
        let policy = RetryPolicy(attempts: 3, backoff: backoff)
        _ = RetryAgent(agent, clock: clock, policy: policy).request("GET", "http://x.test/", events: { event in
            switch event {
            case .attempt(let n): events.append("attempt \(n)")
            case .retry(after: let n, let failure, wait: let wait):
                events.append("retry after \(n) in \(wait): \(failure.check(ResponseFailed.self) != nil)")
            }
        }) { (response: Response) -> Deferred<Int> in
            reads += 1
            return reads == 1 ? Deferred.fail(ResponseFailed(reasons: [Failure(ConnectionLost())])) : Deferred.succeed(reads)
        }.addBoth { outcome = $0 }
        #expect(agent.requests.count == 1)
        clock.advance(0.999)
        #expect(agent.requests.count == 1)
        clock.advance(0.001)
        #expect(agent.requests.count == 2)
        #expect(outcome?.successValue == 2)
        #expect(events == ["attempt 1", "retry after 1 in 1.0: true", "attempt 2"])
    }

    @Test func exchangeHandsOnlyTheLastRetryableStatusToTheReader() {
        // When every answer is 503 with Retry-After 5, the reader sees only the third response, after two 5 s waits.
        let clock = Clock()
        let agent = ScriptedAgent([.respond(503, ["Retry-After": ["5"]])])
        var seen: [Int] = []
        var retried: [String] = []
        _ = RetryAgent(agent, clock: clock, policy: RetryPolicy(attempts: 3, backoff: backoff))
            .request("GET", "http://x.test/", events: { event in
                if case .retry(after: _, let failure, wait: let wait) = event {
                    retried.append("\(failure.getErrorMessage()) \(wait)")
                }
            }) { (response: Response) -> Deferred<Void> in
                seen.append(response.code)
                return Deferred.succeed(())
            }
        clock.advance(4.9)
        #expect(agent.requests.count == 1)
        clock.advance(0.1)
        clock.advance(5)
        #expect(agent.requests.count == 3)
        #expect(seen == [503])
        #expect(retried == ["HTTP 503 5.0", "HTTP 503 5.0"])
    }

    @Test func aStatusOutsideThePolicyIsFinal() {
        // When the answer is 501 (not in curl's set), it is handed on at once and nothing is retried.
        let clock = Clock()
        let agent = ScriptedAgent([.respond(501, [:]), .respond(200, [:])])
        var outcome: Result<Response, Failure>?
        _ = RetryAgent(agent, clock: clock, policy: RetryPolicy(attempts: 3, backoff: backoff))
            .request("GET", "http://x.test/").addBoth { outcome = $0 }
        clock.advance(100)
        #expect(outcome?.successValue?.code == 501)
        #expect(agent.requests.count == 1)
    }

    @Test func oneAttemptMakesTheAgentTransparent() {
        // When attempts is 1, a 503 and a lost connection come back as they are, with no wait and no wrapper.
        let clock = Clock()
        let failing = ScriptedAgent([.fail(ConnectionLost())])
        var failure: Failure?
        _ = RetryAgent(failing, clock: clock, policy: RetryPolicy(attempts: 1)).request("GET", "http://x.test/")
            .addBoth { (outcome: Result<Response, Failure>) in
                if case .failure(let value) = outcome { failure = value }
            }
        #expect(failure?.check(ConnectionLost.self) != nil)
        #expect(clock.getDelayedCalls().isEmpty)
    }
}
