import Glibc

/// How a response's body is delimited (RFC 9112 §6.3).
enum BodyFraming: Equatable {
    /// No body: HEAD, 1xx, 204, 304, or a Content-Length of 0.
    case none
    /// Exactly this many bytes (Content-Length).
    case length(Int)
    /// `Transfer-Encoding: chunked`.
    case chunked
    /// Everything until the server closes the connection.
    case untilClose
}

/// What the parser hands over as it reads a response; the methods return false to stop parsing
/// (the exchange ended while being told, and the rest of the input is not wanted).
protocol ResponseParserDelegate: AnyObject {
    /// The final status line and header block arrived (1xx interim responses are skipped).
    func parserReceivedHead(_ head: ResponseHead, framing: BodyFraming) -> Bool
    /// Body bytes, with any chunked framing removed; valid only during the call.
    func parserReceivedBody(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// The body is complete (never called for `untilClose`, which ends with the connection);
    /// `reusable`: the connection may carry another request.
    func parserFinishedResponse(reusable: Bool)
}

/// An incremental parser of one HTTP/1.x response, fed the bytes of a connection as they come.
///
/// Strict where leniency would be a hazard, lenient where servers commonly stray: the status line
/// must be `HTTP/1.x` and a three-digit code; a field line must be `name: value` with a token name
/// (obsolete folded lines are joined to the previous value, and framing fields are read whole);
/// a CR or NUL within a line, Content-Length values that are not numbers or disagree, and chunk
/// sizes that are not hex are `ParseError`s; a body sent with a transfer coding other than a lone
/// `chunked` (`gzip, chunked`) is refused with `TransferEncodingNotSupported`; bytes after the
/// response are ignored and make the connection not reusable. Lines may end in CR LF or a bare
/// LF. The status lines and header fields together may not pass `maxHeaderBytes` (`HeadersTooLarge`), nor may a chunk-size line or
/// the trailers.
///
/// The parser decides whether the connection may carry another request afterwards (`reusable`):
/// HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`, and never
/// after a close-delimited body, a response with both Transfer-Encoding and Content-Length, or an
/// HTTP/1.0 response with Transfer-Encoding (RFC 9112 §6.1).
struct ResponseParser {
    private enum State {
        case statusLine
        case fields
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case done
    }

    private var state = State.statusLine
    private var head = ResponseHead()
    /// The start of a line that has not ended yet.
    private var partialLine: [UInt8] = []
    private var headerBytes = 0
    private var trailerBytes = 0
    private let maxHeaderBytes: Int
    private let isHeadRequest: Bool

    /// The framing field (Connection, Content-Length, Transfer-Encoding) added last, read once it
    /// is complete: obsolete folded lines may still extend its value (RFC 9112 §5.2).
    private var unreadField: FramingField?
    private enum FramingField {
        case connection
        case contentLength
        case transferEncoding
    }

    private var contentLength: Int?
    private var contentLengthConflict = false
    /// The transfer codings listed, in order (empty elements skipped).
    private var transferCodings: [String] = []
    private var connectionClose = false
    private var connectionKeepAlive = false

    /// Whether any byte of the response has arrived.
    private(set) var receivedAny = false
    /// Whether the connection may be used again once the response is complete.
    private(set) var reusable = false
    /// Whether the head has been handed over.
    var headReceived: Bool {
        switch state {
        case .statusLine, .fields: false
        default: true
        }
    }
    /// Whether the body runs until the connection closes (and is still running).
    var isCloseDelimited: Bool {
        if case .untilClose = state { return true }
        return false
    }
    var isDone: Bool {
        if case .done = state { return true }
        return false
    }

    /// Longest chunk-size line accepted (extensions included).
    static let maxChunkSizeLine = 4096

    init(isHeadRequest: Bool, maxHeaderBytes: Int) {
        self.isHeadRequest = isHeadRequest
        self.maxHeaderBytes = maxHeaderBytes
    }

    /// Parses `input`, telling `delegate` what it finds, until the input is used up, the response
    /// is complete, or the delegate says stop.
    /// - Throws: `ParseError`, `HeadersTooLarge` or `TransferEncodingNotSupported`.
    mutating func parse<D: ResponseParserDelegate>(_ input: UnsafeRawBufferPointer, _ delegate: D) throws {
        guard !input.isEmpty else { return }
        receivedAny = true
        var index = 0
        let count = input.count
        while index < count {
            switch state {
            case .body(let remaining), .chunkData(let remaining):
                // A Content-Length body ends with its last byte; a chunk's data with its CR LF.
                let inChunk = if case .chunkData = state { true } else { false }
                let take = min(remaining, count - index)
                let left = remaining - take
                if left > 0 {
                    state = inChunk ? .chunkData(remaining: left) : .body(remaining: left)
                } else {
                    state = inChunk ? .chunkDataEnd : .done
                }
                guard delegate.parserReceivedBody(UnsafeRawBufferPointer(rebasing: input[index..<(index + take)]))
                else { return }
                index += take
                if left == 0 && !inChunk {
                    if index < count { reusable = false }
                    delegate.parserFinishedResponse(reusable: reusable)
                    return
                }
            case .untilClose:
                _ = delegate.parserReceivedBody(UnsafeRawBufferPointer(rebasing: input[index...]))
                return
            case .done:
                throw ParseError(message: "data after the end of the response")
            case .statusLine, .fields, .chunkSize, .chunkDataEnd, .trailers:
                // Line-based states: find the line's end, gathering a line split across reads.
                let start = input.baseAddress! + index
                guard let found = memchr(start, 0x0A, count - index) else {
                    try checkLineLength(partialLine.count + count - index)
                    partialLine.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[index...]))
                    return
                }
                let lineEnd = input.baseAddress!.distance(to: UnsafeRawPointer(found))
                let more = lineEnd + 1 < count
                let keepGoing: Bool
                if partialLine.isEmpty {
                    try checkLineLength(lineEnd + 1 - index)
                    keepGoing = try takeLine(UnsafeRawBufferPointer(rebasing: input[index..<lineEnd]), more, delegate)
                } else {
                    try checkLineLength(partialLine.count + lineEnd + 1 - index)
                    partialLine.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[index..<lineEnd]))
                    let line = partialLine
                    partialLine = []
                    keepGoing = try line.withUnsafeBytes { try takeLine($0, more, delegate) }
                }
                index = lineEnd + 1
                guard keepGoing else { return }
                if case .done = state { return }
            }
        }
    }

    /// Fails a line (with its line end) that would pass its limit.
    private func checkLineLength(_ length: Int) throws {
        switch state {
        case .statusLine, .fields:
            if headerBytes + length > maxHeaderBytes { throw HeadersTooLarge(limit: maxHeaderBytes) }
        case .chunkSize, .chunkDataEnd:
            if length > ResponseParser.maxChunkSizeLine { throw ParseError(message: "chunk-size line too long") }
        case .trailers:
            if trailerBytes + length > maxHeaderBytes { throw ParseError(message: "trailer section too large") }
        default:
            break
        }
    }

    /// One whole line, without its LF (a CR before it is dropped here); `more`: bytes follow it.
    private mutating func takeLine<D: ResponseParserDelegate>(_ raw: UnsafeRawBufferPointer, _ more: Bool,
                                                              _ delegate: D) throws -> Bool {
        let line = raw.last == 0x0D ? UnsafeRawBufferPointer(rebasing: raw.dropLast()) : raw
        switch state {
        case .statusLine:
            headerBytes += raw.count + 1
            try parseStatusLine(line)
            state = .fields
        case .fields:
            headerBytes += raw.count + 1
            if line.isEmpty { return try endOfHead(more, delegate) }
            try parseField(line)
        case .chunkSize:
            let size = try ResponseParser.chunkSize(line)
            state = size == 0 ? .trailers : .chunkData(remaining: size)
        case .chunkDataEnd:
            guard line.isEmpty else { throw ParseError(message: "chunk data longer than its size") }
            state = .chunkSize
        case .trailers:
            trailerBytes += raw.count + 1
            if line.isEmpty {
                state = .done
                if more { reusable = false }
                delegate.parserFinishedResponse(reusable: reusable)
            }
        default:
            break
        }
        return true
    }

    private mutating func parseStatusLine(_ line: UnsafeRawBufferPointer) throws {
        // HTTP/1.x SP 3DIGIT [SP reason]
        guard line.count >= 12, line[0] == 0x48, line[1] == 0x54, line[2] == 0x54, line[3] == 0x50,
            line[4] == 0x2F, line[5] == 0x31, line[6] == 0x2E, let minor = ResponseHead.digit(line[7]),
            line[8] == 0x20, let d1 = ResponseHead.digit(line[9]), let d2 = ResponseHead.digit(line[10]),
            let d3 = ResponseHead.digit(line[11]), d1 >= 1, line.count == 12 || line[12] == 0x20,
            !ResponseParser.holdsCROrNUL(line)
        else {
            throw ParseError(message: "bad status line \(ResponseParser.quoted(line))")
        }
        let phraseStart = min(13, line.count)
        head.start(major: 1, minor: minor, code: d1 * 100 + d2 * 10 + d3,
                   phrase: UnsafeRawBufferPointer(rebasing: line[phraseStart...]))
        contentLength = nil
        contentLengthConflict = false
        transferCodings = []
        connectionClose = false
        connectionKeepAlive = false
    }

    private mutating func parseField(_ line: UnsafeRawBufferPointer) throws {
        // RFC 9110 §5.5: a recipient must reject these or replace them; a bare CR could split a
        // header where the next reader of the value sees two.
        guard !ResponseParser.holdsCROrNUL(line) else {
            throw ParseError(message: "a header line holds CR or NUL: \(ResponseParser.quoted(line))")
        }
        if line[0] == 0x20 || line[0] == 0x09 {
            guard !head.fields.isEmpty else { throw ParseError(message: "a folded line before any field") }
            head.continueField(line)
            return
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else {
            throw ParseError(message: "bad header line \(ResponseParser.quoted(line))")
        }
        let name = UnsafeRawBufferPointer(rebasing: line[0..<colon])
        guard name.allSatisfy(Headers.isTokenByte) else {
            throw ParseError(message: "bad header name \(ResponseParser.quoted(name))")
        }
        try readFramingField()
        let value = ResponseHead.trimmed(UnsafeRawBufferPointer(rebasing: line[(colon + 1)...]))
        switch name.count {
        case 10 where ResponseHead.equalsLowercase(name, "connection"):
            unreadField = .connection
        case 14 where ResponseHead.equalsLowercase(name, "content-length"):
            unreadField = .contentLength
        case 17 where ResponseHead.equalsLowercase(name, "transfer-encoding"):
            unreadField = .transferEncoding
        default:
            break
        }
        head.addField(name: name, value: value)
    }

    /// Reads the last field's value if it is a framing field (its value is complete: a field line
    /// or the end of the head followed it).
    private mutating func readFramingField() throws {
        guard let field = unreadField else { return }
        unreadField = nil
        var value = head.fields[head.fields.count - 1].1
        try value.withUTF8 { try readFramingField(field, UnsafeRawBufferPointer($0)) }
    }

    private mutating func readFramingField(_ field: FramingField, _ value: UnsafeRawBufferPointer) throws {
        switch field {
        case .connection:
            ResponseParser.forEachToken(value) { token in
                if ResponseHead.equalsLowercase(token, "close") { connectionClose = true }
                if ResponseHead.equalsLowercase(token, "keep-alive") { connectionKeepAlive = true }
            }
        case .contentLength:
            var valid = true
            var found = false
            ResponseParser.forEachToken(value) { token in
                guard let length = ResponseHead.decimal(token) else { valid = false; return }
                if let contentLength, contentLength != length { contentLengthConflict = true }
                contentLength = length
                found = true
            }
            guard valid, found else {
                throw ParseError(message: "bad Content-Length \(ResponseParser.quoted(value))")
            }
        case .transferEncoding:
            // An empty field or element adds no coding.
            ResponseParser.forEachToken(value) { transferCodings.append(String(decoding: $0, as: UTF8.self)) }
        }
    }

    private mutating func endOfHead<D: ResponseParserDelegate>(_ more: Bool, _ delegate: D) throws -> Bool {
        try readFramingField()
        let code = head.code
        if code >= 100 && code < 200 && code != 101 {
            // An interim response: the final one follows on the same connection.
            state = .statusLine
            return true
        }
        if contentLengthConflict && !head.hasTransferEncoding {
            throw ParseError(message: "conflicting Content-Length values")
        }
        let framing: BodyFraming
        if isHeadRequest || code == 204 || code == 304 || code == 101 {
            framing = .none
        } else if head.hasTransferEncoding {
            // Only chunked is undone: a body with any other transfer coding would be handed on still
            // coded, with nothing to say so (Twisted fails these too).
            guard transferCodings.count == 1, transferCodings[0].asciiLowercased == "chunked" else {
                throw TransferEncodingNotSupported(codings: transferCodings)
            }
            framing = .chunked
        } else if let contentLength {
            framing = contentLength == 0 ? .none : .length(contentLength)
        } else {
            framing = .untilClose
        }
        let persistent = head.minor >= 1 ? !connectionClose : (connectionKeepAlive && !connectionClose)
        // RFC 9112 §6.1: after an HTTP/1.0 response with Transfer-Encoding, the client must close
        // (a 1.0 peer or intermediary may have framed it otherwise).
        reusable = persistent && framing != .untilClose && code != 101
            && !(head.hasTransferEncoding && head.hasContentLength)
            && !(head.hasTransferEncoding && head.minor == 0)
        switch framing {
        case .none: state = .done
        case .length(let length): state = .body(remaining: length)
        case .chunked: state = .chunkSize
        case .untilClose: state = .untilClose
        }
        guard delegate.parserReceivedHead(head, framing: framing) else { return false }
        head = ResponseHead()
        if case .done = state {
            if more { reusable = false }
            delegate.parserFinishedResponse(reusable: reusable)
        }
        return true
    }

    /// A chunk-size line: hex digits, then optional extensions after `;` (or blanks).
    private static func chunkSize(_ line: UnsafeRawBufferPointer) throws -> Int {
        var size = 0
        var digits = 0
        for (index, byte) in line.enumerated() {
            let value: Int
            switch byte {
            case 0x30...0x39: value = Int(byte - 0x30)
            case 0x41...0x46: value = Int(byte - 0x41 + 10)
            case 0x61...0x66: value = Int(byte - 0x61 + 10)
            case 0x3B, 0x20, 0x09:
                // Only blanks may come between the size and its extensions (`;name=value`).
                guard digits > 0, line[index...].drop(while: { $0 == 0x20 || $0 == 0x09 }).first.map({ $0 == 0x3B }) ?? true
                else { throw ParseError(message: "bad chunk size \(quoted(line))") }
                return size
            default:
                throw ParseError(message: "bad chunk size \(quoted(line))")
            }
            guard digits < 15 else { throw ParseError(message: "chunk size too large") }
            size = size << 4 | value
            digits += 1
        }
        guard digits > 0 else { throw ParseError(message: "empty chunk size") }
        return size
    }

    /// Calls `body` with each comma-separated element of a field value, trimmed, empty ones skipped.
    private static func forEachToken(_ value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        for index in 0...value.count where index == value.count || value[index] == UInt8(ascii: ",") {
            let token = ResponseHead.trimmed(UnsafeRawBufferPointer(rebasing: value[start..<index]))
            if !token.isEmpty { body(token) }
            start = index + 1
        }
    }

    private static func holdsCROrNUL(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return false }
        return memchr(base, 0x0D, bytes.count) != nil || memchr(base, 0, bytes.count) != nil
    }

    /// A line for an error message: at most 80 bytes, quoted, control bytes escaped.
    private static func quoted(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes.prefix(80), as: UTF8.self).debugDescription
    }
}
