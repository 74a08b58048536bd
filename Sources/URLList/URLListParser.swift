/// One entry of a URL list: where it came from and its text.
public struct URLEntry: Equatable, Sendable {
    /// The 1-based line of the list, or the position among command-line URLs.
    public let line: Int
    public let url: String

    public init(line: Int, url: String) {
        self.line = line
        self.url = url
    }
}

/// What a URL list holds at one entry: a URL to fetch, or a line that is not one.
public enum URLListItem: Equatable, Sendable {
    /// A URL that looks fetchable.
    case url(URLEntry)
    /// An entry that is not a URL we can fetch, and why (for the user).
    case invalid(URLEntry, reason: String)

    /// `.url` when `entry` is an http(s) URL that can be sent, else `.invalid` with the reason.
    public static func classify(_ entry: URLEntry) -> URLListItem {
        if let reason = URLSyntax.problem(in: entry.url) { return .invalid(entry, reason: reason) }
        return .url(entry)
    }
}

/// Reads a URL list, one URL a line, from bytes fed as they arrive: `getpage --input`'s format.
///
/// Blank lines and lines whose first non-blank character is `#` are skipped; spaces, tabs and CRs
/// around a URL are ignored. Every other line is an item: `.url` when `URLSyntax` finds nothing
/// wrong with it, else `.invalid` with the reason (a line over `maxLineBytes` is invalid too, with
/// an empty URL). Items carry their line number. Bytes that are not UTF-8 become U+FFFD (and so
/// make the line invalid). Memory is bounded as in `LineSplitter`.
///
/// ```swift
/// var list = URLListParser()
/// list.feed(Array("# mirrors\nhttp://a.test/\n\nftp://b.test/\n".utf8))
/// list.finish()
/// list.next()   // .item(.url(URLEntry(line: 2, url: "http://a.test/")))
/// list.next()   // .item(.invalid(URLEntry(line: 4, url: "ftp://b.test/"), reason: "unsupported scheme …"))
/// list.next()   // .end
/// ```
public struct URLListParser: Sendable {
    /// What `next()` found.
    public enum Event: Equatable, Sendable {
        case item(URLListItem)
        /// Feed more, or finish.
        case needMore
        /// The list is over.
        case end
    }

    private var lines: LineSplitter

    /// - Parameter maxLineBytes: the longest line taken (longer ones are invalid items).
    public init(maxLineBytes: Int = 64 * 1024) {
        lines = LineSplitter(maxLineBytes: maxLineBytes)
    }

    public var maxLineBytes: Int { lines.maxLineBytes }
    /// The number of the last line read.
    public var lineNumber: Int { lines.lineNumber }
    /// Bytes held for lines not read yet.
    public var bufferedByteCount: Int { lines.bufferedByteCount }

    /// Appends bytes of the list.
    public mutating func feed<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        lines.feed(bytes)
    }

    /// Marks the end of the list.
    public mutating func finish() {
        lines.finish()
    }

    /// The next item, `.needMore` or `.end`.
    public mutating func next() -> Event {
        while true {
            switch lines.next() {
            case .line(let number, let bytes):
                let text = URLListParser.trimmedText(bytes)
                if text.isEmpty || text.hasPrefix("#") { continue }
                return .item(URLListItem.classify(URLEntry(line: number, url: text)))
            case .tooLong(let number):
                return .item(.invalid(URLEntry(line: number, url: ""),
                                      reason: "line longer than \(lines.maxLineBytes) bytes"))
            case .needMore:
                return .needMore
            case .end:
                return .end
            }
        }
    }
}

extension URLListParser {
    /// The line as text, without leading and trailing spaces, tabs, CRs and LFs: trimmed as bytes
    /// when the line is ASCII (URL lines are), else as characters (a combining mark after a space
    /// makes one character with it, which `trimmingWhitespace` keeps).
    static func trimmedText(_ bytes: ArraySlice<UInt8>) -> String {
        guard !bytes.contains(where: { $0 >= 0x80 }) else {
            return String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        }
        var start = bytes.startIndex
        var end = bytes.endIndex
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs, CRs and LFs.
    package func trimmingWhitespace() -> String {
        let isSpace = { (c: Character) in c == " " || c == "\t" || c == "\r" || c == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
