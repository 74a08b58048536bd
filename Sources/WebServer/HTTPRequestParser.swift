/// An incremental HTTP/1.1 request parser: feed it bytes as they arrive, take requests out.
///
/// `feed(_:)` appends bytes (split anywhere); `next()` returns the next complete request, an
/// `.continueExpected` event for a request that sent `Expect: 100-continue` and waits for the go
/// ahead, nil when more bytes are needed, or throws `HTTPParseError`. Pipelined requests come out
/// one `next()` at a time, in order. After an error every later `next()` throws the same error.
///
/// It is a pure value: no I/O, no time, no traps. Any byte sequence either yields requests, asks
/// for more, or fails with a typed error; the header block (request line, fields and the blank
/// line) and a chunked body's trailer are each limited to `limits.maxHeaderBytes`, the body to
/// `limits.maxBodyBytes`, so memory stays bounded by the limits plus what was fed and not taken.
///
/// Accepted: CRLF or bare LF line ends, empty lines before a request line, `Content-Length`
/// bodies (repeated identical values allowed), `Transfer-Encoding: chunked` bodies with chunk
/// extensions and trailer fields (which are dropped). Refused: obsolete line folding, whitespace
/// before a field's colon, control bytes, conflicting lengths, versions other than HTTP/1.x,
/// HTTP/1.1 requests without exactly one `Host`.
///
/// ```swift
/// var parser = HTTPRequestParser()
/// parser.feed(Array("GET /a HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
/// if case .request(let request)? = try parser.next() { print(request.path) }   // "/a"
/// ```
///
/// Twisted: the request half of `twisted.web.http.HTTPChannel` (`lineReceived`, `rawDataReceived`,
/// `_ChunkedTransferDecoder`).
public struct HTTPRequestParser: Sendable {
    /// Size limits; requests beyond them fail with `headerTooLarge` (431) or `bodyTooLarge` (413).
    public struct Limits: Sendable {
        /// The request line plus header fields plus the blank line, in bytes; also the trailer's limit.
        public var maxHeaderBytes: Int
        /// The decoded body, in bytes.
        public var maxBodyBytes: Int

        /// Limits of `maxHeaderBytes` for the head (64 KiB by default) and `maxBodyBytes` for the
        /// decoded body (64 MiB by default).
        public init(maxHeaderBytes: Int = 64 * 1024, maxBodyBytes: Int = 64 * 1024 * 1024) {
            self.maxHeaderBytes = maxHeaderBytes
            self.maxBodyBytes = maxBodyBytes
        }
    }

    /// What `next()` found.
    public enum Event: Sendable {
        /// The head of a request with `Expect: 100-continue` whose body has not started: the server
        /// may send `100 Continue`. The same request comes again, whole, as `.request`.
        case continueExpected(HTTPRequest)
        /// A complete request.
        case request(HTTPRequest)
    }

    enum State: Sendable {
        case head
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailer(bytes: Int)
        case failed(HTTPParseError)
    }

    /// The size limits this parser enforces.
    public let limits: Limits
    private var state = State.head
    private var buffer: [UInt8] = []
    /// Bytes before this index have been consumed.
    private var start = 0
    /// Where the search for the end of the header block resumes.
    private var scanFrom = 0
    /// The request whose body is being read.
    private var pending: HTTPRequest?

    /// The longest chunk-size line (with extensions) accepted.
    private static let maxChunkLine = 4096

    /// A parser waiting for the first request of a connection, enforcing `limits`.
    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Appends bytes received from the peer.
    public mutating func feed(_ bytes: [UInt8]) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            scanFrom -= start
            start = 0
        } else if start > 64 * 1024 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            scanFrom -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Bytes fed but not yet consumed by a request.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Whether the parser is between requests with nothing buffered.
    public var isIdle: Bool {
        if case .head = state { return start == buffer.count }
        return false
    }

    /// The next event, nil when more bytes are needed.
    ///
    /// - Throws: `HTTPParseError`; once it has thrown, it throws the same error on every call.
    public mutating func next() throws(HTTPParseError) -> Event? {
        do {
            return try step()
        } catch {
            state = .failed(error)
            pending = nil
            throw error
        }
    }

    // MARK: - States

    private mutating func step() throws(HTTPParseError) -> Event? {
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .head:
                return try parseHead()
            case .body(let remaining):
                let take = min(remaining, buffer.count - start)
                if take > 0 {
                    pending?.body.append(contentsOf: buffer[start..<(start + take)])
                    start += take
                }
                if take < remaining {
                    state = .body(remaining: remaining - take)
                    return nil
                }
                return finishRequest()
            case .chunkSize:
                let tooLong = HTTPParseError(.badChunk, "chunk size line too long")
                guard let line = try takeLine(limit: Self.maxChunkLine, error: tooLong) else { return nil }
                let size = try parseChunkSize(line)
                if size == 0 {
                    state = .trailer(bytes: 0)
                } else {
                    guard size <= limits.maxBodyBytes - (pending?.body.count ?? 0) else {
                        throw HTTPParseError(.bodyTooLarge, "chunked body larger than \(limits.maxBodyBytes) bytes")
                    }
                    state = .chunkData(remaining: size)
                }
            case .chunkData(let remaining):
                let take = min(remaining, buffer.count - start)
                if take > 0 {
                    pending?.body.append(contentsOf: buffer[start..<(start + take)])
                    start += take
                }
                if take < remaining {
                    state = .chunkData(remaining: remaining - take)
                    return nil
                }
                state = .chunkDataEnd
            case .chunkDataEnd:
                guard start < buffer.count else { return nil }
                if buffer[start] == lf {
                    start += 1
                } else if buffer[start] == cr {
                    guard start + 1 < buffer.count else { return nil }
                    guard buffer[start + 1] == lf else {
                        throw HTTPParseError(.badChunk, "chunk data not followed by CRLF")
                    }
                    start += 2
                } else {
                    throw HTTPParseError(.badChunk, "chunk data longer than its size")
                }
                state = .chunkSize
            case .trailer(let bytes):
                let room = max(limits.maxHeaderBytes - bytes, 0)
                let tooLarge = HTTPParseError(.headerTooLarge, "trailer too large")
                guard let line = try takeLine(limit: room, error: tooLarge) else { return nil }
                if line.isEmpty { return finishRequest() }
                if line.first == space || line.first == tab {
                    throw HTTPParseError(.badHeader, "obsolete line folding in trailer")
                }
                _ = try parseField(line)
                state = .trailer(bytes: bytes + line.count + 2)
            }
        }
    }

    private mutating func finishRequest() -> Event? {
        state = .head
        let request = pending
        pending = nil
        return request.map { .request($0) }
    }

    /// Takes one line (without its CR LF or LF) if a whole one is buffered; throws `error` when
    /// more than `limit` bytes are buffered without a line end.
    private mutating func takeLine(limit: Int, error: HTTPParseError) throws(HTTPParseError) -> ArraySlice<UInt8>? {
        let searchEnd = min(buffer.count, start + max(limit, 0) + 2)
        guard let newline = buffer[start..<searchEnd].firstIndex(of: lf) else {
            if buffer.count - start > limit + 1 { throw error }
            return nil
        }
        var end = newline
        if end > start && buffer[end - 1] == cr { end -= 1 }
        let line = buffer[start..<end]
        start = newline + 1
        if line.count > limit { throw error }
        return line
    }

    // MARK: - The header block

    private mutating func parseHead() throws(HTTPParseError) -> Event? {
        // Empty lines before the request line are ignored (RFC 9112 §2.2).
        while start < buffer.count && (buffer[start] == lf || buffer[start] == cr) {
            if buffer[start] == cr {
                guard start + 1 < buffer.count else { return nil }
                guard buffer[start + 1] == lf else {
                    throw HTTPParseError(.badRequestLine, "bare CR before request line")
                }
                start += 2
            } else {
                start += 1
            }
        }
        scanFrom = max(scanFrom, start)
        guard let end = findEndOfHead() else {
            scanFrom = max(start, buffer.count - 2)
            if buffer.count - start > limits.maxHeaderBytes {
                throw HTTPParseError(.headerTooLarge, "header block larger than \(limits.maxHeaderBytes) bytes")
            }
            return nil
        }
        if end - start > limits.maxHeaderBytes {
            throw HTTPParseError(.headerTooLarge, "header block larger than \(limits.maxHeaderBytes) bytes")
        }
        let head = buffer[start..<end]
        start = end
        scanFrom = end
        var request = try parseHeadBlock(head)
        let framing = try bodyFraming(of: &request)
        let expectsContinue = request.version.minor >= 1 && request.headers.hasToken("100-continue", in: "Expect")
        switch framing {
        case .none:
            return .request(request)
        case .length(let length):
            guard length <= limits.maxBodyBytes else {
                throw HTTPParseError(.bodyTooLarge, "Content-Length \(length) larger than \(limits.maxBodyBytes)")
            }
            request.body.reserveCapacity(min(length, 1 << 20))
            pending = request
            state = .body(remaining: length)
        case .chunked:
            pending = request
            state = .chunkSize
        }
        if expectsContinue && start == buffer.count {
            return .continueExpected(request)
        }
        return try step()
    }

    /// The index just past the blank line ending the header block, if it is buffered.
    private func findEndOfHead() -> Int? {
        var index = scanFrom
        while index < buffer.count {
            guard let newline = buffer[index...].firstIndex(of: lf) else { return nil }
            let next = newline + 1
            if next < buffer.count {
                if buffer[next] == lf { return next + 1 }
                if buffer[next] == cr && next + 1 < buffer.count && buffer[next + 1] == lf { return next + 2 }
            }
            index = next
        }
        return nil
    }

    private func parseHeadBlock(_ head: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPRequest {
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = head.startIndex
        for index in head.indices where head[index] == lf {
            var lineEnd = index
            if lineEnd > lineStart && head[lineEnd - 1] == cr { lineEnd -= 1 }
            lines.append(head[lineStart..<lineEnd])
            lineStart = index + 1
        }
        // The last line is the blank one ending the block.
        guard let requestLine = lines.first, lines.count >= 2, lines[lines.count - 1].isEmpty else {
            throw HTTPParseError(.badRequestLine, "incomplete header block")
        }
        var request = try parseRequestLine(requestLine)
        var headers = HTTPHeaders()
        for line in lines[1..<(lines.count - 1)] {
            if line.first == space || line.first == tab {
                throw HTTPParseError(.badHeader, "obsolete line folding")
            }
            let (name, value) = try parseField(line)
            headers.add(name, value)
        }
        if request.version.minor >= 1 && headers.values(for: "Host").count != 1 {
            throw HTTPParseError(.missingHost, "an HTTP/1.1 request needs exactly one Host field")
        }
        request.headers = headers
        return request
    }

    private func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPRequest {
        let parts = line.split(separator: space, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw HTTPParseError(.badRequestLine, "expected METHOD SP target SP version") }
        let method = parts[0]
        let target = parts[1]
        let version = parts[2]
        guard !method.isEmpty, method.allSatisfy(isTokenByte) else {
            throw HTTPParseError(.badRequestLine, "bad method")
        }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPParseError(.badRequestLine, "bad request target")
        }
        let prefix = Array("HTTP/".utf8)
        guard version.count == 8, version.starts(with: prefix),
            let major = digitValue(version[version.startIndex + 5]),
            version[version.startIndex + 6] == UInt8(ascii: "."),
            let minor = digitValue(version[version.startIndex + 7])
        else {
            throw HTTPParseError(.badRequestLine, "bad version")
        }
        guard major == 1 else { throw HTTPParseError(.unsupportedVersion, "HTTP/\(major).\(minor) is not supported") }
        return HTTPRequest(
            method: String(decoding: method, as: UTF8.self), target: String(decoding: target, as: UTF8.self),
            version: (1, min(minor, 1)))
    }

    /// `name: value` with the value's surrounding whitespace removed.
    private func parseField(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> (String, String) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw HTTPParseError(.badHeader, "header line without a colon")
        }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else { throw HTTPParseError(.badHeader, "bad field name") }
        var value = line[(colon + 1)...]
        while let first = value.first, first == space || first == tab { value = value.dropFirst() }
        while let last = value.last, last == space || last == tab { value = value.dropLast() }
        guard value.allSatisfy({ $0 == tab || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw HTTPParseError(.badHeader, "control character in field value")
        }
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    // MARK: - Body framing

    private enum Framing {
        case none
        case length(Int)
        case chunked
    }

    private func bodyFraming(of request: inout HTTPRequest) throws(HTTPParseError) -> Framing {
        let transferEncodings = request.headers.values(for: "Transfer-Encoding")
        if !transferEncodings.isEmpty {
            let codings = transferEncodings.flatMap { $0.split(separator: ",") }.map { trimmingSpaces($0).lowercased() }
            guard codings.last == "chunked" else {
                throw HTTPParseError(.badTransferEncoding, "Transfer-Encoding must end in chunked")
            }
            guard codings.count == 1 else {
                throw HTTPParseError(.unsupportedTransferEncoding, "only the chunked transfer coding is supported")
            }
            // A length beside a transfer coding, or a coding in HTTP/1.0, smells of smuggling.
            if request.headers.contains("Content-Length") || request.version.minor == 0 {
                request.framingRequiresClose = true
            }
            return .chunked
        }
        let lengths = request.headers.values(for: "Content-Length")
        guard !lengths.isEmpty else { return .none }
        var length: Int?
        for value in lengths {
            for element in value.split(separator: ",", omittingEmptySubsequences: false) {
                guard let parsed = parseDecimal(trimmingSpaces(element)) else {
                    throw HTTPParseError(.badContentLength, "bad Content-Length \"\(value)\"")
                }
                if let length, length != parsed {
                    throw HTTPParseError(.badContentLength, "conflicting Content-Length")
                }
                length = parsed
            }
        }
        guard let length else { return .none }
        return length == 0 ? .none : .length(length)
    }

    private func parseChunkSize(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> Int {
        var size = 0
        var digits = 0
        var index = line.startIndex
        while index < line.endIndex, let digit = hexValue(line[index]) {
            guard digits < 15 || size == 0 else { throw HTTPParseError(.badChunk, "chunk size too large") }
            size = size << 4 | Int(digit)
            if size > 0 { digits += 1 }
            index += 1
        }
        guard index > line.startIndex else { throw HTTPParseError(.badChunk, "chunk size is not hexadecimal") }
        // What may follow: whitespace, then ";extension" (ignored).
        while index < line.endIndex && (line[index] == space || line[index] == tab) { index += 1 }
        guard index == line.endIndex || line[index] == UInt8(ascii: ";") else {
            throw HTTPParseError(.badChunk, "junk after chunk size")
        }
        return size
    }
}

private let cr = UInt8(ascii: "\r")
private let lf = UInt8(ascii: "\n")
private let space = UInt8(ascii: " ")
private let tab = UInt8(ascii: "\t")

/// RFC 9110 `tchar`.
private func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
        UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
        UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
        return true
    default:
        return false
    }
}

private func digitValue(_ byte: UInt8) -> Int? {
    byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? Int(byte - UInt8(ascii: "0")) : nil
}

/// A non-negative decimal of at most 18 significant digits, or nil.
func parseDecimal(_ text: String) -> Int? {
    var value = 0
    var digits = 0
    guard !text.isEmpty else { return nil }
    for byte in text.utf8 {
        guard let digit = digitValue(byte) else { return nil }
        if value > 0 || digit > 0 { digits += 1 }
        guard digits <= 18 else { return nil }
        value = value * 10 + digit
    }
    return value
}
