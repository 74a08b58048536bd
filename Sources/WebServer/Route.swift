import Deferreds

/// Routing: which handler answers which path.
extension WebServer {
    /// A handler for an exact path.
    public typealias Handler = (HTTPRequest) -> HTTPResponse
    /// A handler for a prefix; `rest` is the path after the prefix (still percent-encoded).
    public typealias PrefixHandler = (_ request: HTTPRequest, _ rest: String) -> HTTPResponse
    /// A handler that answers later: the connection waits for the deferred (and the requests
    /// pipelined behind it wait too).
    public typealias DeferredHandler = (HTTPRequest) -> Deferred<HTTPResponse>

    /// Routes requests for exactly `path` (query aside) to `handler`, replacing any route for it.
    ///
    /// ```swift
    /// server.route("/hello") { request in .text("hello \(request.queryValue("name") ?? "")\n") }
    /// ```
    public func route(_ path: String, _ handler: @escaping Handler) {
        router.exact[path] = .immediate(handler)
    }

    /// Routes requests for exactly `path` to a handler that answers later.
    ///
    /// The connection sends the response when the deferred fires; a failed deferred answers 500.
    /// If the client goes away first (or the server stops), the deferred is cancelled.
    ///
    /// ```swift
    /// server.routeDeferred("/later") { _ in deferLater(reactor, 0.5) { .text("later\n") } }
    /// ```
    public func routeDeferred(_ path: String, _ handler: @escaping DeferredHandler) {
        router.exact[path] = .deferred(handler)
    }

    /// Routes requests whose path starts with `prefix` (and matches no exact route) to `handler`;
    /// the longest matching prefix wins. Replaces a route with the same prefix.
    ///
    /// ```swift
    /// server.routePrefix("/users/") { request, rest in .text("user \(rest)\n") }
    /// ```
    public func routePrefix(_ prefix: String, _ handler: @escaping PrefixHandler) {
        router.prefixes.removeAll { $0.prefix == prefix }
        router.prefixes.append((prefix, handler))
        router.prefixes.sort { $0.prefix.utf8.count > $1.prefix.utf8.count }
    }

    /// Removes the exact route for `path` and the prefix route for `path`, if any.
    public func removeRoute(_ path: String) {
        router.exact[path] = nil
        router.prefixes.removeAll { $0.prefix == path }
    }

    /// The response for `request` from an immediate route, without a socket (404 when no route
    /// matches; 500 for a deferred route, which cannot answer now).
    public func respond(to request: HTTPRequest) -> HTTPResponse {
        switch router.dispatch(request) {
        case .now(let response): return response
        case .later: return .status(500)
        }
    }
}

/// The route table: exact paths, then prefixes (longest first), else 404.
struct Router {
    enum Route {
        case immediate(WebServer.Handler)
        case deferred(WebServer.DeferredHandler)
    }

    /// A handler's answer: now, or when the deferred fires.
    enum Outcome {
        case now(HTTPResponse)
        case later(Deferred<HTTPResponse>)
    }

    var exact: [String: Route] = [:]
    var prefixes: [(prefix: String, handler: WebServer.PrefixHandler)] = []

    func dispatch(_ request: HTTPRequest) -> Outcome {
        switch exact[request.path] {
        case .immediate(let handler)?: return .now(handler(request))
        case .deferred(let handler)?: return .later(handler(request))
        case nil: break
        }
        for (prefix, handler) in prefixes where request.path.hasPrefix(prefix) {
            return .now(handler(request, String(request.path.dropFirst(prefix.count))))
        }
        return .now(.status(404))
    }
}
