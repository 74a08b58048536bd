import Deferreds
import Reactor
import Testing

@testable import WebServer

/// GETs each of `paths` on one connection (pipelined) and returns the responses.
private func getAll(_ paths: [String], headers: String = "") throws -> [TestResponse] {
    var responses: [TestResponse] = []
    try withServer { server, reactor, finish in
        let requests = paths.map { "GET \($0) HTTP/1.1\r\nHost: t\r\n\(headers)\r\n" }.joined()
        _ = exchange(reactor, server, requests, methods: paths.map { _ in "GET" }).addCallback { result, _ in
            responses = result
            finish()
        }
    }
    return responses
}

@Suite struct BuiltinRoutesTests {
    @Test func statusAnswersWithTheCode() throws {
        // When /status/418, /status/503 and /status/abc are asked, the first two answer with their
        // code and reason, the last with 400.
        let responses = try getAll(["/status/418", "/status/503", "/status/abc"])
        #expect(responses.map(\.status) == [418, 503, 400])
        #expect(responses.first?.text == "418 I'm a teapot\n")
        #expect(responses.dropFirst().first?.reason == "Service Unavailable")
    }

    @Test func echoReturnsTheRequest() throws {
        // When a POST with two fields and a body is sent to /echo, the answer holds the request line,
        // the fields in order, a blank line and the body.
        var response: TestResponse?
        try withServer { server, reactor, finish in
            let request = "POST /echo?q=1 HTTP/1.1\r\nHost: t\r\nX-A: 1\r\nContent-Length: 3\r\n\r\nabc"
            _ = exchange(reactor, server, request, methods: ["POST"]).addCallback { result, _ in
                response = result.first
                finish()
            }
        }
        #expect(response?.text == "POST /echo?q=1 HTTP/1.1\nHost: t\nX-A: 1\nContent-Length: 3\n\nabc")
    }

    @Test func headersReturnsTheRequestFields() throws {
        // When /headers is asked with a custom field, the answer lists the fields, one per line.
        let responses = try getAll(["/headers"], headers: "User-Agent: twisted\r\n")
        #expect(responses.first?.text == "Host: t\nUser-Agent: twisted\n")
    }

    @Test func bytesReturnsThePattern() throws {
        // When /bytes/0, /bytes/1000 and /bytes/200000 are asked, each answer has that many pattern
        // bytes with a Content-Length (the large one streamed).
        let responses = try getAll(["/bytes/0", "/bytes/1000", "/bytes/200000"])
        #expect(responses.map { $0.headers["Content-Length"] } == ["0", "1000", "200000"])
        #expect(
            responses.map(\.body) == [[], WebServer.patternBytes(count: 1000), WebServer.patternBytes(count: 200_000)])
    }

    @Test func patternBytesAreConsistentAcrossOffsets() {
        // When pattern bytes are taken at an offset, they equal the matching slice of the whole.
        let whole = WebServer.patternBytes(count: 300_000)
        #expect(whole[0..<3] == [0, 1, 2])
        #expect(whole[251] == 0)
        #expect(WebServer.patternBytes(count: 200_000, offset: 77_777) == Array(whole[77_777..<277_777]))
    }

    @Test func redirectToRedirects() throws {
        // When /redirect-to?url=…&status=… is asked, the answer redirects there with that status
        // (302 when the status is not a redirect).
        let responses = try getAll([
            "/redirect-to?url=http%3A%2F%2Fexample.com%2Fa%3Fb%3D1&status=301", "/redirect-to?url=/x&status=200",
        ])
        #expect(responses.map(\.status) == [301, 302])
        #expect(responses.map { $0.headers["Location"] } == ["http://example.com/a?b=1", "/x"])
    }

    @Test func chunkedSendsKChunksOfS() throws {
        // When /chunked?chunks=4&size=7 is asked, the answer is chunked in four 7-byte chunks of the
        // pattern.
        let responses = try getAll(["/chunked?chunks=4&size=7"])
        #expect(responses.first?.chunkSizes == [7, 7, 7, 7])
        #expect(responses.first?.body == WebServer.patternBytes(count: 28))
    }

    @Test func delayHoldsTheResponseBack() throws {
        // When /delay?seconds=0.1 is asked, the answer comes no sooner than 0.1 s later.
        var elapsed = 0.0
        var response: TestResponse?
        try withServer { server, reactor, finish in
            let started = reactor.seconds()
            _ = exchange(reactor, server, "GET /delay?seconds=0.1 HTTP/1.1\r\nHost: t\r\n\r\n")
                .addCallback { result, _ in
                    elapsed = reactor.seconds() - started
                    response = result.first
                    finish()
                }
        }
        #expect(response?.text == "delayed\n")
        #expect(elapsed >= 0.095)
    }

    @Test func theIndexLinksToTheRoutes() throws {
        // When / is asked, the answer is an HTML page linking to /echo.
        let responses = try getAll(["/"])
        #expect(responses.first?.headers["Content-Type"] == "text/html; charset=utf-8")
        #expect(responses.first?.text.contains("href=\"/echo\"") == true)
    }

    @Test func onRequestSeesEveryRequestWithItsPeer() throws {
        // When onRequest is set, it sees each request with its remote address.
        var seen: [String] = []
        var peerHost: String?
        try withServer { server, reactor, finish in
            server.onRequest = { request in
                seen.append(request.path)
                peerHost = request.remoteAddress?.host
            }
            _ = exchange(
                reactor, server, "GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n",
                methods: ["GET", "GET"]
            )
            .addCallback { _, _ in finish() }
        }
        #expect(seen == ["/a", "/b"])
        #expect(peerHost == "127.0.0.1")
    }
}
