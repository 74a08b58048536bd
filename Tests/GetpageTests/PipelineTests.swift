import Deferreds
import Foundation
import Reactor
import Testing
import WebServer

/// Two servers (two ports, so two hosts for --per-host) on one reactor on a background thread.
/// The slow host's `/held` answers only once the fast host's `/page` has served `releaseAfter`
/// requests: a URL list whose fast URLs were held up behind the slow ones would never finish.
final class SlowAndFastHosts: @unchecked Sendable {
    // @unchecked: the reactor, servers and held deferreds are used on the background thread only,
    // between `init` (before the thread starts) and `stop()` (after it has finished).
    private let reactor: EPollReactor
    private let slow: WebServer
    private let fast: WebServer
    let slowCounters = ServerCounters()
    let fastCounters = ServerCounters()
    /// Both hosts' requests, in the order they came.
    let bothCounters = ServerCounters()
    private var held: [Deferred<HTTPResponse>] = []
    private var served = 0
    private let finished = DispatchSemaphore(value: 0)

    init(releaseAfter: Int) throws {
        reactor = try EPollReactor()
        slow = WebServer(reactor)
        fast = WebServer(reactor)
        let (slowCounters, fastCounters, bothCounters) = (self.slowCounters, self.fastCounters, self.bothCounters)
        slow.routeDeferred("/held") { [unowned self] request in
            slowCounters.request(request.target)
            bothCounters.request("slow" + request.target)
            slowCounters.enter()
            let answer = Deferred<HTTPResponse>()
            if served >= releaseAfter { answer.callback(.text("held\n")) } else { held.append(answer) }
            return answer.addCallback { response in
                slowCounters.leave()
                return response
            }
        }
        fast.route("/page") { [unowned self] request in
            fastCounters.request(request.target)
            bothCounters.request("fast" + request.target)
            served += 1
            if served == releaseAfter {
                let waiting = held
                held = []
                for answer in waiting { answer.callback(.text("held\n")) }
            }
            return .text("fast\n")
        }
        try slow.listen(port: 0, interface: "127.0.0.1")
        try fast.listen(port: 0, interface: "127.0.0.1")
        let thread = Thread { [self] in
            self.reactor.run(installSignalHandlers: false)
            finished.signal()
        }
        thread.start()
    }

    func slowURL(_ n: Int) -> String { slow.url("/held?n=\(n)") }
    func fastURL(_ n: Int) -> String { fast.url("/page?n=\(n)") }

    func stop() {
        reactor.callFromThread { [self] in
            for answer in held { answer.callback(.text("stopped\n")) }
            held = []
            _ = gatherResults([slow.stop(), fast.stop()]).addBoth { [self] _ in reactor.stop() }
        }
        finished.wait()
        reactor.close()
    }
}

/// The pipeline's per-host limit (`--per-host`) and its queue, which lets other hosts' URLs pass a
/// busy host's.
@Suite struct PipelineTests {
    @Test func aSlowHostDoesNotHoldUpAFastHostsURLs() throws {
        // When the list starts with 3 URLs of a host that answers only after the other host has
        // served its 10 URLs, and --per-host 1 --concurrency 2 leaves one slot to the other host,
        // every URL succeeds (held up behind the slow ones, the run would time out instead), the
        // fast host's first 9 complete first (--per-host 1 sends its 10th only after its 9th is
        // done, so before the slow host answers; its 10th and the slow answers may come in either
        // order), and the slow host never has two requests at once.
        let hosts = try SlowAndFastHosts(releaseAfter: 10)
        defer { hosts.stop() }
        let urls = (1...3).map(hosts.slowURL) + (1...10).map(hosts.fastURL)
        let run = try getpage(["--format", "jsonl", "--per-host", "1", "--concurrency", "2", "--timeout", "10"] + urls)
        #expect(run.status == 0, "\(run.stderr)")
        let finished = try run.jsonLines().compactMap { $0["url"] as? String }
        #expect(finished.count == 13)
        #expect(Array(finished.prefix(9)) == (1...9).map(hosts.fastURL), "\(finished)")
        #expect(Set(finished.suffix(4)) == Set((1...3).map(hosts.slowURL) + [hosts.fastURL(10)]), "\(finished)")
        #expect(hosts.slowCounters.maxConcurrent == 1)
    }

    @Test func perHostLimitsTheRequestsInFlightToOneHost() throws {
        // When 16 URLs of one host take 100 ms each at --concurrency 8, --per-host 3 keeps at most 3
        // of them in flight at once (without it, 8 are), and all succeed.
        try withTestServer { server in
            let urls = (1...16).map { server.url("/slow?n=\($0)") }
            let limited = try getpage(["--format", "jsonl", "--concurrency", "8", "--per-host", "3"] + urls)
            #expect(limited.status == 0, "\(limited.stderr)")
            #expect(try limited.jsonLines().filter { $0["status"] as? Int == 200 }.count == 16)
            #expect(server.counters.maxConcurrent == 3)
        }
        try withTestServer { server in
            let urls = (1...16).map { server.url("/slow?n=\($0)") }
            let unlimited = try getpage(["--format", "jsonl", "--concurrency", "8"] + urls)
            #expect(unlimited.status == 0, "\(unlimited.stderr)")
            #expect(server.counters.maxConcurrent == 8)
        }
    }

    @Test func theRateSpacesEachHostsRequestsWithoutHoldingUpTheOthers() throws {
        // When --rate 10 applies to 4 URLs of each of two hosts, the run takes at least the 0.3 s
        // that 4 starts 0.1 s apart need, and the second host's first request comes before the
        // first host's second (the rate holds a host, not the list).
        let hosts = try SlowAndFastHosts(releaseAfter: 0)
        defer { hosts.stop() }
        let urls = (1...4).map(hosts.slowURL) + (1...4).map(hosts.fastURL)
        let started = Date()
        let run = try getpage(["--format", "jsonl", "--rate", "10", "--concurrency", "4"] + urls)
        let seconds = Date().timeIntervalSince(started)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(seconds >= 0.3, "\(seconds) s")
        let order = hosts.bothCounters.paths
        #expect(order.count == 8)
        let secondSlow = try #require(order.firstIndex(of: "slow/held?n=2"))
        let firstFast = try #require(order.firstIndex(of: "fast/page?n=1"))
        #expect(firstFast < secondSlow, "\(order)")
    }

    @Test func badPerHostAndRateValuesAreUsageErrors() throws {
        // When --per-host is below 1 or --rate is not a positive number, getpage exits with 2 and
        // says which option is wrong, before any request.
        for (arguments, message) in [(["--per-host", "0"], "--per-host must be at least 1"),
                                     (["--rate", "0"], "--rate must be"), (["--rate", "inf"], "--rate must be"),
                                     (["--rate=-1"], "--rate must be")] {
            let run = try getpage(arguments + ["http://127.0.0.1:1/"])
            #expect(run.status == 2, "\(arguments)")
            #expect(run.stderr.contains(message), "\(arguments): \(run.stderr)")
        }
    }
}
