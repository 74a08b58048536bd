import Deferreds
import Reactor
import Testing

@testable import WebAgent

@Suite struct RetryAgentTests {
    /// Backoff without jitter: 1, 2, 4, … seconds, at most 30.
    private let backoff = Backoff(initial: 1, multiplier: 2, maxDelay: 30, jitter: 0)

    /// A reply that closes the connection without a response (the client sees ResponseNeverReceived).
    private static let hangUp = ScriptedServer.Reply(bytes: [], close: true)

    @Test func retriesLostConnectionsWithBackoffUntilOneSucceeds() throws {
        // When the first two attempts get no response, the third is made after waits of 1 and 2 seconds.
        var outcome: Result<Response, Failure>?
        var server: ScriptedServer?
        var time: RecordingTime?
        try withReactor { reactor in
            time = RecordingTime(reactor, immediate: true)
            var count = 0
            server = try ScriptedServer.start(reactor) { _ in
                count += 1
                return count < 3 ? Self.hangUp : .init(bytes: httpResponse(body: "ok"))
            }
            let agent = RetryAgent(Agent(reactor), clock: time!, attempts: 3, backoff: backoff)
            stopAfter(agent.request("GET", server!.url + "/flaky"), reactor) { outcome = $0 }
        }
        #expect(outcome?.successValue?.code == 200)
        #expect(server!.requests.count == 3)
        #expect(time!.delays == [1, 2])
    }

    @Test func exhaustedAttemptsFailWithRetriesExhausted() throws {
        // When every attempt fails, the request fails with RetriesExhausted after `attempts` requests.
        var outcome: Result<Response, Failure>?
        var server: ScriptedServer?
        var time: RecordingTime?
        try withReactor { reactor in
            time = RecordingTime(reactor, immediate: true)
            server = try ScriptedServer.start(reactor) { _ in Self.hangUp }
            let agent = RetryAgent(Agent(reactor), clock: time!, attempts: 4, backoff: backoff)
            stopAfter(agent.request("GET", server!.url), reactor) { outcome = $0 }
        }
        let exhausted = try #require(outcome?.failureValue?.value as? RetriesExhausted)
        #expect(exhausted.attempts == 4)
        #expect(exhausted.lastFailure.check(ResponseNeverReceived.self) != nil)
        #expect(exhausted.description.contains("4 attempts"))
        #expect(server!.requests.count == 4)
        #expect(time!.delays == [1, 2, 4])
    }

    @Test func refusedConnectionsAreRetried() throws {
        // When nothing listens, each attempt is refused and the last ConnectionRefusedError is wrapped.
        var outcome: Result<Response, Failure>?
        try withReactor { reactor in
            let port = try reactor.listenTCP(0, Factory.forProtocol { Protocol() })
            let number = port.getHost().port
            _ = port.stopListening().addCallback { _ in
                let time = RecordingTime(reactor, immediate: true)
                stopAfter(RetryAgent(Agent(reactor), clock: time, attempts: 2, backoff: backoff)
                    .request("GET", "http://127.0.0.1:\(number)/"), reactor) { outcome = $0 }
            }
        }
        let exhausted = try #require(outcome?.failureValue?.value as? RetriesExhausted)
        #expect(exhausted.attempts == 2)
        #expect(exhausted.lastFailure.check(ConnectionRefusedError.self) != nil)
    }

    @Test func retryAfterSetsTheWaitAndIsCappedByMaxDelay() throws {
        // When a 503 says Retry-After: 7, the wait scheduled is 7 s; a Retry-After of 1000 is cut to maxDelay.
        var outcome: Result<Response, Failure>?
        var server: ScriptedServer?
        var time: RecordingTime?
        try withReactor { reactor in
            time = RecordingTime(reactor, immediate: true)
            var count = 0
            server = try ScriptedServer.start(reactor) { _ in
                count += 1
                switch count {
                case 1:
                    let headers = ["Retry-After: 7"]
                    return .init(bytes: httpResponse("503 Service Unavailable", headers: headers, body: "busy"))
                case 2:
                    return .init(bytes: httpResponse("429 Too Many Requests", headers: ["Retry-After: 1000"], body: ""))
                default:
                    return .init(bytes: httpResponse(body: "ok"))
                }
            }
            let agent = RetryAgent(Agent(reactor), clock: time!, attempts: 3, backoff: backoff)
            stopAfter(agent.request("GET", server!.url), reactor) { outcome = $0 }
        }
        #expect(outcome?.successValue?.code == 200)
        #expect(time!.delays == [7, 30])
        #expect(server!.requests.count == 3)
    }

    @Test func retryAfterIsHonouredOnTheClock() throws {
        // When Retry-After is 7, nothing is retried before 7 seconds have passed on the clock.
        let clock = Clock()
        let agent = ScriptedAgent([.respond(503, ["Retry-After": ["7"]]), .respond(200, [:])])
        var outcome: Result<Response, Failure>?
        _ = RetryAgent(agent, clock: clock, attempts: 3, backoff: backoff).request("GET", "http://x.test/")
            .addBoth { outcome = $0 }
        #expect(agent.requests.count == 1)
        clock.advance(6.9)
        #expect(agent.requests.count == 1)
        clock.advance(0.1)
        #expect(agent.requests.count == 2)
        #expect(outcome?.successValue?.code == 200)
    }

    @Test func lastRetryableResponseIsReturnedAsIs() throws {
        // When every attempt gets a 503, the last 503 is the result, with its body still readable.
        var body: [UInt8]?
        var code: Int?
        var server: ScriptedServer?
        try withReactor { reactor in
            let time = RecordingTime(reactor, immediate: true)
            server = try ScriptedServer.start(reactor) { _ in
                .init(bytes: httpResponse("503 Service Unavailable", body: "busy"))
            }
            let d = RetryAgent(Agent(reactor), clock: time, attempts: 3, backoff: backoff)
                .request("GET", server!.url)
                .addCallback { response -> Deferred<[UInt8]> in
                    code = response.code
                    return readBody(response)
                }
            stopAfter(d, reactor) { body = $0.successValue }
        }
        #expect(code == 503)
        #expect(body == Array("busy".utf8))
        #expect(server!.requests.count == 3)
    }

    @Test func postIsNotRetried() throws {
        // When a POST gets no response, it fails at once, unwrapped, after one request.
        var outcome: Result<Response, Failure>?
        var server: ScriptedServer?
        try withReactor { reactor in
            server = try ScriptedServer.start(reactor) { _ in Self.hangUp }
            let agent = RetryAgent(Agent(reactor), clock: reactor, attempts: 3, backoff: backoff)
            stopAfter(agent.request("POST", server!.url, nil, FileBodyProducer(Array("x".utf8))), reactor) {
                outcome = $0
            }
        }
        #expect(outcome?.failureValue?.check(ResponseNeverReceived.self) != nil)
        #expect(server!.requests.count == 1)
    }

    @Test func idempotentRequestWithABodyIsNotRetried() throws {
        // When a PUT has a body producer, it is not retried (the body cannot be replayed).
        let agent = ScriptedAgent([.fail(ConnectionLost())])
        var outcome: Result<Response, Failure>?
        _ = RetryAgent(agent, clock: Clock(), attempts: 3, backoff: backoff)
            .request("PUT", "http://x.test/", nil, FileBodyProducer([1])).addBoth { outcome = $0 }
        #expect(outcome?.failureValue?.check(ConnectionLost.self) != nil)
        #expect(agent.requests.count == 1)
    }

    @Test func dnsFailuresAndOtherErrorsAreNotRetried() throws {
        // When an attempt fails with DNSLookupError, TLSError or a cancelled ResponseNeverReceived, it is final.
        let errors: [any Error] = [
            DNSLookupError(host: "nowhere.test", message: "unknown"), TLSError(message: "bad certificate"),
            ResponseNeverReceived(reasons: [Failure(CancelledError())]),
        ]
        for error in errors {
            let agent = ScriptedAgent([.fail(error)])
            var outcome: Result<Response, Failure>?
            _ = RetryAgent(agent, clock: Clock(), attempts: 3, backoff: backoff).request("GET", "http://x.test/")
                .addBoth { outcome = $0 }
            #expect(outcome?.failureValue?.check(type(of: error)) != nil)
            #expect(agent.requests.count == 1)
        }
    }

    @Test func timeoutsAndConnectErrorsAreRetried() throws {
        // When attempts time out or fail to connect, they are retried with exponential waits on the clock.
        let clock = Clock()
        let agent = ScriptedAgent([
            .fail(TimeoutError(seconds: 5)), .fail(ConnectTimeoutError(host: "h", port: 80, seconds: 1)),
            .fail(ConnectError(host: "h", port: 80, errno: 113)), .respond(204, [:]),
        ])
        var outcome: Result<Response, Failure>?
        _ = RetryAgent(agent, clock: clock, attempts: 4, backoff: backoff).request("GET", "http://x.test/")
            .addBoth { outcome = $0 }
        clock.advance(0.999)
        #expect(agent.requests.count == 1)
        clock.advance(0.001)
        #expect(agent.requests.count == 2)
        clock.advance(2)
        #expect(agent.requests.count == 3)
        clock.advance(3.999)
        #expect(agent.requests.count == 3)
        clock.advance(0.001)
        #expect(agent.requests.count == 4)
        #expect(outcome?.successValue?.code == 204)
    }

    @Test func jitterComesFromTheInjectedRandomSource() throws {
        // When the backoff has full jitter and the random source says 0.5, the wait is half the base.
        let time = RecordingTime(Clock(), immediate: false)
        let agent = ScriptedAgent([.fail(ConnectionLost()), .respond(200, [:])])
        let jittered = Backoff(initial: 4, multiplier: 2, maxDelay: 30, jitter: 1, random: { 0.5 })
        let d = RetryAgent(agent, clock: time, attempts: 2, backoff: jittered).request("GET", "http://x.test/")
        #expect(time.delays == [2])
        // The wait is still pending on the clock, which the agent holds: cancel it (a cycle otherwise).
        _ = d.addBoth { (_: Result<Response, Failure>) in }
        d.cancel()
    }

    @Test func cancellingDuringTheWaitStopsRetrying() throws {
        // When the deferred is cancelled between attempts, the wait is cancelled and no attempt follows.
        let clock = Clock()
        let agent = ScriptedAgent([.fail(ConnectionLost())])
        var outcome: Result<Response, Failure>?
        let d = RetryAgent(agent, clock: clock, attempts: 3, backoff: backoff).request("GET", "http://x.test/")
        _ = d.addBoth { outcome = $0 }
        #expect(clock.getDelayedCalls().count == 1)
        d.cancel()
        #expect(outcome?.failureValue?.check(CancelledError.self) != nil)
        #expect(clock.getDelayedCalls().isEmpty)
        clock.advance(100)
        #expect(agent.requests.count == 1)
    }

    @Test func cancellingDuringAnAttemptCancelsItWithoutRetry() throws {
        // When the deferred is cancelled during an attempt, that attempt is cancelled and not retried.
        let clock = Clock()
        let agent = ScriptedAgent([.fail(ConnectionLost()), .hang])
        var outcome: Result<Response, Failure>?
        let d = RetryAgent(agent, clock: clock, attempts: 3, backoff: backoff).request("GET", "http://x.test/")
        _ = d.addBoth { outcome = $0 }
        clock.advance(1)
        #expect(agent.requests.count == 2)
        d.cancel()
        #expect(agent.cancelled == 1)
        #expect(outcome?.failureValue?.check(CancelledError.self) != nil)
        clock.advance(100)
        #expect(agent.requests.count == 2)
    }
}
