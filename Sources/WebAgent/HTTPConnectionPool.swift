import Deferreds
import Reactor

/// The settings a pool's connection managers read when they are made.
struct PoolSettings {
    var persistent: Bool
    /// Idle connections kept in all; beyond that the one idle longest is closed (where libcurl carries https, its
    /// CURLMOPT_MAXCONNECTS, which closes the oldest idle connection in its cache the same way).
    var maxIdleConnections: Int
    /// Idle connections kept per server (address and port); more are closed.
    var maxIdlePerHost: Int
    var idleTimeout: Double
    var maxConnectionsPerHost: Int?
    var maxConnections: Int?
    var retryAutomatically = true
    var retryNonIdempotentRequests = false

    /// The methods sent again on a fresh connection by default: the idempotent ones.
    /// Twisted: `_RetryingHTTP11ClientProtocol._shouldRetry`.
    static let idempotentMethods = ["GET", "HEAD", "OPTIONS", "DELETE", "TRACE"]

    /// Whether `request`, lost with its kept connection before any byte of its response came
    /// back, may be sent again on a fresh connection: the pool retries automatically, the request
    /// has no body (it could not be replayed), and its method is idempotent or the pool allows
    /// the others too.
    func mayResend(_ request: Request) -> Bool {
        retryAutomatically && request.bodyProducer == nil
            && (retryNonIdempotentRequests || PoolSettings.idempotentMethods.contains(request.method))
    }
}

/// How an agent's connections are kept: persistent or not, how many, for how long.
///
/// http and https connections are the pool's own (HTTP/1.1 on the reactor's TCP, with TLS for
/// https; an https connection is kept for the authorities it was verified against, and never
/// serves http); with `http2`, https ones are libcurl's, with the same
/// settings. The limits below apply to the pool's own connections and libcurl's separately.
///
/// Non-persistent (Twisted's default for `Agent`): each request has its own connection and sends
/// `Connection: close`. Persistent: idle connections are kept and reused for the same (scheme, host,
/// port); at most `maxPersistentPerHost` idle ones to each server (the oldest beyond that are
/// closed when a request finishes), at most `maxPersistentConnections` in all (the one idle
/// longest closed first), each for `cachedConnectionTimeout` seconds. A request sent on a kept
/// connection that the server had already closed (no byte of its response came back) is sent again,
/// once, on a new connection, when `retryAutomatically` allows it: only idempotent methods without a
/// body, as in Twisted (see `retryAutomatically` and `retryNonIdempotentRequests`).
///
/// Beyond Twisted (twisted#7614): `maxConnectionsPerHost` and `maxConnections` limit the
/// connections *in use*; requests over the limit wait, first come first served, for a connection.
///
/// A `ProxyAgent`'s plain-http connections go to its proxy; they are kept, reused and limited per
/// server behind it (and per proxy), as direct ones are per server.
///
/// Settings are read when the pool first sends a request; change them before that.
///
/// Twisted: `twisted.web.client.HTTPConnectionPool`.
public final class HTTPConnectionPool {
    let reactor: any AgentReactor
    /// Whether connections are kept and reused between requests (true) or each request has its own
    /// and sends `Connection: close` (false, Twisted's default for `Agent`).
    public let persistent: Bool
    /// Idle connections kept per server (address and port). Default 2.
    public var maxPersistentPerHost = 2
    /// Idle connections kept in all, to every server; when one more goes idle, the one idle
    /// longest is closed. nil (the default): 16 × `maxPersistentPerHost`. (Beyond Twisted, which
    /// bounds only each server's.) http and https connections count together; where libcurl carries https
    /// (`http2`) this is libcurl's CURLMOPT_MAXCONNECTS, which counts
    /// the connections in use too: when a request ends with more than this many open, the one
    /// idle longest is closed — so keep it above the requests you run at once.
    public var maxPersistentConnections: Int?
    /// Seconds an idle connection is kept. Default 240. (Where libcurl carries https, it counts idle time in
    /// whole seconds, so a connection may be reused for up to one second longer.)
    public var cachedConnectionTimeout: Double = 240
    /// Connections in use per host; nil for no limit. Over HTTP/2 (`http2`, servers offering h2) it
    /// counts connections, not requests: requests beyond it share the connections as streams,
    /// up to the server's limit on concurrent streams, and wait only beyond that.
    public var maxConnectionsPerHost: Int?
    /// Connections in use in all; nil for no limit.
    public var maxConnections: Int?
    /// Whether a request that a kept connection lost before any byte of its response came back
    /// (the server had closed the idle connection as the request went out) is sent again, once,
    /// on a new connection. Only a request without a body whose method is idempotent (GET, HEAD,
    /// OPTIONS, DELETE, TRACE) is sent again, unless `retryNonIdempotentRequests` is set; the
    /// others fail with `ResponseNeverReceived`. Default true. Where libcurl carries https (`http2`),
    /// it sends such a request again by itself, whatever its method, so a request that may not be sent again goes
    /// on a new connection instead of a kept one (it is then kept for the next requests).
    ///
    /// Twisted: `HTTPConnectionPool.retryAutomatically` (with `_RetryingHTTP11ClientProtocol._shouldRetry`).
    public var retryAutomatically = true
    /// Whether `retryAutomatically` also sends again a request without a body whose method is
    /// not idempotent (POST, PATCH, …). Default false: the server may have acted on the first one
    /// before it closed the connection. Beyond Twisted, which never does.
    public var retryNonIdempotentRequests = false

    /// Whether https requests go through libcurl, which offers HTTP/2 by ALPN and multiplexes the
    /// requests to one server as streams of its connections when the server accepts it (HTTP/1.1
    /// over libcurl otherwise). Default false: https is HTTP/1.1 over the pool's own TLS
    /// connections, as http is over TCP (`TLSMemoryBIOProtocol`), through a proxy inside a CONNECT
    /// tunnel. Set it before the pool's first request.
    /// (Beyond Twisted, whose `Agent` speaks HTTP/1.1 only.)
    public var http2 = false

    private var multiHandle: CurlMulti?
    private var plainConnections: HTTP11Connections?

    /// Creates a pool for the agents of `reactor`; it closes its connections when the reactor shuts
    /// down.
    ///
    /// - Parameters:
    ///   - reactor: the reactor whose loop drives the connections.
    ///   - persistent: keep and reuse connections (the default here, as in Twisted's
    ///     `HTTPConnectionPool`).
    public init(_ reactor: any AgentReactor, persistent: Bool = true) {
        self.reactor = reactor
        self.persistent = persistent
        reactor.addSystemEventTrigger(.during, .shutdown) { [weak self] () -> Void in
            self?.multiHandle?.shutDown()
            self?.plainConnections?.shutDown()
        }
    }

    private var settings: PoolSettings {
        PoolSettings(persistent: persistent,
                     maxIdleConnections: max(1, maxPersistentConnections ?? maxPersistentPerHost * 16),
                     maxIdlePerHost: max(0, maxPersistentPerHost), idleTimeout: cachedConnectionTimeout,
                     maxConnectionsPerHost: maxConnectionsPerHost, maxConnections: maxConnections,
                     retryAutomatically: retryAutomatically, retryNonIdempotentRequests: retryNonIdempotentRequests)
    }

    /// The libcurl multi handle running this pool's https transfers, made on first use.
    var multi: CurlMulti {
        if let multiHandle { return multiHandle }
        let made = CurlMulti(reactor: reactor, settings: settings)
        multiHandle = made
        return made
    }

    /// The plain-HTTP/1.1 connections of this pool (http URIs), made on first use.
    var plain: HTTP11Connections {
        if let plainConnections { return plainConnections }
        let made = HTTP11Connections(reactor: reactor, settings: settings)
        plainConnections = made
        return made
    }

    /// Closes the idle connections (and stops any https transfer still running; plain-HTTP
    /// exchanges in progress go on).
    /// - Returns: a deferred that fires on the reactor's next pass.
    public func closeCachedConnections() -> Deferred<Void> {
        multiHandle?.shutDown()
        multiHandle = nil
        plainConnections?.closeIdle()
        let done = Deferred<Void>()
        reactor.callLater(0) { done.callback(()) }
        return done
    }

    /// The non-persistent pool shared by every `Agent(reactor)` made without a pool.
    static func shared(for reactor: any AgentReactor) -> HTTPConnectionPool {
        reactor.attachment(HTTPConnectionPool.self, orMake: { HTTPConnectionPool(reactor, persistent: false) })
    }
}
