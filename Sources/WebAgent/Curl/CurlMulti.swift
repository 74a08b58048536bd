import CCurl
import Deferreds
import Glibc
import Reactor

/// Why libcurl cannot be used, or nil when it is loaded and initialised: done once (lazily and
/// thread-safely) before any handle exists. Only https requests need it.
let curlLoadError: String? = ccurl_load().map { String(cString: $0) }

/// One libcurl multi handle driven by a reactor: the only owner of the `CURLM*`.
///
/// libcurl tells us which sockets to watch (the socket callback → `addReader`/`addWriter`) and
/// when to wake it (the timer callback → `callLater`); we answer with `curl_multi_socket_action`,
/// never from inside a libcurl callback. After each action the finished transfers are drained with
/// `curl_multi_info_read`, and then — outside every libcurl callback — the transfers that have news
/// are told about it, which is where user code (response callbacks, body protocols) runs.
final class CurlMulti {
    let reactor: any ReactorTime & ReactorFDSet
    let settings: PoolSettings
    private let handle: UnsafeMutableRawPointer
    /// The TLS session cache every easy handle of this multi handle uses (libcurl keeps one per
    /// easy handle otherwise): a connection to a server resumes the session of an earlier one,
    /// whichever handle made it, instead of a full handshake. (Connections and DNS answers are
    /// already shared: they are the multi handle's own.) libcurl resumes a session only for the
    /// same host, port and TLS settings (CA file included).
    /// Freed (nil) once the multi handle is shut down.
    private var share: UnsafeMutableRawPointer?
    private var sockets: [Int32: CurlSocket] = [:]
    private var timer: DelayedCall?
    /// libcurl's timer was last set to 0 ms: it wants `CURL_SOCKET_TIMEOUT` as soon as possible.
    private var timerDueNow = false
    private var idleEasyHandles: [UnsafeMutableRawPointer] = []
    private var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
    /// The connections libcurl has open (persistent pools only), by socket.
    private var connections: [Int32: Connection] = [:]
    private var connectionSerial = 0

    private struct Connection {
        /// The peer's socket address bytes: connections to one peer are counted together.
        var peer: [UInt8]
        /// Opening order; the oldest idle connections are the first shut down.
        var serial: Int
        /// Shut down by us for being over the idle limit; libcurl drops it when it next looks.
        var shut = false
    }
    private var newsQueue: [CurlTransfer] = []
    private var dispatching = false
    private var closed = false
    /// Easy handles alive, in use or idle (for leak checks: it never exceeds the most transfers
    /// that ran at once plus the idle ones kept).
    private(set) var liveEasyHandles = 0
    /// Transfers added to the multi handle and not yet finished or stopped.
    var activeTransferCount: Int { active.count }
    var idleEasyHandleCount: Int { idleEasyHandles.count }

    init(reactor: any ReactorTime & ReactorFDSet, settings: PoolSettings) {
        precondition(curlLoadError == nil, "CurlMulti made without libcurl: \(curlLoadError ?? "")")
        self.reactor = reactor
        self.settings = settings
        handle = ccurl_multi_init()
        share = ccurl_share_init()
        if let share {
            ccurl_share_setopt_long(share, CURLSHOPT_SHARE, Int(CURL_LOCK_DATA_SSL_SESSION.rawValue))
        }
        let me = Unmanaged.passUnretained(self).toOpaque()
        ccurl_multi_setopt_ptr(handle, CURLMOPT_SOCKETDATA, me)
        ccurl_multi_setopt_socket_cb(handle) { _, fd, what, userp, _ in
            Unmanaged<CurlMulti>.fromOpaque(userp!).takeUnretainedValue().watch(fd, what)
            return 0
        }
        ccurl_multi_setopt_ptr(handle, CURLMOPT_TIMERDATA, me)
        ccurl_multi_setopt_timer_cb(handle) { _, milliseconds, userp in
            Unmanaged<CurlMulti>.fromOpaque(userp!).takeUnretainedValue().setTimer(milliseconds)
            return 0
        }
        ccurl_multi_setopt_long(handle, CURLMOPT_MAXCONNECTS, settings.maxIdleConnections)
        // HTTP/2: requests to one server share a connection as streams (libcurl's default, said
        // here), up to the server's limit on concurrent streams (and libcurl's own, 100); the
        // limits on connections below count connections, not streams. See CURLOPT_PIPEWAIT in
        // `CurlTransfer.begin` for how requests started together come to share one.
        ccurl_multi_setopt_long(handle, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
        if let perHost = settings.maxConnectionsPerHost {
            ccurl_multi_setopt_long(handle, CURLMOPT_MAX_HOST_CONNECTIONS, perHost)
        }
        if let total = settings.maxConnections {
            ccurl_multi_setopt_long(handle, CURLMOPT_MAX_TOTAL_CONNECTIONS, total)
        }
    }

    deinit {
        shutDown()
    }

    /// Aborts every transfer (without telling anyone) and frees libcurl's handles.
    func shutDown() {
        guard !closed else { return }
        closed = true
        timer?.cancel()
        timer = nil
        for (easy, transfer) in active {
            ccurl_multi_remove_handle(handle, easy)
            transfer.recordHandle()
            transfer.detach()
            cleanUp(easy)
        }
        active = [:]
        for easy in idleEasyHandles { cleanUp(easy) }
        idleEasyHandles = []
        for socket in sockets.values { socket.unwatch() }
        sockets = [:]
        ccurl_multi_cleanup(handle)
        // Every easy handle using it is gone (those made from now on do not use it).
        if let share { ccurl_share_cleanup(share) }
        share = nil
    }

    // MARK: - Transfers

    /// An easy handle to configure: a reused one (reset) or a new one.
    func takeEasyHandle() -> UnsafeMutableRawPointer {
        if let easy = idleEasyHandles.popLast() {
            ccurl_easy_reset(easy)
            return easy
        }
        liveEasyHandles += 1
        let easy = ccurl_easy_init()!
        // curl_easy_reset keeps it: set once per handle.
        if let share { ccurl_easy_setopt_ptr(easy, CURLOPT_SHARE, share) }
        return easy
    }

    private func cleanUp(_ easy: UnsafeMutableRawPointer) {
        liveEasyHandles -= 1
        ccurl_easy_cleanup(easy)
    }

    /// Starts running `transfer`, whose easy handle is configured.
    func start(_ transfer: CurlTransfer) -> Bool {
        guard !closed else {
            transfer.recordHandle()
            cleanUp(transfer.easy)
            return false
        }
        active[transfer.easy] = transfer
        let code = ccurl_multi_add_handle(handle, transfer.easy)
        guard code == CURLM_OK else {
            active[transfer.easy] = nil
            transfer.recordHandle()
            recycle(transfer.easy)
            return false
        }
        return true
    }

    /// Stops `transfer` now (it may be mid-flight); its connection is closed or returned to the cache.
    /// Must not be called from inside a libcurl callback (it never is: user code runs outside them).
    func stop(_ transfer: CurlTransfer) {
        // The handle may already serve another transfer (this one finished and gave it back).
        guard !closed, active[transfer.easy] === transfer else { return }
        active[transfer.easy] = nil
        ccurl_multi_remove_handle(handle, transfer.easy)
        transfer.recordHandle()
        recycle(transfer.easy)
    }

    private func recycle(_ easy: UnsafeMutableRawPointer) {
        if idleEasyHandles.count < 256 {
            idleEasyHandles.append(easy)
        } else {
            cleanUp(easy)
        }
    }

    /// Resumes a transfer paused in its write or read callback. Runs the callbacks libcurl may call
    /// at once, then delivers their news.
    func unpause(_ transfer: CurlTransfer) {
        guard !closed, active[transfer.easy] === transfer else { return }
        ccurl_easy_pause(transfer.easy, CURLPAUSE_CONT)
        deliverNews()
    }

    // MARK: - Body buffers

    /// Emptied body buffers kept for the next chunks: a large body then reuses a few buffers
    /// instead of allocating (and the C heap growing and shrinking, page-faulting) for every chunk.
    private var spareChunks: [[UInt8]] = []

    /// An empty buffer that can hold `capacity` bytes.
    func takeSpareChunk(capacity: Int) -> [UInt8] {
        var chunk: [UInt8] = []
        if capacity >= CurlMulti.spareChunkMinimum {
            if let index = spareChunks.lastIndex(where: { $0.capacity >= capacity }) {
                return spareChunks.remove(at: index)
            }
            // Room for several of libcurl's writes (16 KiB each), which are gathered into one chunk.
            chunk.reserveCapacity(max(capacity, CurlMulti.largestWrite))
        } else {
            chunk.reserveCapacity(capacity)
        }
        return chunk
    }

    /// Takes back a chunk the body protocol was given. If the protocol kept it, emptying it makes
    /// a new buffer (the protocol's copy is untouched).
    func keepSpareChunk(_ chunk: inout [UInt8]) {
        guard chunk.capacity >= CurlMulti.spareChunkMinimum, spareChunks.count < CurlMulti.spareChunkLimit else { return }
        chunk.removeAll(keepingCapacity: true)
        spareChunks.append(chunk)
    }

    private static let spareChunkMinimum = 16 * 1024
    /// As many as a transfer buffers before it is paused (`CurlTransfer.bufferLimit`).
    private static let spareChunkLimit = CurlTransfer.bufferLimit / largestWrite
    /// CURLOPT_BUFFERSIZE, set on every transfer: libcurl never reads more at once (it hands the
    /// bytes over in writes of at most 16 KiB).
    static let largestWrite = 64 * 1024

    /// Queues `transfer` to be told about its news once no libcurl callback is running.
    func noteNews(_ transfer: CurlTransfer) {
        guard !transfer.hasQueuedNews else { return }
        transfer.hasQueuedNews = true
        newsQueue.append(transfer)
    }

    /// Tells each transfer with news about it (where user code runs), until none is left.
    func deliverNews() {
        guard !dispatching else { return }
        dispatching = true
        defer { dispatching = false }
        var index = 0
        while index < newsQueue.count {
            let transfer = newsQueue[index]
            index += 1
            transfer.hasQueuedNews = false
            transfer.processNews()
            if index >= 256 && index * 2 > newsQueue.count {
                newsQueue.removeFirst(index)
                index = 0
            }
        }
        newsQueue.removeAll(keepingCapacity: true)
    }

    // MARK: - Driving libcurl

    /// Runs libcurl for `fd` (or its timeouts), then collects what finished and delivers the news.
    func action(_ fd: curl_socket_t, _ events: Int32) {
        guard !closed else { return }
        var running: Int32 = 0
        ccurl_multi_socket_action(handle, fd, events, &running)
        collectFinished()
        deliverNews()
        // libcurl asked to be woken at once (typically: the news started a new request, which
        // libcurl sends on its next timeout). Doing it now, rather than after another trip through
        // epoll_wait, saves a reactor pass per request; a few rounds at most, to stay fair to the
        // reactor's other work.
        var rounds = 0
        while timerDueNow, !closed, rounds < 4 {
            rounds += 1
            timerDueNow = false
            timer?.cancel()
            timer = nil
            ccurl_multi_socket_action(handle, CURL_SOCKET_TIMEOUT, 0, &running)
            collectFinished()
            deliverNews()
        }
    }

    private func collectFinished() {
        var left: Int32 = 0
        var finishedAny = false
        while let message = ccurl_multi_info_read(handle, &left) {
            guard ccurl_msg_kind(message) == CURLMSG_DONE, let easy = ccurl_msg_easy(message) else { continue }
            let key = easy
            let result = ccurl_msg_result(message)
            guard let transfer = active.removeValue(forKey: key) else { continue }
            transfer.finished(with: result)
            ccurl_multi_remove_handle(handle, easy)
            recycle(key)
            finishedAny = true
        }
        if finishedAny && connections.count > settings.maxIdlePerHost { shutExcessIdleConnections() }
    }

    // MARK: - Idle connections per host

    /// Has libcurl open its connection sockets through us, so that we know them (persistent pools).
    func trackConnections(of easy: UnsafeMutableRawPointer) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        ccurl_easy_setopt_ptr(easy, CURLOPT_OPENSOCKETDATA, me)
        ccurl_easy_setopt_opensocket_cb(easy) { clientp, purpose, address in
            guard let clientp, let address else { return CURL_SOCKET_BAD }
            return Unmanaged<CurlMulti>.fromOpaque(clientp).takeUnretainedValue().openSocket(purpose, address)
        }
        ccurl_easy_setopt_ptr(easy, CURLOPT_CLOSESOCKETDATA, me)
        ccurl_easy_setopt_closesocket_cb(easy) { clientp, fd in
            if let clientp { Unmanaged<CurlMulti>.fromOpaque(clientp).takeUnretainedValue().connections[fd] = nil }
            return Glibc.close(fd)
        }
    }

    /// libcurl's open-socket callback (inside libcurl: bookkeeping only).
    private func openSocket(_ purpose: curlsocktype, _ address: UnsafeMutablePointer<curl_sockaddr>) -> curl_socket_t {
        let fd = socket(address.pointee.family, address.pointee.socktype | Int32(SOCK_CLOEXEC.rawValue),
                        address.pointee.protocol)
        guard fd >= 0 else { return CURL_SOCKET_BAD }
        if purpose == CURLSOCKTYPE_IPCXN {
            // `addr` is declared a 16-byte sockaddr, but libcurl stores the whole address there (in
            // a sockaddr_storage): an IPv6 peer is 28 bytes, all of them needed to tell peers apart.
            let length = min(Int(address.pointee.addrlen), MemoryLayout<sockaddr_storage>.size)
            let start = UnsafeRawPointer(address) + MemoryLayout<curl_sockaddr>.offset(of: \.addr)!
            let peer = Array(UnsafeRawBufferPointer(start: start, count: length))
            connectionSerial += 1
            connections[fd] = Connection(peer: peer, serial: connectionSerial)
        }
        return fd
    }

    /// Shuts down the oldest idle connections to each peer beyond `maxIdlePerHost`. libcurl
    /// checks a cached connection before reusing it, finds these closed and drops them (closing the
    /// socket through our close callback), so no request ever runs on one.
    private func shutExcessIdleConnections() {
        var inUse = Set<Int32>()
        for (fd, socket) in sockets where socket.isWatched { inUse.insert(fd) }
        for easy in active.keys {
            var fd: curl_socket_t = CURL_SOCKET_BAD
            if ccurl_easy_getinfo_socket(easy, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK, fd != CURL_SOCKET_BAD {
                inUse.insert(fd)
            }
        }
        var idleByPeer: [[UInt8]: [(fd: Int32, serial: Int)]] = [:]
        for (fd, connection) in connections where !connection.shut && !inUse.contains(fd) {
            idleByPeer[connection.peer, default: []].append((fd, connection.serial))
        }
        for (_, idle) in idleByPeer where idle.count > settings.maxIdlePerHost {
            for extra in idle.sorted(by: { $0.serial < $1.serial }).dropLast(settings.maxIdlePerHost) {
                Glibc.shutdown(extra.fd, Int32(SHUT_RDWR))
                connections[extra.fd]?.shut = true
            }
        }
    }

    /// libcurl's socket callback: watch `fd` as `what` says. (Called inside libcurl: only
    /// reactor bookkeeping here.)
    private func watch(_ fd: curl_socket_t, _ what: Int32) {
        if what == Int32(CURL_POLL_REMOVE) {
            sockets.removeValue(forKey: fd)?.unwatch()
            return
        }
        let socket: CurlSocket
        if let existing = sockets[fd] {
            socket = existing
        } else {
            socket = CurlSocket(fd: fd, multi: self)
            sockets[fd] = socket
        }
        socket.watch(reading: what == Int32(CURL_POLL_IN) || what == Int32(CURL_POLL_INOUT),
                     writing: what == Int32(CURL_POLL_OUT) || what == Int32(CURL_POLL_INOUT))
    }

    /// libcurl's timer callback: call `action(CURL_SOCKET_TIMEOUT)` in `milliseconds` (-1: never).
    private func setTimer(_ milliseconds: Int) {
        guard milliseconds >= 0 else {
            timerDueNow = false
            timer?.cancel()
            timer = nil
            return
        }
        // Also scheduled below: the reactor runs it when no `action` is under way to pick it up.
        timerDueNow = milliseconds == 0
        if let timer, timer.active {
            // Moving the pending call is cheaper than a new one (libcurl resets its timer often).
            timer.reset(Double(milliseconds) / 1000)
            return
        }
        timer = reactor.callLater(Double(milliseconds) / 1000) { [unowned self] in
            timer = nil
            timerDueNow = false
            action(CURL_SOCKET_TIMEOUT, 0)
        }
    }
}

/// One socket libcurl asked us to watch.
private final class CurlSocket: ReadDescriptor, WriteDescriptor {
    let fileDescriptor: Int32
    unowned let multi: CurlMulti
    private var reading = false
    var isWatched: Bool { reading || writing }
    private var writing = false

    init(fd: Int32, multi: CurlMulti) {
        self.fileDescriptor = fd
        self.multi = multi
    }

    func watch(reading newReading: Bool, writing newWriting: Bool) {
        if newReading != reading {
            reading = newReading
            if reading { multi.reactor.addReader(self) } else { multi.reactor.removeReader(self) }
        }
        if newWriting != writing {
            writing = newWriting
            if writing { multi.reactor.addWriter(self) } else { multi.reactor.removeWriter(self) }
        }
    }

    func unwatch() {
        watch(reading: false, writing: false)
    }

    func doRead() {
        multi.action(fileDescriptor, Int32(CURL_CSELECT_IN))
    }

    func doWrite() {
        multi.action(fileDescriptor, Int32(CURL_CSELECT_OUT))
    }

    func connectionLost(_ reason: Failure) {
        // The reactor dropped us (it is stopping): let libcurl notice on its next timeout.
        reading = false
        writing = false
    }
}
