/// How an `AresResolver` finds names: by default exactly as the system does (the servers, search
/// domains and `options` of /etc/resolv.conf, then /etc/hosts first), with any part overridden.
///
/// ```swift
/// // A resolver for tests: one server on a port of our own, no search list, no hosts file.
/// var configuration = ResolverConfiguration()
/// configuration.servers = ["127.0.0.1:\(port)"]
/// configuration.searchDomains = []
/// configuration.useHostsFile = false
/// let resolver = try AresResolver(reactor: reactor, configuration: configuration)
/// ```
///
/// Twisted: the arguments of `twisted.names.client.createResolver` (`servers`, `resolvconf`,
/// `hosts`).
public struct ResolverConfiguration: Sendable, Equatable {
    /// The servers to ask, in order: "192.0.2.1", "192.0.2.1:5353", "[2001:db8::1]:53". nil: the
    /// `nameserver` lines of the resolv.conf file.
    public var servers: [String]?
    /// The search list tried for names with fewer dots than `ndots`. nil: the resolv.conf file's
    /// `search` or `domain`; [] for none.
    public var searchDomains: [String]?
    /// Whether the hosts file (/etc/hosts) answers before DNS (as `hosts: files dns`).
    public var useHostsFile = true
    /// Seconds to wait for an answer on the first try (c-ares waits longer on later ones). nil:
    /// the resolv.conf file's `options timeout:`, else 5.
    public var timeout: Double?
    /// How many times each server is asked. nil: `options attempts:`, else 4.
    public var tries: Int?
    /// The resolv.conf file to read. nil: /etc/resolv.conf (or what `LOCALDOMAIN` and
    /// `RES_OPTIONS` add, as c-ares reads them).
    public var resolvConfPath: String?

    public init() {}
}
