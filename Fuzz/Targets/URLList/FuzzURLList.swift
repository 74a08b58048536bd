/// Fuzz target: getpage's URL-list reader (`URLListParser` and its `LineSplitter`), fed any bytes.
///
/// Invariants:
/// - the lines and items are the same whether the bytes come at once, one at a time or in
///   pseudo-random pieces, under a tiny, a small and the default line limit;
/// - lines hold no LF, are at most `maxLineBytes` long, are numbered 1, 2, 3…, and there are as
///   many as the input has line ends (plus a last line without one); the buffer never holds more
///   than the limit plus one piece;
/// - a `.url` item is trimmed visible ASCII that `URLSyntax` accepts, never a comment;
/// - round trip: URLs written one a line, with blank lines, comments, CR LF line ends and blanks
///   around them, read back as exactly those URLs with their line numbers.
import FuzzSupport
import URLList

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzURLList(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = fuzzBytes(data, count)
    let seed = fnv1a(bytes)
    for limit in [4, 16, 64 * 1024] {
        let whole = splitLines([bytes], limit: limit)
        checkLines(whole, of: bytes, limit: limit)
        let wholeItems = readItems([bytes], limit: limit)
        for cut in [pieces(of: bytes, seed: 0), pieces(of: bytes, seed: seed)] {
            let lines = splitLines(cut, limit: limit)
            invariant(lines == whole, "split input gave other lines under limit \(limit): \(lines) vs \(whole)")
            let items = readItems(cut, limit: limit)
            invariant(items == wholeItems, "split input gave other items under limit \(limit)")
        }
        for item in wholeItems {
            guard case .url(let entry) = item else { continue }
            invariant(entry.url.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "URL \(entry.url.debugDescription)")
            invariant(!entry.url.hasPrefix("#"), "a comment taken as URL \(entry.url.debugDescription)")
            invariant(URLSyntax.problem(in: entry.url) == nil, "URL \(entry.url.debugDescription) has a problem")
        }
    }
    checkRoundTrip(bytes)
    return 0
}

private func splitLines(_ pieces: [[UInt8]], limit: Int) -> [LineSplitter.Event] {
    var splitter = LineSplitter(maxLineBytes: limit)
    var events: [LineSplitter.Event] = []
    var largestPiece = 0
    func take() {
        while true {
            let event = splitter.next()
            invariant(splitter.bufferedByteCount <= limit + 1 + largestPiece,
                      "\(splitter.bufferedByteCount) bytes held with limit \(limit), pieces of \(largestPiece)")
            if event == .needMore || event == .end { return }
            events.append(event)
        }
    }
    for piece in pieces {
        largestPiece = max(largestPiece, piece.count)
        splitter.feed(piece)
        take()
    }
    splitter.finish()
    take()
    invariant(splitter.next() == .end, "no end after finish")
    return events
}

private func checkLines(_ events: [LineSplitter.Event], of bytes: [UInt8], limit: Int) {
    let lineEnds = bytes.filter { $0 == UInt8(ascii: "\n") }.count
    let expected = lineEnds + (bytes.last.map { $0 != UInt8(ascii: "\n") } ?? false ? 1 : 0)
    invariant(events.count == expected, "\(events.count) lines for \(lineEnds) line ends in \(bytes.count) bytes")
    for (index, event) in events.enumerated() {
        switch event {
        case .line(let number, let line):
            invariant(number == index + 1, "line \(index + 1) numbered \(number)")
            invariant(!line.contains(UInt8(ascii: "\n")), "a line holds LF")
            invariant(line.count <= limit, "a line of \(line.count) bytes passed the limit of \(limit)")
        case .tooLong(let number):
            invariant(number == index + 1, "line \(index + 1) numbered \(number)")
        case .needMore, .end:
            invariant(false, "unexpected \(event)")
        }
    }
}

private func readItems(_ pieces: [[UInt8]], limit: Int) -> [URLListItem] {
    var parser = URLListParser(maxLineBytes: limit)
    var items: [URLListItem] = []
    func take() {
        while case .item(let item) = parser.next() { items.append(item) }
    }
    for piece in pieces {
        parser.feed(piece)
        take()
    }
    parser.finish()
    take()
    return items
}

/// Makes URLs out of the input's lines, writes them as a list with decorations, and reads it back.
private func checkRoundTrip(_ bytes: [UInt8]) {
    let allowed = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?#%[]".utf8)
    var text: [UInt8] = []
    var expected: [URLListItem] = []
    var line = 0
    for (index, raw) in split(bytes, at: UInt8(ascii: "\n")).prefix(200).enumerated() {
        let decoration = index % 4
        if decoration == 1 {
            text += Array("\n# a comment http://x/\n".utf8)
            line += 2
        }
        let host = "h\(index).test"
        let path = String(decoding: raw.map { allowed[Int($0) % allowed.count] }, as: UTF8.self)
        let url = "http://\(host)/\(path)"
        text += Array((decoration == 2 ? " \t" : "").utf8) + Array(url.utf8)
        text += Array((decoration == 3 ? "  \r\n" : decoration == 2 ? "\r\n" : "\n").utf8)
        line += 1
        expected.append(.url(URLEntry(line: line, url: url)))
    }
    let items = readItems(pieces(of: text, seed: fnv1a(bytes)), limit: 64 * 1024)
    invariant(items == expected, "round trip: wrote \(expected), read \(items)")
}
