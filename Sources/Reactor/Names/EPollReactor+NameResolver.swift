import Glibc

extension EPollReactor: ReactorPluggableNameResolver {
    /// The resolver `connectTCP` looks names up with; settable (before connecting) to swap it.
    ///
    /// Made on first use: a `CachingResolver` on this reactor's clock over an `AresResolver`
    /// configured as the system is (/etc/resolv.conf, /etc/hosts), or over a `ThreadedResolver`
    /// where c-ares cannot start. The environment variable `SWIFT_DEFERREDS_DNS_SERVERS` (a
    /// comma-separated list such as "127.0.0.1:5353") replaces resolv.conf's servers, and
    /// `SWIFT_DEFERREDS_RESOLVER=threaded` chooses getaddrinfo.
    ///
    /// Twisted: `IReactorPluggableNameResolver.nameResolver` (and `installNameResolver`).
    public var nameResolver: any NameResolver {
        get {
            let slot = attachment(NameResolverSlot.self) { NameResolverSlot() }
            if let resolver = slot.resolver { return resolver }
            let made = CachingResolver(resolver: defaultUncachedResolver(), clock: self)
            slot.resolver = made
            return made
        }
        set {
            attachment(NameResolverSlot.self) { NameResolverSlot() }.resolver = newValue
        }
    }

    private func defaultUncachedResolver() -> any NameResolver {
        let environment = NameResolverEnvironment.current
        if environment.threaded { return ThreadedResolver(reactor: self) }
        var configuration = ResolverConfiguration()
        configuration.servers = environment.servers
        return (try? AresResolver(reactor: self, configuration: configuration)) ?? ThreadedResolver(reactor: self)
    }
}

/// The reactor attachment holding its `nameResolver`.
private final class NameResolverSlot {
    var resolver: (any NameResolver)?
}

/// What the environment says about name resolution (read once per process).
private struct NameResolverEnvironment: Sendable {
    var servers: [String]?
    var threaded = false

    static let current: NameResolverEnvironment = {
        var environment = NameResolverEnvironment()
        if let value = getenv("SWIFT_DEFERREDS_DNS_SERVERS").map({ String(cString: $0) }), !value.isEmpty {
            environment.servers = value.split(separator: ",").map { String($0) }
        }
        if let value = getenv("SWIFT_DEFERREDS_RESOLVER").map({ String(cString: $0) }) {
            environment.threaded = value == "threaded"
        }
        return environment
    }()
}
