import Deferreds
import WebAgent

/// Sends each request directly or through the proxy `ProxyEnvironment` picks for its URL (curl's
/// `http_proxy` / `https_proxy` / `no_proxy` rules, or `--proxy` / `--noproxy`).
///
/// It sits under `RedirectAgent`, so a redirect to another host or scheme is routed by its own URL.
final class ProxySelectingAgent: AgentProtocol {
    private let proxies: ProxyEnvironment
    private let direct: any AgentProtocol
    private let viaProxy: (HTTPProxy) -> any AgentProtocol
    private var proxyAgents: [HTTPProxy: any AgentProtocol] = [:]

    /// - Parameters:
    ///   - direct: the agent for URLs without a proxy.
    ///   - viaProxy: makes the agent for a proxy (once per proxy).
    init(proxies: ProxyEnvironment, direct: any AgentProtocol, viaProxy: @escaping (HTTPProxy) -> any AgentProtocol) {
        self.proxies = proxies
        self.direct = direct
        self.viaProxy = viaProxy
    }

    func request(_ method: String, _ uri: String, _ headers: Headers?, _ bodyProducer: (any BodyProducer)?,
                 timeout: Double?) -> Deferred<Response> {
        guard let proxy = proxies.proxy(for: uri) else {
            return direct.request(method, uri, headers, bodyProducer, timeout: timeout)
        }
        let agent = proxyAgents[proxy] ?? viaProxy(proxy)
        proxyAgents[proxy] = agent
        return agent.request(method, uri, headers, bodyProducer, timeout: timeout)
    }
}
