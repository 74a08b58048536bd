import Deferreds

/// Turns host names into addresses, asynchronously, on the reactor's thread.
///
/// `resolveHostName(_:)` returns a deferred that fires once with the name's addresses (a
/// `HostResolution`, never empty) or fails with `DNSLookupError`, whose `reason` says why
/// (NXDOMAIN, a timeout, a refusal…). It may fire before it returns (an answer already known).
/// Cancelling it stops the caller waiting; whether the lookup itself stops is the resolver's
/// business (one shared with other callers goes on).
///
/// A reactor's `nameResolver` is what `connectTCP` uses: by default a `CachingResolver` over an
/// `AresResolver` (c-ares, driven by the reactor), or over a `ThreadedResolver` (getaddrinfo on
/// worker threads) where c-ares cannot start.
///
/// Twisted: `twisted.internet.interfaces.IHostnameResolver` (`resolveHostName`, with the
/// resolution receiver's calls gathered into one result).
public protocol NameResolver: AnyObject {
    /// Looks `name` up. The deferred fires on the reactor's thread with the name's addresses (a
    /// numeric address is its own answer, at once), or fails with `DNSLookupError`, whose
    /// `reason` says why; cancelling it gives up this caller's wait.
    ///
    /// Twisted: `IHostnameResolver.resolveHostName`.
    func resolveHostName(_ name: String) -> Deferred<HostResolution>
}

/// The addresses a name resolved to, and how long they may be reused.
///
/// Twisted: what an `IResolutionReceiver` is given between `resolutionBegan` and
/// `resolutionComplete`.
public struct HostResolution: Sendable, Equatable {
    /// The name looked up.
    public let name: String
    /// Its addresses (port 0), IPv6 and IPv4, without duplicates, in the resolver's order.
    public let addresses: [Address]
    /// Seconds the answer may be reused (the smallest record TTL; 0: not at all).
    public let ttl: Double

    /// The answer for `name`: its `addresses`, reusable for `ttl` seconds.
    public init(name: String, addresses: [Address], ttl: Double) {
        self.name = name
        self.addresses = addresses
        self.ttl = ttl
    }
}

extension DNSLookupError {
    /// The `DNSLookupError` a resolver failed with, or one of reason `.other` carrying another
    /// failure's message (a resolver is only expected to fail with `DNSLookupError`).
    init(_ host: String, _ failure: Failure) {
        self = failure.value as? DNSLookupError
            ?? DNSLookupError(host: host, reason: .other, message: failure.getErrorMessage())
    }
}
