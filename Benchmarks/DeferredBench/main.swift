// deferred-bench: the Deferreds workloads of Benchmarks/README.md, printed as JSON lines in the same
// shape as Benchmarks/peers/twisted_defer.py so that Benchmarks/scripts/compare.py can set them side
// by side. Build it in release mode (`make bench-deferred` does).
//
//   deferred-bench [--scale F] [--repeat R] [--only NAME ...]
//   deferred-bench --child pending_memory [--scale F]     (one memory measurement, in its own process)

import Deferreds

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Measuring

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func peakRSSKiB() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// Keeps a value alive and observable so the optimiser cannot drop the work that made it.
@inline(never) func consume<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

func printError(_ text: String) {
    _ = text.withCString { write(2, $0, strlen($0)) }
}

func check(_ condition: Bool, _ message: String) {
    if !condition {
        printError("deferred-bench: check failed: \(message)\n")
        exit(1)
    }
}

// MARK: - Workloads (each returns the number of operations it did)

/// Create a deferred, add one callback, fire it.
func createFire(_ n: Int) -> Int {
    for i in 0..<n {
        let d = Deferred<Int>()
        _ = d.addCallback { $0 + 1 }
        d.callback(i)
        consume(d)
    }
    return n
}

/// One deferred with n callbacks added before it fires.
func manyCallbacks(_ n: Int) -> Int {
    let d = Deferred<Int>()
    for _ in 0..<n { _ = d.addCallback { $0 + 1 } }
    var result = 0
    d.callback(0)
    _ = d.addCallback { result = $0 }
    check(result == n, "many_callbacks result \(result) == \(n)")
    return n
}

/// d[i]'s callback returns d[i+1], still unfired; firing them in order unwinds the whole chain.
func deepChain(_ n: Int) -> Int {
    var deferreds: [Deferred<Int>] = []
    deferreds.reserveCapacity(n + 1)
    for _ in 0...n { deferreds.append(Deferred<Int>()) }
    for i in 0..<n {
        let next = deferreds[i + 1]
        _ = deferreds[i].addCallback { _ in next }
    }
    var result = -1
    _ = deferreds[0].addCallback { result = $0 }
    for i in 0...n { deferreds[i].callback(i) }
    check(result == n, "deep_chain result \(result) == \(n)")
    return n
}

/// DeferredSemaphore(tokens: 10).run over already-fired deferreds.
func semaphoreRun(_ n: Int) -> Int {
    let semaphore = DeferredSemaphore(tokens: 10)
    var sum = 0
    for _ in 0..<n {
        _ = semaphore.run { Deferred.succeed(1) }.addCallback { sum += $0 }
    }
    check(sum == n, "semaphore_run sum \(sum) == \(n)")
    return n
}

/// A DeferredList of n unfired deferreds, then fire each.
func deferredList(_ n: Int) -> Int {
    var deferreds: [Deferred<Int>] = []
    deferreds.reserveCapacity(n)
    for _ in 0..<n { deferreds.append(Deferred<Int>()) }
    var count = -1
    _ = DeferredList(deferreds).addCallback { count = $0.count }
    for (i, d) in deferreds.enumerated() { d.callback(i) }
    check(count == n, "deferred_list fired with \(count) results")
    return n
}

/// Peak RSS growth per unfired deferred holding one callback.
func pendingMemory(_ n: Int) -> Double {
    // Warm up the allocator and the runtime's caches on a small batch first.
    var warm: [Deferred<Int>] = []
    for _ in 0..<1000 {
        let d = Deferred<Int>()
        _ = d.addCallback { $0 + 1 }
        warm.append(d)
    }
    consume(warm)
    var kept: [Deferred<Int>] = []
    kept.reserveCapacity(n)
    let before = peakRSSKiB()
    for _ in 0..<n {
        let d = Deferred<Int>()
        _ = d.addCallback { $0 + 1 }
        kept.append(d)
    }
    let after = peakRSSKiB()
    consume(kept)
    // The array of references (8 bytes each) is counted too, as Twisted's list is.
    return Double(after - before) * 1024 / Double(n)
}

// MARK: - Command line

func runBenchmarks() {
    var scale = 1.0
    var repeats = 3
    var only: [String] = []
    var child: String?
    var arguments = CommandLine.arguments.dropFirst()
    while let argument = arguments.popFirst() {
        switch argument {
        case "--scale": scale = Double(arguments.popFirst() ?? "") ?? 1
        case "--repeat": repeats = Int(arguments.popFirst() ?? "") ?? 3
        case "--only": only.append(arguments.popFirst() ?? "")
        case "--child": child = arguments.popFirst()
        default:
            printError("usage: deferred-bench [--scale F] [--repeat R] [--only NAME ...]\n")
            exit(2)
        }
    }
    func count(_ base: Int) -> Int { max(1, Int(Double(base) * scale)) }

    if child == "pending_memory" {
        print(pendingMemory(count(1_000_000)))
        return
    }

    let workloads: [(String, Int, (Int) -> Int)] = [
        ("create_fire", 1_000_000, createFire),
        ("many_callbacks", 1_000_000, manyCallbacks),
        ("deep_chain", 100_000, deepChain),
        ("semaphore_run", 100_000, semaphoreRun),
        ("deferred_list", 100_000, deferredList),
    ]

    print("{\"impl\":\"swift-deferreds\",\"workload\":\"meta\",\"build\":\"release\"}")
    for (name, base, body) in workloads where only.isEmpty || only.contains(name) {
        var times: [Double] = []
        var ops = 0
        for _ in 0..<repeats {
            let start = now()
            ops = body(count(base))
            times.append(now() - start)
        }
        let seconds = median(times)
        print("{\"impl\":\"swift-deferreds\",\"workload\":\"\(name)\",\"ops\":\(ops),"
            + "\"seconds\":\(seconds),\"ops_per_sec\":\(Double(ops) / seconds)}")
    }

    if only.isEmpty || only.contains("pending_memory") {
        // A fresh process per measurement, so peak RSS is not inflated by the workloads above.
        var samples: [Double] = []
        for _ in 0..<repeats {
            let command = "'\(CommandLine.arguments[0])' --child pending_memory --scale \(scale)"
            guard let pipe = popen(command, "r") else { break }
            var line = [UInt8](repeating: 0, count: 128)
            if fgets(&line, 128, pipe) != nil {
                let text = String(decoding: line.prefix { $0 != 0 && $0 != 10 }, as: UTF8.self)
                if let value = Double(text) { samples.append(value) }
            }
            pclose(pipe)
        }
        check(!samples.isEmpty, "pending_memory child produced a figure")
        print("{\"impl\":\"swift-deferreds\",\"workload\":\"pending_memory\",\"count\":\(count(1_000_000)),"
            + "\"bytes_per_deferred\":\(median(samples))}")
    }
}

runBenchmarks()
