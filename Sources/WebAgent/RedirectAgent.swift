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
