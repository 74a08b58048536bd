import Deferreds
import Reactor
import Testing
import WebServer

@testable import WebAgent

/// How one request through the built-in server's fault routes ended.
enum Ending: Equatable, CustomStringConvertible {
    case body(status: Int, bytes: Int)
    case failed(String)

    var description: String {
        switch self {
        case .body(let status, let bytes): "body(\(status), \(bytes) bytes)"
        case .failed(let type): "failed(\(type))"
        }
    }
}

/// The type name of the innermost interesting error of a failure (unwrapping ResponseFailed and
/// ResponseNeverReceived), e.g. "ResponseFailed>ConnectionLost".
func describe(_ failure: Failure) -> String {
    switch failure.value {
    case let failed as ResponseFailed:
        return "ResponseFailed>" + (failed.reasons.first.map { describe($0) } ?? "?")
    case let never as ResponseNeverReceived:
        return "ResponseNeverReceived>" + (never.reasons.first.map { describe($0) } ?? "?")
    default:
        return String(describing: type(of: failure.value))
    }
}

/// Requests `path` from a fresh WebServer and reports how it ended.
func fetch(_ path: String, timeout: Double? = 2, agent makeAgent: ((EPollReactor) -> any AgentProtocol)? = nil)
    throws -> (Ending, Double)
{
    var ending: Ending?
    var elapsed = 0.0
    try withReactor { reactor in
        let server = WebServer(reactor)
        try server.listen()
        let agent = makeAgent?(reactor) ?? Agent(reactor)
        let started = reactor.seconds()
        _ = agent.request("GET", server.url(path), nil, nil, timeout: timeout)
            .addCallback { response -> Deferred<Ending> in
                readBody(response).addCallback { Ending.body(status: response.code, bytes: $0.count) }
            }
            .addBoth { result -> Void in
                switch result {
                case .success(let value): ending = value
                case .failure(let failure): ending = .failed(describe(failure))
                }
                elapsed = reactor.seconds() - started
                reactor.stop()
            }
    }
    return (ending ?? .failed("nothing"), elapsed)
}

/// How reading the body of a GET of `path` from a WebServer failed; nil if it did not.
func bodyFailure(_ path: String) throws -> Failure? {
    var failure: Failure?
    try withReactor { reactor in
        let server = WebServer(reactor)
        try server.listen()
        _ = Agent(reactor).request("GET", server.url(path))
            .addCallback { readBody($0) }
            .addBoth { result -> Void in
                if case .failure(let f) = result { failure = f }
                reactor.stop()
            }
    }
    return failure
}

@Suite struct FaultMatrixTests {
    @Test func aStallBeforeHeadersEndsInTimeoutError() throws {
        // When the server never answers, the request fails with TimeoutError once the timeout expires.
        let (ending, elapsed) = try fetch("/fault/stall-headers", timeout: 0.3)
        #expect(ending == .failed("TimeoutError"))
        #expect(elapsed >= 0.29 && elapsed < 2)
    }

    @Test func aStallMidBodyEndsInTimeoutErrorFromReadBody() throws {
        // When the body stalls half way, readBody fails with TimeoutError itself.
        let (ending, _) = try fetch("/fault/stall-body?length=10000", timeout: 0.3)
        #expect(ending == .failed("TimeoutError"))
    }

    @Test func aTruncatedContentLengthBodyFailsWithResponseFailed() throws {
        // When fewer bytes than Content-Length arrive before a clean close, the body fails.
        let (ending, _) = try fetch("/fault/truncate-length?length=10000")
        #expect(ending == .failed("ResponseFailed>ConnectionLost"))
    }

    @Test func aTruncatedChunkedBodyFailsWithResponseFailed() throws {
        // When a chunked body ends without its last chunk, the body fails.
        let (ending, _) = try fetch("/fault/truncate-chunked")
        #expect(ending.description.hasPrefix("failed(ResponseFailed>"))
    }

    @Test func aResetMidBodyFailsWithConnectionLost() throws {
        // When the connection is reset mid-body, the body fails with ResponseFailed(ConnectionLost).
        let (ending, _) = try fetch("/fault/reset-body?length=200000")
        #expect(ending == .failed("ResponseFailed>ConnectionLost"))
    }

    @Test func aResetSaysSoOnce() throws {
        // When the connection is reset mid-body, the ConnectionLost inside ResponseFailed gives the
        // system's reason, and its message says "non-clean fashion" once (not a message in a message).
        let failure = try bodyFailure("/fault/reset-body?length=200000")
        let message = (failure?.value as? ResponseFailed)?.reasons.first?.getErrorMessage() ?? ""
        #expect(message.contains("reset"), "\(message)")
        #expect(message.components(separatedBy: "non-clean fashion").count == 2, "\(message)")
    }

    @Test func aBadStatusLineFailsWithAParseError() throws {
        // When the status line is garbage, the request fails with ResponseFailed (bytes of a response
        // arrived, as Twisted has it).
        let (ending, _) = try fetch("/fault/bad-status")
        #expect(ending == .failed("ResponseFailed>ParseError"))
    }

    @Test func aHugeHeaderFailsInsteadOfGrowingWithoutBound() throws {
        // When a response header is 200 KB (past libcurl's own 100 KiB line limit too), the request
        // fails with HeadersTooLarge.
        let (ending, _) = try fetch("/fault/huge-header")
        #expect(ending == .failed("ResponseFailed>HeadersTooLarge"))
    }

    @Test func aCloseDelimitedBodyEndsInPartialDownloadError() throws {
        // When the body is delimited by the connection closing, readBody reports PartialDownloadError
        // with the whole body in it.
        let partial = try bodyFailure("/fault/close-delimited?length=5000")?.value as? PartialDownloadError
        #expect(partial?.response.count == 5000)
        #expect(partial?.status == 200)
    }

    @Test func aSlowDripCompletesWhenTheTimeoutAllowsIt() throws {
        // When bytes drip slowly but within the timeout, the body arrives whole.
        let (ending, _) = try fetch("/fault/slow-drip?bytes=5&interval=0.01", timeout: 5)
        #expect(ending == .body(status: 200, bytes: 5))
    }

    @Test func aSlowDripPastTheTimeoutEndsInTimeoutError() throws {
        // When the drip outlasts the timeout, the body fails with TimeoutError.
        let (ending, _) = try fetch("/fault/slow-drip?bytes=100&interval=0.05", timeout: 0.3)
        #expect(ending == .failed("TimeoutError"))
    }

    @Test func aRedirectIsReturnedAsIsByThePlainAgent() throws {
        // When the server redirects, the plain Agent does not follow it.
        let (ending, _) = try fetch("/fault/redirect-loop")
        if case .body(let status, _) = ending { #expect(status == 302) } else { Issue.record("\(ending)") }
    }

    @Test func aThousandRequestsWithMixedFaultsAreEachAccountedForOnce() throws {
        // When 1,000 requests run through DeferredSemaphore(tokens: 50) with 10% faults, every one
        // ends exactly once, in the way its route dictates, and the reactor stays healthy.
        let paths = (0..<1000).map { index -> String in
            switch index % 20 {
            case 0: return "/fault/truncate-length?length=3000"
            case 1: return "/fault/reset-body?length=100000"
            default: return "/bytes/\(1000 + index)"
            }
        }
        var endings = [Int: Ending]()
        var duplicates = 0
        var healthCheck = false
        try withReactor(limit: 60) { reactor in
            let server = WebServer(reactor)
            try server.listen()
            let agent = Agent(reactor)
            let semaphore = DeferredSemaphore(tokens: 50)
            var all: [Deferred<Void>] = []
            for (index, path) in paths.enumerated() {
                let done = semaphore.run {
                    agent.request("GET", server.url(path), nil, nil, timeout: 10)
                        .addCallback { response -> Deferred<Ending> in
                            readBody(response).addCallback { Ending.body(status: response.code, bytes: $0.count) }
                        }
                        .addBoth { result -> Void in
                            if endings[index] != nil { duplicates += 1 }
                            switch result {
                            case .success(let value): endings[index] = value
                            case .failure(let failure): endings[index] = .failed(describe(failure))
                            }
                        }
                }
                all.append(done)
            }
            _ = DeferredList(all).addCallback { _ -> Deferred<Void> in
                agent.request("GET", server.url("/bytes/10")).addCallback { readBody($0) }.addCallback { bytes in
                    healthCheck = bytes.count == 10
                }
            }.addBoth { _ in reactor.stop() }
        }
        #expect(endings.count == 1000)
        #expect(duplicates == 0)
        #expect(healthCheck)
        for (index, path) in paths.enumerated() {
            switch index % 20 {
            case 0, 1: #expect(endings[index] == .failed("ResponseFailed>ConnectionLost"), "\(path)")
            default: #expect(endings[index] == .body(status: 200, bytes: 1000 + index), "\(path)")
            }
        }
    }
}
