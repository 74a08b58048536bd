import Deferreds
import Glibc
import TestSupport

@testable import Reactor

/// An `AresResolver` that asks only `server`: no resolv.conf (its servers, search list or
/// options), no hosts file.
func testResolver(_ reactor: EPollReactor, _ server: TestDNSServer, timeout: Double? = nil, tries: Int = 1,
                  configure: (inout ResolverConfiguration) -> Void = { _ in }) throws -> AresResolver
{
    var configuration = ResolverConfiguration()
    configuration.servers = [server.address]
    configuration.searchDomains = []
    configuration.useHostsFile = false
    configuration.resolvConfPath = "/dev/null"
    configuration.timeout = timeout
    configuration.tries = tries
    configure(&configuration)
    return try AresResolver(reactor: reactor, configuration: configuration)
}

/// The DNSLookupError a lookup failed with.
func lookupError(_ outcome: Result<HostResolution, Failure>?) -> DNSLookupError? {
    guard case .failure(let failure) = outcome else { return nil }
    return failure.value as? DNSLookupError
}

/// The addresses a lookup answered with, as text.
func hosts(_ outcome: Result<HostResolution, Failure>?) -> [String]? {
    guard case .success(let resolution) = outcome else { return nil }
    return resolution.addresses.map(\.host)
}

/// A resolver that answers what a test says when it says so, counting the lookups.
final class ScriptedResolver: NameResolver {
    var lookups: [String] = []
    var pending: [(name: String, deferred: Deferred<HostResolution>)] = []

    func resolveHostName(_ name: String) -> Deferred<HostResolution> {
        lookups.append(name)
        let d = Deferred<HostResolution>()
        pending.append((name, d))
        return d
    }

    /// Fires the oldest pending lookup of `name` with `addresses` (numeric hosts).
    func answer(_ name: String, _ addresses: [String], ttl: Double = 60) {
        guard let index = pending.firstIndex(where: { $0.name == name }) else { return }
        let d = pending.remove(at: index).deferred
        d.callback(HostResolution(name: name, addresses: addresses.compactMap { Address(numericHost: $0) }, ttl: ttl))
    }

    func fail(_ name: String, _ reason: DNSLookupError.Reason) {
        guard let index = pending.firstIndex(where: { $0.name == name }) else { return }
        pending.remove(at: index).deferred.errback(Failure(DNSLookupError(host: name, reason: reason, message: "\(reason)")))
    }
}
