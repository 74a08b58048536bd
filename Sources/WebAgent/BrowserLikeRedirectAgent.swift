import Deferreds
import Reactor

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
