import Glibc

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
    /// the resolv.conf file's `options timeout:` (or `RES_OPTIONS`'s), else 5.
    public var timeout: Double?
    /// How many times each server is asked. nil: `options attempts:` (or `RES_OPTIONS`'s), else 2,
    /// as the C library does.
    public var tries: Int?
    /// The resolv.conf file to read. nil: /etc/resolv.conf (or what `LOCALDOMAIN` and
    /// `RES_OPTIONS` add, as c-ares reads them).
    public var resolvConfPath: String?

    /// The system's configuration: every field nil or at its default.
    public init() {}

    /// The timeout and tries to give c-ares: those set here, else the resolv.conf file's
    /// `options timeout:` and `attempts:` (then `RES_OPTIONS`'s, which win, as in the C library),
    /// else the C library's defaults (5 s, 2). c-ares 1.18 itself reads only `retrans:` and
    /// `retry:` there, so without this it would wait 5 s per try and try 4 times whatever the
    /// file says.
    func effectiveTimeoutAndTries() -> (timeout: Double, tries: Int) {
        var timeout = 5.0
        var tries = 2
        let apply = { (words: [Substring]) in
            for word in words {
                if word.hasPrefix("timeout:"), let value = Int(word.dropFirst(8)), value >= 1 {
                    timeout = Double(min(value, 30))
                } else if word.hasPrefix("attempts:"), let value = Int(word.dropFirst(9)), value >= 1 {
                    tries = min(value, 5)
                }
            }
        }
        if let file = fopen(resolvConfPath ?? "/etc/resolv.conf", "r") {
            defer { fclose(file) }
            var line: UnsafeMutablePointer<CChar>?
            var capacity = 0
            defer { free(line) }
            while getline(&line, &capacity, file) > 0, let line {
                let words = String(cString: line).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
                if words.first == "options" { apply(Array(words.dropFirst())) }
            }
        }
        if let options = getenv("RES_OPTIONS") {
            apply(String(cString: options).split(separator: " "))
        }
        return (self.timeout ?? timeout, self.tries ?? tries)
    }
}
