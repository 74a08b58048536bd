import Deferreds
import Dispatch
import CLinux
import Glibc

/// Resolves names with the C library's `getaddrinfo`, one blocking call per lookup on Dispatch's
/// global queue; the answer comes back to the reactor's thread through `callFromThread`.
///
/// The fallback where c-ares cannot start: it reads the system's configuration exactly as every
/// other program does (nsswitch.conf included), but costs a thread per lookup in flight, cannot
/// be given servers, and knows no TTL (answers carry `ttl` 0: a `CachingResolver` over it
/// coalesces concurrent lookups but keeps nothing).
///
/// The worker carries no reference to the waiting deferred (or to what its callbacks hold): the
/// reactor keeps it meanwhile, so that it is released on the reactor's thread whatever happens
/// first, the answer or the reactor's `close()`.
///
/// Twisted: `twisted.internet._resolver.GAIResolver`.
public final class ThreadedResolver: NameResolver {
    private unowned let reactor: any ReactorThreads & ReactorAttachments

    /// A resolver whose answers come back to `reactor`'s thread (through `callFromThread`); the
    /// deferreds waiting for them are kept by the reactor (an attachment).
    public init(reactor: any ReactorThreads & ReactorAttachments) {
        self.reactor = reactor
    }

    /// Looks `name` up with getaddrinfo on a worker thread; a numeric address is answered at once.
    ///
    /// - Returns: a deferred that fires on the reactor's thread with the addresses (`ttl` 0), or
    ///   fails with `DNSLookupError`.
    public func resolveHostName(_ name: String) -> Deferred<HostResolution> {
        if let numeric = Address(numericHost: name) {
            return .succeed(HostResolution(name: name, addresses: [numeric], ttl: 0))
        }
        let result = Deferred<HostResolution>()
        let id = reactor.attachment(PendingLookups.self) { PendingLookups() }.add(result)
        let handle = ReactorHandle(reactor)
        DispatchQueue.global().async {
            let answer = ThreadedResolver.lookUp(name)
            // A reactor released meanwhile took the waiting deferred with it: nothing to answer.
            handle.reactor?.callFromThread {
                // Run by the reactor's own loop (a closed reactor drops it), so the reactor is alive.
                guard let waiting = handle.reactor?.attachment(PendingLookups.self, orMake: { PendingLookups() })
                    .take(id), !waiting.called
                else { return }
                switch answer {
                case .success(let resolution): waiting.callback(resolution)
                case .failure(let error): waiting.errback(Failure(error))
                }
            }
        }
        return result
    }

    /// getaddrinfo, on a worker thread.
    private static func lookUp(_ name: String) -> Result<HostResolution, DNSLookupError> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, nil, &hints, &list)
        guard status == 0, let first = list else {
            let reason: DNSLookupError.Reason =
                switch status {
                case EAI_NONAME: .nameNotFound
                case EAI_AGAIN: .timeout
                case EAI_FAIL: .serverFailure
                default: .other
                }
            return .failure(DNSLookupError(host: name, reason: reason, message: String(cString: gai_strerror(status))))
        }
        defer { freeaddrinfo(list) }
        var addresses: [Address] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let current = node {
            if let address = current.pointee.ai_addr, let parsed = Address(sockaddr: address),
                !addresses.contains(parsed)
            {
                addresses.append(parsed)
            }
            node = current.pointee.ai_next
        }
        return addresses.isEmpty
            ? .failure(DNSLookupError(host: name, reason: .noAddresses, message: "no addresses"))
            : .success(HostResolution(name: name, addresses: addresses, ttl: 0))
    }
}

/// The reactor, carried weakly to the worker thread (weak references are safe to load from any
/// thread): there only its `callFromThread` (the thread-safe entry) is called; the rest runs in
/// the function it queues, on the reactor's thread.
private final class ReactorHandle: @unchecked Sendable {
    weak var reactor: (any ReactorThreads & ReactorAttachments)?

    init(_ reactor: any ReactorThreads & ReactorAttachments) {
        self.reactor = reactor
    }
}

/// The deferreds of a reactor waiting for a threaded lookup, by lookup number (a reactor
/// attachment, released by its `close()`).
private final class PendingLookups {
    private var waiting: [Int: Deferred<HostResolution>] = [:]
    private var lastID = 0

    func add(_ deferred: Deferred<HostResolution>) -> Int {
        lastID += 1
        waiting[lastID] = deferred
        return lastID
    }

    func take(_ id: Int) -> Deferred<HostResolution>? {
        waiting.removeValue(forKey: id)
    }
}
