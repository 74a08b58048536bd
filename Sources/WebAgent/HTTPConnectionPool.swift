import Deferreds
import Reactor

/// How an agent's connections are kept: persistent or not, how many, for how long.
///
/// Non-persistent (Twisted's default for `Agent`): each request has its own connection and sends
/// `Connection: close`. Persistent: idle connections are kept and reused for the same (scheme, host,
/// port); at most `maxPersistentPerHost` idle ones to each server address and port (the oldest
/// beyond that are closed when a request finishes), at most `maxPersistentPerHost` × 16 in all
/// (libcurl's connection cache), each for `cachedConnectionTimeout` seconds.
///
/// Beyond Twisted (twisted#7614): `maxConnectionsPerHost` and `maxConnections` limit the
/// connections *in use*; requests over the limit wait, first come first served, for a connection.
///
/// Settings are read when the pool first sends a request; change them before that.
///
/// Twisted: `twisted.web.client.HTTPConnectionPool`.
public final class HTTPConnectionPool {
    let reactor: EPollReactor
    public let persistent: Bool
    /// Idle connections kept per server (address and port). Default 2.
    public var maxPersistentPerHost = 2
    /// Seconds an idle connection is kept. Default 240. (libcurl counts idle time in whole seconds,
    /// so a connection may be reused for up to one second longer.)
    public var cachedConnectionTimeout: Double = 240
    /// Connections in use per host; nil for no limit.
    public var maxConnectionsPerHost: Int?
    /// Connections in use in all; nil for no limit.
    public var maxConnections: Int?

    private var multiHandle: CurlMulti?

    public init(_ reactor: EPollReactor, persistent: Bool = true) {
        self.reactor = reactor
        self.persistent = persistent
        reactor.addSystemEventTrigger(.during, .shutdown) { [weak self] in self?.multiHandle?.shutDown() }
    }

    /// The libcurl multi handle running this pool's transfers, made on first use.
    var multi: CurlMulti {
        if let multiHandle { return multiHandle }
        let made = CurlMulti(reactor: reactor, settings: CurlMultiSettings(
            persistent: persistent, maxIdleConnections: max(1, maxPersistentPerHost * 16),
            maxIdlePerHost: max(0, maxPersistentPerHost),
            idleTimeout: cachedConnectionTimeout, maxConnectionsPerHost: maxConnectionsPerHost,
            maxConnections: maxConnections))
        multiHandle = made
        return made
    }

    /// Closes the idle connections (and stops any transfer still running).
    /// - Returns: a deferred that fires on the reactor's next pass.
    public func closeCachedConnections() -> Deferred<Void> {
        multiHandle?.shutDown()
        multiHandle = nil
        let done = Deferred<Void>()
        reactor.callLater(0) { done.callback(()) }
        return done
    }

    /// The non-persistent pool shared by every `Agent(reactor)` made without a pool.
    static func shared(for reactor: EPollReactor) -> HTTPConnectionPool {
        reactor.attachment(HTTPConnectionPool.self, orMake: { HTTPConnectionPool(reactor, persistent: false) })
    }
}
