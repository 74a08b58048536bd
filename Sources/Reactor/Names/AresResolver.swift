import CAres
import Deferreds
import CLinux
import Glibc

/// Resolves names with c-ares, driven by the reactor: no thread per lookup, as many lookups in
/// flight as there are callers.
///
/// Lookups are spread over c-ares channels, each with its own UDP socket, opened as needed (one
/// per `lookupsPerChannel` lookups in flight, at most `maximumChannels`).
///
/// Each `resolveHostName(_:)` asks for the name's A and AAAA records at once (after the hosts
/// file, and through the search list, as the configuration says) and fires its deferred when both
/// are answered: with every address (IPv6 first, then IPv4) and the smallest TTL, or with
/// `DNSLookupError` — `.nameNotFound` (NXDOMAIN), `.noAddresses` (neither record), `.timeout`,
/// `.refused`, `.serverFailure`, `.unreachable`. With one server (the usual local resolver) its
/// SERVFAIL and REFUSED are final; with several, c-ares (1.18) asks the next one instead, and a
/// lookup that every server refused or failed ends as `.unreachable`. A numeric address answers at once. Concurrent
/// lookups of one name are separate queries and nothing is remembered: put a `CachingResolver`
/// in front (the reactor's default `nameResolver` does).
///
/// c-ares's sockets are watched by the reactor like any other descriptor, and its retry
/// deadlines are `callLater` calls on the reactor. Closing the reactor (or releasing the
/// resolver) drops the lookups in flight without firing their deferreds.
///
/// Twisted: `twisted.names.client.Resolver` (the asynchronous DNS client), behind the
/// `IHostnameResolver` face.
public final class AresResolver: NameResolver {
    private unowned let reactor: any ReactorTime & ReactorFDSet
    private let configuration: ResolverConfiguration
    /// Whether SERVFAIL and REFUSED are final (one server: see `AresDriver`).
    private let noCheckResponse: Bool
    private var drivers: [AresDriver]
    /// Lookups one channel takes before another is opened beside it: one UDP socket's receive
    /// buffer (208 KiB by default on Linux) holds about 200 answers, and answers beyond that are
    /// dropped by the kernel (the lookup then waits for c-ares's retry, seconds later).
    static let lookupsPerChannel = 32
    static let maximumChannels = 16
    /// Lookups in flight at most; the others wait their turn, first come first served. A burst of
    /// hundreds of queries at once loses some on the way (to a local resolver's or our own
    /// socket buffers), and a lost query costs the lookup c-ares's retry timeout (seconds).
    static let maximumInFlight = 96
    private var inFlight = 0
    private var queued: [(name: String, result: Deferred<HostResolution>)] = []
    private var queuedHead = 0
    private var startingQueued = false

    /// Starts a c-ares channel on `reactor`.
    ///
    /// - Throws: `DNSLookupError` (host "") when c-ares cannot start or refuses a server address.
    public init(reactor: any ReactorTime & ReactorFDSet,
                configuration: ResolverConfiguration = ResolverConfiguration()) throws
    {
        self.reactor = reactor
        self.configuration = configuration
        let first = try AresDriver(reactor: reactor, configuration: configuration, noCheckResponse: nil)
        noCheckResponse = first.noCheckResponse
        drivers = [first]
    }

    /// Asks for `name`'s A and AAAA records (see the type's description). Twisted:
    /// `IHostnameResolver.resolveHostName`.
    public func resolveHostName(_ name: String) -> Deferred<HostResolution> {
        if let numeric = Address(numericHost: name) {
            return .succeed(HostResolution(name: name, addresses: [numeric], ttl: 0))
        }
        let result = Deferred<HostResolution>()
        queued.append((name, result))
        startQueued()
        return result
    }

    /// Starts queued lookups while fewer than `maximumInFlight` are in flight.
    private func startQueued() {
        // A lookup answered at once (the hosts file) calls back in here: the loop below goes on.
        guard !startingQueued else { return }
        startingQueued = true
        defer { startingQueued = false }
        while inFlight < AresResolver.maximumInFlight, queuedHead < queued.count {
            let (name, result) = queued[queuedHead]
            queuedHead += 1
            if queuedHead > 1024 && queuedHead * 2 > queued.count {
                queued.removeFirst(queuedHead)
                queuedHead = 0
            }
            guard !result.called else { continue }  // cancelled while queued
            inFlight += 1
            driverWithRoom().lookUp(name) { [weak self] outcome in
                if let self {
                    inFlight -= 1
                    startQueued()
                }
                guard !result.called else { return }  // cancelled meanwhile
                switch outcome {
                case .success(let resolution): result.callback(resolution)
                case .failure(let error): result.errback(Failure(error))
                }
            }
        }
    }

    /// The least busy channel, or a new one when every channel has `lookupsPerChannel` lookups.
    private func driverWithRoom() -> AresDriver {
        var best = drivers[0]
        for driver in drivers.dropFirst() where driver.inFlight < best.inFlight { best = driver }
        if best.inFlight >= AresResolver.lookupsPerChannel && drivers.count < AresResolver.maximumChannels,
            let added = try? AresDriver(reactor: reactor, configuration: configuration, noCheckResponse: noCheckResponse)
        {
            drivers.append(added)
            return added
        }
        return best
    }

    /// The number of sockets c-ares has open (and the reactor watches), for tests.
    var openSocketCount: Int { drivers.reduce(0) { $0 + $1.socketCount } }

    /// The lookups in flight (at most `maximumInFlight`) and those waiting, for tests.
    var lookupsInFlight: Int { inFlight }
    var lookupsQueued: Int { queued.count - queuedHead }

    /// The number of c-ares channels open, for tests.
    var channelCount: Int { drivers.count }
}

/// The c-ares channel and what ties it to the reactor: its sockets and its timer.
///
/// c-ares calls back into its socket table (socket state) with an unretained pointer, and into
/// each query's box with a retained one; `deinit` destroys the channel, which tells every pending
/// query `CARES_EDESTRUCTION` (dropped: nothing fires while the reactor closes) and closes the
/// sockets. The reactor is held weakly so that a reactor released without `close()` can release it.
final class AresDriver {
    private weak var reactor: (any ReactorTime & ReactorFDSet)?
    private var channel: UnsafeMutableRawPointer?
    private let sockets: AresSocketTable
    private var timer: DelayedCall?

    /// The lookups started and not yet finished.
    private(set) var inFlight = 0
    let noCheckResponse: Bool

    /// - Parameter noCheckResponse: whether SERVFAIL and REFUSED answers are final; nil to
    ///   decide from the servers.
    init(reactor: any ReactorTime & ReactorFDSet, configuration: ResolverConfiguration, noCheckResponse: Bool?) throws {
        self.reactor = reactor
        sockets = AresSocketTable(reactor: reactor)
        // c-ares 1.18 treats SERVFAIL and REFUSED as "try the next server", and reports a lookup
        // that no server answered otherwise as ECONNREFUSED. With a single server there is no
        // next one: the channel is opened again so that those answers are final and say what
        // they are (ARES_FLAG_NOCHECKRESP).
        var channel = try AresDriver.open(configuration, sockets, noCheckResponse: noCheckResponse ?? false)
        if noCheckResponse == nil && cares_server_count(channel) == 1 {
            cares_destroy(channel)
            channel = try AresDriver.open(configuration, sockets, noCheckResponse: true)
            self.noCheckResponse = true
        } else {
            self.noCheckResponse = noCheckResponse ?? false
        }
        self.channel = channel
        sockets.driver = self
    }

    /// A channel configured as `configuration` says, with its sockets reported to `sockets`.
    private static func open(_ configuration: ResolverConfiguration, _ sockets: AresSocketTable,
                             noCheckResponse: Bool) throws -> UnsafeMutableRawPointer
    {
        var channel: UnsafeMutableRawPointer?
        let (seconds, count) = configuration.effectiveTimeoutAndTries()
        let timeout = Int32(clamping: Int((max(0.001, seconds) * 1000).rounded(.up)))
        let tries = Int32(clamping: max(1, count))
        let domains = (configuration.searchDomains ?? []).map { strdup($0) }
        defer { domains.forEach { free($0) } }
        let status = domains.map { UnsafePointer($0) }.withUnsafeBufferPointer { list in
            cares_open(&channel, { data, fd, readable, writable in
                Unmanaged<AresSocketTable>.fromOpaque(data!).takeUnretainedValue()
                    .socketState(fd, reading: readable != 0, writing: writable != 0)
            }, Unmanaged.passUnretained(sockets).toOpaque(), noCheckResponse ? 1 : 0, timeout, tries,
            configuration.useHostsFile ? 1 : 0, configuration.resolvConfPath, list.baseAddress,
            Int32(list.count), configuration.searchDomains == nil ? 0 : 1)
        }
        guard Int(status) == CARES_SUCCESS, let channel else {
            throw DNSLookupError(host: "", reason: .other, message: "c-ares: \(String(cString: cares_strerror(status)))")
        }
        if let servers = configuration.servers {
            let status = cares_set_servers(channel, servers.joined(separator: ","))
            guard Int(status) == CARES_SUCCESS else {
                cares_destroy(channel)
                throw DNSLookupError(
                    host: "", reason: .other,
                    message: "c-ares refused the servers \(servers): \(String(cString: cares_strerror(status)))")
            }
        }
        return channel
    }

    deinit {
        timer?.cancel()
        if let channel { cares_destroy(channel) }
        sockets.removeAll()
    }

    var socketCount: Int { sockets.count }

    /// Starts a lookup of A and AAAA records for `name`; `done` runs once with the outcome (maybe
    /// before this returns, for an answer from the hosts file), unless the channel is destroyed
    /// first.
    func lookUp(_ name: String, done: @escaping (Result<HostResolution, DNSLookupError>) -> Void) {
        guard let channel else { return }
        inFlight += 1
        let query = Unmanaged.passRetained(AresQuery(name: name) { [unowned self] outcome in
            inFlight -= 1
            done(outcome)
        }).toOpaque()
        cares_lookup(channel, name, { argument, status, addresses, count in
            Unmanaged<AresQuery>.fromOpaque(argument!).takeRetainedValue()
                .finished(status: status, UnsafeBufferPointer(start: addresses, count: Int(count)))
        }, query)
        rescheduleTimer()
    }

    // MARK: - Sockets and time

    /// Lets c-ares read from or write to a ready socket, or (with neither) handle its deadlines.
    func process(reading: Int32 = -1, writing: Int32 = -1) {
        guard let channel else { return }
        cares_process_fd(channel, reading, writing)
        rescheduleTimer()
    }

    /// Sets the timer for c-ares's next deadline (none when no query is pending).
    private func rescheduleTimer() {
        timer?.cancel()
        timer = nil
        guard let channel, let reactor else { return }
        let delay = cares_next_timeout(channel)
        guard delay >= 0 else { return }
        timer = reactor.callLater(delay) { [unowned self] in
            timer = nil
            process()
        }
    }
}

/// c-ares's open sockets, each watched by the reactor as c-ares asks.
final class AresSocketTable {
    private weak var reactor: (any ReactorTime & ReactorFDSet)?
    /// Set once the channel exists; the driver owns this table.
    unowned(unsafe) var driver: AresDriver?
    private var sockets: [Int32: AresSocket] = [:]

    init(reactor: any ReactorTime & ReactorFDSet) {
        self.reactor = reactor
    }

    var count: Int { sockets.count }

    /// c-ares opened, changed or is about to close one of its sockets.
    func socketState(_ fd: Int32, reading: Bool, writing: Bool) {
        guard reading || writing else {
            if let socket = sockets.removeValue(forKey: fd) {
                reactor?.removeReader(socket)
                reactor?.removeWriter(socket)
            }
            return
        }
        guard let reactor, let driver else { return }
        let socket: AresSocket
        if let known = sockets[fd] {
            socket = known
        } else {
            socket = AresSocket(fileDescriptor: fd, driver: driver, table: self)
            sockets[fd] = socket
        }
        if reading { reactor.addReader(socket) } else { reactor.removeReader(socket) }
        if writing { reactor.addWriter(socket) } else { reactor.removeWriter(socket) }
    }

    /// The reactor stopped watching a socket (at shutdown): c-ares keeps it until it closes it.
    func socketLost(_ socket: AresSocket) {
        if sockets[socket.fileDescriptor] === socket { sockets[socket.fileDescriptor] = nil }
    }

    func removeAll() {
        for socket in sockets.values {
            reactor?.removeReader(socket)
            reactor?.removeWriter(socket)
        }
        sockets = [:]
    }
}

/// One of c-ares's sockets, as the reactor watches it.
final class AresSocket: ReadDescriptor, WriteDescriptor {
    let fileDescriptor: Int32
    private unowned let driver: AresDriver
    private unowned let table: AresSocketTable

    init(fileDescriptor: Int32, driver: AresDriver, table: AresSocketTable) {
        self.fileDescriptor = fileDescriptor
        self.driver = driver
        self.table = table
    }

    func doRead() { driver.process(reading: fileDescriptor) }
    func doWrite() { driver.process(writing: fileDescriptor) }
    func connectionLost(_ reason: Failure) { table.socketLost(self) }
}

/// One lookup in flight (`ares_getaddrinfo`): the name and who waits for it.
private final class AresQuery {
    let name: String
    let done: (Result<HostResolution, DNSLookupError>) -> Void

    init(name: String, done: @escaping (Result<HostResolution, DNSLookupError>) -> Void) {
        self.name = name
        self.done = done
    }

    func finished(status: Int32, _ records: UnsafeBufferPointer<cares_address>) {
        guard Int(status) != CARES_EDESTRUCTION else { return }
        guard Int(status) == CARES_SUCCESS else {
            done(.failure(DNSLookupError(host: name, reason: AresQuery.reason(status),
                                         message: String(cString: cares_strerror(status)))))
            return
        }
        var v6: [Address] = []
        var v4: [Address] = []
        var ttl = Int32.max
        for record in records {
            guard let address = AresQuery.address(record) else { continue }
            if address.family == .ipv6 {
                if !v6.contains(address) { v6.append(address) }
            } else if !v4.contains(address) {
                v4.append(address)
            }
            ttl = min(ttl, max(0, record.ttl))
        }
        let addresses = v6 + v4
        guard !addresses.isEmpty else {
            done(.failure(DNSLookupError(host: name, reason: .noAddresses, message: "no addresses")))
            return
        }
        done(.success(HostResolution(name: name, addresses: addresses, ttl: Double(ttl))))
    }

    /// The numeric address of a record.
    static func address(_ record: cares_address) -> Address? {
        var bytes = record.bytes
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = record.family == 6 ? AF_INET6 : AF_INET
        guard withUnsafePointer(to: &bytes, { inet_ntop(family, $0, &text, socklen_t(text.count)) }) != nil else {
            return nil
        }
        let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Address(family: record.family == 6 ? .ipv6 : .ipv4, host: host, port: 0)
    }

    static func reason(_ status: Int32) -> DNSLookupError.Reason {
        switch Int(status) {
        case CARES_ENOTFOUND, CARES_ENONAME: .nameNotFound
        case CARES_ENODATA: .noAddresses
        case CARES_ETIMEOUT: .timeout
        case CARES_EREFUSED: .refused
        case CARES_ESERVFAIL: .serverFailure
        case CARES_ECONNREFUSED: .unreachable
        default: .other
        }
    }
}
