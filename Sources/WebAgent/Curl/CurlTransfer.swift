import CCurl
import Deferreds
import Glibc
import Reactor

/// One request/response exchange on a libcurl easy handle: the only code that touches a `CURL*`
/// besides `CurlMulti`.
///
/// libcurl's callbacks (headers, body bytes, upload reads) only record what happened; the
/// transfer acts on it in `processNews()`, which `CurlMulti` calls outside every libcurl callback:
/// that is where the response deferred fires and the body protocol is called. Where the transfer
/// stands (the response, libcurl's run, the request body) is `CurlTransferStateMachine`'s; the
/// body's way to its protocol is `BodyDeliveryStateMachine`'s. This class carries out what they
/// say.
final class CurlTransfer: ResponseBody {
    let multi: CurlMulti
    let easy: UnsafeMutableRawPointer
    let request: Request
    let uri: URI
    private let options: TransferOptions
    /// The response, libcurl's run and the request body (`machine.upload`): what happened, and
    /// what to do next.
    private var machine: CurlTransferStateMachine
    private weak var response: Response?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    /// The addresses of the URI's host, found by the reactor's resolver (set before `begin()`):
    /// libcurl gets them through CURLOPT_RESOLVE (see CurlNameResolution.swift).
    var resolution: HostResolution?
    var resolveList: UnsafeMutablePointer<curl_slist>?
    private var timeoutCall: DelayedCall?
    var hasQueuedNews = false

    /// The body's way to its protocol. libcurl pauses itself when its write callback refuses a
    /// chunk: before `deliverBody` after one chunk is held, and while the protocol is paused or a
    /// megabyte is held.
    private var body = BodyDeliveryStateMachine(bufferLimit: CurlTransfer.bufferLimit, sourceControl: .bySourceItself)
    /// Body bytes held before the transfer is paused (libcurl reads many buffers in one go).
    static let bufferLimit = 1024 * 1024

    /// What the request body's producer writes to (kept while the transfer lives).
    private var uploadConsumer: UploadConsumer?

    /// What the transfer reads from its easy handle after libcurl is done with it, recorded just
    /// before the handle goes back to the multi handle (which resets it for another transfer, or
    /// frees it): nil while the handle is still this transfer's.
    private var handleRecord: HandleRecord?
    /// libcurl's detailed message about a failure (CURLOPT_ERRORBUFFER), set on the easy handle
    /// while it is this transfer's and read into the handle's record.
    private let errorBuffer: UnsafeMutablePointer<CChar> = {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
        buffer.initialize(to: 0)
        return buffer
    }()
    /// While a body is being delivered the transfer keeps itself alive: once libcurl is done with
    /// it, nothing else may hold it (the caller can drop the Response after `deliverBody`).
    private var keepAlive: CurlTransfer?

    init(multi: CurlMulti, request: Request, uri: URI, options: TransferOptions, deferred: Deferred<Response>) {
        self.multi = multi
        self.easy = multi.takeEasyHandle()
        self.request = request
        self.uri = uri
        self.options = options
        self.machine = CurlTransferStateMachine(
            deferred: deferred, isHeadRequest: request.method == "HEAD", hasUpload: request.bodyProducer != nil,
            maxHeaderBytes: options.maxHeaderBytes, maxBodyBytes: options.maxBodyBytes)
    }

    deinit {
        if let headerList { ccurl_slist_free_all(headerList) }
        if let resolveList { ccurl_slist_free_all(resolveList) }
        errorBuffer.deallocate()
    }

    // MARK: - Starting

    /// Configures the easy handle and hands it to the multi handle.
    func begin() {
        let handle = easy
        let me = Unmanaged.passUnretained(self).toOpaque()
        ccurl_easy_setopt_str(handle, CURLOPT_URL, uri.withoutFragment)
        resolveWithOurAnswer(handle)
        ccurl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        ccurl_easy_setopt_str(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        ccurl_easy_setopt_str(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        ccurl_easy_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
        // No proxy from the environment (http_proxy, …): like Twisted's Agent, which only uses one
        // when given a ProxyAgent. (It also spares libcurl an environment lookup per request.)
        ccurl_easy_setopt_str(handle, CURLOPT_PROXY, options.proxy?.curlURL ?? "")
        if options.proxy != nil {
            // ProxyAgent's proxy is used for every request (no_proxy is its caller's business), and
            // the CONNECT's response is not the server's.
            ccurl_easy_setopt_str(handle, CURLOPT_NOPROXY, "")
            ccurl_easy_setopt_long(handle, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1)
        }
        ccurl_easy_setopt_ptr(handle, CURLOPT_PRIVATE, me)
        ccurl_easy_setopt_ptr(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        ccurl_easy_setopt_ptr(handle, CURLOPT_HEADERDATA, me)
        ccurl_easy_setopt_write_cb(handle, CURLOPT_HEADERFUNCTION) { data, size, count, userdata in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue()
            return transfer.headerLine(UnsafeRawBufferPointer(start: data, count: size * count))
        }
        ccurl_easy_setopt_ptr(handle, CURLOPT_WRITEDATA, me)
        ccurl_easy_setopt_write_cb(handle, CURLOPT_WRITEFUNCTION) { data, size, count, userdata in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue()
            return transfer.bodyBytes(UnsafeRawBufferPointer(start: data, count: size * count))
        }
        ccurl_easy_setopt_long(handle, CURLOPT_BUFFERSIZE, CurlMulti.largestWrite)
        if let connectTimeout = options.connectTimeout {
            ccurl_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, max(1, Int(connectTimeout * 1000)))
        }
        if let caFile = options.caFile {
            ccurl_easy_setopt_str(handle, CURLOPT_CAINFO, caFile)
            // The file replaces the system's trust: libcurl also reads its compiled-in CA directory
            // (CURLOPT_CAPATH, /etc/ssl/certs on Debian) unless it is cleared. (With no directory,
            // libcurl 7.87+ caches the store built from the file in the multi handle, keyed by the
            // file's name, for CURLOPT_CA_CACHE_TIMEOUT: 24 hours by default.)
            ccurl_easy_setopt_str(handle, CURLOPT_CAPATH, nil)
        }
        if !multi.settings.persistent {
            ccurl_easy_setopt_long(handle, CURLOPT_FORBID_REUSE, 1)
        } else {
            ccurl_easy_setopt_long(handle, CURLOPT_MAXAGE_CONN, max(1, Int(multi.settings.idleTimeout)))
            // While a connection to the server is being made, wait for it to say whether it speaks
            // HTTP/2 rather than open another: requests started together then share one as streams
            // (over HTTP/1.1 each then opens its own, a handshake later).
            ccurl_easy_setopt_long(handle, CURLOPT_PIPEWAIT, 1)
            // libcurl sends a request lost with a reused connection (no byte of its response back)
            // again by itself, whatever its method; one the pool may not resend goes on a new
            // connection, so it is never sent twice.
            if !multi.settings.mayResend(request) { ccurl_easy_setopt_long(handle, CURLOPT_FRESH_CONNECT, 1) }
            multi.trackConnections(of: handle)
        }
        switch request.method {
        case "GET":
            break
        case "HEAD":
            ccurl_easy_setopt_long(handle, CURLOPT_NOBODY, 1)
        default:
            ccurl_easy_setopt_str(handle, CURLOPT_CUSTOMREQUEST, request.method)
        }
        var headers = request.headers
        if !multi.settings.persistent && !headers.hasHeader("Connection") {
            headers.setRawHeaders("Connection", ["close"])
        }
        if let producer = request.bodyProducer {
            configureUpload(handle, producer, &headers)
        }
        // libcurl adds Accept: */* unless told otherwise; Twisted sends no Accept by default.
        if !headers.hasHeader("Accept") { appendHeaderLine("Accept:") }
        headers.forEachFieldLine { headerList = ccurl_slist_append(headerList, $0) }
        ccurl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList)

        if let timeout = options.timeout {
            timeoutCall = multi.reactor.callLater(timeout) { [weak self] in
                self?.fail(Failure(TimeoutError(seconds: timeout)))
            }
        }
        if !multi.start(self) {
            fail(Failure(TransferError(code: -1, message: "could not start the transfer")))
        }
    }

    private func appendHeaderLine(_ line: String) {
        headerList = ccurl_slist_append(headerList, line)
    }

    private func configureUpload(_ handle: UnsafeMutableRawPointer, _ producer: any BodyProducer,
                                 _ headers: inout Headers) {
        ccurl_easy_setopt_long(handle, CURLOPT_POST, 1)
        if request.method != "POST" { ccurl_easy_setopt_str(handle, CURLOPT_CUSTOMREQUEST, request.method) }
        if let length = producer.length {
            ccurl_easy_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(length))
        } else {
            headers.setRawHeaders("Transfer-Encoding", ["chunked"])
        }
        // No "Expect: 100-continue" round trip (Twisted does not send one).
        if !headers.hasHeader("Expect") { appendHeaderLine("Expect:") }
        let me = Unmanaged.passUnretained(self).toOpaque()
        ccurl_easy_setopt_ptr(handle, CURLOPT_READDATA, me)
        ccurl_easy_setopt_read_cb(handle) { buffer, size, count, userdata in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue()
            return transfer.uploadBytes(UnsafeMutableRawBufferPointer(start: buffer, count: size * count))
        }
        let consumer = UploadConsumer(self)
        uploadConsumer = consumer
        _ = producer.startProducing(consumer).addCallbacks({ [weak self] (_: Void) -> Void in
            guard let self else { return }
            if machine.upload.producerFinished() { wakeUpload() }
        }, { [weak self] (failure: Failure) -> Void in
            guard let self else { return }
            if machine.upload.producerFailed(failure) { wakeUpload() }
        })
    }

    // MARK: - libcurl callbacks (record only; no user code)

    private func headerLine(_ bytes: UnsafeRawBufferPointer) -> Int {
        switch machine.headerLine(bytes) {
        case .taken:
            break
        case .headComplete:
            multi.noteNews(self)
        case .refused:
            // Returning less than was given makes libcurl abort the transfer (CURLE_WRITE_ERROR).
            return 0
        }
        return bytes.count
    }

    private func bodyBytes(_ bytes: UnsafeRawBufferPointer) -> Int {
        if case .finished = body.state { return 0 }
        guard body.mayHold else {
            // libcurl hands this same chunk over again after the unpause: it is not kept now.
            body.sourceRefused()
            return Int(ccurl_writefunc_pause())
        }
        guard machine.bodyArrived(bytes.count) else { return 0 }
        body.hold(gathering: bytes) { multi.takeSpareChunk(capacity: $0) }
        multi.noteNews(self)
        return bytes.count
    }

    private func uploadBytes(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        switch machine.upload.read(into: buffer) {
        case .wrote(let count, let drained):
            if drained { multi.noteNews(self) }  // to resume a paused producer
            return count
        case .endOfBody:
            return 0
        case .pause:
            return Int(ccurl_readfunc_pause())
        case .abort:
            return Int(ccurl_readfunc_abort())
        }
    }

    /// The multi handle found the transfer finished (inside `action`, after libcurl returned), and
    /// is about to take its easy handle back.
    func finished(with code: CURLcode) {
        machine.libcurlFinished(code)
        recordHandle()
        timeoutCall?.cancel()
        timeoutCall = nil
        multi.noteNews(self)
    }

    /// The multi handle is shutting down: forget everything without calling anyone. A body asked
    /// for later ends at once with `CancelledError` (as an HTTP/1.1 exchange's does).
    func detach() {
        let reason = machine.detach()
        keepAlive = nil
        timeoutCall?.cancel()
        timeoutCall = nil
        body.abandon(reason)
    }

    // MARK: - Acting on news (outside libcurl callbacks)

    func processNews() {
        guard !machine.isDetached else { return }
        if let (deferred, head) = machine.headToHandOver() {
            let response = head.makeResponse(request: request, body: self)
            self.response = response
            deferred.callback(response)
        }
        deliverChunks()
        if machine.upload.readToResume() {
            multi.unpause(self)
        }
        if machine.upload.producerToResume() {
            request.bodyProducer?.resumeProducing()
        }
        switch machine.completion() {
        case .running:
            if body.hasProtocol, case .resumeSource = body.sourceAction() {
                multi.unpause(self)
            }
        case .finished(let ending):
            end(reason(for: ending))
        case .ended:
            // The body's machine may still hold bytes for a protocol that was paused.
            deliverChunks()
        }
    }

    /// Hands the held chunks to the protocol while it takes them, and, once the body has ended
    /// and nothing is held, tells it how.
    private func deliverChunks() {
        while let delivery = body.nextDelivery() {
            switch delivery {
            case .deliver(let protocolHandler, var chunk):
                protocolHandler.dataReceived(chunk)
                multi.keepSpareChunk(&chunk)
            case .connectionLost(let protocolHandler, let reason):
                protocolHandler.connectionLost(ResponseBody.bodyEnding(reason, response: response))
                protocolHandler.transport = nil
                keepAlive = nil
                return
            }
        }
    }

    /// The failure a finished transfer ends with: the machine's, or libcurl's error mapped with
    /// what the easy handle recorded.
    private func reason(for ending: CurlTransferStateMachine.Ending) -> Failure {
        switch ending {
        case .reason(let reason):
            return reason
        case .curlError(let code, let receivedHead):
            let record = handleRecord ?? readHandle()
            return Failure(CurlErrors.error(for: code, osErrno: record.osErrno, connectSeconds: record.connectSeconds,
                                            uri: uri, receivedHeaders: receivedHead,
                                            maxHeaderBytes: options.maxHeaderBytes, detail: record.errorDetail,
                                            proxy: options.proxy, connectCode: record.connectCode))
        }
    }

    /// Ends the exchange with `reason` (unless it already ended): libcurl and the request body's
    /// producer are stopped if still running, then the response deferred fails, or the body
    /// protocol is told (once the chunks held are delivered).
    private func end(_ reason: Failure) {
        guard let action = machine.end(reason) else { return }
        timeoutCall?.cancel()
        timeoutCall = nil
        if action.stopTransfer { multi.stop(self) }
        if action.stopProducer { request.bodyProducer?.stopProducing() }
        switch action.outcome {
        case .failResponse(let deferred, let failure):
            deferred.errback(failure)
            body.abandon(reason)
        case .endBody(let reason):
            // Before deliverBody the reason waits for the protocol (or for nobody, if the response
            // is dropped); after it, the protocol hears it once the chunks held are delivered.
            body.ended(reason)
            deliverChunks()
        }
    }

    /// Fails the exchange now (timeout, cancellation, an abandoned body); the bytes held for the
    /// body are dropped. Nothing happens once it has ended or was detached.
    func fail(_ reason: Failure) {
        guard !machine.hasEnded else { return }
        body.ended(reason, discardingHeld: true)
        end(reason)
    }

    // MARK: - The body side (ResponseBody)

    override func start(_ protocolHandler: Protocol) {
        if let reason = body.attach(protocolHandler) {
            // The exchange already ended (a timeout or failure before deliverBody).
            protocolHandler.makeConnection(makeBodyTransport())
            protocolHandler.connectionLost(ResponseBody.bodyEnding(reason, response: response))
            return
        }
        keepAlive = self
        protocolHandler.makeConnection(makeBodyTransport())
        multi.noteNews(self)
        multi.deliverNews()
    }

    override func responseReleased() {
        switch body.state {
        case .waiting, .waitingEnded: break
        case .delivering, .draining, .finished: return
        }
        guard !wasDelivered else { return }
        body.abandon(Failure(CancelledError()))
        if machine.isRunning { fail(Failure(CancelledError())) }
    }

    private func makeBodyTransport() -> BodyTransport {
        let record = handleRecord ?? readHandle()
        return BodyTransport(
            pause: { [weak self] in self?.body.pause() },
            resume: { [weak self] in
                guard let self, body.isPaused else { return }
                body.resume()
                multi.noteNews(self)
                multi.deliverNews()
            },
            stop: { [weak self] in self?.fail(ResponseBody.stoppedByProtocol()) },
            peer: { record.peer }, host: { record.local })
    }

    /// Cancels the request (the canceller of the response deferred).
    func cancel() {
        fail(Failure(CancelledError()))
    }

    // MARK: - Upload side

    /// The producer wrote `bytes`: queued for libcurl's read callback, which is woken if it
    /// paused; the producer is paused when too much is queued.
    fileprivate func receiveUpload(_ bytes: [UInt8]) {
        if machine.upload.written(bytes) { wakeUpload() }
        if machine.upload.producerToPause() { request.bodyProducer?.pauseProducing() }
    }

    /// Wakes libcurl's paused reading of the upload: the news (`processNews`) resumes it.
    private func wakeUpload() {
        multi.noteNews(self)
        multi.deliverNews()
    }

    // MARK: - The easy handle's record

    /// What the transfer still needs from its easy handle once libcurl is done with it.
    struct HandleRecord {
        var peer: Address
        var local: Address
        /// The system error of the last failed call (CURLINFO_OS_ERRNO), 0 if none.
        var osErrno: Int
        /// Seconds spent connecting (CURLINFO_CONNECT_TIME_T).
        var connectSeconds: Double
        /// libcurl's detailed message about the failure (its error buffer), "" if none.
        var errorDetail: String
        /// The proxy's answer to CONNECT (CURLINFO_HTTP_CONNECTCODE), 0 if none.
        var connectCode = 0
    }

    /// Records what the transfer reads from its easy handle. `CurlMulti` calls it before the
    /// handle leaves the transfer (recycled for another transfer, or freed); later reads use the
    /// record, never the handle.
    func recordHandle() {
        guard handleRecord == nil else { return }
        handleRecord = readHandle()
        // The buffer goes with the transfer; the handle, kept for another one, must not keep it.
        ccurl_easy_setopt_ptr(easy, CURLOPT_ERRORBUFFER, nil)
    }

    private func readHandle() -> HandleRecord {
        var ip: UnsafeMutablePointer<CChar>?
        var port = 0
        ccurl_easy_getinfo_str(easy, CURLINFO_PRIMARY_IP, &ip)
        ccurl_easy_getinfo_long(easy, CURLINFO_PRIMARY_PORT, &port)
        let peerHost = ip.map { String(cString: $0) } ?? uri.host
        ip = nil
        var localPort = 0
        ccurl_easy_getinfo_str(easy, CURLINFO_LOCAL_IP, &ip)
        ccurl_easy_getinfo_long(easy, CURLINFO_LOCAL_PORT, &localPort)
        let localHost = ip.map { String(cString: $0) } ?? ""
        var osErrno = 0
        ccurl_easy_getinfo_long(easy, CURLINFO_OS_ERRNO, &osErrno)
        var connectMicroseconds: curl_off_t = 0
        ccurl_easy_getinfo_off(easy, CURLINFO_CONNECT_TIME_T, &connectMicroseconds)
        func address(_ host: String, _ port: Int) -> Address {
            Address(family: host.containsByte(UInt8(ascii: ":")) ? .ipv6 : .ipv4, host: host, port: port)
        }
        var connectCode = 0
        if options.proxy != nil { ccurl_easy_getinfo_long(easy, CURLINFO_HTTP_CONNECTCODE, &connectCode) }
        // libcurl's messages may end with a line feed or a space.
        var detail = String(cString: errorBuffer)
        while detail.last?.isWhitespace == true { detail.removeLast() }
        return HandleRecord(peer: address(peerHost, port), local: address(localHost, localPort), osErrno: osErrno,
                            connectSeconds: Double(connectMicroseconds) / 1_000_000, errorDetail: detail,
                            connectCode: connectCode)
    }
}

/// The consumer a request's body producer writes to; the transfer queues the bytes and pauses the
/// producer when enough are queued.
private final class UploadConsumer: BodyConsumer {
    weak var transfer: CurlTransfer?

    init(_ transfer: CurlTransfer) {
        self.transfer = transfer
    }

    func write(_ bytes: [UInt8]) {
        transfer?.receiveUpload(bytes)
    }
}

