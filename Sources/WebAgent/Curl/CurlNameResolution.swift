import CCurl
import Deferreds
import Reactor

extension CurlTransfer {
    /// Looks the host of an https URI up with `resolver` (the reactor's `nameResolver`) before
    /// libcurl starts, so that both schemes share one resolver (one lookup per name per TTL, its
    /// cache, its errors), and calls `done` with the answer or the failure (`DNSLookupError`;
    /// `TimeoutError` when `timeout` seconds pass first on `clock`). `done` may run before this
    /// returns (an answer already known).
    ///
    /// - Returns: the lookup, to cancel (`done` then hears `CancelledError`).
    static func lookUp(_ uri: URI, resolver: any NameResolver, clock: any ReactorTime, timeout: Double?,
                       done: @escaping (Result<HostResolution, Failure>) -> Void) -> Deferred<HostResolution>
    {
        let lookup = resolver.resolveHostName(uri.host)
        var finished = false
        var timer: DelayedCall?
        let finish = { (outcome: Result<HostResolution, Failure>) in
            guard !finished else { return }
            finished = true
            timer?.cancel()
            timer = nil
            done(outcome)
        }
        if let timeout, !lookup.called {
            timer = clock.callLater(timeout) {
                timer = nil
                finish(.failure(Failure(TimeoutError(seconds: timeout))))
                lookup.cancel()
            }
        }
        _ = lookup.addBoth { finish($0) }
        return lookup
    }

    /// Gives libcurl the addresses our resolver found for the URI's host (CURLOPT_RESOLVE, entries
    /// that expire like libcurl's own), unless the host is a numeric address.
    func resolveWithOurAnswer(_ handle: UnsafeMutableRawPointer) {
        guard let resolution, resolution.addresses.map(\.host) != [uri.host] else { return }
        let addresses = resolution.addresses.map { $0.family == .ipv6 ? "[\($0.host)]" : $0.host }
        if let resolveList { ccurl_slist_free_all(resolveList) }
        resolveList = ccurl_slist_append(nil, "+\(uri.host):\(uri.port):\(addresses.joined(separator: ","))")
        ccurl_easy_setopt_slist(handle, CURLOPT_RESOLVE, resolveList)
    }
}
