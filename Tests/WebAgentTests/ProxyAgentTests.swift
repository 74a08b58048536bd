import Deferreds
import Foundation
import Reactor
import TestSupport
import Testing
import WebServer

@testable import WebAgent

/// `ProxyAgent` through a real proxy: tinyproxy, started by each test on 127.0.0.1.
@Suite struct ProxyAgentTests {
    @Test func plainHTTPGoesThroughTheProxyInAbsoluteForm() throws {
        // When a ProxyAgent sends an http request, the proxy gets it in absolute form (its log shows
        // the whole URL) and the server gets it from the proxy (with the proxy's Via header).
        let proxy = try TinyProxy()
        defer { proxy.stop() }
        var result: ReadOutcome?
        var url = ""
        try withReactor { reactor in
            let server = WebServer(reactor)
            try server.listen()
            url = server.url("/echo")
            let agent = ProxyAgent(reactor, proxy: try HTTPProxy(proxy.url()))
            _ = readOutcome(of: agent.request("GET", url)).addCallback { result = $0 }.addBoth { _ in reactor.stop() }
        }
        guard case .success(let response) = result else {
            Issue.record("\(String(describing: result))")
            return
        }
        #expect(response.code == 200)
        #expect(response.body.hasPrefix("GET /echo HTTP/1.1\n"), "\(response.body)")
        #expect(response.body.contains("Via: 1.1 \(proxy.viaName)"), "\(response.body)")
        #expect(proxy.log.contains("Request (file descriptor"), "\(proxy.log)")
        #expect(proxy.log.contains("GET \(url) HTTP/1.1"), "\(proxy.log)")
    }

    @Test func httpsGoesThroughACONNECTTunnel() throws {
        // When a ProxyAgent sends an https request, the proxy opens a CONNECT tunnel to the server
        // (its log shows it) and TLS to the server runs inside it: the certificate is checked as
        // without a proxy, and the response is the server's.
        let proxy = try TinyProxy()
        defer { proxy.stop() }
        let server = try TLSServer()
        defer { server.stop() }
        var result: ReadOutcome?
        try withReactor { reactor in
            let agent = ProxyAgent(reactor, proxy: try HTTPProxy(proxy.url()), caFile: server.certificate)
            _ = readOutcome(of: agent.request("GET", "https://127.0.0.1:\(server.port)/"))
                .addCallback { result = $0 }.addBoth { _ in reactor.stop() }
        }
        guard case .success(let response) = result else {
            Issue.record("\(String(describing: result))")
            return
        }
        #expect(response.code == 200)
        // s_server -www's page describes the TLS session.
        #expect(response.body.contains("Cipher"), "\(response.body)")
        #expect(proxy.log.contains("CONNECT 127.0.0.1:\(server.port) HTTP/1.1"), "\(proxy.log)")
    }

    @Test func credentialsFromTheProxyURLAreSentForBothSchemes() throws {
        // When the proxy requires credentials, a ProxyAgent whose proxy URL carries them (one with
        // an escaped character) gets through for http and https; without them the proxy's 407 is
        // the http response, and the https request fails with ProxyTunnelError(407).
        let proxy = try TinyProxy(credentials: ("alice", "s3cr-t"))
        defer { proxy.stop() }
        let tls = try TLSServer()
        defer { tls.stop() }
        var results: [String: ReadOutcome] = [:]
        try withReactor { reactor in
            let server = WebServer(reactor)
            try server.listen()
            let with = ProxyAgent(reactor, proxy: try HTTPProxy(proxy.url(user: "alice", password: "s3cr%2Dt")),
                                  caFile: tls.certificate)
            let without = ProxyAgent(reactor, proxy: try HTTPProxy(proxy.url()), caFile: tls.certificate)
            let https = "https://127.0.0.1:\(tls.port)/"
            let requests: [(String, Deferred<Response>)] = [
                ("http with", with.request("GET", server.url("/echo"))),
                ("https with", with.request("GET", https)),
                ("http without", without.request("GET", server.url("/echo"))),
                ("https without", without.request("GET", https)),
            ]
            _ = gatherResults(requests.map { name, deferred in
                readOutcome(of: deferred).addCallback { results[name] = $0 }
            }).addBoth { _ in reactor.stop() }
        }
        for name in ["http with", "https with"] {
            guard case .success(let response) = results[name] else {
                Issue.record("\(name): \(String(describing: results[name]))")
                continue
            }
            #expect(response.code == 200, "\(name)")
        }
        if case .success(let response) = results["http with"] {
            // The proxy takes its credentials off the request.
            #expect(!response.body.contains("Proxy-Authorization"), "\(response.body)")
        }
        guard case .success(let refused) = results["http without"] else {
            Issue.record("http without: \(String(describing: results["http without"]))")
            return
        }
        #expect(refused.code == 407)
        guard case .failure(let failure) = results["https without"] else {
            Issue.record("https without: \(String(describing: results["https without"]))")
            return
        }
        let tunnel = try #require(failure.value as? ProxyTunnelError, "\(failure)")
        #expect(tunnel.code == 407)
        #expect(tunnel.proxy == "http://127.0.0.1:\(proxy.port)")
    }

    @Test func aProxyThatRefusesFailsWithProxyConnectError() throws {
        // When nothing listens at the proxy's address, http and https requests both fail with
        // ProxyConnectError naming the proxy, whose reason is the ConnectionRefusedError.
        let port = freeLoopbackPort()
        var results: [ReadOutcome] = []
        try withReactor { reactor in
            let agent = ProxyAgent(reactor, proxy: try HTTPProxy("127.0.0.1:\(port)"))
            _ = gatherResults(["http://127.0.0.1:1/", "https://127.0.0.1:1/"].map { url in
                readOutcome(of: agent.request("GET", url)).addCallback { results.append($0) }
            }).addBoth { _ in reactor.stop() }
        }
        #expect(results.count == 2)
        for result in results {
            guard case .failure(let failure) = result else {
                Issue.record("not refused: \(result)")
                continue
            }
            let error = try #require(failure.value as? ProxyConnectError, "\(failure)")
            #expect(error.proxy == "http://127.0.0.1:\(port)")
            #expect(error.reason.check(ConnectionRefusedError.self) != nil, "\(error.reason)")
        }
    }
}

/// The bytes a `ProxyAgent` sends a proxy for plain http, seen by a scripted proxy.
@Suite struct ProxyAgentRequestTests {
    @Test func theRequestLineIsAbsoluteAndCarriesTheCredentials() throws {
        // When a ProxyAgent with credentials sends GET and HEAD requests (one with a fragment) to
        // two servers, the proxy receives each with the absolute URI (no fragment, no dot segments) on
        // the request line, the server's Host, and Proxy-Authorization: Basic; the persistent pool keeps one
        // connection per server through the proxy and reuses it.
        var requests: [String] = []
        var codes: [Int] = []
        var idle = 0
        try withReactor { reactor in
            let proxy = try ScriptedServer.start(reactor) { _ in
                .init(bytes: httpResponse(body: "ok"), close: false)
            }
            let pool = HTTPConnectionPool(reactor)
            let agent = ProxyAgent(reactor, proxy: try HTTPProxy("http://bob:pw@127.0.0.1:\(proxy.portNumber)"),
                                   pool: pool)
            let urls = ["http://a.test/x?y=1#frag", "http://a.test/b/../again", "http://b.test:8080/"]
            var chain = Deferred<Void>.succeed(())
            for url in urls {
                chain = chain.addCallback { _ -> Deferred<Void> in
                    agent.request("GET", url).addCallback { response -> Deferred<Void> in
                        codes.append(response.code)
                        return readBody(response).addCallback { _ in }
                    }
                }
            }
            _ = chain.addErrback { failure in Issue.record("\(failure)") }
                .addBoth { _ in
                    requests = proxy.requests
                    idle = pool.plain.idleCount
                    pool.plain.closeIdle()
                    reactor.stop()
                }
        }
        #expect(codes == [200, 200, 200])
        // a.test's connection carried both of its requests (else 3 would be idle: 2 per server kept).
        #expect(idle == 2)
        let heads = requests.map { $0.split(separator: "\r\n").map(String.init) }
        #expect(heads.map { $0.first } == ["GET http://a.test/x?y=1 HTTP/1.1", "GET http://a.test/again HTTP/1.1",
                                           "GET http://b.test:8080/ HTTP/1.1"])
        #expect(heads.map { $0.contains("Host: a.test") || $0.contains("Host: b.test:8080") } == [true, true, true])
        #expect(heads.allSatisfy { $0.contains("Proxy-Authorization: Basic Ym9iOnB3") }, "\(heads)")
    }
}
