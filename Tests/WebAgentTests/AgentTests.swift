import Deferreds
import Reactor
import Testing

@testable import WebAgent

@Suite struct AgentTests {
    @Test func getReturnsStatusHeadersAndBody() throws {
        // When a GET succeeds, the response has the status, headers and length, and readBody the body.
        var response: Response?
        var body: [UInt8]?
        try withReactor { reactor in
            let server = try ScriptedServer.start(reactor) { _ in
                .init(bytes: httpResponse(headers: ["Content-Type: text/plain", "ETag: \"x\""], body: "hello"))
            }
            _ = Agent(reactor).request("GET", server.url + "/page", Headers(["User-Agent": ["twisted"]]), nil)
                .addCallback { r -> Deferred<[UInt8]> in
                    response = r
                    return readBody(r)
                }
                .addCallback { body = $0 }
                .addBoth { _ in reactor.stop() }
        }
        #expect(response?.code == 200)
        #expect(response?.phrase == "OK")
        #expect(response.map { $0.version == ("HTTP", 1, 1) } == true)
        #expect(response?.length == 5)
        #expect(response?.headers.getRawHeaders("etag") == ["\"x\""])
        #expect(response?.headers.hasHeader("Content-Length") == false)
        #expect(body == Array("hello".utf8))
    }

    @Test func tutorialStyleDeliverBodyGetsChunksThenResponseDone() throws {
        // When the body is delivered to a protocol, it gets the bytes and then ResponseDone.
        final class Printer: Protocol {
            var received: [UInt8] = []
            var reason: Failure?
            let whenFinished: Deferred<Void>
            init(_ whenFinished: Deferred<Void>) { self.whenFinished = whenFinished }
            override func dataReceived(_ bytes: [UInt8]) { received += bytes }
            override func connectionLost(_ reason: Failure) {
                self.reason = reason
                whenFinished.callback(())
            }
        }
        var printer: Printer?
        try withReactor { reactor in
            let server = try ScriptedServer.start(reactor) { _ in
                .init(bytes: httpResponse(body: String(repeating: "x", count: 100_000)))
            }
            _ = Agent(reactor).request("GET", server.url).addCallback { r -> Deferred<Void> in
                let finished = Deferred<Void>()
                printer = Printer(finished)
                r.deliverBody(printer!)
                return finished
            }.addBoth { _ in reactor.stop() }
        }
        #expect(printer?.received.count == 100_000)
        #expect(printer?.reason?.check(ResponseDone.self) != nil)
        #expect(printer?.reason?.getErrorMessage() == "Response body fully received")
    }

    @Test func refusedConnectionFailsWithConnectionRefusedError() throws {
        // When nothing listens, the request fails with ConnectionRefusedError itself.
        var failure: Failure?
        try withReactor { reactor in
            let port = try reactor.listenTCP(0, Factory.forProtocol { Protocol() })
            let number = port.getHost().port
            _ = port.stopListening().addCallback { _ in
                Agent(reactor).request("GET", "http://127.0.0.1:\(number)/").addBoth { result -> Void in
                    if case .failure(let f) = result { failure = f }
                    reactor.stop()
                }
            }
        }
        #expect(failure?.check(ConnectionRefusedError.self) != nil)
    }

    @Test func aHostThatCannotResolveFailsWithDNSLookupError() throws {
        // When the host name cannot be resolved, the request fails with DNSLookupError naming the host.
        // A 70-letter label is longer than DNS allows (63), so the resolver refuses it at once,
        // without sending a query anywhere: the test stays on this machine.
        let host = String(repeating: "a", count: 70) + ".invalid"
        var failure: Failure?
        try withReactor { reactor in
            _ = Agent(reactor).request("GET", "http://\(host)/").addBoth { result -> Void in
                if case .failure(let f) = result { failure = f }
                reactor.stop()
            }
        }
        let lookup = failure?.check(DNSLookupError.self) != nil ? failure?.value as? DNSLookupError : nil
        #expect(lookup?.host == host)
    }

    @Test func badInputFailsWithoutSending() throws {
        // When the scheme, URI, method or a header is bad, the deferred fails with a typed error.
        let reactor = try EPollReactor()
        defer { reactor.close() }
        let agent = Agent(reactor)
        func failure(_ d: Deferred<Response>) -> Failure? {
            var result: Failure?
            _ = d.addBoth { outcome -> Void in if case .failure(let f) = outcome { result = f } }
            return result
        }
        #expect(failure(agent.request("GET", "ftp://example.test/"))?.check(SchemeNotSupported.self) != nil)
        #expect(failure(agent.request("GET", "http://exa mple.test/"))?.check(InvalidURI.self) != nil)
        #expect(failure(agent.request("GE T", "http://127.0.0.1/"))?.check(InvalidMethod.self) != nil)
        #expect(failure(agent.request("GET", "http://127.0.0.1/", Headers(["X": ["a\r\nInjected: 1"]])))?
            .check(InvalidHeader.self) != nil)
        #expect(failure(agent.request("GET", "http://127.0.0.1/", Headers(["Bad Name": ["v"]])))?
            .check(InvalidHeader.self) != nil)
    }

    @Test func aURIWithAnotherSchemeFailsWithSchemeNotSupportedEvenWhenItIsNotAnHTTPURI() throws {
        // When the URI is file:///etc/passwd (no host) or mailto:a@example.com (no "//"), the request
        // fails with SchemeNotSupported naming that scheme (Twisted's error); an unparseable URI
        // without a scheme stays InvalidURI.
        let reactor = try EPollReactor()
        defer { reactor.close() }
        let agent = Agent(reactor)
        func failure(_ uri: String) -> Failure? {
            var result: Failure?
            _ = agent.request("GET", uri).addBoth { outcome -> Void in
                if case .failure(let f) = outcome { result = f }
            }
            return result
        }
        for (uri, scheme) in [("file:///etc/passwd", "file"), ("mailto:a@example.com", "mailto"),
                              ("FILE:///etc/passwd", "file"), ("javascript:alert(1)", "javascript")] {
            #expect((failure(uri)?.value as? SchemeNotSupported)?.scheme == scheme, "\(uri)")
        }
        for uri in ["/etc/passwd", "127.0.0.1:80/", "http:///nohost", "://x"] {
            #expect(failure(uri)?.check(InvalidURI.self) != nil, "\(uri)")
        }
    }
}
