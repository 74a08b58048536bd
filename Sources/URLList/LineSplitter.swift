/// Splits a byte stream into lines as the bytes arrive, holding at most one line's worth of them.
///
/// `feed(_:)` appends bytes (split anywhere); `finish()` says no more will come; `next()` returns the
/// next event. A line ends at LF; a CR just before the LF belongs to the line end, not the line. The
/// last line needs no LF. Lines are numbered from 1, every line counting, blank or not.
///
/// A line whose bytes (without its line end) pass `maxLineBytes` is reported as `.tooLong` with its
/// number instead of its bytes, and is dropped as it arrives, so memory stays bounded by
/// `maxLineBytes` plus what one `feed` adds. The events do not depend on how the input was split
/// between calls to `feed`.
///
/// ```swift
/// var lines = LineSplitter(maxLineBytes: 1024)
/// lines.feed(Array("a\r\nb".utf8))
/// lines.next()    // .line(number: 1, bytes: "a")
/// lines.next()    // .needMore ("b" may go on)
/// lines.finish()
/// lines.next()    // .line(number: 2, bytes: "b"), then .end
/// ```
public struct LineSplitter: Sendable {
    /// What `next()` found.
    public enum Event: Equatable, Sendable {
        /// A line, without its CR LF or LF.
        case line(number: Int, bytes: ArraySlice<UInt8>)
        /// A line longer than `maxLineBytes`; its bytes were dropped.
        case tooLong(number: Int)
        /// No complete line is buffered: feed more, or finish.
        case needMore
        /// `finish()` was called and every line has been returned.
        case end
    }

    /// The longest line returned whole, in bytes (without the line end).
    public let maxLineBytes: Int
    /// The number of the last line returned (0 before the first).
    public private(set) var lineNumber = 0
    private var buffer: [UInt8] = []
    /// Bytes before this index have been returned.
    private var start = 0
    /// Where the search for the next LF resumes (everything from `start` up to here has none).
    private var scanFrom = 0
    /// The current line passed the limit: its bytes are being dropped up to its LF.
    private var skipping = false
    private var finished = false

    /// - Parameter maxLineBytes: the longest line returned whole (>= 0).
    public init(maxLineBytes: Int = 64 * 1024) {
        precondition(maxLineBytes >= 0, "LineSplitter: maxLineBytes must be >= 0, got \(maxLineBytes)")
        self.maxLineBytes = maxLineBytes
    }

    /// Bytes held that belong to lines not yet returned.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Appends bytes read from the input. Feeding after `finish()` is a programmer error.
    public mutating func feed<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        precondition(!finished, "LineSplitter.feed after finish(): make a new splitter for new input")
        if start > 0 {
            buffer.removeSubrange(0..<start)
            scanFrom -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Marks the end of the input: a last line without LF is returned by `next()`.
    public mutating func finish() {
        finished = true
    }

    /// The next line, `.needMore`, or `.end`.
    public mutating func next() -> Event {
        if let newline = buffer[scanFrom...].firstIndex(of: lf) {
            var end = newline
            if end > start && buffer[end - 1] == cr { end -= 1 }
            let line = buffer[start..<end]
            start = newline + 1
            scanFrom = start
            return finishLine(line)
        }
        scanFrom = buffer.count
        // A CR may yet turn out to be part of the line end: give up one byte later. Only a line that
        // is too long whatever follows is dropped early, so the split of the input does not matter.
        if buffer.count - start > maxLineBytes + 1 {
            skipping = true
        }
        if skipping {
            buffer.removeAll(keepingCapacity: true)
            start = 0
            scanFrom = 0
        }
        guard finished else { return .needMore }
        guard start < buffer.count || skipping else { return .end }
        let line = buffer[start...]
        start = buffer.count
        scanFrom = start
        return finishLine(line)
    }

    private mutating func finishLine(_ line: ArraySlice<UInt8>) -> Event {
        lineNumber += 1
        if skipping || line.count > maxLineBytes {
            skipping = false
            return .tooLong(number: lineNumber)
        }
        return .line(number: lineNumber, bytes: line)
    }
}

private let cr = UInt8(ascii: "\r")
private let lf = UInt8(ascii: "\n")
