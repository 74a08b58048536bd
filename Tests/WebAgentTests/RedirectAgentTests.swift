import Deferreds
import Reactor
import Testing

@testable import WebAgent

@Suite struct RedirectAgentTests {
    /// A server that answers `redirects[path]` = (status, location) and 200 "final <path>" otherwise.
    private static func redirectingServer(_ reactor: EPollReactor, _ redirects: [String: (String, String?)])
        throws -> ScriptedServer
    {
        try redirectingServer(reactor) { redirects[$0] }
    }

    /// A server that answers `lookup(path)` = (status, location) and 200 "final <path>" when it is nil.
    private static func redirectingServer(_ reactor: EPollReactor, lookup: @escaping (String) -> (String, String?)?)
        throws -> ScriptedServer
    {
        try ScriptedServer.start(reactor) { request in
            let target = requestLine(request).split(separator: " ")[1]
            let path = String(target.prefix { $0 != "?" })
            if let (status, location) = lookup(path) {
                let headers = location.map { ["Location: \($0)"] } ?? []
                return .init(bytes: httpResponse(status, headers: headers, body: "moved"))
            }
            return .init(bytes: httpResponse(body: "final \(target)"))
        }
    }

    @Test func followsA302ForGetAndLinksThePreviousResponse() throws {
        // When a GET gets a 302 with a Location, the agent fetches it; the final response links the 302.
        var outcome: Result<Response, Failure>?
        var body: [UInt8]?
        var server: ScriptedServer?
        try withReactor { reactor in
            server = try Self.redirectingServer(reactor, ["/old": ("302 Found", "/new")])
            let d = RedirectAgent(Agent(reactor)).request("GET", server!.url + "/old")
                .addCallback { response -> Deferred<[UInt8]> in
                    outcome = .success(response)
                    return readBody(response)
                }
            stopAfter(d, reactor) { body = $0.successValue }
        }
        let response = try #require(outcome?.successValue)
        #expect(response.code == 200)
        #expect(body == Array("final /new".utf8))
        #expect(response.request.absoluteURI == server!.url + "/new")
        #expect(response.previousResponse?.code == 302)
        #expect(response.previousResponse?.request.absoluteURI == server!.url + "/old")
        #expect(response.previousResponse?.previousResponse == nil)
        #expect(server!.requests.map(requestLine) == ["GET /old HTTP/1.1", "GET /new HTTP/1.1"])
    }

    @Test func resolvesRelativeLocationsAndCarriesTheFragment() throws {
        // When Locations are relative, absolute-path or scheme-relative, each is resolved against the
        // request that got it, the fragment is kept, and previousResponse chains every redirect.
        var outcome: Result<Response, Failure>?
        var server: ScriptedServer?
        try withReactor { reactor in
            var port = 0
            server = try Self.redirectingServer(reactor) { path in
                [
                    "/dir/start": ("302 Found", "page?x=1"),
                    "/dir/page": ("307 Temporary Redirect", "../abs"),
                    "/abs": ("301 Moved Permanently", "//127.0.0.1:\(port)/last?next=http://elsewhere/"),
                    "/last": ("308 Permanent Redirect", "/final"),
                ][path]
            }
            port = server!.portNumber
            stopAfter(RedirectAgent(Agent(reactor)).request("GET", server!.url + "/dir/start#section"), reactor) {
                outcome = $0
            }
        }
        let response = try #require(outcome?.successValue)
        #expect(response.code == 200)
        #expect(server!.requests.map(requestLine) == [
            "GET /dir/start HTTP/1.1", "GET /dir/page?x=1 HTTP/1.1", "GET /abs HTTP/1.1",
            "GET /last?next=http://elsewhere/ HTTP/1.1", "GET /final HTTP/1.1",
        ])
        #expect(response.request.absoluteURI == server!.url + "/final#section")
        var codes: [Int] = []
        var previous = response.previousResponse
        while let current = previous {
            codes.append(current.code)
            previous = current.previousResponse
        }
        #expect(codes == [308, 301, 307, 302])
    }

    @Test func locationFragmentReplacesTheRequestFragment() throws {
        // When the Location has its own fragment, it replaces the request's; a query with "://" is kept.
        let base = "http://example.test/a/b?q=1#old"
        #expect(try RedirectFollower.resolve("c#new", against: base).string == "http://example.test/a/c#new")
        #expect(try RedirectFollower.resolve("/p?to=http://x/#f", against: base).string
            == "http://example.test/p?to=http://x/#f")
        #expect(try RedirectFollower.resolve("#top", against: base).string == "http://example.test/a/b?q=1#top")
        #expect(try RedirectFollower.resolve("https://other.test", against: base).string == "https://other.test/#old")
        #expect(throws: SchemeNotSupported.self) { try RedirectFollower.resolve("mailto:a@b.test", against: base) }
    }

    @Test func seeOtherTurnsPostIntoGetWithoutBody() throws {
        // When a POST gets a 303, the agent GETs the Location without the body or its headers.
        var outcome: Result<Response, Failure>?
        var server: ScriptedServer?
        try withReactor { reactor in
            server = try Self.redirectingServer(reactor, ["/form": ("303 See Other", "/thanks")])
            let headers = Headers(["Content-Type": ["application/x-www-form-urlencoded"], "X-Keep": ["yes"]])
            let d = RedirectAgent(Agent(reactor))
                .request("POST", server!.url + "/form", headers, FileBodyProducer(Array("a=1".utf8)))
            stopAfter(d, reactor) { outcome = $0 }
        }
        #expect(outcome?.successValue?.code == 200)
        let requests = server!.requests
        #expect(requests.map(requestLine) == ["POST /form HTTP/1.1", "GET /thanks HTTP/1.1"])
        #expect(requestBody(requests[0]) == "a=1")
        #expect(requestBody(requests[1]) == "")
        #expect(requestHeader(requests[1], "Content-Type") == nil)
        #expect(requestHeader(requests[1], "Content-Length") == nil)
        #expect(requestHeader(requests[1], "X-Keep") == "yes")
    }

    @Test func seeOtherKeepsHead() throws {
        // When a HEAD gets a 303, the agent sends a HEAD to the Location.
        var outcome: Result<Response, Failure>?
        var server: ScriptedServer?
        try withReactor { reactor in
            server = try ScriptedServer.start(reactor) { request in
                if requestLine(request).contains("/a ") {
                    return .init(bytes: rawResponse("303 See Other", headers: ["Location: /b"], body: []))
                }
                return .init(bytes: Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".utf8))
            }
            stopAfter(RedirectAgent(Agent(reactor)).request("HEAD", server!.url + "/a"), reactor) { outcome = $0 }
        }
        #expect(outcome?.successValue?.code == 200)
        #expect(server!.requests.map(requestLine) == ["HEAD /a HTTP/1.1", "HEAD /b HTTP/1.1"])
    }

    @Test func strictAgentRefusesToRedirectPost() throws {
        // When a POST gets a 301, 302, 307 or 308, RedirectAgent fails with ResponseFailed([PageRedirect]),
        // the redirect response attached (Twisted's shape), and sends nothing more.
        for status in ["301 Moved Permanently", "302 Found", "307 Temporary Redirect", "308 Permanent Redirect"] {
            var outcome: Result<Response, Failure>?
            var server: ScriptedServer?
            try withReactor { reactor in
                server = try Self.redirectingServer(reactor, ["/form": (status, "/elsewhere")])
                let d = RedirectAgent(Agent(reactor))
                    .request("POST", server!.url + "/form", nil, FileBodyProducer(Array("a=1".utf8)))
                stopAfter(d, reactor) { outcome = $0 }
            }
            let failed = try #require(outcome?.failureValue?.value as? ResponseFailed, "\(status)")
            #expect(failed.reasons.count == 1)
            let redirect = try #require(failed.reasons.first?.value as? PageRedirect, "\(status)")
            #expect(failed.response === redirect.response)
            #expect(redirect.status == Int(status.prefix(3)))
            #expect(redirect.location == server!.url + "/elsewhere")
            #expect(redirect.response.code == redirect.status)
            #expect(server!.requests.count == 1)
        }
    }

    @Test func browserLikeAgentTurnsPostIntoGetOn301And302() throws {
        // When a POST gets a 301 or 302, BrowserLikeRedirectAgent GETs the Location.
        for status in ["301 Moved Permanently", "302 Found"] {
            var outcome: Result<Response, Failure>?
            var server: ScriptedServer?
            try withReactor { reactor in
                server = try Self.redirectingServer(reactor, ["/form": (status, "/done")])
                let d = BrowserLikeRedirectAgent(Agent(reactor))
                    .request("POST", server!.url + "/form", nil, FileBodyProducer(Array("a=1".utf8)))
                stopAfter(d, reactor) { outcome = $0 }
            }
            #expect(outcome?.successValue?.code == 200)
            #expect(outcome?.successValue?.previousResponse?.code == Int(status.prefix(3)))
            #expect(server!.requests.map(requestLine) == ["POST /form HTTP/1.1", "GET /done HTTP/1.1"])
        }
    }

    @Test func browserLikeAgentKeepsTheMethodOn307And308() throws {
        // When a POST gets a 307 or 308, BrowserLikeRedirectAgent fails with ResponseFailed([PageRedirect]);
        // a GET is followed.
        for status in ["307 Temporary Redirect", "308 Permanent Redirect"] {
            var post: Result<Response, Failure>?
            var get: Result<Response, Failure>?
            var server: ScriptedServer?
            try withReactor { reactor in
                server = try Self.redirectingServer(reactor, ["/form": (status, "/done")])
                let agent = BrowserLikeRedirectAgent(Agent(reactor))
                _ = agent.request("POST", server!.url + "/form", nil, FileBodyProducer(Array("a=1".utf8)))
                    .addBoth { (outcome: Result<Response, Failure>) -> Deferred<Response> in
                        post = outcome
                        return agent.request("GET", server!.url + "/form")
                    }
                    .addBoth { (outcome: Result<Response, Failure>) -> Void in
                        get = outcome
                        reactor.stop()
                    }
            }
            let failed = post?.failureValue?.value as? ResponseFailed
            #expect((failed?.reasons.first?.value as? PageRedirect)?.status == Int(status.prefix(3)))
            #expect(failed?.response?.code == Int(status.prefix(3)))
            #expect(get?.successValue?.code == 200)
            #expect(server!.requests.map(requestLine) == ["POST /form HTTP/1.1", "GET /form HTTP/1.1",
                                                          "GET /done HTTP/1.1"])
        }
    }

    @Test func redirectLoopFailsWithInfiniteRedirection() throws {
        // When redirects go on past redirectLimit, the agent fails with InfiniteRedirection holding the last one.
        var outcome: Result<Response, Failure>?
        var server: ScriptedServer?
        try withReactor { reactor in
            server = try Self.redirectingServer(reactor, ["/loop": ("302 Found", "/loop")])
            stopAfter(RedirectAgent(Agent(reactor), redirectLimit: 3).request("GET", server!.url + "/loop"), reactor) {
                outcome = $0
            }
        }
        let error = try #require(outcome?.failureValue?.value as? InfiniteRedirection)
        #expect(error.redirectLimit == 3)
        #expect(error.status == 302)
        #expect(error.response.code == 302)
        #expect(error.location == server!.url + "/loop")
        #expect(error.response.previousResponse?.previousResponse?.previousResponse?.code == 302)
        #expect(server!.requests.count == 4)
    }

    @Test func redirectWithoutLocationFails() throws {
        // When a redirect has no Location, the agent fails with RedirectWithNoLocation.
        var outcome: Result<Response, Failure>?
        var server: ScriptedServer?
        try withReactor { reactor in
            server = try Self.redirectingServer(reactor, ["/nowhere": ("302 Found", nil)])
            stopAfter(RedirectAgent(Agent(reactor)).request("GET", server!.url + "/nowhere"), reactor) { outcome = $0 }
        }
        let error = try #require(outcome?.failureValue?.value as? RedirectWithNoLocation)
        #expect(error.status == 302)
        #expect(error.uri == server!.url + "/nowhere")
        #expect(server!.requests.count == 1)
    }

    @Test func crossOriginRedirectDropsCredentialsAndSensitiveHeaders() throws {
        // When a redirect goes to another origin (another port), credentials and sensitive headers are not
        // sent there; a same-origin redirect keeps them.
        var outcome: Result<Response, Failure>?
        var first: ScriptedServer?
        var second: ScriptedServer?
        try withReactor { reactor in
            second = try Self.redirectingServer(reactor, [:])
            first = try Self.redirectingServer(reactor, [
                "/start": ("302 Found", "/same"),
                "/same": ("302 Found", second!.url + "/other"),
            ])
            let headers = Headers([
                "Authorization": ["Basic c2VjcmV0"], "Cookie": ["session=1"], "Proxy-Authorization": ["x"],
                "X-Api-Key": ["k"], "X-Plain": ["p"],
            ])
            let agent = RedirectAgent(Agent(reactor), sensitiveHeaderNames: ["x-api-key"])
            stopAfter(agent.request("GET", first!.url + "/start", headers), reactor) { outcome = $0 }
        }
        #expect(outcome?.successValue?.code == 200)
        let same = try #require(first?.requests.last)
        #expect(requestLine(same) == "GET /same HTTP/1.1")
        #expect(requestHeader(same, "Authorization") == "Basic c2VjcmV0")
        #expect(requestHeader(same, "Cookie") == "session=1")
        #expect(requestHeader(same, "X-Api-Key") == "k")
        let other = try #require(second?.requests.first)
        #expect(requestLine(other) == "GET /other HTTP/1.1")
        for name in ["Authorization", "Cookie", "Proxy-Authorization", "X-Api-Key"] {
            #expect(requestHeader(other, name) == nil, "\(name) was sent to another origin")
        }
        #expect(requestHeader(other, "X-Plain") == "p")
    }

    @Test func crossOriginRedirectDropsAUserSetHostHeader() throws {
        // When a request with a user-set Host header is redirected from 127.0.0.1 to 127.0.0.2, the
        // second server gets the Host of its own URI, not the user's (as curl does); a same-origin
        // redirect keeps the user's Host.
        var outcome: Result<Response, Failure>?
        var first: ScriptedServer?
        var second: RawServer?
        try withReactor { reactor in
            second = try RawServer.start(reactor, interface: "127.0.0.2") { connection in
                connection.answerEachHead(okResponse("there"))
            }
            first = try Self.redirectingServer(reactor, [
                "/start": ("302 Found", "/same"),
                "/same": ("302 Found", second!.url + "/other"),
            ])
            let agent = RedirectAgent(Agent(reactor))
            stopAfter(agent.request("GET", first!.url + "/start", Headers(["Host": ["a.example"]])), reactor) {
                outcome = $0
            }
        }
        #expect(outcome?.successValue?.code == 200)
        #expect(first?.requests.map { requestHeader($0, "Host") } == ["a.example", "a.example"])
        let other = try #require(second?.connections.first?.text)
        #expect(requestLine(other) == "GET /other HTTP/1.1")
        #expect(requestHeader(other, "Host") == "127.0.0.2:\(second!.port)")
    }

    @Test func redirectToAnotherSchemeFailsWithSchemeNotSupported() throws {
        // When a Location has a scheme other than http(s) (file, ftp, mailto, javascript), the agent
        // fails with SchemeNotSupported and sends no second request.
        for location in ["file:///etc/passwd", "ftp://127.0.0.1/file", "mailto:someone@example.test",
                         "javascript:alert(1)"] {
            var outcome: Result<Response, Failure>?
            var server: ScriptedServer?
            try withReactor { reactor in
                server = try Self.redirectingServer(reactor, ["/go": ("302 Found", location)])
                stopAfter(RedirectAgent(Agent(reactor)).request("GET", server!.url + "/go"), reactor) { outcome = $0 }
            }
            let error = try #require(outcome?.failureValue?.value as? SchemeNotSupported, "\(location)")
            #expect(error.scheme == String(location.prefix { $0 != ":" }))
            #expect(server!.requests.count == 1)
        }
    }

    @Test func redirectBodyIsReadSoThePersistentConnectionIsReused() throws {
        // When a redirect has a body, it is read and discarded, and the next request reuses the connection.
        var outcome: Result<Response, Failure>?
        var server: KeepAliveServer?
        var body: [UInt8]?
        try withReactor { reactor in
            server = try KeepAliveServer.start(reactor) { request in
                if requestLine(request).hasPrefix("GET /old ") {
                    return rawResponse("302 Found", headers: ["Location: /new"], body: patternBytes(200_000),
                                       chunkSize: 7_000)
                }
                return rawResponse(body: Array("new".utf8))
            }
            let pool = HTTPConnectionPool(reactor, persistent: true)
            let d = RedirectAgent(Agent(reactor, pool: pool)).request("GET", server!.url + "/old")
                .addCallback { response -> Deferred<[UInt8]> in
                    outcome = .success(response)
                    return readBody(response)
                }
                .addBoth { (result: Result<[UInt8], Failure>) -> Deferred<Void> in
                    body = result.successValue
                    return pool.closeCachedConnections()
                }
            stopAfter(d, reactor) { _ in }
        }
        #expect(body == Array("new".utf8))
        #expect(outcome?.successValue?.previousResponse?.code == 302)
        #expect(server!.requests.count == 2)
        #expect(server!.connections == 1)
    }

    @Test func cancellingCancelsTheRequestInFlight() throws {
        // When the deferred is cancelled during a redirected request, that request is cancelled.
        let agent = ScriptedAgent([.respond(302, ["Location": ["/next"]]), .hang])
        var outcome: Result<Response, Failure>?
        let d = RedirectAgent(agent).request("GET", "http://example.test/start")
        _ = d.addBoth { outcome = $0 }
        #expect(agent.requests.map(\.uri) == ["http://example.test/start", "http://example.test/next"])
        #expect(outcome.map { _ in true } == nil)
        d.cancel()
        #expect(agent.cancelled == 1)
        #expect(outcome?.failureValue?.check(CancelledError.self) != nil)
    }
}
