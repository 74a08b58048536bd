import Glibc

/// Which proxy, if any, a request should go through, by curl's rules for `http_proxy`,
/// `https_proxy`, `all_proxy` and `no_proxy`, and its `--proxy` / `--noproxy` overrides.
///
/// From the environment (`init(environment:proxy:noProxy:)`), as curl reads it:
/// - http URLs use `http_proxy`. Only the lower-case name: `HTTP_PROXY` is ignored, because a CGI
///   program sees a request's `Proxy:` header as `HTTP_PROXY` ("httpoxy").
/// - https URLs use `https_proxy`, else `HTTPS_PROXY`.
/// - Without those, `all_proxy`, else `ALL_PROXY`, serves both. A variable that is set but empty
///   means no proxy for its scheme (the next one is not consulted).
/// - `no_proxy`, else `NO_PROXY`: a list of hosts reached directly, separated by commas (spaces
///   around them ignored). `*` matches every host. A name matches itself and every name under it
///   (`example.com` matches `example.com` and `www.example.com`, not `notexample.com`), a leading dot
///   changes nothing (`.example.com` matches the same), case does not matter, and a trailing dot on
///   the host is ignored. An IPv4 or IPv6 address (IPv6 without brackets) matches that address,
///   and with `/bits` (CIDR) every address in that network. Ports are not compared.
/// - `proxy` (`--proxy`) replaces every proxy variable: every URL goes through it, or through none
///   when it is empty. `noProxy` (`--noproxy`) replaces `no_proxy`.
///
/// ```swift
/// let proxies = try ProxyEnvironment(environment: ["http_proxy": "http://127.0.0.1:3128", "no_proxy": "localhost"])
/// proxies.proxy(for: "http://example.com/")   // HTTPProxy 127.0.0.1:3128
/// proxies.proxy(for: "http://localhost/")     // nil
/// ```
///
/// Twisted: none (Twisted's agents read no environment). Python's `urllib.request` reads the same
/// variables (`getproxies_environment`, `proxy_bypass_environment`), with laxer rules.
public struct ProxyEnvironment: Sendable {
    /// The proxy for http URLs, nil for none.
    public let http: HTTPProxy?
    /// The proxy for https URLs, nil for none.
    public let https: HTTPProxy?
    /// The `no_proxy` entries, parsed.
    private let exempt: [Exemption]

    private enum Exemption: Sendable {
        case everything
        /// A lower-case name without a leading or trailing dot.
        case name(String)
        /// The first `bits` bits of `address` (4 or 16 bytes).
        case network([UInt8], bits: Int)
    }

    /// - Throws: `InvalidURI` or `SchemeNotSupported` for a proxy URL that `HTTPProxy` refuses.
    public init(http: String?, https: String?, noProxy: String?) throws {
        self.http = try http.flatMap { $0.isEmpty ? nil : try HTTPProxy($0) }
        self.https = try https.flatMap { $0.isEmpty ? nil : try HTTPProxy($0) }
        exempt = ProxyEnvironment.parse(noProxy ?? "")
    }

    /// Curl's rules (see the type's description) over `environment`, with the overrides.
    ///
    /// - Parameters:
    ///   - environment: the variables (the process's: `ProxyEnvironment.processEnvironment`).
    ///   - proxy: `--proxy`: replaces the variables when given ("" for no proxy at all).
    ///   - noProxy: `--noproxy`: replaces `no_proxy` when given.
    /// - Throws: `InvalidURI` or `SchemeNotSupported` for a proxy URL that `HTTPProxy` refuses.
    public init(environment: [String: String], proxy: String? = nil, noProxy: String? = nil) throws {
        func first(_ names: String...) -> String? { names.lazy.compactMap { environment[$0] }.first }
        let all = first("all_proxy", "ALL_PROXY")
        let http = proxy ?? first("http_proxy") ?? all
        let https = proxy ?? first("https_proxy", "HTTPS_PROXY") ?? all
        try self.init(http: http, https: https, noProxy: noProxy ?? first("no_proxy", "NO_PROXY"))
    }

    /// The variables this type reads, from the process's environment.
    public static var processEnvironment: [String: String] {
        var found: [String: String] = [:]
        for name in ["http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"] {
            if let value = getenv(name) { found[name] = String(cString: value) }
        }
        return found
    }

    /// The proxy for `url`: by its scheme, unless its host is exempt; nil for a direct connection
    /// (and for text that is not an http or https URL).
    public func proxy(for url: String) -> HTTPProxy? {
        guard let uri = try? URI.parse(url) else { return nil }
        let proxy = uri.scheme == "https" ? https : uri.scheme == "http" ? http : nil
        guard let proxy else { return nil }
        return isExempt(host: uri.host) ? nil : proxy
    }

    /// Whether `no_proxy` lets `host` (a name, or an address without brackets) be reached directly.
    public func isExempt(host: String) -> Bool {
        guard !exempt.isEmpty else { return false }
        var name = host.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        let address = ProxyEnvironment.addressBytes(name)
        for entry in exempt {
            switch entry {
            case .everything:
                return true
            case .name(let exempted):
                if address == nil && (name == exempted || name.hasSuffix("." + exempted)) { return true }
            case .network(let network, let bits):
                if let address, address.count == network.count, ProxyEnvironment.prefix(address, network, bits) {
                    return true
                }
            }
        }
        return false
    }

    // MARK: - Parsing no_proxy

    private static func parse(_ list: String) -> [Exemption] {
        let tokens = list.split { $0 == "," || $0 == " " || $0 == "\t" }.map { $0.lowercased() }
        return tokens.compactMap { token -> Exemption? in
            if token == "*" { return .everything }
            var text = token
            if text.hasPrefix("[") && text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
            var bits: Int?
            if let slash = text.firstIndex(of: "/") {
                bits = Int(text[text.index(after: slash)...])
                text = String(text[..<slash])
            }
            if let address = addressBytes(text) {
                let width = address.count * 8
                return .network(address, bits: min(max(bits ?? width, 0), width))
            }
            while text.hasPrefix(".") { text.removeFirst() }
            while text.hasSuffix(".") { text.removeLast() }
            return text.isEmpty ? nil : .name(text)
        }
    }

    /// The bytes of an IPv4 (4) or IPv6 (16) address, or nil for a name.
    private static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        let withoutZone = text.split(separator: "%", maxSplits: 1).first.map(String.init) ?? text
        if inet_pton(AF_INET6, withoutZone, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    private static func prefix(_ address: [UInt8], _ network: [UInt8], _ bits: Int) -> Bool {
        var remaining = bits
        for index in address.indices where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
            if address[index] & mask != network[index] & mask { return false }
            remaining -= 8
        }
        return true
    }
}
