import Deferreds
import Glibc
import Reactor

/// A small HTTP/1.1 server on the reactor's TCP, for tests, demos and benchmarks.
///
/// It speaks real HTTP/1.1: persistent connections (HTTP/1.1 by default, HTTP/1.0 with
/// `Connection: keep-alive`), pipelined requests answered in order, `Content-Length` and chunked
/// request and response bodies, `Expect: 100-continue`, HEAD, bodiless 1xx/204/304, gzip on
/// request (`HTTPResponse.compressible`), and streamed bodies that follow the socket's flow
/// control. Bad requests get 400 (431 for a header block over `limits.maxHeaderBytes`, 413 for a
/// body over `limits.maxBodyBytes`) and the connection closes.
///
/// Routes (Route.swift) map exact paths (`route`, or `routeDeferred` to answer later), path
/// prefixes (`routePrefix`, longest first) and directories (`serveDirectory`) to handlers;
/// anything else is 404. A new server already has the built-in routes of `BuiltinRoutes.swift`
/// (`/echo`, `/bytes/{n}`, `/status/{code}`…) and the fault routes of `Faults.swift`
/// (`/fault/…`); a route added with the same path replaces a built-in one.
///
/// Everything runs on the reactor's thread. A listening server is kept alive by its ports (as a
/// Twisted port keeps its factory) until `stop()`, which closes the ports and every connection.
///
/// ```swift
/// let server = WebServer(reactor)
/// server.route("/hello") { _ in .text("hello\n") }
/// let port = try server.listen()                  // a free port on 127.0.0.1
/// print(server.baseURL)                            // http://127.0.0.1:PORT
/// // … later
/// _ = server.stop().addCallback { _ in reactor.stop() }
/// ```
///
/// Twisted: `twisted.web.server.Site` over `twisted.web.http.HTTPChannel`, with test-only
/// routes in the spirit of httpbin.
public final class WebServer {
    /// The reactor the server listens and serves on (its time and TCP faces): an `EPollReactor`,
    /// or a `MemoryReactor` in tests that feed connections by hand.
    public let reactor: any ReactorTime & ReactorTCP
    /// Limits for requests; changes apply to connections accepted afterwards.
    public var limits = HTTPRequestParser.Limits()
    /// The `Server` field of every response.
    public var serverName = "swift-deferreds-WebServer"
    /// Seconds a connection closing after a response keeps reading (and dropping) what the client
    /// still sends before it is closed outright (a "lingering close", so that a client's
    /// unread request does not turn our close into a reset that destroys the response).
    public var lingerTimeout: Double = 2
    /// Seconds a connection may wait for its next request (or the rest of one) before the server
    /// closes it; nil waits forever.
    public var idleTimeout: Double?
    /// Called with every request before it is routed (on the reactor's thread).
    public var onRequest: ((HTTPRequest) -> Void)?

    /// Requests handed to a route (or answered 404), counted when routed.
    public private(set) var requestsServed = 0
    /// Connections accepted since the server was made.
    public private(set) var connectionsAccepted = 0
    /// Connections open now.
    public var openConnections: Int { channels.count }
    /// The ports listened on, in order.
    public private(set) var listeningPorts: [any ListeningPortProtocol] = []

    /// The routes; see Route.swift.
    var router = Router()
    private var channels: [ObjectIdentifier: HTTPChannel] = [:]
    private var stopWaiters: [Deferred<Void>] = []
    private var cachedDate: (second: time_t, text: String) = (0, "")
    /// Per-key counts for `/fault/retry-after`.
    var retryCounts: [String: Int] = [:]

    /// A server on `reactor` with the built-in and fault routes, not listening yet: call
    /// `listen(port:interface:)`.
    public init(_ reactor: any ReactorTime & ReactorTCP) {
        self.reactor = reactor
        installBuiltinRoutes()
        installFaultRoutes()
    }

    // MARK: - Listening

    /// Starts listening on `interface`:`port` (port 0 picks a free one). May be called more than
    /// once (say, for "127.0.0.1" and "::1").
    ///
    /// - Returns: the port listened on.
    /// - Throws: `CannotListenError`.
    @discardableResult
    public func listen(port: Int = 0, interface: String = "127.0.0.1") throws -> Int {
        // The port holds the server, as a Twisted port holds its factory, until `stop()`.
        let factory = Factory { _ in self.makeChannel() }
        let listeningPort = try reactor.listenTCP(port, factory, interface: interface)
        listeningPorts.append(listeningPort)
        return listeningPort.getHost().port
    }

    /// The first port listened on (0 before `listen`).
    public var port: Int { listeningPorts.first?.getHost().port ?? 0 }

    /// "http://127.0.0.1:PORT" (or "http://[::1]:PORT") for the first port listened on.
    public var baseURL: String {
        guard let host = listeningPorts.first?.getHost() else { return "http://127.0.0.1:0" }
        let name: String
        switch (host.family, host.host) {
        case (.ipv4, "0.0.0.0"): name = "127.0.0.1"
        case (.ipv6, "::"): name = "[::1]"
        case (.ipv6, let address): name = "[\(address)]"
        case (.ipv4, let address): name = address
        }
        return "http://\(name):\(host.port)"
    }

    /// `baseURL` + `path`.
    public func url(_ path: String) -> String { baseURL + path }

    /// Stops listening and closes every connection: idle ones cleanly, busy ones (mid-request,
    /// mid-response, stalled on purpose) with a reset.
    ///
    /// - Returns: a deferred that fires once the ports are closed and no connection is open.
    @discardableResult
    public func stop() -> Deferred<Void> {
        let ports = listeningPorts
        listeningPorts = []
        let closed = gatherResults(ports.map { $0.stopListening() })
        for channel in Array(channels.values) { channel.shutDown() }
        return closed.addCallback { [self] _ -> Deferred<Void> in
            if channels.isEmpty { return succeed(()) }
            let waiter = Deferred<Void>()
            stopWaiters.append(waiter)
            return waiter
        }
    }

    // MARK: - Connections (internal)

    private func makeChannel() -> HTTPChannel {
        HTTPChannel(server: self, limits: limits)
    }

    func channelOpened(_ channel: HTTPChannel) {
        connectionsAccepted += 1
        channels[ObjectIdentifier(channel)] = channel
    }

    func channelClosed(_ channel: HTTPChannel) {
        channels[ObjectIdentifier(channel)] = nil
        if channels.isEmpty && !stopWaiters.isEmpty {
            let waiters = stopWaiters
            stopWaiters = []
            for waiter in waiters { waiter.callback(()) }
        }
    }

    /// Routes a request from a connection: counts it and tells `onRequest`.
    func handle(_ request: HTTPRequest) -> Router.Outcome {
        requestsServed += 1
        onRequest?(request)
        return router.dispatch(request)
    }

    /// The `Date` field's value now, computed once a second.
    var dateField: String {
        let now = time(nil)
        if now != cachedDate.second { cachedDate = (now, httpDate(now)) }
        return cachedDate.text
    }
}
