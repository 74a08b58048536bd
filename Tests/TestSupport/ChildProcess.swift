import Glibc

/// A program a test starts (with `posix_spawn`), its standard output and error going to files;
/// waited for, or stopped by its PID.
///
/// Not Foundation's `Process`: on Linux its `run()` lists /proc/self/fd to find the descriptors to
/// close in the child, copying 256 bytes of each entry's name. With many descriptors open (tests
/// beside it hold thousands of sockets) the last entry can sit at the end of glibc's directory
/// buffer, and the copy reads past it: a heap-buffer-overflow that AddressSanitizer reports in the
/// test process (swift-corelibs-foundation 6.3.1). Here the child closes what it inherited with
/// `posix_spawn_file_actions_addclosefrom_np` instead.
public final class ChildProcess {
    public let pid: pid_t
    /// The wait status, once the child has been reaped.
    private var waitStatus: Int32?

    /// Starts `path` with `arguments`. Standard input is `stdin`'s bytes (then its end) or
    /// /dev/null; standard output and error go to the files named (created or truncated), or to
    /// /dev/null. The child gets the default handling of SIGINT, SIGTERM and SIGPIPE and no blocked
    /// signals, whatever the test's thread has. Its environment is the test process's without
    /// the proxy variables (`ChildProcess.proxyVariables`): the programs tests start talk to
    /// servers on the loopback, and a proxy set for the machine (a CI runner's http_proxy) must
    /// not route them elsewhere; a test that wants a proxy exports it in the child (`bash -c`).
    public init(_ path: String, _ arguments: [String], stdin: [UInt8]? = nil,
                stdout: String? = nil, stderr: String? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var input: (read: Int32, write: Int32)?
        if stdin != nil {
            var ends: [Int32] = [-1, -1]
            guard pipe(&ends) == 0 else { throw ChildProcessError(call: "pipe", errno: errno) }
            // (Other children close what they inherit: `addclosefrom_np` below.)
            for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
            input = (ends[0], ends[1])
            posix_spawn_file_actions_adddup2(&actions, ends[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        for (fd, file) in [(Int32(1), stdout), (Int32(2), stderr)] {
            posix_spawn_file_actions_addopen(&actions, fd, file ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        }
        if let closeFrom = ChildProcess.addCloseFrom { _ = closeFrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let environment = ChildProcess.environmentWithoutProxies().map { strdup($0) } + [nil]
        defer { environment.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, environment)
        if let input { close(input.read) }
        guard spawned == 0 else {
            if let input { close(input.write) }
            throw ChildProcessError(call: "posix_spawn \(path)", errno: spawned)
        }
        self.pid = pid
        if let input, let stdin {
            var offset = 0
            while offset < stdin.count {
                let written = stdin[offset...].withUnsafeBytes { write(input.write, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { break }  // the child closed its input
                offset += written
            }
            close(input.write)
        }
    }

    /// Whether the child has not ended yet (reaps it when it has).
    public var isRunning: Bool {
        guard waitStatus == nil else { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid { waitStatus = status }
        return result == 0 || (result < 0 && errno == EINTR)
    }

    /// Sends `signal` to the child, if it is still running.
    public func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Waits for the end, killing the child (SIGKILL) once `limit` seconds have passed; returns
    /// the exit status as a shell shows it: the code, or 128 + the signal that ended it.
    @discardableResult
    public func wait(limit: Double = .infinity) -> Int32 {
        let deadline = ChildProcess.now() + limit
        while isRunning {
            if ChildProcess.now() >= deadline {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                waitStatus = status
                break
            }
            usleep(2_000)
        }
        let status = waitStatus ?? 0
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    /// The variables curl, libcurl and getpage read a proxy from, in both cases; children start
    /// without them.
    public static let proxyVariables: Set<String> = [
        "http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
    ]

    /// This process's environment ("NAME=value" entries) minus `proxyVariables`.
    static func environmentWithoutProxies() -> [String] {
        var entries: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            let name = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? text
            if !proxyVariables.contains(name) { entries.append(text) }
            entry += 1
        }
        return entries
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's Glibc
    /// module does not declare; nil where the C library lacks it.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()
}

/// A system call failed while starting a child process.
public struct ChildProcessError: Error, CustomStringConvertible {
    public let call: String
    public let errno: Int32
    public var description: String { "\(call): \(String(cString: strerror(errno)))" }
}
