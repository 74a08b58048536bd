import Deferreds
import Reactor

/// An agent that sends every request through one HTTP proxy: Twisted's `ProxyAgent`.
///
/// A plain http request goes to the proxy with its URI in absolute form on the request line
/// (`GET http://server/path HTTP/1.1`), on the pool's connections to the proxy; an https request
/// goes through a `CONNECT server:443` tunnel that the proxy opens, with TLS to the server inside it
/// (`ProxyTunnelProtocol` under the pool's TLS connections; libcurl's with the pool's `http2`), so
/// the proxy sees neither the request nor the response. The proxy's
/// credentials, if its URL has any, are sent as `Proxy-Authorization: Basic …` — on each plain
/// request, and on the `CONNECT`.
///
/// Everything else is `Agent`'s: the response deferred, the pool and its limits (connections
/// through the proxy are counted per server, as direct ones are), the timeouts and the typed
/// errors. Two are the proxy's own: `ProxyConnectError` when the proxy cannot be reached (its
/// `reason` is the connection's error, about the proxy's address), and `ProxyTunnelError` when it
/// answers `CONNECT` with anything but 2xx (407 for credentials it does not take, 502 when it cannot
/// reach the server, …). A plain request's answer from the proxy (a 407, or a 502 it makes up) is
/// simply the response, as in Twisted.
///
/// No environment variable is read and no host is exempt: choose per request with
/// `ProxyEnvironment` (curl's `http_proxy`, `https_proxy` and `no_proxy` rules) if needed.
///
/// ```swift
/// let agent = ProxyAgent(reactor, proxy: try HTTPProxy("http://127.0.0.1:3128"))
/// _ = agent.request("GET", "http://example.com/").addCallback { response in readBody(response) }
/// ```
///
/// Twisted: `twisted.web.client.ProxyAgent`. Differences: it takes the proxy's URL rather than an
/// endpoint, and it tunnels https through `CONNECT` (Twisted's sends https requests to the proxy in
/// absolute form too, without TLS to the server).
public final class ProxyAgent: AgentProtocol {
    /// The proxy every request goes through.
    public let proxy: HTTPProxy
    private let agent: Agent

    /// - Parameters: as `Agent`'s, with the proxy to send every request through.
    public init(_ reactor: any AgentReactor, proxy: HTTPProxy, pool: HTTPConnectionPool? = nil,
                connectTimeout: Double? = nil, caFile: String? = nil, maxBodyBytes: Int? = nil,
                maxHeaderBytes: Int = Agent.defaultMaxHeaderBytes) {
        self.proxy = proxy
        agent = Agent(reactor, pool: pool, connectTimeout: connectTimeout, caFile: caFile, maxBodyBytes: maxBodyBytes,
                      maxHeaderBytes: maxHeaderBytes, proxy: proxy)
    }

    /// The pool the agent's connections (to the proxy) are kept in.
    public var pool: HTTPConnectionPool { agent.pool }

    /// Sends the request through the proxy: see the type's description; otherwise as `Agent.request`.
    public func request(_ method: String, _ uri: String, _ headers: Headers?, _ bodyProducer: (any BodyProducer)?,
                        timeout: Double?) -> Deferred<Response> {
        agent.request(method, uri, headers, bodyProducer, timeout: timeout)
    }
}
