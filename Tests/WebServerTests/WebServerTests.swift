import Deferreds
import Glibc
import Reactor
import TestSupport
import Testing

@testable import WebServer

@Suite struct WebServerTests {
    @Test func aServerNeverStoppedIsFreedWhenItsReactorCloses() throws {
        // When the reactor of a listening server is closed, the port lets go of the server: it is freed.
        weak var weakServer: WebServer?
        let reactor = try EPollReactor()
        do {
            let server = WebServer(reactor)
            try server.listen()
            weakServer = server
        }
        #expect(weakServer != nil, "the listening port keeps its server")
        reactor.close()
        #expect(weakServer == nil)
    }

    @Test func getAnswersWithContentLengthAndTheBody() throws {
        // When a client GETs a route, it gets 200 with Content-Length, Date and Server fields and
        // the route's body, and the server counts one request on one connection.
        var response: TestResponse?
        var served = (requests: 0, accepted: 0)
        try withServer { server, reactor, finish in
            server.route("/hello") { _ in .text("hello, world\n") }
            _ = exchange(reactor, server, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n").addCallback { responses, _ in
                response = responses.first
                served = (server.requestsServed, server.connectionsAccepted)
                finish()
            }
        }
        #expect(response?.status == 200)
        #expect(response?.reason == "OK")
        #expect(response?.framing == "length")
        #expect(response?.headers["Content-Length"] == "13")
        #expect(response?.headers["Date"]?.hasSuffix(" GMT") == true)
        #expect(response?.headers["Server"] != nil)
        #expect(response?.text == "hello, world\n")
        #expect(served == (1, 1))
    }

    @Test func headGetsTheHeadersOnly() throws {
        // When a client sends HEAD then GET on one connection, the HEAD response has the GET's
        // Content-Length but no body (the GET's response follows directly).
        var responses: [TestResponse] = []
        var raw = ""
        try withServer { server, reactor, finish in
            _ = exchange(
                reactor, server, "HEAD /bytes/50 HTTP/1.1\r\nHost: t\r\n\r\nGET /bytes/5 HTTP/1.1\r\nHost: t\r\n\r\n",
                methods: ["HEAD", "GET"]
            ).addCallback { result, client in
                responses = result
                raw = client.text
                finish()
            }
        }
        #expect(responses.map(\.status) == [200, 200])
        let afterFirstHead = raw.split(separator: "\r\n\r\n", maxSplits: 1, omittingEmptySubsequences: false).last
        #expect(afterFirstHead?.hasPrefix("HTTP/1.1 200 OK\r\n") == true)
        #expect(responses.first?.headers["Content-Length"] == "50")
        #expect(responses.first?.body == [])
        #expect(responses.last?.body == WebServer.patternBytes(count: 5))
    }

    @Test func keepAliveCarriesTwoRequestsOnOneConnection() throws {
        // When a client sends a second request after the first response, both are answered on the
        // same connection: one connection accepted, two requests served.
        var bodies: [String] = []
        var counts = (accepted: 0, served: 0)
        try withServer { server, reactor, finish in
            server.route("/n") { request in .text("n=\(request.queryValue("v") ?? "")") }
            _ = connectClient(reactor, server).addCallback { client in
                client.onData = { client in
                    let responses = parseResponses(client.received, methods: ["GET", "GET"], closed: false)
                    if responses.count == 1 && responses[0].complete && bodies.isEmpty {
                        bodies.append(responses[0].text)
                        client.send("GET /n?v=2 HTTP/1.1\r\nHost: t\r\n\r\n")
                    } else if responses.count == 2 && responses[1].complete {
                        bodies.append(responses[1].text)
                        counts = (server.connectionsAccepted, server.requestsServed)
                        #expect(client.isConnected)
                        finish()
                    }
                }
                client.send("GET /n?v=1 HTTP/1.1\r\nHost: t\r\n\r\n")
            }
        }
        #expect(bodies == ["n=1", "n=2"])
        #expect(counts == (1, 2))
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        // When three requests (one of them a POST with a body) arrive in one write, the three
        // responses come back in request order on the one connection.
        var responses: [TestResponse] = []
        try withServer { server, reactor, finish in
            server.route("/slow") { _ in
                var response = HTTPResponse.text("slow")
                response.delay = 0.05
                return response
            }
            let requests =
                "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
                + "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody"
                + "GET /status/201 HTTP/1.1\r\nHost: t\r\n\r\n"
            _ = exchange(reactor, server, requests, methods: ["GET", "POST", "GET"]).addCallback { result, _ in
                responses = result
                finish()
            }
        }
        #expect(responses.map(\.status) == [200, 200, 201])
        #expect(responses.first?.text == "slow")
        #expect(responses.dropFirst().first?.text.hasPrefix("POST /echo HTTP/1.1\n") == true)
        #expect(responses.dropFirst().first?.text.hasSuffix("\n\nbody") == true)
    }

    @Test func aChunkedResponseIsFramedAsChunks() throws {
        // When a route answers .chunked, the response has Transfer-Encoding: chunked, one wire chunk
        // per element (empty elements skipped) and the final zero chunk.
        var response: TestResponse?
        try withServer { server, reactor, finish in
            server.route("/c") { _ in
                HTTPResponse(body: .chunked([Array("ab".utf8), [], Array("cde".utf8)]))
            }
            _ = exchange(reactor, server, "GET /c HTTP/1.1\r\nHost: t\r\n\r\n").addCallback { result, _ in
                response = result.first
                finish()
            }
        }
        #expect(response?.framing == "chunked")
        #expect(response?.headers["Content-Length"] == nil)
        #expect(response?.chunkSizes == [2, 3])
        #expect(response?.text == "abcde")
        #expect(response?.complete == true)
    }

    @Test func aChunkedRequestBodyReachesTheRoute() throws {
        // When a client POSTs a chunked body, /echo receives (and returns) the decoded body.
        var response: TestResponse?
        try withServer { server, reactor, finish in
            let request =
                "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n"
            _ = exchange(reactor, server, request, methods: ["POST"]).addCallback { result, _ in
                response = result.first
                finish()
            }
        }
        #expect(response?.text.hasSuffix("\n\nWikipedia in\r\n\r\nchunks.") == true)
    }

    @Test func expectContinueGetsA100BeforeTheBodyIsSent() throws {
        // When a client sends only the head of a request with Expect: 100-continue, the server
        // answers 100 Continue; the client then sends the body and gets the final response.
        var interimSeen = false
        var response: TestResponse?
        try withServer { server, reactor, finish in
            _ = connectClient(reactor, server).addCallback { client in
                client.onData = { client in
                    if !interimSeen && client.text.hasPrefix("HTTP/1.1 100 Continue\r\n\r\n") {
                        interimSeen = true
                        client.send("12345")
                    }
                    let responses = parseResponses(client.received, methods: ["PUT"], closed: false)
                    if let first = responses.first, first.complete {
                        response = first
                        finish()
                    }
                }
                client.send("PUT /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            }
        }
        #expect(interimSeen)
        #expect(response?.interim == [100])
        #expect(response?.status == 200)
        #expect(response?.text.hasSuffix("\n\n12345") == true)
    }

    @Test func garbageGets400AndTheConnectionCloses() throws {
        // When a client sends something that is not HTTP, it gets 400 with Connection: close and
        // the server closes the connection cleanly.
        var response: TestResponse?
        var reason: Failure?
        try withServer { server, reactor, finish in
            _ = exchange(reactor, server, "\u{1}\u{2} hello there\r\n\r\n", until: { _, _ in false })
                .addCallback { result, client in
                    response = result.first
                    reason = client.lostReason
                    finish()
                }
        }
        #expect(response?.status == 400)
        #expect(response?.headers["Connection"] == "close")
        #expect(reason?.check(ConnectionDone.self) != nil)
    }

    @Test func aHugeHeaderBlockGets431() throws {
        // When a request's header block passes 64 KiB, the server answers 431 and closes, without
        // waiting for the block to end.
        var response: TestResponse?
        try withServer { server, reactor, finish in
            let request = "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + String(repeating: "b", count: 70_000)
            _ = exchange(reactor, server, request, until: { _, _ in false }).addCallback { result, _ in
                response = result.first
                finish()
            }
        }
        #expect(response?.status == 431)
        #expect(response?.headers["Connection"] == "close")
    }

    @Test func aTooLargeBodyGets413() throws {
        // When Content-Length passes the server's body limit, the server answers 413 at once.
        var response: TestResponse?
        try withServer { server, reactor, finish in
            server.limits.maxBodyBytes = 1000
            let request = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n"
            _ = exchange(reactor, server, request, methods: ["POST"], until: { _, _ in false })
                .addCallback { result, _ in
                    response = result.first
                    finish()
                }
        }
        #expect(response?.status == 413)
    }

    @Test func http10WithoutKeepAliveIsClosedAfterTheResponse() throws {
        // When an HTTP/1.0 client sends no keep-alive, the response says Connection: close and the
        // server closes; with Connection: keep-alive the response says keep-alive and the connection
        // stays open for a second request.
        var closing: TestResponse?
        var closedCleanly = false
        var kept: [TestResponse] = []
        try withServer { server, reactor, finish in
            let first = exchange(reactor, server, "GET /bytes/3 HTTP/1.0\r\n\r\n", until: { _, _ in false })
                .addCallback { result, client in
                    closing = result.first
                    closedCleanly = client.lostReason?.check(ConnectionDone.self) != nil
                }
            let second = exchange(
                reactor, server,
                "GET /bytes/3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                    + "GET /bytes/4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                methods: ["GET", "GET"]
            ).addCallback { result, client in
                kept = result
                #expect(client.isConnected)
            }
            _ = gatherResults([first, second]).addCallback { _ in finish() }
        }
        #expect(closing?.headers["Connection"] == "close")
        #expect(closing?.body == WebServer.patternBytes(count: 3))
        #expect(closedCleanly)
        #expect(kept.map(\.body.count) == [3, 4])
        #expect(kept.first?.headers["Connection"] == "keep-alive")
    }

    @Test func connectionCloseIsHonoured() throws {
        // When an HTTP/1.1 request says Connection: close, the server answers and closes cleanly.
        var response: TestResponse?
        var reason: Failure?
        try withServer { server, reactor, finish in
            _ = exchange(
                reactor, server, "GET /bytes/10 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                until: { _, _ in false }
            )
            .addCallback { result, client in
                response = result.first
                reason = client.lostReason
                finish()
            }
        }
        #expect(response?.complete == true)
        #expect(response?.headers["Connection"] == "close")
        #expect(reason?.check(ConnectionDone.self) != nil)
    }

    @Test func noContentAndNotModifiedHaveNoBody() throws {
        // When a route answers 204 or 304 (even with a body set), no body, Content-Length or
        // Transfer-Encoding is sent, and the next response on the connection follows directly.
        var raw = ""
        var responses: [TestResponse] = []
        try withServer { server, reactor, finish in
            server.route("/nm") { _ in HTTPResponse(status: 304, body: .bytes(Array("ignored".utf8))) }
            let requests =
                "GET /status/204 HTTP/1.1\r\nHost: t\r\n\r\nGET /nm HTTP/1.1\r\nHost: t\r\n\r\n"
                + "GET /bytes/2 HTTP/1.1\r\nHost: t\r\n\r\n"
            _ = exchange(reactor, server, requests, methods: ["GET", "GET", "GET"]).addCallback { result, client in
                responses = result
                raw = client.text
                finish()
            }
        }
        #expect(responses.map(\.status) == [204, 304, 200])
        #expect(
            responses.prefix(2).allSatisfy {
                $0.headers["Content-Length"] == nil && $0.headers["Transfer-Encoding"] == nil
            })
        #expect(!raw.contains("ignored"))
        #expect(responses.last?.body == [0, 1])
    }

    @Test func unknownPathsAre404() throws {
        // When no route matches, the answer is 404 Not Found.
        var response: TestResponse?
        try withServer { server, reactor, finish in
            _ = exchange(reactor, server, "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n").addCallback { result, _ in
                response = result.first
                finish()
            }
        }
        #expect(response?.status == 404)
        #expect(response?.reason == "Not Found")
    }

    @Test func gzipIsAppliedOnlyWhenAskedFor() throws {
        // When /gzip is fetched with Accept-Encoding: gzip, the body is a valid gzip member of the
        // plain body with Content-Encoding: gzip and Vary; without it (or with gzip;q=0), it is plain.
        var responses: [TestResponse] = []
        try withServer { server, reactor, finish in
            let requests =
                "GET /gzip?size=70000 HTTP/1.1\r\nHost: t\r\nAccept-Encoding: deflate, gzip\r\n\r\n"
                + "GET /gzip?size=70000 HTTP/1.1\r\nHost: t\r\n\r\n"
                + "GET /gzip?size=70000 HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip;q=0, identity\r\n\r\n"
            _ = exchange(reactor, server, requests, methods: ["GET", "GET", "GET"]).addCallback { result, _ in
                responses = result
                finish()
            }
        }
        try #require(responses.count == 3)
        let plain = responses[1].body
        #expect(plain.count == 70_000)
        #expect(responses[0].headers["Content-Encoding"] == "gzip")
        #expect(responses[0].headers["Vary"] == "Accept-Encoding")
        #expect(responses[0].headers["Content-Length"] == String(responses[0].body.count))
        #expect(try gunzipStored(responses[0].body) == plain)
        #expect(responses[1].headers["Content-Encoding"] == nil)
        #expect(responses[2].headers["Content-Encoding"] == nil)
        #expect(responses[2].body == plain)
    }

    @Test func gzipAppliesToChunkedAndStreamedBodies() throws {
        // When a chunked or streamed body is gzip-encoded, the chunks joined form one valid gzip
        // member of the plain body.
        var responses: [TestResponse] = []
        let plain = WebServer.patternBytes(count: 150_000)
        try withServer { server, reactor, finish in
            server.route("/gc") { _ in
                var response = HTTPResponse(body: .chunked([Array(plain[..<100]), Array(plain[100...])]))
                response.compressible = true
                return response
            }
            server.route("/gs") { _ in
                var response = HTTPResponse(body: WebServer.patternBody(count: plain.count))
                response.compressible = true
                return response
            }
            let requests =
                "GET /gc HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n"
                + "GET /gs HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n"
            _ = exchange(reactor, server, requests, methods: ["GET", "GET"]).addCallback { result, _ in
                responses = result
                finish()
            }
        }
        try #require(responses.count == 2)
        for response in responses {
            #expect(response.framing == "chunked")
            #expect(response.headers["Content-Encoding"] == "gzip")
            #expect(try gunzipStored(response.body) == plain)
        }
    }

    @Test func aLargeStreamedBodyFollowsFlowControl() throws {
        // When a client reads a 32 MiB streamed body slowly, the server pulls the stream only as
        // the socket drains: what it has pulled stays within a few MiB of what the client has read.
        let total = 32 << 20
        var pulled = 0
        var maxAhead = 0
        var received = 0
        try withServer(limit: 60) { server, reactor, finish in
            server.route("/big") { _ in
                HTTPResponse(
                    body: .stream(
                        BodyStream(length: total) { maxBytes in
                            let piece = min(maxBytes, total - pulled)
                            guard piece > 0 else { return nil }
                            pulled += piece
                            return [UInt8](repeating: 0x5A, count: piece)
                        }))
            }
            _ = connectClient(reactor, server).addCallback { client in
                var reads = 0
                var arrived = 0
                var headerSize: Int?
                client.onData = { client in
                    reads += 1
                    arrived += client.deliveries.last?.count ?? 0
                    if headerSize == nil, let end = find([13, 10, 13, 10], in: client.received, from: 0) {
                        headerSize = end + 4
                    }
                    if headerSize != nil { client.received = [] }
                    received = arrived - (headerSize ?? arrived)
                    maxAhead = max(maxAhead, pulled - received)
                    if received >= total {
                        finish()
                    } else if reads % 8 == 0, let transport = client.transport {
                        transport.pauseProducing()
                        reactor.callLater(0.002) { transport.resumeProducing() }
                    }
                }
                client.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            }
        }
        #expect(received == total)
        #expect(pulled == total)
        #expect(maxAhead < 12 << 20, "the server ran \(maxAhead) bytes ahead of the client")
    }

    @Test func aStreamThatEndsEarlyClosesTheConnection() throws {
        // When a stream promises 1000 bytes but ends after 10, the client gets the 10 bytes and
        // then a close, never a second response on that connection.
        var response: TestResponse?
        var lost: Failure?
        try withServer { server, reactor, finish in
            server.route("/short") { _ in
                var given = false
                return HTTPResponse(
                    body: .stream(
                        BodyStream(length: 1000) { _ in
                            defer { given = true }
                            return given ? nil : [UInt8](repeating: 1, count: 10)
                        }))
            }
            _ = exchange(reactor, server, "GET /short HTTP/1.1\r\nHost: t\r\n\r\n", until: { _, _ in false })
                .addCallback { result, client in
                    response = result.first
                    lost = client.lostReason
                    finish()
                }
        }
        #expect(response?.body.count == 10)
        #expect(response?.complete == false)
        #expect(lost != nil)
    }

    @Test func ipv6LoopbackWorks() throws {
        // When the server listens on ::1, its baseURL is bracketed and a client over ::1 is served.
        var response: TestResponse?
        var baseURL = ""
        try withServer(interface: "::1") { server, reactor, finish in
            baseURL = server.baseURL
            _ = connectClient(reactor, server, host: "::1").addCallback { client in
                client.onData = { client in
                    if let first = parseResponses(client.received, methods: ["GET"], closed: false).first,
                        first.complete
                    {
                        response = first
                        finish()
                    }
                }
                client.send("GET /bytes/7 HTTP/1.1\r\nHost: [::1]\r\n\r\n")
            }
        }
        #expect(baseURL.hasPrefix("http://[::1]:"))
        #expect(response?.body == WebServer.patternBytes(count: 7))
    }

    @Test func stopClosesIdleAndBusyConnections() throws {
        // When the server stops with one idle keep-alive connection and one stalled request, both
        // connections close, the port refuses new ones, and stop's deferred fires with none open.
        var idleLost: Failure?
        var stalledLost: Failure?
        var openAfterStop = -1
        var refused: Failure?
        try withReactor { reactor in
            let server = WebServer(reactor)
            let port = try server.listen()
            _ = exchange(reactor, server, "GET /bytes/1 HTTP/1.1\r\nHost: t\r\n\r\n").addCallback { _, idleClient in
                idleClient.onLost = { idleLost = $0.lostReason }
                _ = connectClient(reactor, server).addCallback { stalledClient in
                    stalledClient.onLost = { stalledLost = $0.lostReason }
                    stalledClient.send("GET /fault/stall-headers HTTP/1.1\r\nHost: t\r\n\r\n")
                    func stopWhenBothAreIn() {
                        guard server.requestsServed == 2 else {
                            reactor.callLater(0.005, stopWhenBothAreIn)
                            return
                        }
                        #expect(server.openConnections == 2)
                        _ = server.stop().addCallback { _ in
                            openAfterStop = server.openConnections
                            connectProtocol(reactor, host: "127.0.0.1", port: port, RawClient(clock: reactor))
                                .addErrback { failure -> RawClient in
                                    refused = failure
                                    reactor.callLater(0.01) { reactor.stop() }
                                    return RawClient(clock: reactor)
                                }
                        }
                    }
                    stopWhenBothAreIn()
                }
            }
        }
        #expect(idleLost?.check(ConnectionDone.self) != nil)
        #expect(stalledLost != nil)
        #expect(openAfterStop == 0)
        #expect(refused?.check(ConnectionRefusedError.self) != nil)
    }

    @Test(.enabled(if: raiseDescriptorLimit(to: 8192), "needs 8,192 descriptors (both ends of 2,000 connections)"))
    func twoThousandConcurrentConnectionsAreServed() throws {
        // When 2,000 clients connect at once and each sends a request, every one gets its own
        // answer, and the server counts 2,000 connections.
        let count = 2000
        var bodies: [Int: String] = [:]
        var accepted = 0
        try withServer(limit: 60) { server, reactor, finish in
            server.route("/id") { request in .text(request.queryValue("i") ?? "") }
            for index in 0..<count {
                _ = exchange(reactor, server, "GET /id?i=\(index) HTTP/1.1\r\nHost: t\r\n\r\n").addCallback {
                    result, client in
                    bodies[index] = result.first?.text
                    if bodies.count == count {
                        accepted = server.connectionsAccepted
                        finish()
                    }
                }
            }
        }
        #expect(bodies.count == count)
        #expect((0..<count).allSatisfy { bodies[$0] == String($0) })
        #expect(accepted == count)
    }

    @Test func aHalfClosingClientStillGetsItsResponse() throws {
        // When a client sends a request and shuts down its sending side at once, the server still
        // answers in full, then closes.
        var response: TestResponse?
        try withServer { server, reactor, finish in
            _ = connectClient(reactor, server).addCallback { client in
                client.onLost = { client in
                    response = parseResponses(client.received, methods: ["GET"], closed: true).first
                    finish()
                }
                client.send("GET /bytes/300000 HTTP/1.1\r\nHost: t\r\n\r\n")
                client.transport?.loseWriteConnection()
            }
        }
        #expect(response?.complete == true)
        #expect(response?.body == WebServer.patternBytes(count: 300_000))
    }

    @Test func idleConnectionsCloseAfterTheIdleTimeout() throws {
        // When idleTimeout is set, a keep-alive connection with no new request is closed after it.
        var lost: Failure?
        var elapsed = 0.0
        try withServer { server, reactor, finish in
            server.idleTimeout = 0.1
            let started = reactor.seconds()
            _ = exchange(reactor, server, "GET /bytes/1 HTTP/1.1\r\nHost: t\r\n\r\n").addCallback { _, client in
                client.onLost = { client in
                    lost = client.lostReason
                    elapsed = reactor.seconds() - started
                    finish()
                }
            }
        }
        #expect(lost?.check(ConnectionDone.self) != nil)
        #expect(elapsed >= 0.09)
    }
}
