import Deferreds
import Reactor
import URLList

/// Feeds the URLs through a `DeferredSemaphore`, at most `limit` downloads in flight.
///
/// The tutorial puts every URL into the semaphore at once (`semaphore.run(getPage, url)` for each,
/// then a `DeferredList`), and so does the pipeline for URLs given on the command line (or the
/// demo's). For `--input`, a list that may be larger than memory, the pipeline reads the next
/// URL only while fewer than `limit + readAhead` are inside the semaphore (in flight or waiting for
/// a token), and reads again each time one leaves. So memory holds the downloads in flight, a few
/// waiting ones and the source's read buffer, whatever the list's length.
///
/// With `--per-host` or `--rate`, a URL first waits in its host's queue (`HostQueues`) and enters
/// the semaphore only when its host has room: the semaphore then holds no URL that could not start,
/// so a saturated host never holds up the URLs of other hosts behind it. The read-ahead grows by
/// `hostLookAhead` URLs for those queues: a list dominated by one host is read that far ahead to
/// find other hosts' URLs, and no further, so memory stays bounded.
///
/// The run ends when the source is over and the semaphore empty: the final summary is printed and
/// the reactor stopped. If the reactor stops first (Ctrl-C: the reactor stops itself on SIGINT or
/// SIGTERM), a "before shutdown" trigger cancels every download (partial files are removed),
/// prints the summary and sets the exit status 130.
final class Pipeline {
    private let reactor: EPollReactor
    private let source: URLSource
    private let settings: FetchSettings
    private let reporter: Reporter
    private let semaphore: DeferredSemaphore
    private let readAhead: Int
    /// The per-host queues, with `--per-host` or `--rate`.
    private var hostQueues: HostQueues<(entry: URLEntry, host: String)>?
    private var inSemaphore: [Int: Deferred<DownloadOutcome>] = [:]
    private var running: [Int: Download] = [:]
    private var nextID = 0
    private var sourceEnded = false
    private var pumping = false
    private var pumpAgain = false
    private var progress: DelayedCall?
    private var pendingFlush: DelayedCall?
    private let showProgress: Bool

    private enum State {
        case running
        /// Every URL is done; the reactor is stopping.
        case finished
        /// Stopped early (Ctrl-C, or standard output went away).
        case aborted
    }

    private var state = State.running
    /// The exit status once the reactor has stopped: 0 all succeeded, 1 some failed,
    /// 130 interrupted.
    private(set) var exitCode: Int32 = 0

    /// URLs read ahead of the semaphore into the per-host queues, at most.
    static let hostLookAhead = 1000

    /// - Parameters:
    ///   - perHost: the most downloads in flight per host (`host:port`), or nil.
    ///   - rate: the most downloads started per second per host, or nil.
    init(reactor: EPollReactor, source: URLSource, settings: FetchSettings, reporter: Reporter, limit: Int,
         perHost: Int? = nil, rate: Double? = nil, showProgress: Bool) {
        self.reactor = reactor
        self.source = source
        self.settings = settings
        self.reporter = reporter
        self.semaphore = DeferredSemaphore(tokens: limit)
        // URLs already in memory all go into the semaphore at once, as in the tutorial (up to a
        // bound: a token handed down a line of waiters that finish at once, such as skipped URLs,
        // nests one call per waiter).
        self.readAhead = min(source.knownCount ?? limit, 1000)
        self.showProgress = showProgress
        reporter.total = source.knownCount
        if perHost != nil || rate != nil {
            hostQueues = HostQueues(time: reactor, perHost: perHost, rate: rate) { [unowned self] item in
                enterSemaphore(item.entry, host: item.host)
            }
        }
    }

    /// URLs read and not done: in the semaphore, or waiting in a host's queue.
    private var inPipeline: Int { inSemaphore.count + (hostQueues?.waitingCount ?? 0) }

    private var lookAhead: Int { hostQueues == nil ? 0 : Pipeline.hostLookAhead }

    /// Starts feeding URLs once the reactor runs.
    func start() {
        source.onReadable = { [unowned self] in pump() }
        reactor.addSystemEventTrigger(.before, .shutdown) { [unowned self] () -> Void in
            if state == .running { abort(exitCode: 130, because: "interrupted") }
        }
        reporter.output.onBrokenOutput = { [unowned self] message in
            reporter.output.error("getpage: \(message)")
            if state == .running {
                abort(exitCode: 1, because: "stopped")
                reactor.stop()
            }
        }
        reactor.callWhenRunning { [self] in
            if showProgress { tickProgress() }
            pump()
        }
    }

    // MARK: - Feeding

    /// Takes URLs from the source while there is room in the semaphore.
    private func pump() {
        // A download that fails at once re-enters here; the loop below picks that up.
        if pumping {
            pumpAgain = true
            return
        }
        pumping = true
        repeat {
            pumpAgain = false
            feeding: while state == .running && !sourceEnded && inPipeline < semaphore.limit + readAhead + lookAhead {
                switch source.next() {
                case .url(let entry):
                    enqueue(entry)
                case .invalid(let entry, let reason):
                    reporter.completed(DownloadOutcome(entry: entry, result: .invalid(reason)), wasStarted: false)
                case .pending:
                    break feeding
                case .end:
                    sourceEnded = true
                    reporter.total = reporter.tally.done + inPipeline
                }
            }
        } while pumpAgain
        pumping = false
        if state == .running && sourceEnded && inPipeline == 0 { finish() }
    }

    private func enqueue(_ entry: URLEntry) {
        // A URL the source let through has a host; the fallback only keeps a surprise visible.
        if let hostQueues {
            let host = URLSyntax.hostKey(of: entry.url) ?? entry.url
            hostQueues.add((entry, host), host: host)
        } else {
            enterSemaphore(entry, host: nil)
        }
    }

    /// The URL's host has room (or hosts are not counted): it waits for a token.
    private func enterSemaphore(_ entry: URLEntry, host: String?) {
        nextID += 1
        let id = nextID
        let outcome = semaphore.run(begin, (id, entry, host))
        inSemaphore[id] = outcome
        // This may run at once (a skipped URL, a request refused at once): `pump` copes.
        _ = outcome.addBoth { [self] (_: Result<DownloadOutcome, Failure>) -> Void in
            inSemaphore[id] = nil
            if let host { hostQueues?.finished(host: host) }
            pump()
        }
    }

    /// Runs with a token held: starts one download.
    private func begin(_ item: (id: Int, entry: URLEntry, host: String?)) -> Deferred<DownloadOutcome> {
        let (id, entry, host) = item
        guard state == .running else { return fail(CancelledError()) }
        if let host { hostQueues?.started(host: host) }
        let download = Download(entry, settings: settings, reactor: reactor, events: reporter)
        running[id] = download
        reporter.started(entry, waiting: semaphore.waitingCount)
        return download.start().addCallback { [self] (outcome: DownloadOutcome) -> DownloadOutcome in
            running[id] = nil
            reporter.completed(outcome, wasStarted: true)
            scheduleFlush()
            return outcome
        }
    }

    /// Flushes standard output soon: a reader of a pipe sees results within 0.2 s, while a fast
    /// run still writes in large pieces.
    private func scheduleFlush() {
        guard pendingFlush == nil else { return }
        pendingFlush = reactor.callLater(0.2) { [weak self] in
            self?.pendingFlush = nil
            self?.reporter.output.flush()
        }
    }

    // MARK: - Ending

    private func finish() {
        state = .finished
        exitCode = reporter.tally.anyFailed ? 1 : 0
        endReport(stopped: nil)
        reactor.stop()
    }

    /// Cancels everything: the waiting downloads first (so no token goes to them), then those in
    /// flight.
    private func abort(exitCode: Int32, because reason: String) {
        state = .aborted
        self.exitCode = exitCode
        hostQueues?.removeAll()
        let waiting = inSemaphore.filter { running[$0.key] == nil }.map(\.value)
        for deferred in waiting { deferred.cancel() }
        for download in Array(running.values) { download.cancel() }
        endReport(stopped: reason)
    }

    private func endReport(stopped: String?) {
        progress?.cancel()
        progress = nil
        pendingFlush?.cancel()
        pendingFlush = nil
        reporter.output.clearProgress()
        reporter.output.flush()
        if !reporter.quiet {
            var text = reporter.summaryText(stopped: stopped)
            if reporter.trace {
                text += "\ngetpage: at most \(reporter.tally.maxInFlight) in flight (limit \(semaphore.limit))"
            }
            reporter.output.error(text)
        }
    }

    private func tickProgress() {
        guard state == .running else { return }
        reporter.output.showProgress(reporter.progressText())
        progress = reactor.callLater(0.2) { [weak self] in self?.tickProgress() }
    }
}
