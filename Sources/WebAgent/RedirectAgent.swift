import Deferreds
import Reactor

/// An agent wrapper that follows HTTP redirects strictly: only GET and HEAD are redirected by
/// 301, 302, 307 and 308.
///
/// The returned deferred fires with the first response that is not a redirect to follow. Its
/// `previousResponse` is the redirect that led to it, whose `previousResponse` is the one before,
/// and so on (the bodies of those redirects are read and discarded, so their connections can be
/// reused).
///
/// The rules (Twisted's):
/// - 301, 302, 307, 308 with GET or HEAD: the same method is sent to the `Location`. With any
///   other method the deferred fails with `ResponseFailed` whose one reason is a `PageRedirect`,
///   the redirect response attached to both (the request body cannot be replayed, and silently
///   turning a POST into a GET is what the strict agent refuses to do).
/// - 303 See Other: a GET without a body is sent to the `Location`, whatever the method was
///   (a HEAD stays a HEAD).
/// - `Location` may be absolute, scheme-relative (`//host/path`), absolute-path (`/path`) or
///   relative (`page`, `../page`, `?query`); it is resolved against the URI of the request that
///   got the redirect. The request's fragment is carried over when the location has none.
/// - A redirect with no `Location` fails with `RedirectWithNoLocation`; a redirect after
///   `redirectLimit` redirects have been followed fails with `InfiniteRedirection`; a `Location`
///   with a scheme other than http or https fails with `SchemeNotSupported`.
/// - When a redirect leaves the origin (scheme, host or port change), `Authorization`, `Cookie`,
///   `Cookie2`, `Proxy-Authorization`, `WWW-Authenticate`, a user-set `Host` (the new request gets
///   its own URI's, as curl does) and the `sensitiveHeaderNames` are not sent, on that request
///   and every later one in the chain.
/// - When the method changes to GET, the body and the headers that describe it (`Content-Type`,
///   `Content-Length`, `Content-Encoding`, `Content-Language`, `Content-Location`,
///   `Transfer-Encoding`) are dropped.
///
/// Each request in the chain gets the whole `timeout` (there is no clock here to share one deadline
/// between them). Cancelling the returned deferred cancels the request in flight.
///
/// ```swift
/// let agent = RedirectAgent(Agent(reactor))
/// _ = agent.request("GET", "http://example.com/old").addCallback { response in
///     print(response.request.absoluteURI, response.previousResponse?.code ?? 0)
/// }
/// ```
///
/// Twisted: `twisted.web.client.RedirectAgent`. Differences: `InfiniteRedirection` and
/// `RedirectWithNoLocation` are not wrapped in `ResponseFailed` (each holds the response itself;
/// `PageRedirect` is wrapped, as in Twisted); a `Location` is resolved against the
/// request that got it, not the first one; a 303 to a HEAD stays a HEAD; body headers are dropped
/// with the body; a user-set `Host` is not sent to another origin.
public final class RedirectAgent: AgentProtocol {
    private let follower: RedirectFollower

    /// - Parameters:
    ///   - agent: the agent that sends each request.
    ///   - redirectLimit: the most redirects followed for one request (>= 0).
    ///   - sensitiveHeaderNames: headers, besides the credentials, not to send to another origin.
    public init(_ agent: any AgentProtocol, redirectLimit: Int = 20, sensitiveHeaderNames: [String] = []) {
        follower = RedirectFollower(agent, rules: .strict, redirectLimit: redirectLimit,
                                    sensitiveHeaderNames: sensitiveHeaderNames)
    }

    public func request(_ method: String, _ uri: String, _ headers: Headers? = nil,
                        _ bodyProducer: (any BodyProducer)? = nil, timeout: Double? = nil) -> Deferred<Response> {
        follower.request(method, uri, headers, bodyProducer, timeout: timeout)
    }
}

/// An agent wrapper that follows redirects as a web browser does: 301, 302 and 303 turn any
/// method into a GET without a body (a HEAD stays a HEAD).
///
/// Everything else is `RedirectAgent`'s: 307 and 308 keep the method, and so are followed for GET
/// and HEAD only (other methods fail with `ResponseFailed([PageRedirect])`, as the body cannot be
/// replayed); the
/// same `Location` resolution, limit, header stripping and `previousResponse` chain.
///
/// ```swift
/// BrowserLikeRedirectAgent(Agent(reactor)).request("POST", "http://example.com/form", nil, body)
/// ```
///
/// Twisted: `twisted.web.client.BrowserLikeRedirectAgent`. Difference: Twisted turns a 308 into a
/// GET too; here 308 keeps the method, as RFC 9110 and browsers do.
public final class BrowserLikeRedirectAgent: AgentProtocol {
    private let follower: RedirectFollower

    /// - Parameters: as `RedirectAgent.init`.
    public init(_ agent: any AgentProtocol, redirectLimit: Int = 20, sensitiveHeaderNames: [String] = []) {
        follower = RedirectFollower(agent, rules: .browserLike, redirectLimit: redirectLimit,
                                    sensitiveHeaderNames: sensitiveHeaderNames)
    }

    public func request(_ method: String, _ uri: String, _ headers: Headers? = nil,
                        _ bodyProducer: (any BodyProducer)? = nil, timeout: Double? = nil) -> Deferred<Response> {
        follower.request(method, uri, headers, bodyProducer, timeout: timeout)
    }
}

// MARK: - Errors

/// A redirect that the agent will not follow for this method (a 301, 302, 307 or 308 to a request
/// other than GET or HEAD).
///
/// `location` is the `Location` resolved against the request URI (the raw value when it cannot be
/// resolved), nil when there is none. The response's body has not been read. The redirect agents
/// fail with it inside a `ResponseFailed` that holds the same response.
///
/// Twisted: `twisted.web.error.PageRedirect`, raised as `ResponseFailed([Failure(PageRedirect)],
/// response)` by `RedirectAgent._handleResponse`. Difference: `location` is the redirect's target,
/// where Twisted puts the request URI.
public struct PageRedirect: Error, @unchecked Sendable, CustomStringConvertible {
    // @unchecked: the Response is only ever used on the reactor's thread.
    /// The redirect's status code.
    public let status: Int
    /// Where it pointed, resolved against the request URI; nil without a `Location`.
    public let location: String?
    /// The redirect response (its body not read).
    public let response: Response
    /// A redirect with `status` to `location`, not followed.
    public init(status: Int, location: String?, response: Response) {
        self.status = status
        self.location = location
        self.response = response
    }
    public var description: String {
        "\(status) redirect to \(location ?? "(no location)") not followed for \(response.request.method)"
    }
}

/// More redirects than the agent's `redirectLimit`; `response` is the redirect that was not
/// followed, `location` where it pointed.
///
/// Twisted: `twisted.web.error.InfiniteRedirection` (there wrapped in `ResponseFailed`).
public struct InfiniteRedirection: Error, @unchecked Sendable, CustomStringConvertible {
    // @unchecked: the Response is only ever used on the reactor's thread.
    /// The status of the redirect that was not followed.
    public let status: Int
    /// Where it pointed, resolved against its request's URI.
    public let location: String?
    /// The agent's limit on redirects followed.
    public let redirectLimit: Int
    /// The redirect that was not followed (its body not read).
    public let response: Response
    /// The redirect `response` with `status` to `location`, past `redirectLimit`.
    public init(status: Int, location: String?, redirectLimit: Int, response: Response) {
        self.status = status
        self.location = location
        self.redirectLimit = redirectLimit
        self.response = response
    }
    public var description: String {
        "Infinite redirection detected: more than \(redirectLimit) redirects (last \(status) to "
            + "\(location ?? "(no location)"))"
    }
}

/// A redirect status without a `Location` header; `uri` is the request that got it.
///
/// Twisted: `twisted.web.error.RedirectWithNoLocation` (there wrapped in `ResponseFailed`).
public struct RedirectWithNoLocation: Error, @unchecked Sendable, CustomStringConvertible {
    // @unchecked: the Response is only ever used on the reactor's thread.
    /// The redirect's status code.
    public let status: Int
    /// The URI of the request that got it.
    public let uri: String
    /// The redirect response.
    public let response: Response
    /// A redirect `response` with `status` and no `Location`, to a request for `uri`.
    public init(status: Int, uri: String, response: Response) {
        self.status = status
        self.uri = uri
        self.response = response
    }
    public var description: String { "\(status) redirect without a Location header field from \(uri)" }
}

// MARK: - The shared implementation

/// Which statuses keep the method and which turn it into GET. (Arrays, not sets: every response
/// is looked up in both, and hashing an Int costs more than scanning a handful.)
struct RedirectRules {
    /// Followed with the same method, for GET and HEAD only.
    let keepingMethod: [Int]
    /// Followed for any method, as a GET without a body (a HEAD stays a HEAD).
    let toGet: [Int]

    static let strict = RedirectRules(keepingMethod: [301, 302, 307, 308], toGet: [303])
    static let browserLike = RedirectRules(keepingMethod: [307, 308], toGet: [301, 302, 303])
}

/// Follows the redirects of one agent by one set of rules (both redirect agents are this).
final class RedirectFollower {
    /// Twisted's `_defaultSensitiveHeaders`, and `Host`: a Host set for one origin would send the
    /// request to another origin's server under the first one's name (curl drops it too).
    static let defaultSensitiveHeaders: Set<String> = [
        "authorization", "cookie", "cookie2", "proxy-authorization", "www-authenticate", "host",
    ]
    /// What describes a request body (Fetch's request-body-header names, plus the framing).
    static let bodyHeaders = [
        "content-type", "content-length", "content-encoding", "content-language", "content-location",
        "transfer-encoding",
    ]

    let agent: any AgentProtocol
    let rules: RedirectRules
    let redirectLimit: Int
    let sensitiveHeaderNames: Set<String>

    init(_ agent: any AgentProtocol, rules: RedirectRules, redirectLimit: Int, sensitiveHeaderNames: [String]) {
        precondition(redirectLimit >= 0, "RedirectAgent: redirectLimit must be >= 0, got \(redirectLimit)")
        self.agent = agent
        self.rules = rules
        self.redirectLimit = redirectLimit
        self.sensitiveHeaderNames = RedirectFollower.defaultSensitiveHeaders.union(
            sensitiveHeaderNames.map { $0.lowercased() })
    }

    func request(_ method: String, _ uri: String, _ headers: Headers?, _ bodyProducer: (any BodyProducer)?,
                 timeout: Double?) -> Deferred<Response> {
        hop(method, uri, headers, bodyProducer, timeout: timeout, redirects: 0, previous: nil)
    }

    /// Sends one request of the chain; follows its response if it is a redirect.
    private func hop(_ method: String, _ uri: String, _ headers: Headers?, _ bodyProducer: (any BodyProducer)?,
                     timeout: Double?, redirects: Int, previous: Response?) -> Deferred<Response> {
        agent.request(method, uri, headers, bodyProducer, timeout: timeout)
            .addCallback { [self] (response: Response) throws -> Deferred<Response> in
                if let previous { response.previousResponse = previous }
                return try follow(response, method, uri, headers, timeout: timeout, redirects: redirects)
            }
    }

    private func follow(_ response: Response, _ method: String, _ uri: String, _ headers: Headers?,
                        timeout: Double?, redirects: Int) throws -> Deferred<Response> {
        let code = response.code
        let newMethod: String
        if code < 300 || code > 399 {
            return Deferred.succeed(response)
        } else if rules.toGet.contains(code) {
            newMethod = method == "HEAD" ? "HEAD" : "GET"
        } else if rules.keepingMethod.contains(code) {
            guard method == "GET" || method == "HEAD" else {
                let raw = response.headers.getRawHeaders("Location")?.first
                let resolved = raw.flatMap { try? RedirectFollower.resolve($0, against: uri) }
                let refused = PageRedirect(status: code, location: resolved?.string ?? raw, response: response)
                throw ResponseFailed(reasons: [Failure(refused)], response: response)
            }
            newMethod = method
        } else {
            return Deferred.succeed(response)
        }
        let location = response.headers.getRawHeaders("Location")?.first
        guard redirects < redirectLimit else {
            let resolved = location.flatMap { try? RedirectFollower.resolve($0, against: uri) }
            throw InfiniteRedirection(status: code, location: resolved?.string ?? location,
                                      redirectLimit: redirectLimit, response: response)
        }
        guard let location else {
            throw RedirectWithNoLocation(status: code, uri: uri, response: response)
        }
        let target = try RedirectFollower.resolve(location, against: uri)
        var newHeaders = headers
        if var stripped = headers {
            if let source = try? URI.parse(uri), !RedirectFollower.sameOrigin(source, target) {
                for name in sensitiveHeaderNames { stripped.removeHeader(name) }
            }
            if newMethod != method {
                for name in RedirectFollower.bodyHeaders { stripped.removeHeader(name) }
            }
            newHeaders = stripped
        }
        // The next request waits for this body, so it can have this connection.
        return response.discardBody().addCallback { [self] (_: Void) -> Deferred<Response> in
            hop(newMethod, target.string, newHeaders, nil, timeout: timeout, redirects: redirects + 1,
                previous: response)
        }
    }

    static func sameOrigin(_ a: URI, _ b: URI) -> Bool {
        a.scheme == b.scheme && a.host.lowercased() == b.host.lowercased() && a.port == b.port
    }

    /// Resolves a `Location` value against the request URI.
    ///
    /// A location with a scheme other than http or https fails with `SchemeNotSupported` (even one
    /// without "//", as `mailto:x`). The query and fragment are split off before `URI.resolve`
    /// sees the reference, because it takes any "://" in it (as in `/login?next=http://x`) for the
    /// mark of an absolute URI.
    static func resolve(_ location: String, against uri: String) throws -> URI {
        let base = try URI.parse(uri)
        if let scheme = URI.schemePrefix(location) {
            guard scheme == "http" || scheme == "https" else { throw SchemeNotSupported(scheme: scheme) }
            guard location.dropFirst(scheme.count + 1).hasPrefix("//") else {
                throw InvalidURI(uri: location, reason: "an \(scheme) URI without an authority")
            }
            return try base.resolve(location)
        }
        var reference = Substring(location)
        var fragment: Substring?
        if let hash = reference.firstIndex(of: "#") {
            fragment = reference[reference.index(after: hash)...]
            reference = reference[..<hash]
        }
        var query: Substring?
        if let question = reference.firstIndex(of: "?") {
            query = reference[question...]
            reference = reference[..<question]
        }
        var resolved = try base.resolve(String(reference) + (query == nil ? "" : "?"))
        if let query {
            guard query.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw InvalidURI(uri: location, reason: "whitespace, control or non-ASCII characters")
            }
            let path = resolved.pathAndQuery.prefix { $0 != "?" }
            resolved.pathAndQuery = String(path + query)
        }
        if let fragment {
            guard fragment.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw InvalidURI(uri: location, reason: "whitespace, control or non-ASCII characters")
            }
            resolved.fragment = String(fragment)
        }
        return resolved
    }
}

// MARK: - Discarding a body

extension Response {
    /// Reads the body and throws it away, so the connection finishes its exchange (and can be
    /// reused) instead of being aborted; a body longer than `limit` bytes is stopped instead.
    ///
    /// - Returns: a deferred that fires when the body has ended, however it ended. Cancelling it
    ///   stops the transfer (and it fails with `CancelledError`).
    @discardableResult
    func discardBody(limit: Int = 1 << 20) -> Deferred<Void> {
        let discarder = BodyDiscarder(limit: limit)
        let done = Deferred<Void> { _ in
            discarder.done = nil
            discarder.transport?.stopProducing()
        }
        discarder.done = done
        deliverBody(discarder)
        return done
    }
}

/// A body protocol that drops what it gets, stopping the transfer after `limit` bytes.
private final class BodyDiscarder: Protocol {
    let limit: Int
    var received = 0
    var done: Deferred<Void>?

    init(limit: Int) {
        self.limit = limit
    }

    override func dataReceived(_ bytes: [UInt8]) {
        received += bytes.count
        if received > limit { transport?.stopProducing() }
    }

    override func connectionLost(_ reason: Failure) {
        let done = self.done
        self.done = nil
        done?.callback(())
    }
}
