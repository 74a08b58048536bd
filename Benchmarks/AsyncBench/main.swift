// async-bench: what async/await costs beside the callback style, on the reactor's own executor.
// Each workload runs in @ReactorActor code on the global reactor, once with `await` and once with
// callbacks doing the same work; it prints JSON lines (one per workload and style) and, with
// --markdown PATH, the table of Benchmarks/README.md. Build it in release mode (`make bench-async`).
//
//   async-bench [--scale F] [--repeat R] [--markdown PATH]

import Deferreds
import Glibc
import Reactor

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

func check(_ condition: Bool, _ message: String) {
    if !condition {
        printError("async-bench: check failed: \(message)\n")
        exit(1)
    }
}

// MARK: - Workloads (each returns the number of operations it did)

/// `try await d.value` on a deferred that has already fired.
@ReactorActor func awaitFired(_ n: Int) async throws -> Int {
    var sum = 0
    for i in 0..<n {
        let d = Deferred.succeed(i)
        sum &+= try await d.value
    }
    check(sum == n * (n - 1) / 2, "await_fired sum")
    return n
}

/// The same with a callback: `d.addCallback { … }` on a deferred that has already fired.
@ReactorActor func callbackFired(_ n: Int) async throws -> Int {
    var sum = 0
    for i in 0..<n {
        let d = Deferred.succeed(i)
        _ = d.addCallback { sum &+= $0 }
    }
    check(sum == n * (n - 1) / 2, "callback_fired sum")
    return n
}

/// One at a time: a deferred, a task awaiting it (`Deferred.fromTask`), the deferred fired, the
/// task's deferred awaited. Each round trip waits for the loop to turn.
@ReactorActor func roundTrip(_ n: Int) async throws -> Int {
    var sum = 0
    for i in 0..<n {
        let source = Deferred<Int>()
        let viaTask = Deferred.fromTask { try await source.value + 1 }
        source.callback(i)
        sum &+= try await viaTask.value
    }
    check(sum == n * (n + 1) / 2, "round_trip sum")
    return n
}

/// The callback style's round trip: the same chain of two deferreds, its result handed on on the
/// loop's next turn (as a task's result is), the next round trip started from there.
@ReactorActor func callbackRoundTrip(_ n: Int) async throws -> Int {
    let finished = Deferred<Int>()
    var sum = 0
    func start(_ i: Int) {
        guard i < n else { return finished.callback(sum) }
        let source = Deferred<Int>()
        _ = source.addCallback { $0 + 1 }.addCallback { value in
            reactor.callLater(0) {
                sum &+= value
                start(i + 1)
            }
        }
        source.callback(i)
    }
    start(0)
    let total = try await finished.value
    check(total == n * (n + 1) / 2, "callback_round_trip sum")
    return n
}

/// All at once: n deferreds, n tasks awaiting them, all fired, then all the tasks' deferreds
/// gathered — the loop's turns are shared.
@ReactorActor func roundTripConcurrent(_ n: Int) async throws -> Int {
    let sources = (0..<n).map { _ in Deferred<Int>() }
    let viaTasks = sources.map { source in Deferred.fromTask { try await source.value + 1 } }
    for (i, source) in sources.enumerated() { source.callback(i) }
    let results = try await gatherResults(viaTasks).value
    check(results.reduce(0, &+) == n * (n + 1) / 2, "round_trip_concurrent sum")
    return n
}

/// The callback style of the same: n chains of two deferreds, fired, gathered.
@ReactorActor func callbackRoundTripConcurrent(_ n: Int) async throws -> Int {
    let sources = (0..<n).map { _ in Deferred<Int>() }
    let chains = sources.map { $0.addCallback { $0 + 1 } }
    for (i, source) in sources.enumerated() { source.callback(i) }
    let results = try await gatherResults(chains).value
    check(results.reduce(0, &+) == n * (n + 1) / 2, "callback_round_trip_concurrent sum")
    return n
}

// MARK: - Running

struct Workload {
    let name: String
    let count: Int
    let async: @ReactorActor (Int) async throws -> Int
    let callback: @ReactorActor (Int) async throws -> Int
}

struct Measured {
    let name: String
    let ops: Int
    let asyncRate: Double
    let callbackRate: Double
}

@ReactorActor func measure(_ body: @ReactorActor (Int) async throws -> Int, _ n: Int, repeats: Int) async throws
    -> (ops: Int, seconds: Double)
{
    _ = try await body(max(1, n / 100))  // warm up
    var times: [Double] = []
    var ops = 0
    for _ in 0..<repeats {
        let start = now()
        ops = try await body(n)
        times.append(now() - start)
    }
    return (ops, median(times))
}

func formatted(_ value: Double) -> String {
    let whole = Int(value.rounded())
    var digits = Array(String(whole))
    var index = digits.count - 3
    while index > 0 {
        digits.insert(",", at: index)
        index -= 3
    }
    return String(digits)
}

func fixed(_ value: Double, _ places: Int) -> String {
    let scale = pow(10.0, Double(places))
    let scaled = Int((value * scale).rounded())
    let whole = scaled / Int(scale)
    let fraction = String(scaled % Int(scale))
    return "\(whole).\(String(repeating: "0", count: places - fraction.count))\(fraction)"
}

@ReactorActor func runBenchmarks() async {
    var scale = 1.0
    var repeats = 3
    var markdownPath: String?
    var arguments = CommandLine.arguments.dropFirst()
    while let argument = arguments.popFirst() {
        switch argument {
        case "--scale": scale = Double(arguments.popFirst() ?? "") ?? 1
        case "--repeat": repeats = Int(arguments.popFirst() ?? "") ?? 3
        case "--markdown": markdownPath = arguments.popFirst()
        default:
            printError("usage: async-bench [--scale F] [--repeat R] [--markdown PATH]\n")
            exit(2)
        }
    }
    let workloads = [
        Workload(name: "await_fired", count: 1_000_000, async: awaitFired, callback: callbackFired),
        Workload(name: "round_trip", count: 100_000, async: roundTrip, callback: callbackRoundTrip),
        Workload(
            name: "round_trip_concurrent", count: 100_000, async: roundTripConcurrent,
            callback: callbackRoundTripConcurrent),
    ]
    print("{\"impl\":\"swift-deferreds\",\"workload\":\"meta\",\"build\":\"release\",\"bench\":\"async\"}")
    var measured: [Measured] = []
    do {
        for workload in workloads {
            let n = max(1, Int(Double(workload.count) * scale))
            let asyncRun = try await measure(workload.async, n, repeats: repeats)
            let callbackRun = try await measure(workload.callback, n, repeats: repeats)
            for (style, run) in [("async", asyncRun), ("callback", callbackRun)] {
                print("{\"impl\":\"swift-deferreds\",\"workload\":\"\(workload.name)\",\"style\":\"\(style)\","
                    + "\"ops\":\(run.ops),\"seconds\":\(run.seconds),\"ops_per_sec\":\(Double(run.ops) / run.seconds)}")
            }
            measured.append(
                Measured(
                    name: workload.name, ops: asyncRun.ops, asyncRate: Double(asyncRun.ops) / asyncRun.seconds,
                    callbackRate: Double(callbackRun.ops) / callbackRun.seconds))
        }
    } catch {
        printError("async-bench: \(error)\n")
        exit(1)
    }
    if let markdownPath {
        var table = "| workload | count | async ops/s | callback ops/s | callback ÷ async |\n|---|---:|---:|---:|---:|\n"
        for row in measured {
            table += "| \(row.name) | \(formatted(Double(row.ops))) | \(formatted(row.asyncRate)) | "
                + "\(formatted(row.callbackRate)) | \(fixed(row.callbackRate / row.asyncRate, 2))× |\n"
        }
        guard let file = fopen(markdownPath, "w") else {
            printError("async-bench: cannot write \(markdownPath)\n")
            exit(1)
        }
        fputs(table, file)
        fclose(file)
    }
}

Task { @ReactorActor in
    await runBenchmarks()
    reactor.stop()
}
reactor.run()
