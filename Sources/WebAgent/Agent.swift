import Deferreds
import Reactor

/// Sends HTTP requests and fires with responses: Twisted's `Agent`.
///
/// http URIs are sent by the agent's own HTTP/1.1 client over the reactor's TCP connections (as
/// Twisted's `Agent` does), and so are https URIs, over TLS layered on those connections by
/// OpenSSL (`TLSMemoryBIOProtocol`, Twisted's design): verified against `caFile` or the system's
/// authorities, the certificate checked for the URI's host, sessions resumed per server; through
/// a proxy (`ProxyAgent`), inside a CONNECT tunnel. libcurl (loaded on the first such request; a
/// `TransferError` when it cannot be) carries https only when the pool opts in to HTTP/2
/// (`HTTPConnectionPool.http2`). Every path has the behaviour described here; as in Twisted, a
/// `user:password@` in the URI is not sent.
///
/// `request` validates the method, URI (http and https only) and headers, then starts the
/// transfer; the returned deferred fires with the `Response` as soon as its headers have arrived
/// (informational 1xx responses are skipped). Nothing is sent for bad input: the deferred fails
/// with `InvalidMethod`, `InvalidURI`, `SchemeNotSupported` or `InvalidHeader`. A refused
/// connection fails with `ConnectionRefusedError`, an unknown host with `DNSLookupError`, a slow
/// connect with `ConnectTimeoutError`, and a response that never came with `ResponseNeverReceived`
/// (`ResponseFailed` once part of it had arrived, e.g. holding `HeadersTooLarge` when its header
/// passed `maxHeaderBytes`).
/// `cancel()` on the deferred aborts the transfer (`CancelledError`).
///
/// Every agent on a reactor without its own pool shares that reactor's non-persistent pool, so
/// `Agent(reactor)` per request, as in the tutorial, is cheap.
///
/// ```swift
/// _ = Agent(reactor).request("GET", "http://127.0.0.1:8080/", Headers(["User-Agent": ["twisted"]]), nil)
///     .addCallback { response in readBody(response) }
/// ```
///
/// Twisted: `twisted.web.client.Agent`. Redirects are not followed (use `RedirectAgent`), and, as in
/// Twisted, no proxy is used: the `http_proxy`/`https_proxy` environment variables are ignored
/// (use `ProxyAgent`, and `ProxyEnvironment` for those variables).
public final class Agent: AgentProtocol {
    /// The reactor whose loop drives the agent's transfers.
    public let reactor: any AgentReactor
    /// Where the agent's connections come from: the reactor's shared non-persistent pool unless
    /// one was given.
    public let pool: HTTPConnectionPool
    /// Seconds allowed for making a connection before the request fails with
    /// `ConnectTimeoutError`; nil for the default (300, as libcurl's).
    public let connectTimeout: Double?
    /// A PEM file of certificate authorities to trust instead of the system's (for tests with a
    /// self-signed certificate). TLS is always verified.
    public let caFile: String?
    /// Fail the body with `BodyTooLarge` once it passes this many bytes; nil for no limit.
    public let maxBodyBytes: Int?
    /// Fail the request with `HeadersTooLarge` (inside `ResponseFailed`) once the status
    /// lines and header fields received pass this many bytes (line ends included, 1xx responses
    /// counted). Where libcurl carries https (HTTP/2, a proxy), it also refuses any single header
    /// line over 100 KiB, whatever this limit.
    public let maxHeaderBytes: Int

    /// The default `maxHeaderBytes`: 64 KiB.
    public static let defaultMaxHeaderBytes = 64 * 1024

    /// The proxy every request goes through (`ProxyAgent`'s agent), or nil.
    let proxy: HTTPProxy?

    /// Creates an agent; cheap, since the connections belong to the pool.
    ///
    /// - Parameters:
    ///   - reactor: the reactor that drives the transfers.
    ///   - pool: the connections to use; nil for the reactor's shared non-persistent pool.
    ///   - connectTimeout: seconds to make a connection; nil for the default.
    ///   - caFile: a PEM file of certificate authorities to trust for https instead of the system's.
    ///   - maxBodyBytes: fail a body with `BodyTooLarge` past this many bytes; nil for no limit.
    ///   - maxHeaderBytes: fail a request with `HeadersTooLarge` past this many bytes of status lines
    ///     and header fields (64 KiB by default; > 0, else a programmer error).
    public convenience init(_ reactor: any AgentReactor, pool: HTTPConnectionPool? = nil,
                            connectTimeout: Double? = nil, caFile: String? = nil, maxBodyBytes: Int? = nil,
                            maxHeaderBytes: Int = Agent.defaultMaxHeaderBytes) {
        self.init(reactor, pool: pool, connectTimeout: connectTimeout, caFile: caFile, maxBodyBytes: maxBodyBytes,
                  maxHeaderBytes: maxHeaderBytes, proxy: nil)
    }

    init(_ reactor: any AgentReactor, pool: HTTPConnectionPool?, connectTimeout: Double?, caFile: String?,
         maxBodyBytes: Int?, maxHeaderBytes: Int, proxy: HTTPProxy?) {
        precondition(maxHeaderBytes > 0, "Agent: maxHeaderBytes must be > 0, got \(maxHeaderBytes)")
        self.reactor = reactor
        self.pool = pool ?? HTTPConnectionPool.shared(for: reactor)
        self.connectTimeout = connectTimeout
        self.caFile = caFile
        self.maxBodyBytes = maxBodyBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.proxy = proxy
    }

    public func request(_ method: String, _ uri: String, _ headers: Headers? = nil,
                        _ bodyProducer: (any BodyProducer)? = nil, timeout: Double? = nil) -> Deferred<Response> {
        let headers = headers ?? Headers()
        let parsed: URI
        do { parsed = try Agent.validate(method, uri, headers) } catch { return Deferred.fail(error) }
        if let timeout { precondition(timeout >= 0 && !timeout.isNaN, "Agent.request: timeout must be >= 0") }
        let request = Request(method: method, absoluteURI: uri, headers: headers, bodyProducer: bodyProducer)
        let options = TransferOptions(connectTimeout: connectTimeout, timeout: timeout, caFile: caFile,
                                      maxBodyBytes: maxBodyBytes, maxHeaderBytes: maxHeaderBytes, proxy: proxy)
        if parsed.scheme == "http" || !pool.http2 {
            var exchange: HTTP11Exchange?
            let deferred = Deferred<Response> { _ in exchange?.cancel() }
            let made = HTTP11Exchange(request: request, uri: parsed, options: options, pool: pool.plain,
                                      deferred: deferred)
            exchange = made
            made.begin()
            return deferred
        }
        if let curlLoadError {
            return Deferred.fail(TransferError(code: -1, message: curlLoadError))
        }
        var transfer: CurlTransfer?
        var lookup: Deferred<HostResolution>?
        let deferred = Deferred<Response> { _ in
            lookup?.cancel()
            transfer?.cancel()
        }
        let start = { [pool] (resolution: HostResolution?) in
            let created = CurlTransfer(
                multi: pool.multi, request: request, uri: parsed, options: options, deferred: deferred)
            created.resolution = resolution
            transfer = created
            created.begin()
        }
        // libcurl: HTTP/2 (the pool's opt-in). Through a proxy, the proxy looks the name up; on a reactor without a pluggable resolver,
        // libcurl does.
        guard options.proxy == nil, let resolver = (reactor as? any ReactorPluggableNameResolver)?.nameResolver
        else {
            start(nil)
            return deferred
        }
        // The name is looked up by the reactor's resolver (shared with plain http: one lookup per
        // TTL for both schemes), and libcurl is handed the addresses.
        lookup = CurlTransfer.lookUp(parsed, resolver: resolver, clock: reactor, timeout: timeout) { outcome in
            lookup = nil
            guard !deferred.called else { return }
            switch outcome {
            case .failure(let failure): deferred.errback(failure)
            case .success(let resolution): start(resolution)
            }
        }
        return deferred
    }

    /// What `request` checks before anything is sent: the method is an HTTP token, the URI parses
    /// (`URI.parse`) with the scheme http or https, and every header can be sent.
    ///
    /// A URI that starts with another scheme fails with `SchemeNotSupported` even when the rest
    /// would not parse as an http URI (`file:///etc/passwd` has no host, `mailto:a@example.com`
    /// no "//"), as in Twisted; `InvalidURI` is for what has no scheme or cannot be parsed.
    ///
    /// - Returns: the parsed URI.
    /// - Throws: `InvalidMethod`, `InvalidURI`, `SchemeNotSupported` or `InvalidHeader`.
    static func validate(_ method: String, _ uri: String, _ headers: Headers) throws -> URI {
        guard !method.isEmpty, method.utf8.allSatisfy(Headers.isTokenByte) else {
            throw InvalidMethod(method: method)
        }
        if let scheme = URI.schemePrefix(uri), scheme != "http", scheme != "https" {
            throw SchemeNotSupported(scheme: scheme)
        }
        let parsed = try URI.parse(uri)
        guard parsed.scheme == "http" || parsed.scheme == "https" else {
            throw SchemeNotSupported(scheme: parsed.scheme)
        }
        if let invalid = headers.firstInvalid() { throw invalid }
        return parsed
    }
}

/// What an exchange needs besides the request itself (the agent's settings and the request's
/// timeout), on either path: `HTTP11Exchange` or `CurlTransfer`.
struct TransferOptions {
    var connectTimeout: Double?
    var timeout: Double?
    var caFile: String?
    var maxBodyBytes: Int?
    var maxHeaderBytes: Int
    /// Send through this proxy (`ProxyAgent`); nil for a direct connection.
    var proxy: HTTPProxy? = nil
}
