import ArgumentParser
import Deferreds
import Glibc
import Reactor
import URLList
import WebAgent
import WebServer

/// `getpage`: the tutorial's downloader as a command-line tool.
///
/// The default format prints what the tutorial's program prints, for each URL. The other formats,
/// the output directory, retries and the rest are what a real downloader needs beyond it. Every
/// URL goes through one `DeferredSemaphore`, as in the tutorial, so at most `--concurrency`
/// requests are in flight.
@main
struct GetPage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "getpage",
        abstract: "Download web pages, at most N at a time (the Twisted tutorial's program, grown up).",
        discussion: """
            With no URL and no --input, runs a demo: starts the built-in WebServer on 127.0.0.1, \
            downloads its 20 demo pages and shows the semaphore keeping at most --concurrency \
            requests in flight (works offline).

            Bodies are printed in the tutorial format, saved with --output-dir, and otherwise counted \
            and dropped. Results go to standard output; diagnostics, the progress line and the final \
            summary (ok / failed / bytes / elapsed / pages per second) to standard error.

            Proxies: http URLs go through $http_proxy (lower case only, as in curl), https ones \
            through $https_proxy or $HTTPS_PROXY (a CONNECT tunnel), either through $all_proxy \
            without those, except for the hosts in $no_proxy (names match their subdomains; * matches \
            all). --proxy and --noproxy replace them.

            --per-host and --rate count each host:port apart; a URL whose host is busy waits in its \
            host's queue while later URLs of other hosts go ahead (the list is read up to 1000 URLs \
            ahead for them). --shard K/N takes only the URLs whose fixed hash falls in shard K (0 to \
            N-1), the same split on every machine: run shards 0 to N-1 of one list on N machines, \
            with --output-dir and --resume to restart one.

            A status of 400 or above counts as a failure. Retries (--retries) follow connection \
            errors, timeouts (also in the middle of a body) and the statuses curl's --retry \
            retries (408, 429, 500, 502, 503, 504), waiting as long as the response's Retry-After \
            asks (at most 30 s, or 16 times --retry-backoff), else --retry-backoff seconds, then \
            twice as long each time.

            Exit status: 0 when every URL succeeded, 1 when any failed (or an input line was not a \
            URL), 2 for a usage error (bad option or header, missing input file, unwritable output \
            directory), 130 when interrupted (Ctrl-C).
            """)

    @Argument(help: "The URLs to download (http or https).")
    var urls: [String] = []

    @Option(name: [.short, .long], help: ArgumentHelp(
        "A file of URLs, one a line (- for standard input); blank lines and # comments are skipped.",
        valueName: "file"))
    var input: String?

    @Option(name: [.short, .long], help: ArgumentHelp("The most requests in flight at once.", valueName: "n"))
    var concurrency: Int = 2

    @Option(help: ArgumentHelp(
        "The most requests in flight to one host (host:port); others wait without holding up other hosts.",
        valueName: "n"))
    var perHost: Int?

    @Option(help: ArgumentHelp("The most requests started per second to one host (host:port).", valueName: "r"))
    var rate: Double?

    @Option(help: ArgumentHelp(
        "Take only the URLs in shard K of N (K from 0), by a fixed hash: the same split on every machine.",
        valueName: "K/N"))
    var shard: String?

    @Option(help: ArgumentHelp(
        "Send every request through this HTTP proxy ([http://][user:password@]host[:port], port 1080 by "
            + "default; \"\" for none), instead of $http_proxy / $https_proxy.",
        valueName: "url"))
    var proxy: String?

    @Option(help: ArgumentHelp(
        "Hosts to reach without the proxy, comma-separated (* for all), instead of $no_proxy.", valueName: "list"))
    var noproxy: String?

    @Option(help: ArgumentHelp("Seconds for a whole request, body included (per attempt).", valueName: "seconds"))
    var timeout: Double?

    @Option(help: ArgumentHelp("Seconds to wait for a connection.", valueName: "seconds"))
    var connectTimeout: Double?

    @Option(help: ArgumentHelp(
        "How many times to retry a URL after a connection error, a timeout, 408, 429, 500, 502, 503 or 504.", valueName: "n"))
    var retries: Int = 0

    @Option(help: ArgumentHelp("Seconds to wait before the first retry (doubling after each).", valueName: "seconds"))
    var retryBackoff: Double = 0.5

    @Option(name: [.customShort("H"), .long], help: ArgumentHelp(
        "A request header, \"Name: value\" (repeatable).", valueName: "header"))
    var header: [String] = []

    @Option(help: ArgumentHelp(
        "The User-Agent (default: \"twisted\" in the tutorial format, as in the tutorial; \"getpage/1\" otherwise).",
        valueName: "text"))
    var userAgent: String?

    @Option(help: ArgumentHelp(
        "The most redirects to follow, 0 for none (default: 0 in the tutorial format, whose Agent does not follow "
            + "them; 10 otherwise).",
        valueName: "n"))
    var maxRedirects: Int?

    @Option(help: ArgumentHelp(
        "A PEM file of certificate authorities to trust for https instead of the system's (TLS is always "
            + "verified).",
        valueName: "file"))
    var cacert: String?

    @Flag(help: ArgumentHelp(
        "Offer HTTP/2 for https (through libcurl, multiplexing each server's requests on its connections); "
            + "without it, https is HTTP/1.1 over getpage's own TLS connections."))
    var http2 = false

    @Flag(help: "Ask for gzip or deflate and decompress the bodies.")
    var compressed = false

    @Option(help: ArgumentHelp(
        "Fail a URL whose body passes this many bytes (decompressed bytes with --compressed).", valueName: "bytes"))
    var maxBody: Int?

    @Option(help: ArgumentHelp(
        "Save each body in this directory (made if needed), under a name made from its URL; a file appears "
            + "only when complete.",
        valueName: "dir"))
    var outputDir: String?

    @Flag(help: "Skip URLs whose file already exists in --output-dir.")
    var resume = false

    @Option(help: ArgumentHelp(
        "tutorial, summary or jsonl (default: tutorial; summary for the demo).", valueName: "format"))
    var format: OutputFormat?

    @Option(help: ArgumentHelp("auto (when standard error is a terminal), always or never.", valueName: "when"))
    var progress: ProgressMode = .auto

    @Flag(name: [.short, .long], help: "Print only errors (and --format jsonl records).")
    var quiet = false

    /// Hidden: only serve the demo pages (and the WebServer's test routes) on this port of
    /// 127.0.0.1 (0: any free port) until interrupted; prints the base URL first.
    @Option(help: .hidden)
    var serveDemo: Int?

    // MARK: - Checking the options

    mutating func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        if let perHost, perHost < 1 { throw ValidationError("--per-host must be at least 1") }
        if let rate, !(rate > 0 && rate.isFinite) {
            throw ValidationError("--rate must be a number of requests per second > 0")
        }
        _ = try parsedShard()
        _ = try proxyEnvironment()
        if let timeout, !(timeout > 0 && timeout.isFinite) {
            throw ValidationError("--timeout must be a number of seconds > 0")
        }
        if let connectTimeout, !(connectTimeout > 0 && connectTimeout.isFinite) {
            throw ValidationError("--connect-timeout must be a number of seconds > 0")
        }
        guard retries >= 0 else { throw ValidationError("--retries must be 0 or more") }
        guard retryBackoff >= 0 && retryBackoff.isFinite else { throw ValidationError("--retry-backoff must be >= 0") }
        if let maxRedirects, maxRedirects < 0 { throw ValidationError("--max-redirects must be 0 or more") }
        if let maxBody, maxBody < 0 { throw ValidationError("--max-body must be 0 or more") }
        if resume && outputDir == nil { throw ValidationError("--resume needs --output-dir") }
        if let cacert {
            var info = stat()
            guard access(cacert, R_OK) == 0, stat(cacert, &info) == 0 else {
                throw ValidationError("cannot read --cacert \(cacert): \(String(cString: strerror(errno)))")
            }
            guard info.st_mode & S_IFMT == S_IFREG else { throw ValidationError("--cacert \(cacert) is not a file") }
        }
        if input != nil && !urls.isEmpty { throw ValidationError("give URLs or --input, not both") }
        if let userAgent, !Headers.isValidValue(userAgent) {
            throw ValidationError("bad --user-agent: it has a control character")
        }
        _ = try requestHeaders()
    }

    /// `--shard`, parsed.
    /// - Throws: `ValidationError` unless it is `K/N` with 0 <= K < N.
    func parsedShard() throws -> URLShard? {
        guard let shard else { return nil }
        do {
            return try URLShard(parsing: shard)
        } catch {
            throw ValidationError("bad --shard \(JSONObject.quote(shard)): \(error.reason)")
        }
    }

    /// The proxies: from the environment as curl reads it, with --proxy and --noproxy.
    /// - Throws: `ValidationError` for a proxy URL that cannot be used.
    func proxyEnvironment() throws -> ProxyEnvironment {
        do {
            return try ProxyEnvironment(environment: ProxyEnvironment.processEnvironment, proxy: proxy,
                                        noProxy: noproxy)
        } catch {
            let origin = proxy != nil ? "--proxy" : "the proxy environment variables"
            throw ValidationError("bad proxy in \(origin): \(URLCredentials.masked("\(error)"))")
        }
    }

    /// The `--header` values as headers.
    /// - Throws: `ValidationError` for a header that is not `Name: value` or cannot be sent.
    func requestHeaders() throws -> Headers {
        var headers = Headers()
        for text in header {
            guard let colon = text.firstIndex(of: ":") else {
                throw ValidationError("bad --header \(JSONObject.quote(text)): expected \"Name: value\"")
            }
            let name = String(text[..<colon])
            let value = String(text[text.index(after: colon)...]).trimmingWhitespace()
            guard Headers.isValidName(name) else {
                throw ValidationError("bad --header \(JSONObject.quote(text)): the name is not an HTTP token")
            }
            guard Headers.isValidValue(value) else {
                throw ValidationError("bad --header \(JSONObject.quote(text)): the value has a control character")
            }
            headers.addRawHeader(name, value)
        }
        return headers
    }

    // MARK: - Running

    func run() throws {
        // A file size limit (ulimit -f) should fail the file being written, not kill the program.
        signal(SIGXFSZ, SIG_IGN)
        // Ctrl-C must reach the reactor even if our parent started us with SIGINT blocked (a
        // blocked mask is inherited: Foundation's Process does that from a thread that blocks it).
        var interrupts = sigset_t()
        sigemptyset(&interrupts)
        sigaddset(&interrupts, SIGINT)
        sigaddset(&interrupts, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &interrupts, nil)
        let output = Output()
        if let serveDemo { return try GetPage.serve(port: serveDemo, output: output) }
        do {
            let code = try download(output: output)
            output.flush()
            if code != 0 { throw ExitCode(code) }
        } catch let error as UsageError {
            output.error("getpage: error: \(error.message)")
            throw ExitCode(2)
        }
    }

    /// Sets everything up, runs the reactor until the downloads are done, and returns the exit status.
    private func download(output: Output) throws -> Int32 {
        let demo = urls.isEmpty && input == nil
        let format = self.format ?? (demo ? .summary : .tutorial)
        var headers = try requestHeaders()
        if !headers.hasHeader("User-Agent") {
            headers.setRawHeaders("User-Agent", [userAgent ?? (format == .tutorial ? "twisted" : "getpage/1")])
        }
        let outputDirectory = try outputDir.map { try OutputDirectory.prepare($0) }

        let source: URLSource
        if let input {
            source = URLSource(reader: try GetPage.openInput(input), shard: try parsedShard())
        } else if demo {
            let server = WebServer(reactor)
            server.serveDemoPages(count: 20)
            do {
                try server.listen(port: 0, interface: "127.0.0.1")
            } catch {
                throw UsageError("cannot start the demo server: \(error)")
            }
            if !quiet && format != .jsonl {
                output.line("getpage demo: WebServer on \(server.baseURL) serves 20 pages; fetching them at most "
                    + "\(concurrency) at a time through DeferredSemaphore(tokens: \(concurrency))")
            }
            source = URLSource(urls: (1...20).map { server.url("/page/\($0)") })
        } else {
            source = URLSource(urls: urls, shard: try parsedShard())
        }

        let retry = RetryPolicy(attempts: retries + 1, backoff: Backoff(
            initial: retryBackoff, multiplier: 2, maxDelay: max(retryBackoff * 16, 30), jitter: 0.1))
        // Every request goes through one RetryAgent (a fresh one per URL for the tutorial's agents).
        let makeAgent = try makeAgentFactory(format: format)
        let shared = format == .tutorial ? nil : RetryAgent(makeAgent(), clock: reactor, policy: retry)
        let settings = FetchSettings(
            agent: { shared ?? RetryAgent(makeAgent(), clock: reactor, policy: retry) }, headers: headers,
            timeout: timeout, retry: retry,
            outputDirectory: outputDirectory, printBodies: format == .tutorial && outputDirectory == nil,
            resume: resume)
        let reporter = Reporter(format: format, output: output, quiet: quiet, trace: demo, limit: concurrency,
                                entryName: input == nil ? "argument" : "line", clock: reactor)
        let showProgress = switch progress {
        case .always: true
        case .never: false
        case .auto: output.isErrorTerminal && !quiet
        }
        let pipeline = Pipeline(reactor: reactor, source: source, settings: settings, reporter: reporter,
                                limit: concurrency, perHost: perHost, rate: rate, showProgress: showProgress)
        let descriptorsAtStart = OpenDescriptors.requested ? OpenDescriptors.snapshot() : nil
        pipeline.start()
        reactor.run()
        if let descriptorsAtStart { output.error(descriptorsAtStart.report(end: OpenDescriptors.snapshot())) }
        return pipeline.exitCode
    }

    /// Serves the demo pages until interrupted (`--serve-demo`).
    private static func serve(port: Int, output: Output) throws {
        let server = WebServer(reactor)
        server.serveDemoPages(count: 20)
        do {
            try server.listen(port: port, interface: "127.0.0.1")
        } catch {
            output.error("getpage: error: cannot listen on port \(port): \(error)")
            throw ExitCode(2)
        }
        output.line(server.baseURL)
        output.flush()
        reactor.run()
    }

    /// What makes the agent for each request.
    ///
    /// The tutorial format makes an `Agent(reactor)` per request, as the tutorial does (agents share
    /// the reactor's non-persistent connection pool). The other formats share one agent on a
    /// persistent `HTTPConnectionPool`, so connections are reused.
    ///
    /// Under the redirect and decoding wrappers, a `ProxySelectingAgent` sends each request directly
    /// or through its proxy, when any proxy is set.
    private func makeAgentFactory(format: OutputFormat) throws -> () -> any AgentProtocol {
        let redirects = maxRedirects ?? (format == .tutorial ? 0 : 10)
        let (connectTimeout, maxBody, compressed) = (self.connectTimeout, self.maxBody, self.compressed)
        let cacert = self.cacert
        let pool: HTTPConnectionPool?
        if format == .tutorial {
            // The tutorial's `Agent(reactor)` shares the reactor's pool; --http2 needs one that opts in.
            pool = http2 ? HTTPConnectionPool(reactor, persistent: false) : nil
            pool?.http2 = true
        } else {
            let persistent = HTTPConnectionPool(reactor, persistent: true)
            persistent.maxPersistentPerHost = max(2, min(concurrency, perHost ?? concurrency))
            persistent.maxConnectionsPerHost = perHost
            // Idle connections in all: as libcurl bounds curl --parallel's (4 × the transfers at once).
            persistent.maxPersistentConnections = 4 * max(2, concurrency)
            persistent.http2 = http2
            pool = persistent
        }
        let proxies = try proxyEnvironment()
        let usesProxy = proxies.http != nil || proxies.https != nil
        let make = { () -> any AgentProtocol in
            var agent: any AgentProtocol = Agent(reactor, pool: pool, connectTimeout: connectTimeout,
                                                 caFile: cacert, maxBodyBytes: maxBody)
            if usesProxy {
                agent = ProxySelectingAgent(proxies: proxies, direct: agent) { proxy in
                    ProxyAgent(reactor, proxy: proxy, pool: pool, connectTimeout: connectTimeout, caFile: cacert,
                               maxBodyBytes: maxBody)
                }
            }
            if redirects > 0 { agent = RedirectAgent(agent, redirectLimit: redirects) }
            // The agent's limit counts bytes on the wire; the decoder's counts what they inflate to.
            if compressed { agent = ContentDecoderAgent(agent, maxBodyBytes: maxBody) }
            return agent
        }
        if format == .tutorial { return make }
        let shared = make()
        return { shared }
    }

    /// Opens `--input` (`-` is standard input).
    /// - Throws: `UsageError` when it cannot be read.
    static func openInput(_ path: String) throws(UsageError) -> LineReader {
        if path == "-" { return LineReader(fd: 0, reactor: reactor, closeWhenDone: false) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw UsageError("cannot read --input \(path): \(String(cString: strerror(errno)))") }
        var info = stat()
        if fstat(fd, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR {
            close(fd)
            throw UsageError("cannot read --input \(path): it is a directory")
        }
        return LineReader(fd: fd, reactor: reactor, closeWhenDone: true)
    }

    // MARK: - Usage errors exit with 2

    /// Parses the command line and runs; usage errors exit with status 2 (ArgumentParser's default
    /// is 64), as the documentation promises.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                let message = fullMessage(for: error) + "\n"
                _ = message.withCString { Glibc.write(2, $0, strlen($0)) }
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// When to show the progress line (`--progress`).
enum ProgressMode: String, CaseIterable, ExpressibleByArgument {
    case auto, always, never
}

extension OutputFormat: ExpressibleByArgument {}
