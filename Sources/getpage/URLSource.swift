import Deferreds
import Glibc
import Reactor

/// One entry of the URL list: where it came from and the text.
struct URLEntry {
    /// The 1-based line of `--input`, or the position among the command-line URLs.
    let line: Int
    let url: String
}

/// What the URL list has next.
enum SourceItem {
    /// A URL that looks fetchable.
    case url(URLEntry)
    /// A line that is not a URL we can fetch, and why; the caller reports it and goes on.
    case invalid(URLEntry, reason: String)
    /// Nothing yet: a read from a pipe or terminal is under way; `onReadable` is called when there
    /// may be more.
    case pending
    /// The list is over.
    case end
}

/// The URLs to fetch, one at a time: from the command line, or streamed from `--input`.
///
/// A file is read lazily, in chunks of `chunkSize` bytes, only when no complete line is buffered,
/// so the list can be far larger than memory. Blank lines and lines starting with `#` are skipped;
/// spaces around a URL are ignored. A line longer than `maxLineBytes` is reported invalid.
///
/// Regular files (and other descriptors epoll refuses, such as `/dev/null`) are read with a
/// blocking `read()`, which returns at once. Pipes, sockets and terminals are watched by the
/// reactor instead, so that a slow writer (or Ctrl-C while waiting for one) never blocks the loop.
final class URLSource {
    private enum Input {
        case list([String], next: Int)
        case file(LineReader)
    }

    private var input: Input
    /// Called when a `.pending` source may have more.
    var onReadable: () -> Void = {}

    init(urls: [String]) {
        input = .list(urls, next: 0)
    }

    init(reader: LineReader) {
        input = .file(reader)
        reader.onReadable = { [unowned self] in self.onReadable() }
    }

    /// The total number of entries, when known in advance (command-line URLs).
    var knownCount: Int? {
        if case .list(let urls, _) = input { return urls.count }
        return nil
    }

    func next() -> SourceItem {
        switch input {
        case .list(let urls, let index):
            guard index < urls.count else { return .end }
            input = .list(urls, next: index + 1)
            return URLSource.classify(URLEntry(line: index + 1, url: urls[index]))
        case .file(let reader):
            while true {
                switch reader.nextLine() {
                case .line(let number, let bytes):
                    let text = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
                    if text.isEmpty || text.hasPrefix("#") { continue }
                    return URLSource.classify(URLEntry(line: number, url: text))
                case .tooLong(let number):
                    let reason = "line longer than \(reader.maxLineBytes) bytes"
                    return .invalid(URLEntry(line: number, url: ""), reason: reason)
                case .failed(let message):
                    return .invalid(URLEntry(line: reader.lineNumber, url: ""), reason: message)
                case .pending:
                    return .pending
                case .end:
                    return .end
                }
            }
        }
    }

    /// `.url` when `entry` is an http(s) URL that we can send, else `.invalid` with the reason.
    static func classify(_ entry: URLEntry) -> SourceItem {
        if let reason = invalidReason(entry.url) { return .invalid(entry, reason: reason) }
        return .url(entry)
    }

    /// Why `url` cannot be fetched, or nil. The agent checks again; this catches input mistakes
    /// early, with a line number.
    static func invalidReason(_ url: String) -> String? {
        var contiguous = url
        return contiguous.withUTF8 { invalidReason(bytes: $0) }
    }

    /// `invalidReason` on the URL's bytes (it runs for every input line, so it works byte by byte).
    private static func invalidReason(bytes: UnsafeBufferPointer<UInt8>) -> String? {
        func text(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
        if bytes.isEmpty { return "empty URL" }
        if let bad = bytes.first(where: { $0 <= 0x20 || $0 >= 0x7F }) {
            return bad > 0x7F ? "non-ASCII character (percent-encode it)" : "space or control character"
        }
        guard let schemeEnd = (0..<max(0, bytes.count - 2)).first(where: {
            bytes[$0] == UInt8(ascii: ":") && bytes[$0 + 1] == UInt8(ascii: "/") && bytes[$0 + 2] == UInt8(ascii: "/")
        }) else { return "not an absolute URL (no scheme://)" }
        let scheme = text(0..<schemeEnd).lowercased()
        guard scheme == "http" || scheme == "https" else {
            return "unsupported scheme '\(scheme)' (http or https only)"
        }
        let restStart = schemeEnd + 3
        let authorityEnd = (restStart..<bytes.count).first {
            bytes[$0] == UInt8(ascii: "/") || bytes[$0] == UInt8(ascii: "?") || bytes[$0] == UInt8(ascii: "#")
        } ?? bytes.count
        var authorityStart = restStart
        if let at = (restStart..<authorityEnd).last(where: { bytes[$0] == UInt8(ascii: "@") }) { authorityStart = at + 1 }
        var host = authorityStart..<authorityEnd
        var port: Range<Int>?
        if authorityStart < authorityEnd, bytes[authorityStart] == UInt8(ascii: "[") {
            guard let close = (authorityStart..<authorityEnd).first(where: { bytes[$0] == UInt8(ascii: "]") }) else {
                return "unclosed IPv6 address"
            }
            host = (authorityStart + 1)..<close
            if close + 1 < authorityEnd {
                guard bytes[close + 1] == UInt8(ascii: ":") else { return "junk after the IPv6 address" }
                port = (close + 2)..<authorityEnd
            }
        } else if let colon = (authorityStart..<authorityEnd).last(where: { bytes[$0] == UInt8(ascii: ":") }) {
            host = authorityStart..<colon
            port = (colon + 1)..<authorityEnd
        }
        if host.isEmpty { return "no host" }
        if let port, !port.isEmpty {
            guard port.count <= 5, bytes[port].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let number = Int(text(port)), (1...65535).contains(number)
            else { return "bad port '\(text(port))'" }
        }
        return nil
    }
}

/// Reads lines from a file descriptor in chunks, as they are asked for.
final class LineReader: ReadDescriptor {
    enum Line {
        case line(number: Int, bytes: ArraySlice<UInt8>)
        /// A line over `maxLineBytes`; its bytes are skipped.
        case tooLong(number: Int)
        case failed(String)
        case pending
        case end
    }

    let fileDescriptor: Int32
    let maxLineBytes: Int
    private let chunkSize: Int
    private let reactor: EPollReactor
    /// Whether the descriptor is watched by the reactor (pipes, terminals) or read directly.
    private let watchable: Bool
    private let closeWhenDone: Bool
    private var buffer: [UInt8] = []
    private var start = 0
    private var eof = false
    private var watching = false
    /// Skipping the rest of an over-long line.
    private var skipping = false
    private(set) var lineNumber = 0
    private var readError: String?
    var onReadable: () -> Void = {}

    /// - Parameters:
    ///   - fd: the descriptor to read; closed at the end when `closeWhenDone`.
    init(fd: Int32, reactor: EPollReactor, closeWhenDone: Bool, chunkSize: Int = 64 * 1024,
         maxLineBytes: Int = 64 * 1024) {
        self.fileDescriptor = fd
        self.reactor = reactor
        self.closeWhenDone = closeWhenDone
        self.chunkSize = chunkSize
        self.maxLineBytes = maxLineBytes
        var info = stat()
        let kind = fstat(fd, &info) == 0 ? info.st_mode & S_IFMT : 0
        watchable = kind == S_IFIFO || kind == S_IFSOCK || isatty(fd) == 1
    }

    func nextLine() -> Line {
        while true {
            if let readError {
                self.readError = nil
                return .failed(readError)
            }
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[start..<newline]
                start = newline + 1
                lineNumber += 1
                if skipping {
                    skipping = false
                    return .tooLong(number: lineNumber)
                }
                return .line(number: lineNumber, bytes: line.last == UInt8(ascii: "\r") ? line.dropLast() : line)
            }
            if buffer.count - start > maxLineBytes {
                // Drop what we have of an over-long line and keep skipping to its end.
                skipping = true
                buffer.removeAll(keepingCapacity: true)
                start = 0
            }
            if eof {
                guard start < buffer.count || skipping else { return .end }
                let line = buffer[start...]
                start = buffer.count
                lineNumber += 1
                if skipping {
                    skipping = false
                    return .tooLong(number: lineNumber)
                }
                return .line(number: lineNumber, bytes: line)
            }
            if watchable {
                if !watching {
                    watching = true
                    reactor.addReader(self)
                }
                return .pending
            }
            readChunk()
        }
    }

    /// Reads one chunk into the buffer (blocking for a regular file, which does not wait); a
    /// failure ends the input and is reported by the next `nextLine()`.
    private func readChunk() {
        if start > 0 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: chunkSize))
        var count: Int
        repeat {
            count = buffer.withUnsafeMutableBytes { Glibc.read(fileDescriptor, $0.baseAddress! + old, chunkSize) }
        } while count < 0 && errno == EINTR
        if count < 0 {
            readError = "read error: \(String(cString: strerror(errno)))"
            buffer.removeSubrange(old...)
            finish()
            return
        }
        buffer.removeSubrange((old + count)...)
        if count == 0 { finish() }
    }

    private func finish() {
        eof = true
        if watching {
            watching = false
            reactor.removeReader(self)
        }
        if closeWhenDone { Glibc.close(fileDescriptor) }
    }

    // MARK: - ReadDescriptor (pipes and terminals)

    func doRead() throws {
        guard watching else { return }
        watching = false
        reactor.removeReader(self)
        readChunk()
        onReadable()
    }

    func connectionLost(_ reason: Failure) {
        watching = false
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs, CRs and LFs.
    func trimmingWhitespace() -> String {
        let isSpace = { (c: Character) in c == " " || c == "\t" || c == "\r" || c == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
