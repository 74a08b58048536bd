import Deferreds
import Glibc
import Reactor
import URLList

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
/// A file is read lazily, in chunks, only when no complete line is buffered, so the list can be far
/// larger than memory; its lines are parsed by `URLListParser` (blank lines and `#` comments are
/// skipped, over-long lines reported invalid).
///
/// With a `URLShard`, only the entries in that shard come out (invalid lines too, so that each is
/// reported by one shard only); the others are skipped as they are read, keeping their line numbers.
final class URLSource {
    private enum Input {
        case list([String], next: Int)
        case file(LineReader)
    }

    private var input: Input
    private let shard: URLShard?
    /// Called when a `.pending` source may have more.
    var onReadable: () -> Void = {}

    init(urls: [String], shard: URLShard? = nil) {
        // Positions stay those of the whole list.
        let numbered = urls.enumerated().filter { shard?.contains($0.element) ?? true }
        input = .list(numbered.map(\.element), next: 0)
        positions = shard == nil ? nil : numbered.map { $0.offset + 1 }
        self.shard = shard
    }

    init(reader: LineReader, shard: URLShard? = nil) {
        input = .file(reader)
        positions = nil
        self.shard = shard
        reader.onReadable = { [unowned self] in self.onReadable() }
    }

    /// For a sharded command-line list: each kept URL's position in the whole list.
    private let positions: [Int]?

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
            return SourceItem(URLListItem.classify(URLEntry(line: positions?[index] ?? index + 1, url: urls[index])))
        case .file(let reader):
            guard let shard else { return reader.next() }
            while true {
                let item = reader.next()
                switch item {
                case .url(let entry), .invalid(let entry, _):
                    if shard.contains(entry.url) { return item }
                case .pending, .end:
                    return item
                }
            }
        }
    }
}

extension SourceItem {
    init(_ item: URLListItem) {
        switch item {
        case .url(let entry): self = .url(entry)
        case .invalid(let entry, let reason): self = .invalid(entry, reason: reason)
        }
    }
}

/// Reads a URL list from a file descriptor in chunks, as its items are asked for.
///
/// Regular files (and other descriptors epoll refuses, such as `/dev/null`) are read with a
/// blocking `read()`, which returns at once. Pipes, sockets and terminals are watched by the
/// reactor instead, so that a slow writer (or Ctrl-C while waiting for one) never blocks the loop.
/// A read error ends the list after an invalid item that reports it.
final class LineReader: ReadDescriptor {
    let fileDescriptor: Int32
    private let chunkSize: Int
    private let reactor: EPollReactor
    /// Whether the descriptor is watched by the reactor (pipes, terminals) or read directly.
    private let watchable: Bool
    private let closeWhenDone: Bool
    private var parser: URLListParser
    private var chunk: [UInt8]
    private var watching = false
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
        self.parser = URLListParser(maxLineBytes: maxLineBytes)
        self.chunk = [UInt8](repeating: 0, count: chunkSize)
        var info = stat()
        let kind = fstat(fd, &info) == 0 ? info.st_mode & S_IFMT : 0
        watchable = kind == S_IFIFO || kind == S_IFSOCK || isatty(fd) == 1
    }

    func next() -> SourceItem {
        while true {
            if let readError {
                self.readError = nil
                return .invalid(URLEntry(line: parser.lineNumber, url: ""), reason: readError)
            }
            switch parser.next() {
            case .item(let item):
                return SourceItem(item)
            case .end:
                return .end
            case .needMore:
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
    }

    /// Reads one chunk into the parser (blocking for a regular file, which does not wait); a
    /// failure ends the input and is reported by the next `next()`.
    private func readChunk() {
        var count: Int
        repeat {
            count = chunk.withUnsafeMutableBytes { Glibc.read(fileDescriptor, $0.baseAddress!, chunkSize) }
        } while count < 0 && errno == EINTR
        if count < 0 {
            readError = "read error: \(String(cString: strerror(errno)))"
            finish()
        } else if count == 0 {
            finish()
        } else {
            parser.feed(chunk[0..<count])
        }
    }

    private func finish() {
        parser.finish()
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
