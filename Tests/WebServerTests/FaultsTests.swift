import Deferreds
import Reactor
import Testing

@testable import WebServer

@Suite struct FaultsTests {
    @Test func stallHeadersNeverAnswers() throws {
        // When a client asks /fault/stall-headers, nothing comes back for 0.3 s and the connection
        // stays open (until the server stops).
        var received = -1
        var connected = false
        var open = 0
        try withServer { server, reactor, finish in
            _ = connectClient(reactor, server).addCallback { client in
                client.send("GET /fault/stall-headers HTTP/1.1\r\nHost: t\r\n\r\n")
                reactor.callLater(0.3) {
                    received = client.received.count
                    connected = client.isConnected
                    open = server.openConnections
                    finish()
                }
            }
        }
        #expect(received == 0)
        #expect(connected)
        #expect(open == 1)
    }

    @Test func stallBodySendsHalfTheBodyThenNothing() throws {
        // When a client asks /fault/stall-body?length=1000, it gets Content-Length 1000 and the
        // first 500 bytes, then nothing for 0.3 s while the connection stays open.
        var response: TestResponse?
        var connected = false
        try withServer { server, reactor, finish in
            _ = exchange(
                reactor, server, "GET /fault/stall-body?length=1000 HTTP/1.1\r\nHost: t\r\n\r\n",
                until: { responses, _ in
                    responses.first?.body.count == 500
                }
            ).addCallback { _, client in
                reactor.callLater(0.3) {
                    response = parseResponses(client.received, methods: ["GET"], closed: false).first
                    connected = client.isConnected
                    finish()
                }
            }
        }
        #expect(response?.headers["Content-Length"] == "1000")
        #expect(response?.body == WebServer.patternBytes(count: 500))
        #expect(response?.complete == false)
        #expect(connected)
    }

    @Test func truncateLengthClosesCleanlyBeforeTheBodyEnds() throws {
        // When a client asks /fault/truncate-length?length=1000, it gets Content-Length 1000, 500
        // bytes and a clean close.
        var response: TestResponse?
        var reason: Failure?
        try withServer { server, reactor, finish in
            _ = exchange(
                reactor, server, "GET /fault/truncate-length?length=1000 HTTP/1.1\r\nHost: t\r\n\r\n",
                until: { _, _ in false }
            )
            .addCallback { result, client in
                response = result.first
                reason = client.lostReason
                finish()
            }
        }
        #expect(response?.headers["Content-Length"] == "1000")
        #expect(response?.body.count == 500)
        #expect(response?.complete == false)
        #expect(reason?.check(ConnectionDone.self) != nil)
    }

    @Test func truncateChunkedClosesWithoutTheLastChunk() throws {
        // When a client asks /fault/truncate-chunked?chunks=3&size=10, it gets three 10-byte chunks
        // and a clean close, never the zero-size last chunk.
        var response: TestResponse?
        var raw = ""
        var reason: Failure?
        try withServer { server, reactor, finish in
            _ = exchange(
                reactor, server, "GET /fault/truncate-chunked?chunks=3&size=10 HTTP/1.1\r\nHost: t\r\n\r\n",
                until: { _, _ in false }
            )
            .addCallback { result, client in
                response = result.first
                raw = client.text
                reason = client.lostReason
                finish()
            }
        }
        #expect(response?.framing == "chunked")
        #expect(response?.chunkSizes == [10, 10, 10])
        #expect(response?.complete == false)
        #expect(!raw.hasSuffix("0\r\n\r\n"))
        #expect(reason?.check(ConnectionDone.self) != nil)
    }

    @Test func resetBodyResetsAfterHalfTheBody() throws {
        // When a client asks /fault/reset-body?length=100000, it gets at most half the body and
        // then a reset: the connection ends with ConnectionLost, not ConnectionDone.
        var response: TestResponse?
        var reason: Failure?
        try withServer { server, reactor, finish in
            _ = exchange(
                reactor, server, "GET /fault/reset-body?length=100000 HTTP/1.1\r\nHost: t\r\n\r\n",
                until: { _, _ in false }
            )
            .addCallback { result, client in
                response = result.first
                reason = client.lostReason
                finish()
            }
        }
        #expect(response?.headers["Content-Length"] == "100000")
        #expect((response?.body.count ?? .max) <= 50_000)
        #expect(response?.complete == false)
        #expect(reason?.check(ConnectionLost.self) != nil)
        #expect(reason?.check(ConnectionDone.self) == nil)
    }

    @Test func badStatusSendsAGarbageStatusLine() throws {
        // When a client asks /fault/bad-status, the first line is not a valid status line (no
        // three-digit code) and the connection closes.
        var raw = ""
        var reason: Failure?
        try withServer { server, reactor, finish in
            _ = exchange(reactor, server, "GET /fault/bad-status HTTP/1.1\r\nHost: t\r\n\r\n", until: { _, _ in false })
                .addCallback { _, client in
                    raw = client.text
                    reason = client.lostReason
                    finish()
                }
        }
        let statusLine = raw.split(separator: "\r\n").first.map(String.init) ?? ""
        #expect(statusLine == "HTTP/1.1 two hundred OK")
        #expect(reason?.check(ConnectionDone.self) != nil)
    }

    @Test func hugeHeaderSendsA200KilobyteField() throws {
        // When a client asks /fault/huge-header, the response has an X-Huge field of 204,800 bytes
        // and the body "ok\n".
        var response: TestResponse?
        try withServer { server, reactor, finish in
            _ = exchange(reactor, server, "GET /fault/huge-header HTTP/1.1\r\nHost: t\r\n\r\n")
                .addCallback { result, _ in
                    response = result.first
                    finish()
                }
        }
        #expect(response?.headers["X-Huge"]?.utf8.count == 200 * 1024)
        #expect(response?.text == "ok\n")
    }

    @Test func redirectChainRedirectsKTimesThenAnswers() throws {
        // When a client follows /fault/redirect-chain?n=3 on one keep-alive connection, it gets three
        // 302s, each to n-1, then 200 "done".
        var responses: [TestResponse] = []
        var accepted = 0
        try withServer { server, reactor, finish in
            _ = converse(reactor, server, first: "GET /fault/redirect-chain?n=3&key=z HTTP/1.1\r\nHost: t\r\n\r\n") {
                responses in
                guard let location = responses.last?.headers["Location"] else { return nil }
                return "GET \(location) HTTP/1.1\r\nHost: t\r\n\r\n"
            }.addCallback { result, _ in
                responses = result
                accepted = server.connectionsAccepted
                finish()
            }
        }
        #expect(responses.map(\.status) == [302, 302, 302, 200])
        #expect(
            responses.compactMap { $0.headers["Location"] } == [
                "/fault/redirect-chain?n=2&key=z", "/fault/redirect-chain?n=1&key=z", "/fault/redirect-chain?n=0&key=z",
            ])
        #expect(responses.last?.text == "done\n")
        #expect(accepted == 1)
    }

    @Test func redirectChainCanUseAbsoluteLocationsAndOtherStatuses() throws {
        // When absolute=1 and status=307 are given, Location is absolute (from Host) and the status 307.
        var response: TestResponse?
        try withServer { server, reactor, finish in
            _ = exchange(
                reactor, server, "GET /fault/redirect-chain?n=1&absolute=1&status=307 HTTP/1.1\r\nHost: h:1\r\n\r\n"
            )
            .addCallback { result, _ in
                response = result.first
                finish()
            }
        }
        #expect(response?.status == 307)
        #expect(response?.headers["Location"] == "http://h:1/fault/redirect-chain?n=0&absolute=1&status=307")
    }

    @Test func redirectLoopPointsAtItself() throws {
        // When a client asks /fault/redirect-loop ten times in a row, every answer is a 302 back to
        // /fault/redirect-loop.
        var responses: [TestResponse] = []
        try withServer { server, reactor, finish in
            _ = converse(reactor, server, first: "GET /fault/redirect-loop HTTP/1.1\r\nHost: t\r\n\r\n") { responses in
                guard responses.count < 10, let location = responses.last?.headers["Location"] else { return nil }
                return "GET \(location) HTTP/1.1\r\nHost: t\r\n\r\n"
            }.addCallback { result, _ in
                responses = result
                finish()
            }
        }
        #expect(responses.count == 10)
        #expect(responses.allSatisfy { $0.status == 302 && $0.headers["Location"] == "/fault/redirect-loop" })
    }

    @Test func closeDelimitedBodyEndsWithTheConnection() throws {
        // When a client asks /fault/close-delimited?length=5000, the response has neither
        // Content-Length nor Transfer-Encoding, and its 5000 bytes end with a clean close.
        var response: TestResponse?
        var reason: Failure?
        try withServer { server, reactor, finish in
            _ = exchange(
                reactor, server, "GET /fault/close-delimited?length=5000 HTTP/1.1\r\nHost: t\r\n\r\n",
                until: { _, _ in false }
            )
            .addCallback { result, client in
                response = result.first
                reason = client.lostReason
                finish()
            }
        }
        #expect(response?.framing == "close")
        #expect(response?.headers["Connection"] == "close")
        #expect(response?.body == WebServer.patternBytes(count: 5000))
        #expect(reason?.check(ConnectionDone.self) != nil)
    }

    @Test func slowDripSendsOneByteEachInterval() throws {
        // When a client asks /fault/slow-drip?bytes=4&interval=0.05, the head comes at once and the
        // four body bytes arrive one by one, about 0.05 s apart.
        var client: RawClient?
        var started = 0.0
        var response: TestResponse?
        try withServer { server, reactor, finish in
            started = reactor.seconds()
            _ = exchange(reactor, server, "GET /fault/slow-drip?bytes=4&interval=0.05 HTTP/1.1\r\nHost: t\r\n\r\n")
                .addCallback { result, raw in
                    response = result.first
                    client = raw
                    finish()
                }
        }
        #expect(response?.headers["Content-Length"] == "4")
        #expect(response?.body == [0, 1, 2, 3])
        let deliveries = client?.deliveries ?? []
        #expect(deliveries.count == 5)
        #expect(deliveries.dropFirst().allSatisfy { $0.count == 1 })
        if deliveries.count == 5 {
            // The first delivery is the whole head and nothing else; then one byte per interval.
            #expect(client?.text.hasPrefix("HTTP/1.1 200 OK\r\n") == true)
            #expect(deliveries[0].count == (client?.received.count ?? 0) - 4)
            #expect(deliveries[1].time - started >= 0.045)
            for index in 1..<5 {
                #expect(deliveries[index].time - deliveries[index - 1].time >= 0.04)
            }
        }
    }

    @Test func retryAfterFailsKTimesPerKey() throws {
        // When /fault/retry-after?fails=2&key=a is asked three times, the answers are 503 (with
        // Retry-After: 1), 503, 200; a different key counts on its own.
        var responses: [TestResponse] = []
        try withServer { server, reactor, finish in
            let requests = [
                "/fault/retry-after?fails=2&key=a", "/fault/retry-after?fails=2&key=b",
                "/fault/retry-after?fails=2&key=a",
                "/fault/retry-after?fails=2&key=a", "/fault/retry-after?fails=2&key=a",
            ].map { "GET \($0) HTTP/1.1\r\nHost: t\r\n\r\n" }.joined()
            _ = exchange(reactor, server, requests, methods: Array(repeating: "GET", count: 5))
                .addCallback { result, _ in
                    responses = result
                    finish()
                }
        }
        #expect(responses.map(\.status) == [503, 503, 503, 200, 200])
        #expect(responses.first?.headers["Retry-After"] == "1")
        #expect(responses.last?.text == "ok\n")
    }

    @Test func aCustomFaultCanCutAStreamedBody() throws {
        // When a route sets .interrupt(at: .afterBodyBytes(100_000), then: .close) on a 1 MiB stream,
        // exactly 100,000 body bytes arrive before a clean close.
        var response: TestResponse?
        try withServer { server, reactor, finish in
            server.route("/cut") { _ in
                var response = HTTPResponse(body: WebServer.patternBody(count: 1 << 20))
                response.fault = .interrupt(at: .afterBodyBytes(100_000), then: .close)
                return response
            }
            _ = exchange(reactor, server, "GET /cut HTTP/1.1\r\nHost: t\r\n\r\n", until: { _, _ in false })
                .addCallback {
                    result, _ in
                    response = result.first
                    finish()
                }
        }
        #expect(response?.headers["Content-Length"] == String(1 << 20))
        #expect(response?.body == WebServer.patternBytes(count: 100_000))
    }
}
