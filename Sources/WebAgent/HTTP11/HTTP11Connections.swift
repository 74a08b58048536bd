import Deferreds
import Reactor

/// The plain-HTTP/1.1 connections of one `HTTPConnectionPool`: which exchange gets which
/// connection, which idle connections are kept, and the limits on connections in use.
///
/// - An exchange takes the most recently idle connection to its (host, port), skipping any idle
///   longer than `idleTimeout`, or else a new one is made for it.
/// - At most `maxConnectionsPerHost` connections per (host, port) and `maxConnections` in all are
///   in use (connecting or carrying an exchange); exchanges over a limit wait, first come first
///   served.
/// - A connection whose response is complete and reusable goes to the first waiting exchange for
///   its (host, port) — unless one for another server that only `maxConnections` holds back waits
///   before it — or is kept idle: at most `maxIdlePerHost` per (host, port) (the oldest
///   beyond that are closed) and `maxIdleConnections` in all. A sweep closes those idle too long.
/// - A non-persistent pool sends `Connection: close` and closes each connection after its response.
final class HTTP11Connections {
    /// A server, and the proxy its connections go through (`ProxyAgent`): connections through a
    /// proxy are counted and kept per server, as direct ones are.
    struct Key: Hashable {
        let host: String
        let port: Int
        var proxy: HTTPProxy? = nil
        /// https: connections over TLS trusting these authorities; nil for plain http.
        var tls: TLSContext.Trust? = nil

        /// The server's name and port only: keys that differ in the proxy or the trust alone are
        /// rare and still told apart by `==`, and hashing the CA file's path too cost ~1,800
        /// instructions a page over https (six lookups a request).
        func hash(into hasher: inout Hasher) {
            hasher.combine(host)
            hasher.combine(port)
        }
    }

    let reactor: any ReactorTime & ReactorTCP
    let settings: PoolSettings
    var persistent: Bool { settings.persistent }

    private var idle: [Key: [HTTP11Connection]] = [:]
    /// Connections kept idle now.
    private(set) var idleCount = 0
    private var inUse: [Key: Int] = [:]
    /// Connections in use now (connecting or carrying an exchange).
    private(set) var inUseCount = 0
    private var waiting: [HTTP11Exchange] = []
    private var waitingHead = 0
    /// Every open or opening connection, to close them at shutdown.
    private var all: [ObjectIdentifier: HTTP11Connection] = [:]
    private var sweep: DelayedCall?
    /// The TLS contexts of the https connections, one per trust (their session caches with them).
    private var tlsContexts: [TLSContext.Trust: TLSContext] = [:]
    /// Connections open or opening now.
    var openCount: Int { all.count }
    private var isShutDown = false

    init(reactor: any ReactorTime & ReactorTCP, settings: PoolSettings) {
        self.reactor = reactor
        self.settings = settings
    }

    deinit {
        sweep?.cancel()
        for connection in all.values { connection.close() }
    }

    // MARK: - Exchanges

    /// Finds `exchange` a connection: an idle one, a new one, or a place in the queue (at its
    /// head when `first`: an exchange sent again, which was already first).
    func start(_ exchange: HTTP11Exchange, first: Bool = false) {
        guard !isShutDown else {
            exchange.connectionFinished(Failure(ConnectionLost("the connection pool was shut down")))
            return
        }
        let key = exchange.poolKey
        guard mayUse(key) else {
            if first { waiting.insert(exchange, at: waitingHead) } else { waiting.append(exchange) }
            return
        }
        use(key, for: exchange)
    }

    /// The exchange ended before it had a connection: leave the queue, stop any connect for it.
    func forget(_ exchange: HTTP11Exchange) {
        for connection in all.values where connection.pendingExchange === exchange {
            connection.pendingExchange = nil
            connection.connecting?.cancel()
        }
        // A waiting exchange is skipped when the queue reaches it (it is no longer `isWaiting`).
    }

    private func mayUse(_ key: Key) -> Bool {
        if let limit = settings.maxConnections, inUseCount >= limit { return false }
        if let limit = settings.maxConnectionsPerHost, inUse[key, default: 0] >= limit { return false }
        return true
    }

    /// Counts a connection to `key` in use and gives `exchange` one.
    private func use(_ key: Key, for exchange: HTTP11Exchange) {
        inUse[key, default: 0] += 1
        inUseCount += 1
        if let connection = takeIdle(key) {
            connection.assign(exchange)
        } else {
            connect(key, for: exchange)
        }
    }

    private func takeIdle(_ key: Key) -> HTTP11Connection? {
        guard idleCount > 0 else { return nil }
        let now = reactor.seconds()
        while let connection = idle[key]?.popLast() {
            idleCount -= 1
            if now - connection.idleSince <= settings.idleTimeout { return connection }
            all[ObjectIdentifier(connection)] = nil
            connection.close()
        }
        return nil
    }

    private func connect(_ key: Key, for exchange: HTTP11Exchange) {
        let connection = HTTP11Connection(pool: self, key: key)
        all[ObjectIdentifier(connection)] = connection
        connection.pendingExchange = exchange
        let timeout = exchange.options.connectTimeout ?? HTTP11Connections.defaultConnectTimeout
        let attempt: Deferred<HTTP11Connection>
        if let trust = key.tls {
            do {
                attempt = connectTLS(reactor, host: key.host, port: key.port, connection, context: try tlsContext(trust),
                                     timeout: timeout, through: key.proxy)
            } catch {
                attempt = Deferred.fail(error)
            }
        } else {
            attempt = connectProtocol(reactor, host: key.proxy?.host ?? key.host, port: key.proxy?.port ?? key.port,
                                      connection, timeout: timeout)
        }
        connection.connecting = attempt
        // The pool stays alive until the attempt ends.
        _ = attempt.addCallbacks({ [self] (connection: HTTP11Connection) -> Void in
            connected(connection)
        }, { [self] (failure: Failure) -> Void in
            connectFailed(connection, failure)
        })
    }

    /// The context for `trust`, made on first use.
    /// - Throws: `TLSError` when its authorities cannot be loaded (tried again by the next connection).
    private func tlsContext(_ trust: TLSContext.Trust) throws(TLSError) -> TLSContext {
        if let context = tlsContexts[trust] { return context }
        let context = try TLSContext(caFile: trust.caFile)
        tlsContexts[trust] = context
        return context
    }

    /// How long a connect may take when the agent sets no `connectTimeout` (libcurl's default).
    static let defaultConnectTimeout = 300.0

    private func connected(_ connection: HTTP11Connection) {
        connection.connecting = nil
        let exchange = connection.pendingExchange
        connection.pendingExchange = nil
        if let exchange, exchange.isWaiting {
            connection.assign(exchange)
        } else {
            release(connection, reusable: persistent)
        }
    }

    private func connectFailed(_ connection: HTTP11Connection, _ failure: Failure) {
        var failure = failure
        // (connectTLS names a proxy it could not reach itself: a tunnel's failures are not that.)
        if let proxy = connection.key.proxy, connection.key.tls == nil,
            failure.check(CancelledError.self, ConnectingCancelledError.self) == nil {
            failure = Failure(ProxyConnectError(proxy: proxy.description, reason: failure))
        }
        connection.connecting = nil
        all[ObjectIdentifier(connection)] = nil
        unuse(connection.key)
        let exchange = connection.pendingExchange
        connection.pendingExchange = nil
        // The freed place goes to the waiting exchanges before the failed one's errbacks can make
        // new requests that would take it.
        serveWaiting()
        if let exchange, exchange.isWaiting {
            exchange.connectionFinished(failure)
        }
    }

    // MARK: - Connections

    /// `connection` finished its exchange: hand it to a waiting exchange, keep it idle, or close it.
    func release(_ connection: HTTP11Connection, reusable: Bool) {
        let key = connection.key
        guard reusable, !isShutDown, !connection.isClosed else {
            all[ObjectIdentifier(connection)] = nil
            connection.close()
            unuse(key)
            serveWaiting()
            return
        }
        // The first waiting exchange for this server takes it over directly, unless an exchange for
        // another server waits before it and could start once this connection is no longer in use
        // (it waits for `maxConnections` only): first come, first served.
        if waitingHead < waiting.count {
            for index in waitingHead..<waiting.count {
                let exchange = waiting[index]
                guard exchange.isWaiting else { continue }
                let waitingKey = exchange.poolKey
                if waitingKey == key {
                    removeWaiting(at: index)
                    connection.assign(exchange)
                    return
                }
                if settings.maxConnectionsPerHost.map({ inUse[waitingKey, default: 0] < $0 }) ?? true { break }
            }
        }
        unuse(key)
        connection.idleSince = reactor.seconds()
        var list = idle.removeValue(forKey: key) ?? []
        list.append(connection)
        idleCount += 1
        if list.count > max(0, settings.maxIdlePerHost) {
            let oldest = list.removeFirst()
            idleCount -= 1
            all[ObjectIdentifier(oldest)] = nil
            oldest.close()
        }
        idle[key] = list
        if idleCount > settings.maxIdleConnections { closeOldestIdle() }
        scheduleSweep()
        serveWaiting()
    }

    /// The connection closed (the server closed it, or we did).
    ///
    /// `retrying`: the exchange it carried, to be sent again on another connection. It goes before
    /// the waiting exchanges (it was sent before them), taking the place this connection frees.
    func closed(_ connection: HTTP11Connection, retrying retry: HTTP11Exchange? = nil) {
        var freedAPlace = false
        if all.removeValue(forKey: ObjectIdentifier(connection)) != nil {
            if var list = idle[connection.key], let index = list.firstIndex(where: { $0 === connection }) {
                list.remove(at: index)
                idle[connection.key] = list.isEmpty ? nil : list
                idleCount -= 1
            } else {
                unuse(connection.key)
                freedAPlace = true
            }
        }
        if let retry { start(retry, first: true) }
        if freedAPlace { serveWaiting() }
    }

    /// Whether `request`, lost with its kept connection before any byte of its response came
    /// back, may be sent again on a fresh connection (`PoolSettings.mayResend`).
    func shouldRetry(_ request: Request) -> Bool { settings.mayResend(request) }

    private func unuse(_ key: Key) {
        inUseCount -= 1
        if let count = inUse[key], count > 1 { inUse[key] = count - 1 } else { inUse[key] = nil }
    }

    private func removeWaiting(at index: Int) {
        waiting.remove(at: index)
        if waitingHead == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            waitingHead = 0
        }
    }

    /// Starts the waiting exchanges that the limits now allow, in order.
    private func serveWaiting() {
        var index = waitingHead
        while index < waiting.count {
            let exchange = waiting[index]
            if !exchange.isWaiting {
                if index == waitingHead { waitingHead += 1 }
                index += 1
                continue
            }
            let key = exchange.poolKey
            if mayUse(key) {
                if index == waitingHead {
                    waitingHead += 1
                } else {
                    waiting.remove(at: index)
                }
                use(key, for: exchange)
                // `use` may have changed the queue (a synchronous failure): start over from the head.
                index = waitingHead
                continue
            }
            if settings.maxConnections.map({ inUseCount >= $0 }) ?? false { break }
            index += 1
        }
        if waitingHead == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            waitingHead = 0
        } else if waitingHead > 64 && waitingHead * 2 > waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
    }

    // MARK: - Idle connections

    private func closeOldestIdle() {
        var oldest: (Key, Int, Double)?
        for (key, list) in idle {
            for (index, connection) in list.enumerated() where oldest == nil || connection.idleSince < oldest!.2 {
                oldest = (key, index, connection.idleSince)
            }
        }
        guard let (key, index, _) = oldest, var list = idle[key] else { return }
        let connection = list.remove(at: index)
        idle[key] = list.isEmpty ? nil : list
        idleCount -= 1
        all[ObjectIdentifier(connection)] = nil
        connection.close()
    }

    /// Arms the sweep, when idle connections exist and it is not armed: when it is first armed,
    /// the connection just made idle is the only one, so it fires as that one expires; afterwards
    /// it is re-armed for the oldest remaining one.
    private func scheduleSweep(after delay: Double? = nil) {
        guard sweep == nil, idleCount > 0 else { return }
        sweep = reactor.callLater(max(0.001, delay ?? settings.idleTimeout)) { [weak self] in
            guard let self else { return }
            sweep = nil
            closeExpired()
            let oldest = idle.values.joined().map(\.idleSince).min()
            if let oldest { scheduleSweep(after: oldest + settings.idleTimeout - reactor.seconds()) }
        }
    }

    private func closeExpired() {
        let now = reactor.seconds()
        for (key, list) in idle {
            let (expired, kept) = (list.filter { now - $0.idleSince >= settings.idleTimeout },
                                   list.filter { now - $0.idleSince < settings.idleTimeout })
            guard !expired.isEmpty else { continue }
            idle[key] = kept.isEmpty ? nil : kept
            idleCount -= expired.count
            for connection in expired {
                all[ObjectIdentifier(connection)] = nil
                connection.close()
            }
        }
    }

    /// Closes the idle connections; exchanges in progress go on.
    func closeIdle() {
        let lists = idle
        idle = [:]
        idleCount = 0
        for connection in lists.values.joined() {
            all[ObjectIdentifier(connection)] = nil
            connection.close()
        }
        sweep?.cancel()
        sweep = nil
    }

    /// The reactor is shutting down: every connection is closed and no exchange hears of it.
    func shutDown() {
        isShutDown = true
        sweep?.cancel()
        sweep = nil
        let connections = all.values
        all = [:]
        idle = [:]
        idleCount = 0
        waiting = []
        waitingHead = 0
        for connection in connections {
            connection.exchange?.detach()
            connection.pendingExchange?.detach()
            connection.pendingExchange = nil
            connection.connecting?.cancel()
            connection.abort()
        }
    }
}
