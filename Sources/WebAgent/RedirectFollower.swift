import Deferreds
import Reactor

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
