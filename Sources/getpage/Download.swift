import Deferreds
import Reactor
import URLList
import WebAgent

/// The server answered with a status that counts as a failure (400 and above).
struct HTTPStatusError: Error, CustomStringConvertible {
    let code: Int
    let phrase: String
    /// 429 and 5xx: the server may do better later.
    var retryable: Bool { code == 429 || (500...599).contains(code) }
    var description: String { phrase.isEmpty ? "HTTP \(code)" : "HTTP \(code) \(phrase)" }
}

/// How every download is made: the agent, the request and what to do with the body.
struct FetchSettings {
    var agent: () -> any AgentProtocol
    var headers: Headers
    var timeout: Double?
    /// Attempts per URL, at least 1 (`--retries` + 1).
    var attempts: Int
    var backoff: Backoff
    var outputDirectory: OutputDirectory?
    /// Print each body on standard output as it arrives (tutorial format, no output directory).
    var printBodies: Bool
    /// Skip a URL whose output file exists.
    var resume: Bool
}

/// What became of one URL.
struct DownloadOutcome {
    enum Result {
        case ok
        /// `--resume`: the output file was already there.
        case skipped
        case failed(String)
        /// Ctrl-C stopped it.
        case cancelled
        /// The line is not a URL we can fetch (never requested).
        case invalid(String)
    }

    let entry: URLEntry
    var result: Result
    var status: Int?
    var bytes = 0
    var elapsed: Double = 0
    var attempts = 0
    var file: String?

    var succeeded: Bool {
        switch result {
        case .ok, .skipped: true
        case .failed, .cancelled, .invalid: false
        }
    }

    var isInvalid: Bool {
        if case .invalid = result { return true }
        return false
    }
}

/// One URL's download: the request, its retries and its body, with the result reported once.
///
/// Each attempt sends the request, and on a response streams the body to its sink (standard
/// output, a `PartialFile`, or nowhere) through a `BodyReceiver`. A failed attempt is retried after
/// `backoff` when it may do better (connection errors, timeouts, 429 and 5xx) and attempts remain;
/// a retried 429/5xx response's body is discarded unread. The deferred `start()` returns fires
/// (never fails) when the URL is done.
final class Download {
    let entry: URLEntry
    private let settings: FetchSettings
    private let reactor: EPollReactor
    private let events: DownloadEvents
    private var outcome: DownloadOutcome
    private var startTime = 0.0
    private var running: Deferred<Void>?
    private var file: PartialFile?

    init(_ entry: URLEntry, settings: FetchSettings, reactor: EPollReactor, events: DownloadEvents) {
        self.entry = entry
        self.settings = settings
        self.reactor = reactor
        self.events = events
        self.outcome = DownloadOutcome(entry: entry, result: .ok)
    }

    /// Downloads the URL; fires with the outcome.
    func start() -> Deferred<DownloadOutcome> {
        startTime = reactor.seconds()
        if let directory = settings.outputDirectory {
            let path = directory.path(for: entry.url)
            outcome.file = path
            if settings.resume && fileExists(path) {
                outcome.result = .skipped
                return succeed(outcome)
            }
        }
        let attempts = settings.attempts
        // Without retries the retry machinery (a Retrier and its deferreds per URL) is skipped.
        let done = attempts == 1 ? attempt() : retry(reactor, attempts: attempts, backoff: settings.backoff, shouldRetry: { [self] failure in
            let again = Download.isRetryable(failure)
            if again { events.retrying(entry, attempt: outcome.attempts, of: attempts, failure) }
            return again
        }) { [self] in attempt() }
        running = done
        return done.addBoth { [self] (result: Result<Void, Failure>) -> DownloadOutcome in
            running = nil
            outcome.elapsed = reactor.seconds() - startTime
            if case .failure(let failure) = result {
                outcome.result = failure.check(CancelledError.self) != nil
                    ? .cancelled : .failed(Download.message(failure))
                outcome.file = nil
            }
            return outcome
        }
    }

    /// Stops the download (Ctrl-C): the request or body is aborted, a partial file removed.
    func cancel() {
        running?.cancel()
    }

    // MARK: - One attempt

    private func attempt() -> Deferred<Void> {
        outcome.attempts += 1
        outcome.bytes = 0
        outcome.status = nil
        let isLast = outcome.attempts >= settings.attempts
        events.requesting(entry, attempt: outcome.attempts)
        let received = settings.agent().request("GET", entry.url, settings.headers, nil, timeout: settings.timeout)
            .addCallback { [self] (response: Response) throws -> Deferred<Void> in
                try receive(response, isLast: isLast)
            }
        // Only a saved body has a file to commit or remove.
        guard settings.outputDirectory != nil else { return received }
        return received
            .addBoth { [self] (result: Result<Void, Failure>) throws -> Void in
                do {
                    try result.get()
                    try file?.commit()
                    file = nil
                } catch {
                    file?.discard()
                    file = nil
                    throw error
                }
            }
    }

    /// Handles a response: retries a retryable status, else delivers the body to its sink.
    private func receive(_ response: Response, isLast: Bool) throws -> Deferred<Void> {
        outcome.status = response.code
        let statusError = response.code >= 400 ? HTTPStatusError(code: response.code, phrase: response.phrase) : nil
        if let statusError, statusError.retryable, !isLast {
            response.deliverBody(BodyReceiver(sink: .discard))
            throw statusError
        }
        events.response(entry, response)
        let sink: BodyReceiver.Sink
        if settings.printBodies {
            sink = .print(events)
        } else if let directory = settings.outputDirectory, statusError == nil {
            let made = try PartialFile(finalPath: directory.path(for: entry.url))
            file = made
            sink = .file(made)
        } else {
            sink = .discard
        }
        let receiver = BodyReceiver(sink: sink)
        receiver.onBytes = { [self] count in outcome.bytes += count }
        response.deliverBody(receiver)
        return receiver.finished.addBoth { [self] (result: Result<Failure, Failure>) throws -> Void in
            switch result {
            case .success(let reason):
                events.finished(entry, reason.getErrorMessage())
                if let statusError { throw statusError }
            case .failure(let failure):
                events.finished(entry, Download.message(failure))
                throw failure
            }
        }
    }

    // MARK: - Failures

    /// Whether another attempt may do better after `failure`.
    static func isRetryable(_ failure: Failure) -> Bool {
        if let status = failure.value as? HTTPStatusError { return status.retryable }
        // Only failures known to be transient: an untyped `TransferError` (libcurl's other codes,
        // such as its header size limit) would most likely fail again.
        if failure.check(ConnectionRefusedError.self, ConnectionLost.self, ConnectError.self,
                         ConnectTimeoutError.self, TimeoutError.self) != nil {
            return true
        }
        // A proxy that could not be reached: as the same failure to reach a server would be.
        if let proxy = failure.value as? ProxyConnectError { return isRetryable(proxy.reason) }
        if let never = failure.value as? ResponseNeverReceived {
            // The connection went away before a response: worth another try, unless we gave up
            // (cancelled) or the server answered nonsense (a parse error stays one).
            return never.reasons.allSatisfy(isRetryable)
        }
        if let failed = failure.value as? ResponseFailed {
            return !failed.reasons.isEmpty && failed.reasons.allSatisfy(isRetryable)
        }
        return false
    }

    /// A one-line message for `failure`, without the wrappers' prefixes.
    static func message(_ failure: Failure) -> String {
        if let failed = failure.value as? ResponseFailed, !failed.reasons.isEmpty {
            return failed.reasons.map(message).joined(separator: "; ")
        }
        if let never = failure.value as? ResponseNeverReceived, !never.reasons.isEmpty {
            return "no response: " + never.reasons.map(message).joined(separator: "; ")
        }
        // A message may quote a URL (InvalidURI, RedirectWithNoLocation, …): never its password.
        return URLCredentials.masked(failure.getErrorMessage())
    }
}

/// What a download tells the reporter, as it happens (on the reactor's thread).
protocol DownloadEvents: AnyObject {
    func requesting(_ entry: URLEntry, attempt: Int)
    func response(_ entry: URLEntry, _ response: Response)
    func bodyChunk(_ bytes: [UInt8])
    /// The body is over; `reason` is the message to show (computed only if shown).
    func finished(_ entry: URLEntry, _ reason: @autoclosure () -> String)
    func retrying(_ entry: URLEntry, attempt: Int, of attempts: Int, _ failure: Failure)
}

/// Receives one response body and passes it on as it arrives: Twisted's body protocol.
///
/// `finished` fires with the `connectionLost` reason when the body is complete
/// (`ResponseDone`, or `PotentialDataLoss` for a body that ends when the connection closes), and
/// fails with the reason otherwise, or with `OutputWriteError` when the sink cannot take a chunk
/// (the transfer is then stopped). Cancelling `finished` stops the transfer.
final class BodyReceiver: Protocol {
    enum Sink {
        case print(any DownloadEvents)
        case file(PartialFile)
        case discard
    }

    private let sink: Sink
    let finished: Deferred<Failure>
    var onBytes: (Int) -> Void = { _ in }
    private var stopTransfer: () -> Void = {}
    private var cancelling = false

    init(sink: Sink) {
        self.sink = sink
        var stop: () -> Void = {}
        finished = Deferred<Failure>(canceller: { _ in stop() })
        super.init()
        stop = { [weak self] in
            // The body ends (ResponseFailed) during the stop: the cancelled deferred fails with CancelledError.
            self?.cancelling = true
            self?.stopTransfer()
        }
    }

    override func connectionMade() {
        stopTransfer = { [weak self] in self?.transport?.stopProducing() }
    }

    override func dataReceived(_ bytes: [UInt8]) {
        guard !finished.called else { return }
        onBytes(bytes.count)
        switch sink {
        case .print(let events):
            events.bodyChunk(bytes)
        case .file(let file):
            do {
                try file.write(bytes)
            } catch {
                finished.errback(error)
                transport?.stopProducing()
            }
        case .discard:
            break
        }
    }

    override func connectionLost(_ reason: Failure) {
        guard !finished.called, !cancelling else { return }
        if reason.check(ResponseDone.self, PotentialDataLoss.self) != nil {
            finished.callback(reason)
        } else {
            finished.errback(reason)
        }
    }
}
