import Deferreds
import Reactor
import Testing

@testable import WebServer

@Suite struct RouteTests {
    @Test func deferredRoutesAnswerLaterAndInOrder() throws {
        // When a deferred route answers after 50 ms and a second request is pipelined behind it,
        // the responses still come in request order, the first no sooner than 50 ms.
        var responses: [TestResponse] = []
        var elapsed = 0.0
        try withServer { server, reactor, finish in
            server.routeDeferred("/later") { _ in deferLater(reactor, 0.05) { .text("later") } }
            let started = reactor.seconds()
            let requests = "GET /later HTTP/1.1\r\nHost: t\r\n\r\nGET /bytes/2 HTTP/1.1\r\nHost: t\r\n\r\n"
            _ = exchange(reactor, server, requests, methods: ["GET", "GET"]).addCallback { result, _ in
                elapsed = reactor.seconds() - started
                responses = result
                finish()
            }
        }
        #expect(responses.map(\.text) == ["later", "\u{0}\u{1}"])
        #expect(elapsed >= 0.045)
    }

    @Test func aFailedDeferredRouteAnswers500AndCloses() throws {
        // When a deferred route fails, the client gets 500 and the connection closes.
        struct Oops: Error {}
        var response: TestResponse?
        try withServer { server, reactor, finish in
            server.routeDeferred("/fails") { _ in Deferred.fail(Oops()) }
            _ = exchange(reactor, server, "GET /fails HTTP/1.1\r\nHost: t\r\n\r\n", until: { _, _ in false })
                .addCallback { result, _ in
                    response = result.first
                    finish()
                }
        }
        #expect(response?.status == 500)
        #expect(response?.headers["Connection"] == "close")
    }

    @Test func aDeferredRouteIsCancelledWhenTheClientLeaves() throws {
        // When the client closes while a deferred route has not answered, the deferred is cancelled.
        var cancelled = false
        try withServer { server, reactor, finish in
            server.routeDeferred("/never") { _ in
                Deferred<HTTPResponse> { _ in
                    cancelled = true
                    finish()
                }
            }
            _ = connectClient(reactor, server).addCallback { client in
                client.send("GET /never HTTP/1.1\r\nHost: t\r\n\r\n")
                func closeOnceRouted() {
                    if server.requestsServed == 1 {
                        client.transport?.loseConnection()
                    } else {
                        reactor.callLater(0.005, closeOnceRouted)
                    }
                }
                closeOnceRouted()
            }
        }
        #expect(cancelled)
    }

    @Test func routesReplaceBuiltinsAndPrefixesPreferTheLongest() throws {
        // When /echo is replaced and two prefixes overlap, the replacement answers and the longer
        // prefix wins; respond(to:) gives the same answers without a socket.
        var responses: [TestResponse] = []
        var direct = ""
        try withServer { server, reactor, finish in
            server.route("/echo") { _ in .text("mine") }
            server.routePrefix("/a/") { _, rest in .text("short:\(rest)") }
            server.routePrefix("/a/b/") { _, rest in .text("long:\(rest)") }
            direct = String(
                decoding: {
                    if case .bytes(let bytes) = server.respond(to: HTTPRequest(method: "GET", target: "/a/b/c")).body {
                        return bytes
                    }
                    return []
                }(), as: UTF8.self)
            let requests = ["/echo", "/a/x", "/a/b/c"].map { "GET \($0) HTTP/1.1\r\nHost: t\r\n\r\n" }.joined()
            _ = exchange(reactor, server, requests, methods: ["GET", "GET", "GET"]).addCallback { result, _ in
                responses = result
                finish()
            }
        }
        #expect(responses.map(\.text) == ["mine", "short:x", "long:c"])
        #expect(direct == "long:c")
    }
}
