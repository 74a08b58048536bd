// reactor-bench: the reactor workloads of `make bench-reactor`, printed as JSON lines in the same
// shape as Benchmarks/peers/twisted_reactor.py so that Benchmarks/scripts/compare_reactor.py can set
// them side by side. Build it in release mode (`make bench-reactor` does).
//
//   reactor-bench [--scale F] [--repeat R] [--only NAME ...]
//
// Every workload (and every repetition) runs on its own EPollReactor (no signal handlers, closed
// afterwards); the TCP workloads have server and client on that one reactor, over 127.0.0.1.
// Each reports the median over the repetitions.

import Deferreds
import Reactor

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Measuring

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

func printError(_ text: String) {
    _ = text.withCString { write(2, $0, strlen($0)) }
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition {
        printError("reactor-bench: check failed: \(message())\n")
        exit(1)
    }
}

func makeReactor() -> EPollReactor {
    do {
        return try EPollReactor()
    } catch {
        printError("reactor-bench: cannot create a reactor: \(error)\n")
        exit(1)
    }
}

/// One repetition's result: the timed region and the operations done in it, plus extra JSON fields.
struct Sample {
    var ops: Int
    var seconds: Double
    var extra: [(String, Double)] = []
}

// MARK: - (1) call_later_bulk

/// Schedules n `callLater(0)` before `run()`, then runs them; each checks that it runs in order.
/// Timed from the first `callLater` to the end of the last call.
final class BulkState {
    let n: Int
    let reactor: EPollReactor
    var next = 0
    var end = 0.0
    init(n: Int, reactor: EPollReactor) {
        self.n = n
        self.reactor = reactor
    }
    func hit(_ i: Int) {
        check(i == next, "call_later_bulk: call \(i) ran when \(next) was expected")
        next += 1
        if next == n {
            end = now()
            reactor.stop()
        }
    }
}

func callLaterBulk(_ n: Int) -> Sample {
    let reactor = makeReactor()
    let state = BulkState(n: n, reactor: reactor)
    let start = now()
    for i in 0..<n {
        reactor.callLater(0) { state.hit(i) }
    }
    let scheduled = now()
    reactor.run(installSignalHandlers: false)
    reactor.close()
    check(state.next == n, "call_later_bulk: \(state.next) of \(n) calls ran")
    return Sample(ops: n, seconds: state.end - start,
                  extra: [("schedule_seconds", scheduled - start), ("run_seconds", state.end - scheduled)])
}

// MARK: - (2) call_later_chain

/// Each `callLater(0)` schedules the next (one reactor pass each). Timed from the first
/// `callLater` to the end of the last call.
final class ChainState {
    let n: Int
    let reactor: EPollReactor
    var done = 0
    var end = 0.0
    init(n: Int, reactor: EPollReactor) {
        self.n = n
        self.reactor = reactor
    }
    func step() {
        done += 1
        if done == n {
            end = now()
            reactor.stop()
        } else {
            reactor.callLater(0) { [unowned self] in self.step() }
        }
    }
}

func callLaterChain(_ n: Int) -> Sample {
    let reactor = makeReactor()
    let state = ChainState(n: n, reactor: reactor)
    let start = now()
    reactor.callLater(0) { state.step() }
    reactor.run(installSignalHandlers: false)
    reactor.close()
    check(state.done == n, "call_later_chain: \(state.done) of \(n) calls ran")
    return Sample(ops: n, seconds: state.end - start)
}

// MARK: - (3) call_from_thread

/// A second pthread queues n calls with `callFromThread`; the reactor checks they arrive in order.
/// Timed from just before the first `callFromThread` (on the producer thread) to the end of the
/// last call (on the reactor thread).
final class ThreadCallState: @unchecked Sendable {
    // @unchecked: `startTime` is written by the producer before its first callFromThread and read by
    // the reactor after the last one ran (ordered by the queue's mutex); everything else is only
    // touched on the reactor's thread.
    let n: Int
    let reactor: EPollReactor
    let queue: ThreadCallQueue
    var startTime = 0.0
    var next = 0
    var end = 0.0
    var thread = pthread_t()

    init(n: Int, reactor: EPollReactor) {
        self.n = n
        self.reactor = reactor
        self.queue = reactor.threadQueue
    }

    /// Runs on the producer thread.
    func produce() {
        let queue = self.queue
        startTime = now()
        for i in 0..<n {
            queue.callFromThread { self.received(i) }
        }
    }

    /// Runs on the reactor thread.
    func received(_ i: Int) {
        check(i == next, "call_from_thread: call \(i) ran when \(next) was expected")
        next += 1
        if next == n {
            end = now()
            reactor.stop()
        }
    }
}

/// Starts the producer pthread (the C entry point is a capture-free closure in a nonisolated
/// function, see PLATFORM-NOTES §2).
func startProducer(_ state: ThreadCallState) {
    let context = Unmanaged.passRetained(state).toOpaque()
    let status = pthread_create(&state.thread, nil, { argument in
        let state = Unmanaged<ThreadCallState>.fromOpaque(argument!).takeRetainedValue()
        state.produce()
        return nil
    }, context)
    check(status == 0, "pthread_create failed: \(status)")
}

func callFromThread(_ n: Int) -> Sample {
    let reactor = makeReactor()
    let state = ThreadCallState(n: n, reactor: reactor)
    reactor.callWhenRunning { startProducer(state) }
    reactor.run(installSignalHandlers: false)
    pthread_join(state.thread, nil)
    reactor.close()
    check(state.next == n, "call_from_thread: \(state.next) of \(n) calls ran")
    return Sample(ops: n, seconds: state.end - state.startTime)
}

// MARK: - TCP support

final class EchoServer: Protocol {
    override func dataReceived(_ bytes: [UInt8]) {
        transport?.write(bytes)
    }
}

/// Builds one client protocol per connection and reports connection failures loudly.
final class BenchClientFactory: ClientFactory {
    let make: () -> Protocol
    init(_ make: @escaping () -> Protocol) {
        self.make = make
        super.init()
    }
    override func buildProtocol(_ address: Address) -> Protocol? { make() }
    override func clientConnectionFailed(_ connector: Connector, _ reason: Failure) {
        check(false, "connection failed: \(reason)")
    }
}

func listenEcho(_ reactor: EPollReactor) -> ListeningPort {
    do {
        return try reactor.listenTCP(0, Factory.forProtocol { EchoServer() }, interface: "127.0.0.1")
    } catch {
        printError("reactor-bench: listenTCP failed: \(error)\n")
        exit(1)
    }
}

// MARK: - (4a) tcp_echo_throughput_1

/// Streams `total` bytes in 64 KiB writes through the echo server, keeping at most `window` bytes
/// unanswered, and reads them all back. Timed from connectionMade to the last byte back.
final class StreamClient: Protocol {
    let total: Int
    let window: Int
    let chunk: [UInt8]
    let finished: () -> Void
    var sent = 0
    var received = 0
    var start = 0.0
    var end = 0.0

    init(total: Int, chunk: [UInt8], window: Int, finished: @escaping () -> Void) {
        self.total = total
        self.chunk = chunk
        self.window = window
        self.finished = finished
    }

    override func connectionMade() {
        start = now()
        pump()
    }

    func pump() {
        guard let transport else { return }
        while sent < total && sent - received < window {
            transport.write(chunk)
            sent += chunk.count
        }
    }

    override func dataReceived(_ bytes: [UInt8]) {
        received += bytes.count
        if received >= total {
            end = now()
            finished()
        } else {
            pump()
        }
    }
}

func tcpEchoThroughput(_ totalBytes: Int) -> Sample {
    let chunkSize = 64 * 1024
    let total = max(1, totalBytes / chunkSize) * chunkSize
    let chunk = (0..<chunkSize).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    let reactor = makeReactor()
    let port = listenEcho(reactor)
    var client: StreamClient?
    let factory = BenchClientFactory {
        let made = StreamClient(total: total, chunk: chunk, window: 4 * 1024 * 1024) { reactor.stop() }
        client = made
        return made
    }
    reactor.connectTCP("127.0.0.1", port.getHost().port, factory)
    reactor.run(installSignalHandlers: false)
    reactor.close()
    guard let client else {
        check(false, "tcp_echo_throughput: no connection")
        exit(1)
    }
    check(client.received == total, "tcp_echo_throughput: \(client.received) of \(total) bytes came back")
    let seconds = client.end - client.start
    return Sample(ops: total, seconds: seconds, extra: [("mb_per_sec", Double(total) / 1e6 / seconds)])
}

// MARK: - (4b) tcp_rtt_1, tcp_rtt_100

/// Coordinates `connections` ping-pong clients: starts them all once every one is connected,
/// stops them after `duration` seconds and counts the round trips completed by then.
final class RoundTripRun {
    let reactor: EPollReactor
    let connections: Int
    let duration: Double
    var clients: [PingClient] = []
    var connected = 0
    var running = false
    var roundTrips = 0
    var start = 0.0
    var end = 0.0

    init(reactor: EPollReactor, connections: Int, duration: Double) {
        self.reactor = reactor
        self.connections = connections
        self.duration = duration
    }

    func clientConnected() {
        connected += 1
        guard connected == connections else { return }
        running = true
        start = now()
        reactor.callLater(duration) { [unowned self] in
            end = now()
            running = false
            reactor.stop()
        }
        for client in clients { client.ping() }
    }
}

/// Sends 32 bytes, waits until all 32 have come back, repeats while the run is on.
final class PingClient: Protocol {
    static let message = [UInt8](repeating: 0x61, count: 32)
    unowned let run: RoundTripRun
    var pending = 0

    init(run: RoundTripRun) {
        self.run = run
    }

    override func connectionMade() {
        run.clientConnected()
    }

    func ping() {
        pending = PingClient.message.count
        transport?.write(PingClient.message)
    }

    override func dataReceived(_ bytes: [UInt8]) {
        pending -= bytes.count
        check(pending >= 0, "tcp_rtt: more bytes came back than were sent")
        guard pending == 0, run.running else { return }
        run.roundTrips += 1
        ping()
    }
}

func tcpRoundTrips(connections: Int, duration: Double) -> Sample {
    let reactor = makeReactor()
    let port = listenEcho(reactor)
    let run = RoundTripRun(reactor: reactor, connections: connections, duration: duration)
    let factory = BenchClientFactory {
        let client = PingClient(run: run)
        run.clients.append(client)
        return client
    }
    for _ in 0..<connections {
        reactor.connectTCP("127.0.0.1", port.getHost().port, factory)
    }
    reactor.run(installSignalHandlers: false)
    reactor.close()
    check(run.connected == connections, "tcp_rtt: \(run.connected) of \(connections) connected")
    check(run.roundTrips > 0, "tcp_rtt: no round trips")
    let seconds = run.end - run.start
    return Sample(ops: run.roundTrips, seconds: seconds,
                  extra: [("round_trips_per_sec", Double(run.roundTrips) / seconds),
                          ("connections", Double(connections))])
}

// MARK: - (5) clock_random_100k

/// SplitMix64: a small deterministic generator, so every run schedules the same delays.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func nextUnit() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }
}

final class ClockOrder {
    var last = -1.0
    var ran = 0
    func hit(_ delay: Double) {
        check(delay >= last, "clock_random: a call for \(delay) ran after one for \(last)")
        last = delay
        ran += 1
    }
}

/// n `callLater` at uniform random delays in [0, 1000) on a `Clock`, then `advance(1000)`.
/// Timed over scheduling and advancing; checks that the calls ran in time order.
func clockRandom(_ n: Int) -> Sample {
    var random = SplitMix64(state: 0x5EED)
    let delays = (0..<n).map { _ in random.nextUnit() * 1000 }
    let order = ClockOrder()
    let start = now()
    let clock = Clock()
    for delay in delays {
        clock.callLater(delay) { order.hit(delay) }
    }
    clock.advance(1000)
    let seconds = now() - start
    check(order.ran == n, "clock_random: \(order.ran) of \(n) calls ran")
    return Sample(ops: n, seconds: seconds)
}

// MARK: - Command line

func formatNumber(_ value: Double) -> String {
    value.isFinite ? "\(value)" : "null"
}

/// The first three fields of /proc/loadavg (the machine is shared: worth recording with the figures).
func loadAverage() -> String {
    guard let file = fopen("/proc/loadavg", "r") else { return "unknown" }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 128)
    guard fgets(&line, 128, file) != nil else { return "unknown" }
    let text = String(decoding: line.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}

func runBenchmarks() {
    var scale = 1.0
    var repeats = 3
    var only: [String] = []
    var arguments = CommandLine.arguments.dropFirst()
    while let argument = arguments.popFirst() {
        switch argument {
        case "--scale": scale = Double(arguments.popFirst() ?? "") ?? 1
        case "--repeat": repeats = max(1, Int(arguments.popFirst() ?? "") ?? 3)
        case "--only": only.append(arguments.popFirst() ?? "")
        default:
            printError("usage: reactor-bench [--scale F] [--repeat R] [--only NAME ...]\n")
            exit(2)
        }
    }
    func count(_ base: Int) -> Int { max(1, Int((Double(base) * scale).rounded())) }
    let rttSeconds = max(0.2, 2.0 * scale)

    let workloads: [(String, () -> Sample)] = [
        ("call_later_bulk", { callLaterBulk(count(1_000_000)) }),
        ("call_later_chain", { callLaterChain(count(1_000_000)) }),
        ("call_from_thread", { callFromThread(count(100_000)) }),
        ("tcp_echo_throughput_1", { tcpEchoThroughput(count(256 * 1024 * 1024)) }),
        ("tcp_rtt_1", { tcpRoundTrips(connections: 1, duration: rttSeconds) }),
        ("tcp_rtt_100", { tcpRoundTrips(connections: 100, duration: rttSeconds) }),
        ("clock_random_100k", { clockRandom(count(100_000)) }),
    ]

    print("{\"impl\":\"swift-deferreds\",\"workload\":\"meta\",\"build\":\"release\",\"reactor\":\"EPollReactor\","
        + "\"loadavg\":\"\(loadAverage())\"}")
    for (name, body) in workloads where only.isEmpty || only.contains(name) {
        printError("reactor-bench: \(name): x\(repeats)\n")
        var samples: [Sample] = []
        for _ in 0..<repeats { samples.append(body()) }
        // The median repetition by rate (for the fixed-count workloads, by time).
        let ranked = samples.sorted { Double($0.ops) / $0.seconds < Double($1.ops) / $1.seconds }
        let chosen = ranked[ranked.count / 2]
        var line = "{\"impl\":\"swift-deferreds\",\"workload\":\"\(name)\",\"ops\":\(chosen.ops),"
            + "\"seconds\":\(formatNumber(chosen.seconds)),"
            + "\"ops_per_sec\":\(formatNumber(Double(chosen.ops) / chosen.seconds))"
        for (key, value) in chosen.extra {
            line += ",\"\(key)\":\(key == "connections" ? "\(Int(value))" : formatNumber(value))"
        }
        line += ",\"repeat\":\(repeats)}"
        print(line)
    }
}

runBenchmarks()
