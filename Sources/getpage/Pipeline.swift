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
/// The run ends when the source is over and the semaphore empty: the final summary is printed and
/// the reactor stopped. If the reactor stops first (Ctrl-C: the reactor stops itself on SIGINT or
/// SIGTERM), a "before shutdown" trigger cancels every download (partial files are removed),
/// prints the summary and sets the exit status 130.
final class Pipeline {
    // Used on the reactor's thread only, so its fields skip the runtime's exclusivity checks
    // (@exclusivity(unchecked)): on every header line, chunk and event they cost about 3 % of
    // getpage's CPU per page.
    private let reactor: EPollReactor
    private let source: URLSource
    private let settings: FetchSettings
    private let reporter: Reporter
    private let semaphore: DeferredSemaphore
    private let readAhead: Int
    @exclusivity(unchecked) private var inSemaphore: [Int: Deferred<DownloadOutcome>] = [:]
    @exclusivity(unchecked) private var running: [Int: Download] = [:]
    @exclusivity(unchecked) private var nextID = 0
    @exclusivity(unchecked) private var sourceEnded = false
    @exclusivity(unchecked) private var pumping = false
    @exclusivity(unchecked) private var pumpAgain = false
    @exclusivity(unchecked) private var progress: DelayedCall?
    @exclusivity(unchecked) private var pendingFlush: DelayedCall?
    private let showProgress: Bool

    private enum State {
        case running
        /// Every URL is done; the reactor is stopping.
        case finished
        /// Stopped early (Ctrl-C, or standard output went away).
        case aborted
    }

    @exclusivity(unchecked) private var state = State.running
    /// The exit status once the reactor has stopped: 0 all succeeded, 1 some failed,
    /// 130 interrupted.
    @exclusivity(unchecked) private(set) var exitCode: Int32 = 0

    init(reactor: EPollReactor, source: URLSource, settings: FetchSettings, reporter: Reporter, limit: Int,
         showProgress: Bool) {
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
    }

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
            feeding: while state == .running && !sourceEnded && inSemaphore.count < semaphore.limit + readAhead {
                switch source.next() {
                case .url(let entry):
                    enqueue(entry)
                case .invalid(let entry, let reason):
                    reporter.completed(DownloadOutcome(entry: entry, result: .invalid(reason)), wasStarted: false)
                case .pending:
                    break feeding
                case .end:
                    sourceEnded = true
                    reporter.total = reporter.tally.done + inSemaphore.count
                }
            }
        } while pumpAgain
        pumping = false
        if state == .running && sourceEnded && inSemaphore.isEmpty { finish() }
    }

    private func enqueue(_ entry: URLEntry) {
        nextID += 1
        let id = nextID
        let outcome = semaphore.run(begin, (id, entry))
        inSemaphore[id] = outcome
        // This may run at once (a skipped URL, a request refused at once): `pump` copes.
        _ = outcome.addBoth { [self] (_: Result<DownloadOutcome, Failure>) -> Void in
            inSemaphore[id] = nil
            pump()
        }
    }

    /// Runs with a token held: starts one download.
    private func begin(_ item: (id: Int, entry: URLEntry)) -> Deferred<DownloadOutcome> {
        let (id, entry) = item
        guard state == .running else { return fail(CancelledError()) }
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
