import Deferreds

/// Puts a cache in front of another resolver: concurrent lookups of one name share one lookup,
/// and answers are reused for their TTL.
///
/// - A name asked for while its lookup is in flight waits for that lookup: a hundred connections
///   to one host make one query (of each record type).
/// - An answer is reused until `clock` passes its TTL (capped at `maximumTTL`); a failure that
///   says the name has no address (`.nameNotFound`, `.noAddresses`) for `negativeTTL` seconds.
///   Other failures (a timeout, a refusal, a server failure) are not kept: the next lookup asks
///   again.
/// - At most `capacity` names are kept; beyond that the least recently used answers go first.
///
/// Each caller gets its own deferred; cancelling it stops only that caller waiting (the lookup
/// goes on and its answer is kept). An answer already known fires the deferred before
/// `resolveHostName` returns.
///
/// Twisted: `twisted.names.cache.CacheResolver` (with the coalescing of concurrent queries that
/// Twisted's `twisted.names.client.Resolver` does for identical queries).
public final class CachingResolver: NameResolver {
    /// The resolver asked on a miss.
    public let resolver: any NameResolver
    private let clock: any ReactorTime
    /// The most names kept.
    public let capacity: Int
    /// Seconds a "no such name" or "no address" answer is kept.
    public let negativeTTL: Double
    /// The longest an answer is kept, whatever its TTL.
    public let maximumTTL: Double
    private var entries: [String: Entry] = [:]
    /// A counter stamped on an entry each time it is used (for least-recently-used eviction).
    private var useCount: UInt64 = 0

    private enum State {
        /// The lookup is in flight; these callers wait for it.
        case pending([Deferred<HostResolution>])
        case answered(HostResolution, expires: Double)
        case failed(DNSLookupError, expires: Double)
    }

    private struct Entry {
        var state: State
        var lastUse: UInt64
    }

    /// A cache, empty, in front of `resolver`.
    ///
    /// - Parameters:
    ///   - resolver: the resolver asked about names the cache does not hold.
    ///   - clock: the time TTLs are counted on (the reactor, or a test's `Clock`).
    ///   - capacity: the most names kept (at least 1).
    ///   - negativeTTL: seconds a "no such name" or "no address" answer is kept.
    ///   - maximumTTL: the longest an answer is kept, whatever its TTL.
    public init(resolver: any NameResolver, clock: any ReactorTime, capacity: Int = 10_000,
                negativeTTL: Double = 5, maximumTTL: Double = 3600)
    {
        self.resolver = resolver
        self.clock = clock
        self.capacity = max(1, capacity)
        self.negativeTTL = negativeTTL
        self.maximumTTL = maximumTTL
    }

    /// The number of names kept (answered, failed or pending).
    public var count: Int { entries.count }

    /// The cached answer while its TTL lasts; else joins the lookup of `name` in flight, or
    /// starts one with `resolver` (see the type's description). Twisted:
    /// `IHostnameResolver.resolveHostName`.
    public func resolveHostName(_ name: String) -> Deferred<HostResolution> {
        useCount &+= 1
        if var entry = entries[name] {
            entry.lastUse = useCount
            switch entry.state {
            case .answered(let resolution, let expires) where clock.seconds() < expires:
                entries[name] = entry
                return .succeed(resolution)
            case .failed(let error, let expires) where clock.seconds() < expires:
                entries[name] = entry
                return .fail(error)
            case .pending(var waiting):
                let caller = waiter(for: name)
                waiting.append(caller)
                entry.state = .pending(waiting)
                entries[name] = entry
                return caller
            case .answered, .failed:
                break  // expired: look it up again
            }
        }
        let caller = waiter(for: name)
        entries[name] = Entry(state: .pending([caller]), lastUse: useCount)
        evictIfFull()
        let lookup = resolver.resolveHostName(name)
        _ = lookup.addBoth { [weak self] outcome in
            self?.finished(name, outcome.mapError { DNSLookupError(name, $0) })
        }
        return caller
    }

    /// Forgets every answer kept (lookups in flight go on).
    public func clear() {
        entries = entries.filter { if case .pending = $0.value.state { true } else { false } }
    }

    /// A deferred for one caller; cancelling it takes the caller off the waiting list.
    private func waiter(for name: String) -> Deferred<HostResolution> {
        Deferred<HostResolution> { [weak self] cancelled in
            guard let self, var entry = entries[name], case .pending(var waiting) = entry.state else { return }
            waiting.removeAll { $0 === cancelled }
            entry.state = .pending(waiting)
            entries[name] = entry
        }
    }

    private func finished(_ name: String, _ outcome: Result<HostResolution, DNSLookupError>) {
        var waiting: [Deferred<HostResolution>] = []
        if let entry = entries[name], case .pending(let callers) = entry.state { waiting = callers }
        let now = clock.seconds()
        switch outcome {
        case .success(let resolution):
            let ttl = min(resolution.ttl, maximumTTL)
            if ttl > 0 {
                entries[name]?.state = .answered(resolution, expires: now + ttl)
            } else {
                entries[name] = nil
            }
            for caller in waiting where !caller.called { caller.callback(resolution) }
        case .failure(let error):
            if negativeTTL > 0 && (error.reason == .nameNotFound || error.reason == .noAddresses) {
                entries[name]?.state = .failed(error, expires: now + negativeTTL)
            } else {
                entries[name] = nil
            }
            for caller in waiting where !caller.called { caller.errback(Failure(error)) }
        }
    }

    /// Keeps at most `capacity` names: drops expired answers, then the least recently used eighth.
    private func evictIfFull() {
        guard entries.count > capacity else { return }
        let now = clock.seconds()
        entries = entries.filter { _, entry in
            switch entry.state {
            case .pending: true
            case .answered(_, let expires), .failed(_, let expires): now < expires
            }
        }
        guard entries.count > capacity else { return }
        let excess = entries.count - capacity + capacity / 8
        let oldest = entries.filter { if case .pending = $0.value.state { false } else { true } }
            .sorted { $0.value.lastUse < $1.value.lastUse }.prefix(excess)
        for (name, _) in oldest { entries[name] = nil }
    }
}
