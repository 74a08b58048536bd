import Deferreds
import Reactor
import Testing
import WebServer

@testable import WebAgent

@Suite struct HTTP11ClientTests {
    // MARK: - The request on the wire

    /// The bytes the server received for one request made with `agent`, answered once complete.
    private func requestBytes(interface: String = "127.0.0.1", persistent: Bool,
                              _ send: @escaping (Agent, String) -> Deferred<Response>,
                              complete: @escaping (String) -> Bool = { $0.hasSuffix("\r\n\r\n") })
        throws -> (sent: String, port: Int)
    {
        var sent = ""
        var port = 0
        try withReactor { reactor in
            let server = try RawServer.start(reactor, interface: interface) { connection in
                if connection.answered == 0 && complete(connection.text) { connection.answer(okResponse("ok")) }
            }
            port = server.port
            let agent = Agent(reactor, pool: HTTPConnectionPool(reactor, persistent: persistent))
            _ = send(agent, server.url).addCallback { readBody($0) }.addBoth { _ in
                sent = server.connections.first?.text ?? ""
                reactor.stop()
            }
        }
        return (sent, port)
    }

    @Test func aGetSendsItsRequestLineHostAndTheUserHeadersOnly() throws {
        // When a non-persistent agent GETs a URI with a query and a fragment, the server receives the
        // request line without the fragment, Host with the port, the user's headers in order and
        // Connection: close — no Accept, User-Agent or anything else.
        let (sent, port) = try requestBytes(persistent: false) { agent, url in
            agent.request("GET", url + "/path?q=1#frag", Headers(["X-Test": ["a", "b"]]))
        }
        #expect(sent == "GET /path?q=1 HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nX-Test: a\r\nX-Test: b\r\n"
            + "Connection: close\r\n\r\n")
    }

    @Test func anIPv6HostIsBracketedInTheHostHeader() throws {
        // When the URI's host is an IPv6 literal with a port other than 80, Host is [addr]:port, and a
        // persistent pool sends no Connection header.
        let (sent, port) = try requestBytes(interface: "::1", persistent: true) { agent, url in
            agent.request("GET", url)
        }
        #expect(sent == "GET / HTTP/1.1\r\nHost: [::1]:\(port)\r\n\r\n")
    }

    @Test func credentialsInTheURIAreNotSent() throws {
        // When the URI carries user:password@, they are dropped, as Twisted's Agent does: the
        // request goes to the host with no Authorization header.
        let (sent, port) = try requestBytes(persistent: false) { agent, url in
            agent.request("GET", url.replacingOccurrences(of: "http://", with: "http://user:secret@") + "/private")
        }
        #expect(sent == "GET /private HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n")
    }

    @Test func aBodyOfKnownLengthIsSentWithContentLength() throws {
        // When a FileBodyProducer gives the body, Content-Length is its length and the bytes follow.
        let (sent, port) = try requestBytes(persistent: true, { agent, url in
            agent.request("POST", url + "/upload", nil, FileBodyProducer(Array("hello".utf8)))
        }, complete: { $0.hasSuffix("hello") })
        #expect(sent == "POST /upload HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Length: 5\r\n\r\nhello")
    }

    @Test func aBodyOfUnknownLengthIsSentChunked() throws {
        // When the producer's length is nil, the body goes chunked and ends with the last chunk.
        let (sent, port) = try requestBytes(persistent: true, { agent, url in
            agent.request("PUT", url + "/upload", nil, UnsizedProducer(Array("hello world".utf8)))
        }, complete: { $0.hasSuffix("0\r\n\r\n") })
        #expect(sent == "PUT /upload HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "b\r\nhello world\r\n0\r\n\r\n")
    }

    @Test func aFailingBodyProducerFailsTheRequestWithRequestTransmissionFailed() throws {
        // When the body producer's deferred fails, the request fails with RequestTransmissionFailed
        // itself, holding that failure, and the connection is given up.
        var failure: Failure?
        var inUse = -1
        var open = -1
        try withReactor { reactor in
            let server = try RawServer.start(reactor) { _ in }
            let pool = HTTPConnectionPool(reactor)
            _ = Agent(reactor, pool: pool).request("POST", server.url, nil, FailingProducer()).addBoth { result in
                if case .failure(let f) = result { failure = f }
                _ = eventually(reactor) { pool.plain.openCount == 0 }.addCallback { _ in
                    (inUse, open) = (pool.plain.inUseCount, pool.plain.openCount)
                    reactor.stop()
                }
            }
        }
        let transmission = failure?.value as? RequestTransmissionFailed
        #expect(transmission?.reasons.first?.check(FailingProducer.Broken.self) != nil,
                "\(String(describing: failure))")
        #expect(inUse == 0)
        #expect(open == 0)
    }

    // MARK: - Reusing connections

    @Test func aBodyReadAfterItsResponseEndedLeavesTheConnectionReadable() throws {
        // When a whole response arrives before deliverBody (its body is held and reading paused), the
        // kept-alive connection still reads the next response sent on it.
        var bodies: [String] = []
        var failure: Failure?
        var connections = 0
        try withReactor { reactor in
            let server = try RawServer.start(reactor) { $0.answerEachHead(okResponse("hello")) }
            let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
            _ = agent.request("GET", server.url + "/1").addCallback { response in
                deferLater(reactor, 0.01) { response }.addCallback { readBody($0) }
            }.addCallback { first -> Deferred<String> in
                bodies.append(String(decoding: first, as: UTF8.self))
                return text(agent, server.url + "/2", timeout: 2)
            }.addBoth { result -> Void in
                switch result {
                case .success(let body): bodies.append(body)
                case .failure(let f): failure = f
                }
                connections = server.connections.count
                reactor.stop()
            }
        }
        #expect(failure == nil, "\(String(describing: failure))")
        #expect(bodies == ["hello", "hello"])
        #expect(connections == 1)
    }

    @Test func aBodyProtocolPausedAtTheEndOfTheBodyLeavesTheConnectionReadable() throws {
        // When the body protocol pauses on the last chunk of a body and resumes later, the kept-alive
        // connection still reads the next response sent on it.
        let recorder = PausingRecorder()
        var second: String?
        var failure: Failure?
        try withReactor { reactor in
            let server = try RawServer.start(reactor) { $0.answerEachHead(okResponse("hello")) }
            let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
            recorder.pauseAfterFirstChunk = { transport in
                reactor.callLater(0.01) { transport.resumeProducing() }
            }
            _ = agent.request("GET", server.url).addCallback { $0.deliverBody(recorder) }
            _ = recorder.done.addCallback { _ in text(agent, server.url, timeout: 2) }.addBoth { result -> Void in
                switch result {
                case .success(let body): second = body
                case .failure(let f): failure = f
                }
                reactor.stop()
            }
        }
        #expect(recorder.reason?.check(ResponseDone.self) != nil)
        #expect(failure == nil, "\(String(describing: failure))")
        #expect(second == "hello")
    }

    @Test func aResponseDroppedAfterItsBodyArrivedLeavesItsConnectionReusable() throws {
        // When a response is dropped without deliverBody after its whole body arrived, its
        // connection is kept and serves the next request.
        var second: String?
        var failure: Failure?
        var connections = 0
        try withReactor { reactor in
            let server = try RawServer.start(reactor) { $0.answerEachHead(okResponse("hello")) }
            let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
            _ = agent.request("GET", server.url).addCallback { response in
                deferLater(reactor, 0.01) { _ = response }
            }.addCallback { _ in text(agent, server.url, timeout: 2) }.addBoth { result -> Void in
                switch result {
                case .success(let body): second = body
                case .failure(let f): failure = f
                }
                connections = server.connections.count
                reactor.stop()
            }
        }
        #expect(failure == nil, "\(String(describing: failure))")
        #expect(second == "hello")
        #expect(connections == 1)
    }

    @Test func aResponseDroppedMidBodyAbortsItsConnectionAndFreesItsPlace() throws {
        // When a response is dropped without deliverBody while its body is still coming, its
        // connection is aborted (not reused), and a request waiting for it under
        // maxConnectionsPerHost = 1 goes on a new one.
        var second: [UInt8]?
        var accepted = 0
        var inUse = -1
        try withServer { reactor, server in
            let pool = HTTPConnectionPool(reactor)
            pool.maxConnectionsPerHost = 1
            let agent = Agent(reactor, pool: pool)
            _ = agent.request("GET", server.url("/bytes/1000000")).addCallback { _ in }
            _ = agent.request("GET", server.url("/bytes/10")).addCallback { readBody($0) }.addBoth { result -> Void in
                second = try? result.get()
                accepted = server.connectionsAccepted
                inUse = pool.plain.inUseCount
                reactor.stop()
            }
        }
        #expect(second?.count == 10)
        #expect(accepted == 2)
        #expect(inUse == 0)
    }

    @Test func aConnectionTheServerClosedWhileIdleIsNotUsedAgain() throws {
        // When the server closes a kept-alive connection while it is idle, the pool drops it, and
        // the next request goes on a new connection.
        var bodies: [String] = []
        var openOnceClosed = -1
        var requestsPerConnection: [Int] = []
        try withReactor { reactor in
            let server = try RawServer.start(reactor) { connection in
                if connection.headsReceived == 1 && connection.answered == 0 {
                    connection.answer(okResponse("hello"), close: true)
                }
            }
            let pool = HTTPConnectionPool(reactor)
            let agent = Agent(reactor, pool: pool)
            _ = text(agent, server.url).addCallback { body -> Deferred<Void> in
                bodies.append(body)
                return eventually(reactor) { pool.plain.openCount == 0 }
            }.addCallback { _ -> Deferred<String> in
                openOnceClosed = pool.plain.openCount
                return text(agent, server.url)
            }.addBoth { result -> Void in
                if let body = try? result.get() { bodies.append(body) }
                requestsPerConnection = server.connections.map { $0.headsReceived }
                reactor.stop()
            }
        }
        #expect(openOnceClosed == 0)
        #expect(bodies == ["hello", "hello"])
        #expect(requestsPerConnection == [1, 1])
    }

    @Test func aRequestOnAKeptConnectionClosedBeforeItsResponseIsSentAgainOnce() throws {
        // When the server closes a kept-alive connection as soon as the next request arrives (no
        // response), that request is sent again, the same, on a new connection, and succeeds.
        var second: String?
        var failure: Failure?
        var requestsPerConnection: [Int] = []
        var requests: [String] = []
        try withReactor { reactor in
            let server = try RawServer.closingOnTheSecondRequest(reactor)
            let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
            _ = text(agent, server.url + "/first").addCallback { _ in
                text(agent, server.url + "/second")
            }.addBoth { result -> Void in
                switch result {
                case .success(let body): second = body
                case .failure(let f): failure = f
                }
                requestsPerConnection = server.connections.map { $0.headsReceived }
                requests = server.connections.map { $0.text }
                reactor.stop()
            }
        }
        #expect(failure == nil, "\(String(describing: failure))")
        #expect(second == "hello")
        #expect(requestsPerConnection == [2, 1])
        #expect(requests.count == 2 && requests[0].hasSuffix(requests[1]) && requests[1].hasPrefix("GET /second "))
    }

    @Test func aRequestSentAgainGoesBeforeTheRequestsThatWereWaiting() throws {
        // When one connection is allowed, a request sent again (its kept connection closed under
        // it) takes the place that connection frees before a request that was waiting for it.
        var paths: [[String]] = []
        var failure: Failure?
        try withReactor { reactor in
            let server = try RawServer.closingOnTheSecondRequest(reactor)
            let pool = HTTPConnectionPool(reactor)
            pool.maxConnections = 1
            let agent = Agent(reactor, pool: pool)
            _ = text(agent, server.url + "/first").addCallback { _ -> Deferred<[String]> in
                // /second goes on the kept connection, which the server then closes; /third waits.
                gatherResults([text(agent, server.url + "/second"), text(agent, server.url + "/third")])
            }.addBoth { result -> Void in
                if case .failure(let f) = result { failure = f }
                paths = server.connections.map { connection in
                    connection.text.components(separatedBy: "\r\n").filter { $0.hasPrefix("GET ") }
                        .map { $0.split(separator: " ")[1].description }
                }
                reactor.stop()
            }
        }
        #expect(failure == nil, "\(String(describing: failure))")
        #expect(paths == [["/first", "/second"], ["/second", "/third"]])
    }

    @Test func aResponseThatComesBeforeTheRequestBodyIsSentEndsTheConnectionAtOnce() throws {
        // When the server answers (413) before reading a large request body and stops reading,
        // the response is delivered and the connection is reset at once: the rest of the body is
        // dropped, not kept (with the connection) until a server that may never read it takes it.
        let body = [UInt8](repeating: 0x61, count: 32 * 1024 * 1024)
        var status: Int?
        var serverReceived = 0
        var serverSawTheEnd = false
        try withReactor { reactor in
            let server = try RawServer.start(reactor) { connection in
                guard connection.answered == 0, connection.headsReceived >= 1 else { return }
                connection.transport?.pauseProducing()
                connection.answer("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")
            }
            _ = Agent(reactor, pool: HTTPConnectionPool(reactor))
                .request("POST", server.url + "/upload", nil, FileBodyProducer(body))
                .addCallback { response -> Deferred<[UInt8]> in
                    status = response.code
                    return readBody(response)
                }
                .addBoth { _ -> Deferred<Void> in
                    // The server, still not reading, writes a byte each turn: that fails once the
                    // client has reset the connection, and keeps succeeding while the client keeps
                    // it open for its unsent bytes.
                    let connection = server.connections.first
                    return eventually(reactor) {
                        connection?.transport?.write([0x78])
                        return connection?.lost != false
                    }.addCallback { _ -> Void in
                        serverSawTheEnd = connection?.lost == true
                        serverReceived = connection?.received.count ?? 0
                        reactor.stop()
                    }
                }
        }
        #expect(status == 413)
        #expect(serverSawTheEnd)
        #expect(serverReceived < body.count)
    }

    @Test func aRequestWithABodyIsNotSentAgainOnAClosedKeptConnection() throws {
        // When the kept-alive connection closes as a request with a body arrives, the request fails
        // with ResponseNeverReceived(ConnectionLost) and is not sent again.
        var failure: Failure?
        var connections = 0
        try withReactor { reactor in
            let server = try RawServer.start(reactor) { connection in
                if connection.headsReceived == 2 {
                    connection.transport?.loseConnection()
                } else {
                    connection.answerEachHead(okResponse("hello"))
                }
            }
            let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
            _ = text(agent, server.url).addCallback { _ in
                agent.request("POST", server.url, nil, FileBodyProducer(Array("x".utf8)))
            }.addBoth { result -> Void in
                if case .failure(let f) = result { failure = f }
                connections = server.connections.count
                reactor.stop()
            }
        }
        #expect(failure.map { describe($0) } == "ResponseNeverReceived>ConnectionLost")
        #expect(connections == 1)
    }

    /// What a request made with `method` on the kept connection of `RawServer.closingOnTheSecondRequest`
    /// became: its failure (nil if it succeeded), and the requests each server connection received.
    private func requestOnAClosingKeptConnection(_ method: String, configure: (HTTPConnectionPool) -> Void = { _ in })
        throws -> (failure: Failure?, requestsPerConnection: [Int])
    {
        var failure: Failure?
        var requestsPerConnection: [Int] = []
        try withReactor { reactor in
            let server = try RawServer.closingOnTheSecondRequest(reactor)
            let pool = HTTPConnectionPool(reactor)
            configure(pool)
            let agent = Agent(reactor, pool: pool)
            _ = text(agent, server.url + "/first").addCallback { _ in
                agent.request(method, server.url + "/second", nil, nil, timeout: 5).addCallback { readBody($0) }
            }.addBoth { result -> Void in
                if case .failure(let f) = result { failure = f }
                requestsPerConnection = server.connections.map { $0.headsReceived }
                reactor.stop()
            }
        }
        return (failure, requestsPerConnection)
    }

    @Test func aPOSTWithoutABodyIsNotSentAgainOnAClosedKeptConnection() throws {
        // When the kept-alive connection closes as a bodiless POST arrives, the POST fails with
        // ResponseNeverReceived(ConnectionLost) and the server sees it once (Twisted's _shouldRetry).
        let (failure, requests) = try requestOnAClosingKeptConnection("POST")
        #expect(failure.map { describe($0) } == "ResponseNeverReceived>ConnectionLost")
        #expect(requests == [2])
    }

    @Test func everyIdempotentMethodIsSentAgainOnAClosedKeptConnection() throws {
        // When the kept-alive connection closes as a GET, HEAD, OPTIONS, DELETE or TRACE arrives,
        // that request is sent again on a new connection and succeeds.
        for method in ["GET", "HEAD", "OPTIONS", "DELETE", "TRACE"] {
            let (failure, requests) = try requestOnAClosingKeptConnection(method)
            #expect(failure == nil, "\(method): \(String(describing: failure))")
            #expect(requests == [2, 1], "\(method)")
        }
    }

    @Test func aPoolThatAllowsItSendsAPOSTAgainOnAClosedKeptConnection() throws {
        // When the pool sets retryNonIdempotentRequests, a bodiless POST lost with its kept
        // connection is sent again on a new one and succeeds.
        let (failure, requests) = try requestOnAClosingKeptConnection("POST") { $0.retryNonIdempotentRequests = true }
        #expect(failure == nil, "\(String(describing: failure))")
        #expect(requests == [2, 1])
    }

    @Test func aPoolThatDoesNotRetryAutomaticallyFailsEvenAGET() throws {
        // When the pool's retryAutomatically is false, a GET lost with its kept connection fails
        // with ResponseNeverReceived and is not sent again.
        let (failure, requests) = try requestOnAClosingKeptConnection("GET") { $0.retryAutomatically = false }
        #expect(failure.map { describe($0) } == "ResponseNeverReceived>ConnectionLost")
        #expect(requests == [2])
    }

    @Test func aKeptConnectionCarriesResponsesOfEveryFramingInTurn() throws {
        // When one connection answers a HEAD (with a Content-Length), a 204, a chunked body with a
        // trailer and a 100 Continue before a sized body, each response is read whole and the
        // connection is reused for all four.
        let answers = [
            "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ]
        var results: [String] = []
        var connections = 0
        try withReactor { reactor in
            let server = try RawServer.start(reactor) { connection in
                while connection.answered < min(connection.headsReceived, answers.count) {
                    connection.answer(answers[connection.answered])
                }
            }
            let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
            func next(_ methods: ArraySlice<String>) -> Deferred<Void> {
                guard let method = methods.first else { return succeed(()) }
                return agent.request(method, server.url).addCallback { response in
                    readBody(response).addCallback { body in
                        results.append("\(response.code) \(String(decoding: body, as: UTF8.self))")
                    }
                }.addCallback { _ in next(methods.dropFirst()) }
            }
            _ = next(["HEAD", "GET", "GET", "GET"]).addBoth { result -> Void in
                if case .failure(let f) = result { results.append(describe(f)) }
                connections = server.connections.count
                reactor.stop()
            }
        }
        #expect(results == ["200 ", "204 ", "200 hello", "200 ok"])
        #expect(connections == 1)
    }

    @Test func aLargeUploadHeldBackByTheConnectionArrivesWholeAndTheConnectionIsReused() throws {
        // When a 4 MiB body is more than the connection's send buffer takes at once (the producer is
        // paused and resumed), the server receives all of it, and the next request reuses the
        // connection.
        let payload = WebServer.patternBytes(count: 4 * 1024 * 1024)
        var same = false
        var next: String?
        var accepted = 0
        try withServer(limit: 30) { reactor, server in
            let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
            _ = agent.request("POST", server.url("/echo"), nil, FileBodyProducer(payload))
                .addCallback { readBody($0) }
                .addCallback { bytes -> Deferred<String> in
                    same = bytes.suffix(payload.count) == payload[...]
                    return text(agent, server.url("/bytes/7"))
                }.addBoth { result -> Void in
                    next = try? result.get()
                    accepted = server.connectionsAccepted
                    reactor.stop()
                }
        }
        #expect(same)
        #expect(next?.utf8.count == 7)
        #expect(accepted == 1)
    }

    /// How many connections two sequential GETs take from a server answering with `response`.
    private func connectionsForTwoRequests(answering response: String) throws -> (Int, [Bool]) {
        var connections = 0
        var closedByClient: [Bool] = []
        try withReactor { reactor in
            let server = try RawServer.start(reactor) { $0.answerEachHead(response) }
            let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
            _ = text(agent, server.url).addCallback { _ in text(agent, server.url) }.addCallback { _ in
                // The server never closes: a connection it lost was closed by the client.
                eventually(reactor) { server.connections.dropLast().allSatisfy { $0.lost } }
            }.addBoth { _ in
                connections = server.connections.count
                closedByClient = server.connections.map { $0.lost }
                reactor.stop()
            }
        }
        return (connections, closedByClient)
    }

    @Test func anHTTP10ResponseWithoutKeepAliveIsNotReused() throws {
        // When an HTTP/1.0 response has no Connection: keep-alive, the client closes that connection
        // and the next request opens another.
        let (connections, closed) = try connectionsForTwoRequests(answering: okResponse("ok", version: "HTTP/1.0"))
        #expect(connections == 2)
        #expect(closed.first == true)
    }

    @Test func anHTTP10ResponseWithKeepAliveIsReused() throws {
        // When an HTTP/1.0 response says Connection: keep-alive, the next request reuses it.
        let (connections, closed) = try connectionsForTwoRequests(
            answering: okResponse("ok", version: "HTTP/1.0", headers: ["Connection: keep-alive"]))
        #expect(connections == 1)
        #expect(closed == [false])
    }

    @Test func aResponseWithConnectionCloseIsNotReused() throws {
        // When an HTTP/1.1 response says Connection: close (and the server keeps it open), the client
        // closes that connection and the next request opens another.
        let (connections, closed) = try connectionsForTwoRequests(
            answering: okResponse("ok", headers: ["Connection: close"]))
        #expect(connections == 2)
        #expect(closed.first == true)
    }

    // MARK: - ResponseNeverReceived or ResponseFailed (Twisted's rule)

    /// How a GET fails when the server writes `reply` to it and closes: "Outer>Inner", or nil.
    private func failure(afterWriting reply: String, maxHeaderBytes: Int = Agent.defaultMaxHeaderBytes) throws
        -> String?
    {
        var failure: Failure?
        try withReactor { reactor in
            let server = try RawServer.start(reactor) { connection in
                if connection.headsReceived == 1 && connection.answered == 0 { connection.answer(reply, close: true) }
            }
            _ = Agent(reactor, maxHeaderBytes: maxHeaderBytes).request("GET", server.url)
                .addCallback { readBody($0) }
                .addBoth { result -> Void in
                    if case .failure(let f) = result { failure = f }
                    reactor.stop()
                }
        }
        return failure.map { describe($0) }
    }

    @Test func aConnectionClosedBeforeAnyByteIsResponseNeverReceived() throws {
        // When the server closes without writing a byte, the request fails with ResponseNeverReceived.
        #expect(try failure(afterWriting: "") == "ResponseNeverReceived>ConnectionLost")
    }

    @Test func aBadStatusLineIsResponseFailed() throws {
        // When the status line is not HTTP's, the request fails with ResponseFailed (a byte arrived).
        #expect(try failure(afterWriting: "HTTP/1.1 OK\r\n\r\n") == "ResponseFailed>ParseError")
    }

    @Test func aHeaderBlockCutShortIsResponseFailed() throws {
        // When the connection closes inside the header block, the request fails with ResponseFailed.
        #expect(try failure(afterWriting: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n")
            == "ResponseFailed>ConnectionLost")
    }

    @Test func aConnectionClosedAfterAnInterimResponseIsResponseFailed() throws {
        // When the connection closes after a 100 Continue (bytes arrived, no final head), the request
        // fails with ResponseFailed, as in Twisted.
        #expect(try failure(afterWriting: "HTTP/1.1 100 Continue\r\n\r\n") == "ResponseFailed>ConnectionLost")
    }

    @Test func aBadContentLengthIsResponseFailed() throws {
        // When Content-Length is not a number, the request fails with ResponseFailed.
        #expect(try failure(afterWriting: "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nabc")
            == "ResponseFailed>ParseError")
    }

    @Test func aNegativeContentLengthIsResponseFailed() throws {
        // When Content-Length is negative, the request fails with ResponseFailed.
        #expect(try failure(afterWriting: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nabc")
            == "ResponseFailed>ParseError")
    }

    @Test func headersOverTheLimitAreResponseFailed() throws {
        // When the header block passes maxHeaderBytes, the request fails with ResponseFailed.
        let reply = "HTTP/1.1 200 OK\r\nX-Long: " + String(repeating: "a", count: 200) + "\r\n\r\n"
        #expect(try failure(afterWriting: reply, maxHeaderBytes: 64) == "ResponseFailed>HeadersTooLarge")
    }

    @Test func aGzipThenChunkedTransferEncodingFailsTheRequest() throws {
        // When a response is sent with Transfer-Encoding: gzip, chunked, the request fails with
        // ResponseFailed holding TransferEncodingNotSupported, instead of a still-gzipped body.
        let reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
        #expect(try failure(afterWriting: reply) == "ResponseFailed>TransferEncodingNotSupported")
    }

    // MARK: - HTTP/1.0 and Transfer-Encoding

    @Test(arguments: [
        ("Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", 2), ("Content-Length: 2\r\n\r\nhi", 1),
    ])
    func anHTTP10ResponseWithTransferEncodingClosesItsConnection(_ framing: String, _ expectedConnections: Int) throws {
        // When a kept-alive HTTP/1.0 response has Transfer-Encoding, the pool does not reuse its
        // connection (RFC 9112 §6.1): the next request goes on a new one. With Content-Length it is reused.
        var bodies: [String] = []
        var connections = 0
        try withReactor { reactor in
            let server = try RawServer.start(reactor) { connection in
                connection.answerEachHead("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n" + framing)
            }
            let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
            _ = text(agent, server.url).addCallback { first in
                text(agent, server.url).addCallback { second in bodies = [first, second] }
            }.addBoth { _ in
                connections = server.connections.count
                reactor.stop()
            }
        }
        #expect(bodies == ["hi", "hi"])
        #expect(connections == expectedConnections)
    }


    // MARK: - The request target

    @Test func dotSegmentsAreRemovedFromTheRequestLine() throws {
        // When the URI's path climbs with "..", the request line asks for the path without dot
        // segments, as curl sends it; the query keeps its dots.
        var requestLine: String?
        try withReactor { reactor in
            let server = try RawServer.start(reactor) { connection in connection.answerEachHead(okResponse("ok")) }
            _ = text(Agent(reactor), server.url + "/a/../../etc/./passwd?x=/../y").addBoth { _ in
                requestLine = server.connections.first?.text.components(separatedBy: "\r\n").first
                reactor.stop()
            }
        }
        #expect(requestLine == "GET /etc/passwd?x=/../y HTTP/1.1")
    }

}
