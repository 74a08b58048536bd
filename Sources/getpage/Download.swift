import Deferreds
import Reactor
import URLList
import WebAgent

/// The server answered with a status that counts as a failure (400 and above).
struct HTTPStatusError: Error, CustomStringConvertible {
    let code: Int
    let phrase: String
    var description: String { phrase.isEmpty ? "HTTP \(code)" : "HTTP \(code) \(phrase)" }
}

/// How every download is made: the agent, the request and what to do with the body.
struct FetchSettings {
    /// The agent for a URL: a `RetryAgent` with `retry`'s policy.
    var agent: () -> RetryAgent
    var headers: Headers
    var timeout: Double?
    /// When to retry and how long to wait: `--retries` + 1 attempts, `--retry-backoff`.
    var retry: RetryPolicy
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
/// The request goes through a `RetryAgent` with the settings' `RetryPolicy`: each attempt sends
/// the request, and on a response streams the body to its sink (standard output, a `PartialFile`,
/// or nowhere) through a `BodyReceiver`. An attempt that fails in a way the policy retries
/// (connection errors, timeouts, also in the middle of a body, and curl's `--retry` statuses, whose
/// bodies are discarded unread) is made again after the response's `Retry-After` or the backoff,
/// while attempts remain. The deferred `start()` returns fires (never fails) when the URL is done.
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
        let attempts = settings.retry.attempts
        let done = settings.agent().request("GET", entry.url, settings.headers, timeout: settings.timeout, events: { [self] event in
            switch event {
            case .attempt(let number):
                outcome.attempts = number
                outcome.bytes = 0
                outcome.status = nil
                events.requesting(entry, attempt: number)
            case .retry(after: let number, let failure, wait: _):
                events.retrying(entry, attempt: number, of: attempts, failure)
            }
        }) { [self] (response: Response) throws -> Deferred<Void> in
            try read(response)
        }
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

    /// Reads one attempt's response, then commits its file (or removes it when the body failed).
    private func read(_ response: Response) throws -> Deferred<Void> {
        let received: Deferred<Void>
        do {
            received = try receive(response)
        } catch {
            file?.discard()
            file = nil
            throw error
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

    /// Delivers a response's body to its sink (a retried status never gets here: `RetryAgent`
    /// discards it).
    private func receive(_ response: Response) throws -> Deferred<Void> {
        outcome.status = response.code
        let statusError = response.code >= 400 ? HTTPStatusError(code: response.code, phrase: response.phrase) : nil
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

    /// A one-line message for `failure`, without the wrappers' prefixes.
    static func message(_ failure: Failure) -> String {
        if let exhausted = failure.value as? RetriesExhausted { return message(exhausted.lastFailure) }
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
