import Deferreds
import Foundation
import Reactor
import TestSupport
import Testing
import WebServer

/// Counters kept by the test server's routes (on its reactor thread) and read by the tests.
final class ServerCounters: @unchecked Sendable {
    // @unchecked: every field is behind `lock`.
    private let lock = NSLock()
    private var _requests = 0
    private var _current = 0
    private var _maxConcurrent = 0
    private var _paths: [String] = []

    func request(_ path: String) {
        lock.withLock {
            _requests += 1
            _paths.append(path)
        }
    }

    func enter() {
        lock.withLock {
            _current += 1
            _maxConcurrent = max(_maxConcurrent, _current)
        }
    }

    func leave() {
        lock.withLock { _current -= 1 }
    }

    var requests: Int { lock.withLock { _requests } }
    var maxConcurrent: Int { lock.withLock { _maxConcurrent } }
    var paths: [String] { lock.withLock { _paths } }
}

/// A WebServer on its own reactor, running on a background thread while a test runs the binaries.
///
/// Besides the built-in, fault and demo routes it has `/slow`, which answers after 100 ms and counts
/// how many requests it is handling at once (`counters.maxConcurrent`).
final class TestServer: @unchecked Sendable {
    // @unchecked: the reactor and server are used on the background thread only, between
    // `init` (before the thread starts) and `stop()` (after it has finished).
    private let reactor: EPollReactor
    private let server: WebServer
    let baseURL: String
    let counters = ServerCounters()
    private let finished = DispatchSemaphore(value: 0)

    init() throws {
        reactor = try EPollReactor()
        server = WebServer(reactor)
        server.serveDemoPages(count: 20)
        let (counters, reactor) = (self.counters, self.reactor)
        server.onRequest = { request in counters.request(request.target) }
        server.routeDeferred("/slow") { _ in
            counters.enter()
            return deferLater(reactor, 0.1) { () -> HTTPResponse in
                counters.leave()
                return .text("slow\n")
            }
        }
        try server.listen(port: 0, interface: "127.0.0.1")
        baseURL = server.baseURL
        let thread = Thread { [self] in
            self.reactor.run(installSignalHandlers: false)
            finished.signal()
        }
        thread.start()
    }

    func url(_ path: String) -> String { baseURL + path }

    /// Stops the server and its reactor, and waits for the thread to end.
    func stop() {
        reactor.callFromThread { [self] in
            _ = server.stop().addBoth { [self] _ in reactor.stop() }
        }
        finished.wait()
        reactor.close()
    }
}

/// Runs `body` with a test server, stopping it afterwards.
func withTestServer<T>(_ body: (TestServer) throws -> T) throws -> T {
    let server = try TestServer()
    defer { server.stop() }
    return try body(server)
}

/// What a run of a binary printed, and how it ended.
struct ToolRun {
    let status: Int32
    let stdout: String
    let stderr: String

    /// The standard output's lines, parsed as JSON objects.
    func jsonLines() throws -> [[String: Any]] {
        try stdout.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: Any], "not a JSON object: \(line)")
        }
    }
}

/// The directory holding the built products (`getpage`, `blog-example`, the test bundle).
let productsDirectory: URL = {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    if FileManager.default.fileExists(atPath: bundle.appendingPathComponent("getpage").path) { return bundle }
    // The test runner may be started from elsewhere: look for the products next to the test bundle.
    for bundleItem in Bundle.allBundles where bundleItem.bundlePath.hasSuffix(".xctest") {
        let directory = bundleItem.bundleURL.deletingLastPathComponent()
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("getpage").path) { return directory }
    }
    return bundle
}()

/// A fresh temporary directory, removed by `cleanUp`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "getpage-tests-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }

    /// The names in the directory (or in `sub`), sorted.
    func contents(_ sub: String = "") throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: sub.isEmpty ? path : file(sub)).sorted()
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: file(name), atomically: true, encoding: .utf8)
    }

    func cleanUp() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A started binary.
final class RunningTool {
    let process: ChildProcess
    private let out: TemporaryDirectory

    /// Starts `product` (in the products directory) with `arguments`; `shell` runs it through
    /// `bash -c "<shell>; exec product args"` (for `ulimit`).
    init(_ product: String, _ arguments: [String], stdin: String? = nil, shell: String? = nil) throws {
        out = try TemporaryDirectory()
        let binary = productsDirectory.appendingPathComponent(product).path
        let (path, argv) = shell.map { ("/bin/bash", ["-c", "\($0); exec \"$0\" \"$@\"", binary] + arguments) }
            ?? (binary, arguments)
        process = try ChildProcess(path, argv, stdin: stdin.map { Array($0.utf8) },
                                   stdout: out.file("stdout"), stderr: out.file("stderr"))
    }

    /// Waits for the end (killing the process after `limit` seconds) and collects the output.
    func finish(limit: Double = 15) -> ToolRun {
        let status = process.wait(limit: limit)
        defer { out.cleanUp() }
        return ToolRun(status: status, stdout: readText(out.file("stdout")), stderr: readText(out.file("stderr")))
    }
}


/// Runs `getpage` with `arguments` to the end.
func getpage(_ arguments: [String], stdin: String? = nil, shell: String? = nil) throws -> ToolRun {
    try RunningTool("getpage", arguments, stdin: stdin, shell: shell).finish()
}

/// Runs `getpage` with `arguments` to the end in a mount namespace of its own (`unshare --mount`)
/// where `directory` is bind-mounted over /etc/ssl/certs: libcurl's compiled-in CA path and
/// default CA bundle then read the test's certificates, and nothing outside the child sees it.
func getpageWithSystemCertificates(_ directory: String, _ arguments: [String]) throws -> ToolRun {
    let out = try TemporaryDirectory()
    defer { out.cleanUp() }
    let binary = productsDirectory.appendingPathComponent("getpage").path
    let child = try ChildProcess("/usr/bin/unshare", [
        "--mount", "/bin/sh", "-c", "mount --bind \"$0\" /etc/ssl/certs || exit 97; exec \"$@\"", directory, binary,
    ] + arguments, stdout: out.file("stdout"), stderr: out.file("stderr"))
    let status = child.wait(limit: 15)
    return ToolRun(status: status, stdout: readText(out.file("stdout")), stderr: readText(out.file("stderr")))
}

/// Whether `getpageWithSystemCertificates` can run here: root, allowed to make a mount namespace
/// and bind-mount over /etc/ssl/certs.
let systemCertificatesCanBeReplaced: Bool = {
    guard let directory = try? TemporaryDirectory() else { return false }
    defer { directory.cleanUp() }
    return runCommand("/usr/bin/unshare", ["--mount", "/bin/sh", "-c", "mount --bind \"$0\" /etc/ssl/certs",
                                           directory.path]) == 0
}()

/// Waits until `condition` holds, for at most `limit` seconds.
func waitUntil(_ limit: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(limit)
    while !condition() {
        if Date() > deadline { return false }
        usleep(5_000)
    }
    return true
}

/// Whether this test process (and so the getpage it runs, built the same way) is built with
/// ThreadSanitizer (`make test-tsan`).
let runningUnderThreadSanitizer = dlsym(nil, "__tsan_init") != nil

/// Whether this test process (and so getpage) is built with AddressSanitizer (`make test-asan`),
/// whose quarantine keeps freed memory resident (up to 256 MiB): peak RSS then says little.
let runningUnderAddressSanitizer = dlsym(nil, "__asan_init") != nil

/// A tmpfs of a given size mounted on a fresh directory for one test: a filesystem that fills up,
/// or one that is read-only. Mounting needs root (CAP_SYS_ADMIN).
final class SmallFilesystem {
    let directory: TemporaryDirectory
    var path: String { directory.path }

    /// Mounts it; nil when mounting is not allowed here.
    init?(bytes: Int, readOnly: Bool = false) {
        guard let directory = try? TemporaryDirectory() else { return nil }
        self.directory = directory
        let options = "size=\(bytes)" + (readOnly ? ",ro" : "") + ",mode=0755"
        guard runCommand("/bin/mount", ["-t", "tmpfs", "-o", options, "tmpfs", directory.path]) == 0 else {
            directory.cleanUp()
            return nil
        }
    }

    /// Unmounts it and removes its directory.
    func unmount() {
        runCommand("/bin/umount", [path])
        directory.cleanUp()
    }

    /// Whether a tmpfs can be mounted here (root in a system that allows it).
    static let available: Bool = {
        guard let probe = SmallFilesystem(bytes: 64 * 1024) else { return false }
        probe.unmount()
        return true
    }()
}

/// A finished run of a binary, with its peak resident memory.
struct MeasuredRun {
    let run: ToolRun
    /// The process's peak resident set size (VmHWM), KiB, as last read while it ran.
    let peakResidentKiB: Int
    /// How many times VmHWM was read.
    let samples: Int
}

/// Runs `getpage` with `arguments` and reads its peak memory (`VmHWM` in /proc/<pid>/status) every
/// 2 ms until it exits; killed after `limit` seconds.
///
/// Not wait4's `ru_maxrss`: a process started with posix_spawn (vfork-like, sharing the test
/// process's memory until exec) inherits the test process's peak there, hundreds of MiB in a full
/// test run. VmHWM belongs to the process's own memory and only grows, so the last reading before
/// the exit covers all but its last 2 ms.
func getpageMeasured(_ arguments: [String], limit: Double = 30) throws -> MeasuredRun {
    let out = try TemporaryDirectory()
    defer { out.cleanUp() }
    let child = try ChildProcess(productsDirectory.appendingPathComponent("getpage").path, arguments,
                                 stdout: out.file("stdout"), stderr: out.file("stderr"))
    var peak = 0
    var samples = 0
    let deadline = Date().addingTimeInterval(limit)
    while child.isRunning {
        let status = readText("/proc/\(child.pid)/status")
        if let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        {
            peak = max(peak, kib)
            samples += 1
        }
        if Date() > deadline { child.signal(SIGKILL) }
        usleep(2_000)
    }
    let exit = child.wait()
    return MeasuredRun(run: ToolRun(status: exit, stdout: readText(out.file("stdout")), stderr: readText(out.file("stderr"))),
                       peakResidentKiB: peak, samples: samples)
}
