import Deferreds
import Reactor
import URLList
import WebAgent

/// How results are printed (`--format`).
enum OutputFormat: String, CaseIterable {
    /// The tutorial's output: "Requesting …", the status line and headers, each body chunk after
    /// "##### Received #####", and "Finished: …".
    case tutorial
    /// One line per URL: status, size, time, URL (and file).
    case summary
    /// One JSON object per URL.
    case jsonl
}

/// Counts of what happened, for the progress line and the final summary.
struct Tally {
    var ok = 0
    var skipped = 0
    var failed = 0
    var invalid = 0
    var cancelled = 0
    var bytes = 0
    var inFlight = 0
    var maxInFlight = 0

    var done: Int { ok + skipped + failed + invalid + cancelled }
    var anyFailed: Bool { failed + invalid + cancelled > 0 }
}

/// Prints what the downloads do, in the chosen format, and keeps the tally.
///
/// Standard output carries the results (tutorial text, summary lines or JSON lines); standard
/// error carries diagnostics (invalid input lines, retries, failures in tutorial format), the
/// progress line and the final summary.
final class Reporter: DownloadEvents {
    let format: OutputFormat
    let output: Output
    let quiet: Bool
    /// Print "start"/"done" lines with the number of requests in flight (the demo).
    let trace: Bool
    /// The concurrency limit, for the trace.
    let limit: Int
    private(set) var tally = Tally()
    private let startTime: Double
    private let clock: any ReactorTime
    /// How many entries there are in all, once known.
    var total: Int?
    /// What an entry's number counts: "line" (of --input) or "argument".
    let entryName: String

    init(format: OutputFormat, output: Output, quiet: Bool, trace: Bool, limit: Int, entryName: String,
         clock: any ReactorTime) {
        self.entryName = entryName
        self.format = format
        self.output = output
        self.quiet = quiet
        self.trace = trace && !quiet
        self.limit = limit
        self.clock = clock
        self.startTime = clock.seconds()
    }

    private var tutorial: Bool { format == .tutorial && !quiet }

    // MARK: - Download events

    func requesting(_ entry: URLEntry, attempt: Int) {
        guard tutorial else { return }
        let url = URLCredentials.masked(entry.url)
        output.line(attempt == 1 ? "Requesting \(url)" : "Requesting \(url) (attempt \(attempt))")
    }

    func response(_ entry: URLEntry, _ r: Response) {
        guard tutorial else { return }
        // Printed as Python prints the tuple, ("HTTP", 1, 1); interpolating the Swift tuple itself
        // would give the same text through reflection, the slowest part of the whole program.
        let (name, major, minor) = r.version
        output.line("version=(\"\(name)\", \(major), \(minor))\ncode=\(r.code)\nphrase='\(r.phrase)'")
        for (k, v) in r.headers.getAllRawHeaders() {
            output.line("\(k): \(v.joined(separator: "\n  "))")
        }
    }

    func bodyChunk(_ bytes: [UInt8]) {
        guard tutorial else { return }
        output.write(Array("##### Received #####\n".utf8))
        output.write(bytes)
        output.write([UInt8(ascii: "\n")])
    }

    func finished(_ entry: URLEntry, _ reason: @autoclosure () -> String) {
        if tutorial { output.line("Finished: \(reason())") }
    }

    func retrying(_ entry: URLEntry, attempt: Int, of attempts: Int, _ failure: Failure) {
        guard !quiet else { return }
        output.error(
            "getpage: retrying \(URLCredentials.masked(entry.url)) (attempt \(attempt + 1) of \(attempts)) after: "
                + Download.message(failure))
    }

    // MARK: - The pipeline's events

    /// A download got its token and starts.
    func started(_ entry: URLEntry, waiting: Int) {
        tally.inFlight += 1
        tally.maxInFlight = max(tally.maxInFlight, tally.inFlight)
        if trace && format != .jsonl {
            output.line("start  \(padRight(path(of: entry.url), 10)) in flight \(tally.inFlight)/\(limit)"
                + (waiting > 0 ? ", \(waiting) waiting for a token" : ""))
        }
    }

    /// A download is over (it still holds its token).
    func completed(_ outcome: DownloadOutcome, wasStarted: Bool) {
        if wasStarted { tally.inFlight -= 1 }
        tally.bytes += outcome.bytes
        switch outcome.result {
        case .ok: tally.ok += 1
        case .skipped: tally.skipped += 1
        case .failed: tally.failed += 1
        case .cancelled: tally.cancelled += 1
        case .invalid: tally.invalid += 1
        }
        if case .invalid(let reason) = outcome.result {
            let shown = outcome.entry.url.isEmpty ? "" : " \(JSONObject.quote(URLCredentials.masked(outcome.entry.url)))"
            output.error("getpage: \(entryName) \(outcome.entry.line): invalid URL\(shown): \(reason)")
        }
        switch format {
        case .jsonl:
            output.line(jsonLine(outcome))
        case .summary:
            // The demo's "done" line (below) says the same.
            if !quiet, !trace, !outcome.isInvalid { output.line { summaryLine(outcome, into: &$0) } }
            if quiet, case .failed(let message) = outcome.result {
                output.error("getpage: \(URLCredentials.masked(outcome.entry.url)): \(message)")
            }
        case .tutorial:
            if case .failed(let message) = outcome.result {
                output.error("getpage: \(URLCredentials.masked(outcome.entry.url)): \(message)")
            }
            if case .skipped = outcome.result, !quiet {
                output.line("Skipped \(URLCredentials.masked(outcome.entry.url)): \(outcome.file ?? "") exists")
            }
        }
        if trace && format != .jsonl && wasStarted {
            output.line("done   \(padRight(path(of: outcome.entry.url), 10)) \(statusText(outcome))  "
                + "in flight \(tally.inFlight)/\(limit)")
        }
    }

    // MARK: - Lines

    private func statusText(_ outcome: DownloadOutcome) -> String {
        switch outcome.result {
        case .ok: "\(outcome.status ?? 0) \(formatBytes(outcome.bytes)) \(milliseconds(outcome.elapsed)) ms"
        case .skipped: "skipped"
        case .failed(let message): "failed: \(message)"
        case .cancelled: "cancelled"
        case .invalid(let reason): "invalid: \(reason)"
        }
    }

    /// Appends the summary format's line for `outcome` (not for an invalid entry, which is
    /// reported on standard error): "OK    200    2.0 KiB     1 ms  URL".
    func summaryLine(_ outcome: DownloadOutcome, into line: inout [UInt8]) {
        switch outcome.result {
        case .ok: line.append("OK    ")
        case .skipped: line.append("SKIP  ")
        case .failed: line.append("FAIL  ")
        case .cancelled: line.append("STOP  ")
        case .invalid: return
        }
        if case .skipped = outcome.result {
            line.append("---")
        } else if let status = outcome.status {
            line.appendDecimal(status)
        } else {
            line.append("---")
        }
        line.append(UInt8(ascii: " "))
        line.appendPaddedLeft(10) { $0.appendByteCount(outcome.bytes) }
        line.append(UInt8(ascii: " "))
        line.appendPaddedLeft(8) {
            $0.appendDecimal(milliseconds(outcome.elapsed))
            $0.append(" ms")
        }
        line.append("  ")
        line.append(URLCredentials.masked(outcome.entry.url))
        switch outcome.result {
        case .ok:
            if let file = outcome.file {
                line.append(" -> ")
                line.append(file)
            }
        case .skipped:
            line.append(" (")
            line.append(outcome.file ?? "")
            line.append(" exists)")
        case .failed(let message):
            line.append(": ")
            line.append(message)
        case .cancelled:
            line.append(": interrupted")
        case .invalid:
            break
        }
        switch outcome.result {
        case .ok, .failed:
            if outcome.attempts > 1 {
                line.append(" (")
                line.appendDecimal(outcome.attempts)
                line.append(" attempts)")
            }
        default:
            break
        }
    }

    func jsonLine(_ outcome: DownloadOutcome) -> String {
        var object = JSONObject()
        object.add("url", URLCredentials.masked(outcome.entry.url))
        object.add("line", outcome.entry.line)
        object.add("status", outcome.status)
        object.add("bytes", outcome.bytes)
        object.add("elapsed_ms", milliseconds(outcome.elapsed))
        object.add("attempts", outcome.attempts)
        let error: String?
        switch outcome.result {
        case .ok, .skipped: error = nil
        case .failed(let message): error = message
        case .cancelled: error = "interrupted"
        case .invalid(let reason): error = "invalid URL: \(reason)"
        }
        object.add("error", error)
        object.add("file", outcome.succeeded ? outcome.file : nil)
        if case .skipped = outcome.result { object.add("skipped", true) } else { object.add("skipped", false) }
        return object.text
    }

    // MARK: - Progress and summary

    /// The progress line: done (of total), in flight, failed, rate.
    func progressText() -> String {
        let elapsed = clock.seconds() - startTime
        let rate = elapsed > 0 ? Double(tally.done) / elapsed : 0
        let done = total.map { "\(tally.done)/\($0)" } ?? "\(tally.done)"
        return "\(done) done, \(tally.inFlight) in flight, \(tally.failed + tally.invalid) failed, "
            + "\(formatBytes(tally.bytes)), \(fixed(rate, 1)) pages/s"
    }

    /// The final summary, for standard error; `stopped` says why the run ended early, if it did.
    func summaryText(stopped: String?) -> String {
        let elapsed = clock.seconds() - startTime
        let finished = tally.ok + tally.failed
        let rate = elapsed > 0 ? Double(finished) / elapsed : 0
        var parts = ["\(tally.ok) ok", "\(tally.failed + tally.invalid) failed"]
        if tally.invalid > 0 { parts[1] += " (\(tally.invalid) invalid)" }
        if tally.skipped > 0 { parts.append("\(tally.skipped) skipped") }
        if tally.cancelled > 0 { parts.append("\(tally.cancelled) cancelled") }
        return "getpage: \(stopped.map { "\($0): " } ?? "")" + parts.joined(separator: ", ")
            + "; \(formatBytes(tally.bytes)) in \(fixed(elapsed, 2)) s (\(fixed(rate, 1)) pages/s)"
    }

    private func milliseconds(_ seconds: Double) -> Int {
        Int((seconds * 1000).rounded())
    }

    /// The path of `url` (for the trace), or the URL.
    private func path(of url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return "/" }
        return String(rest[slash...])
    }
}
