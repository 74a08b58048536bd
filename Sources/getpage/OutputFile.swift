import Glibc

/// A write to an output file failed (disk full, quota, I/O error…).
struct OutputWriteError: Error, CustomStringConvertible {
    let path: String
    let errno: Int32
    var description: String { "cannot write \(path): \(String(cString: strerror(errno)))" }
}

/// The directory bodies are saved in, and the file names derived from URLs.
struct OutputDirectory {
    let path: String

    /// Makes the directory (and its parents) if needed and checks that files can be created in it.
    /// - Throws: a message for the user.
    static func prepare(_ path: String) throws(UsageError) -> OutputDirectory {
        let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        try makeDirectories(trimmed)
        // Root may write anywhere `access()` says, even to a read-only file system: really try.
        let probe = "\(trimmed)/.getpage-probe-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw UsageError("output directory \(path) is not writable: \(String(cString: strerror(errno)))")
        }
        close(fd)
        unlink(probe)
        return OutputDirectory(path: trimmed)
    }

    private static func makeDirectories(_ path: String) throws(UsageError) {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw UsageError("cannot make output directory: \(path) is not a directory")
            }
            return
        }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeDirectories(String(path[..<slash]))
        }
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw UsageError("cannot create output directory \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// The file `url` is saved as.
    func path(for url: String) -> String {
        "\(path)/\(OutputDirectory.fileName(for: url))"
    }

    /// A file name for `url`: its host, port and path made safe (letters, digits, `.`, `-`, `_`;
    /// at most 100 characters), then `-` and 16 hex digits of a hash of the whole URL, so that two
    /// URLs never share a name while one URL always gets the same one (which `--resume` relies on).
    /// The path's extension, if short and plain, is kept at the end. The URL's userinfo
    /// (`user:password@`) is left out of both the name and the hash: URLs that differ only there
    /// get the same name.
    ///
    /// `http://example.com/a/b.html?x=1` → `example.com_a_b-<hash>.html`
    static func fileName(for url: String) -> String {
        let url = URLCredentials.withoutUserinfo(url)
        var rest = Substring(url)
        if let schemeEnd = rest.firstRange(of: "://") { rest = rest[schemeEnd.upperBound...] }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        if let query = rest.firstIndex(of: "?") { rest = rest[..<query] }
        var stem = String(rest)
        var ext = ""
        let lastSegment = stem.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        if stem.contains("/"), let dot = lastSegment.lastIndex(of: "."), dot != lastSegment.startIndex {
            let candidate = lastSegment[lastSegment.index(after: dot)...]
            if (1...8).contains(candidate.count), candidate.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
                ext = "." + candidate.lowercased()
                stem.removeLast(candidate.count + 1)
            }
        }
        var safe = ""
        var lastWasUnderscore = false
        for scalar in stem.unicodeScalars {
            let c = Character(scalar)
            let keep = scalar.isASCII && (c.isLetter || c.isNumber || c == "." || c == "-")
            if keep {
                safe.append(c)
                lastWasUnderscore = false
            } else if !lastWasUnderscore {
                safe.append("_")
                lastWasUnderscore = true
            }
        }
        while safe.hasSuffix("_") { safe.removeLast() }
        while safe.hasPrefix(".") || safe.hasPrefix("_") { safe.removeFirst() }
        if safe.isEmpty { safe = "page" }
        if safe.count > 100 { safe = String(safe.prefix(100)) }
        return "\(safe)-\(hex16(fnv1a64(url)))\(ext)"
    }
}

/// FNV-1a, 64 bits: a stable hash (Swift's `Hasher` is seeded per process).
func fnv1a64(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
}

func hex16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

/// A body being saved: written to a temporary file in the output directory, renamed into place
/// when complete, removed otherwise. A reader never sees a partial file under the final name.
final class PartialFile {
    let finalPath: String
    let temporaryPath: String
    private var fd: Int32
    private(set) var bytesWritten = 0

    /// Creates the temporary file next to `finalPath`.
    /// - Throws: `OutputWriteError` when it cannot be created.
    init(finalPath: String) throws {
        self.finalPath = finalPath
        let slash = finalPath.lastIndex(of: "/").map { finalPath.index(after: $0) } ?? finalPath.startIndex
        // Two downloads of one URL may run at once: each has its own temporary file.
        let unique = hex16(UInt64.random(in: 0...UInt64.max)).prefix(8)
        temporaryPath = finalPath[..<slash] + ".\(finalPath[slash...]).\(getpid())-\(unique).part"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OutputWriteError(path: temporaryPath, errno: errno) }
    }

    deinit {
        discard()
    }

    /// Appends `bytes`, all of them.
    /// - Throws: `OutputWriteError`; the caller then discards the file.
    func write(_ bytes: [UInt8]) throws {
        precondition(fd >= 0, "PartialFile.write after commit or discard")
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if count < 0 {
                if errno == EINTR { continue }
                throw OutputWriteError(path: finalPath, errno: errno)
            }
            offset += count
        }
        bytesWritten += bytes.count
    }

    /// Closes the file and renames it to `finalPath`.
    /// - Throws: `OutputWriteError` (the temporary file is then removed).
    func commit() throws {
        precondition(fd >= 0, "PartialFile.commit after commit or discard")
        // close() can report a delayed write error (NFS, quotas): it counts.
        let closed = close(fd)
        let closeErrno = errno
        fd = -1
        if closed != 0 {
            unlink(temporaryPath)
            throw OutputWriteError(path: finalPath, errno: closeErrno)
        }
        if rename(temporaryPath, finalPath) != 0 {
            let renameErrno = errno
            unlink(temporaryPath)
            throw OutputWriteError(path: finalPath, errno: renameErrno)
        }
    }

    /// Closes and removes the temporary file (nothing if committed or already discarded).
    func discard() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(temporaryPath)
    }
}

/// A mistake in the command line or its files, found before any request: exit status 2.
struct UsageError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Whether a file exists at `path`.
func fileExists(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0
}
