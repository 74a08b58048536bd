/// A response's status line and header fields: from the raw lines libcurl hands over (`take`), or
/// from the HTTP/1.1 `ResponseParser` (`start`, `addField`, `continueField`).
///
/// Lines are parsed as bytes, never as `String` graphemes: CR LF is one grapheme in Swift, and
/// this runs once per header line of every response, so it must be cheap. A new status line starts
/// over (1xx interim responses, authentication rounds).
struct ResponseHead {
    private(set) var major = 1
    private(set) var minor = 1
    /// 0 until a status line has been seen (or when it carried no number).
    private(set) var code = 0
    private(set) var phrase = ""
    /// Name/value pairs in arrival order; names as sent, values without surrounding blanks.
    private(set) var fields: [(String, String)] = []
    /// The last `Content-Length` value, when it was a number.
    private(set) var contentLength: Int?
    private(set) var hasContentLength = false
    private(set) var hasTransferEncoding = false

    /// What one line was.
    enum Line {
        case statusLine
        /// The blank line that ends the header block.
        case end
        case field
        case ignored
    }

    /// Takes one raw line (with or without its CR LF).
    mutating func take(_ raw: UnsafeRawBufferPointer) -> Line {
        var end = raw.count
        while end > 0, raw[end - 1] == 0x0A || raw[end - 1] == 0x0D { end -= 1 }
        let line = UnsafeRawBufferPointer(rebasing: raw[0..<end])
        if line.isEmpty { return .end }
        if line.count >= 5, line[0] == 0x48, line[1] == 0x54, line[2] == 0x54, line[3] == 0x50, line[4] == 0x2F {
            self = ResponseHead()
            // Room for a typical response's fields at once, not grown by doubling from one.
            fields.reserveCapacity(12)
            parseStatusLine(line)
            return .statusLine
        }
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            addField(name: UnsafeRawBufferPointer(rebasing: line[0..<colon]),
                     value: ResponseHead.trimmed(UnsafeRawBufferPointer(rebasing: line[(colon + 1)...])))
            return .field
        }
        if (line[0] == 0x20 || line[0] == 0x09), !fields.isEmpty {
            continueField(line)
            return .field
        }
        return .ignored
    }

    /// Starts over with a new status line's parts.
    mutating func start(major: Int, minor: Int, code: Int, phrase: UnsafeRawBufferPointer) {
        self = ResponseHead()
        fields.reserveCapacity(12)
        self.major = major
        self.minor = minor
        self.code = code
        self.phrase = String(decoding: phrase, as: UTF8.self)
    }

    /// Records one field (`value` already trimmed), noting Content-Length and Transfer-Encoding.
    mutating func addField(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        if ResponseHead.equalsLowercase(name, "content-length") {
            hasContentLength = true
            contentLength = ResponseHead.decimal(value)
        } else if ResponseHead.equalsLowercase(name, "transfer-encoding") {
            hasTransferEncoding = true
        }
        fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
    }

    /// Appends an obsolete folded continuation line to the last field's value, with one space
    /// between (none when either side is empty, so the value stays trimmed).
    mutating func continueField(_ line: UnsafeRawBufferPointer) {
        guard !fields.isEmpty else { return }
        let part = ResponseHead.trimmed(line)
        guard !part.isEmpty else { return }
        let last = fields.count - 1
        if !fields[last].1.isEmpty { fields[last].1 += " " }
        fields[last].1 += String(decoding: part, as: UTF8.self)
        if Headers.sameName(fields[last].0, "Content-Length") {
            var value = fields[last].1
            contentLength = value.withUTF8 { ResponseHead.decimal(UnsafeRawBufferPointer($0)) }
        }
    }

    /// The `Response` for this head: the headers without Connection, Transfer-Encoding and
    /// Content-Length (kept for HEAD), and the body's length when it is known.
    func makeResponse(request: Request, body: ResponseBody) -> Response {
        let isHead = request.method == "HEAD"
        let noBody = isHead || code == 204 || code == 304 || (100..<200).contains(code)
        var headers = Headers()
        headers.reserveCapacity(fields.count)
        for (name, value) in fields {
            switch name.utf8.count {
            case 10 where Headers.sameName(name, "Connection"):
                continue
            case 14 where !isHead && Headers.sameName(name, "Content-Length"):
                continue
            case 17 where Headers.sameName(name, "Transfer-Encoding"):
                continue
            default:
                headers.addRawHeader(name, value)
            }
        }
        let length: Int? = noBody ? 0 : (hasTransferEncoding ? nil : contentLength)
        return Response(version: ("HTTP", major, minor), code: code, phrase: phrase, headers: headers,
                        length: length, request: request, body: body)
    }

    /// `HTTP/1.1 200 OK`, `HTTP/2 200`: version, code and the phrase (which may be empty).
    private mutating func parseStatusLine(_ line: UnsafeRawBufferPointer) {
        var index = 5
        major = 0
        var digits = 0
        while index < line.count, let digit = ResponseHead.digit(line[index]) {
            major = major * 10 + digit
            index += 1
            digits += 1
        }
        if digits == 0 { major = 1 }
        minor = 0
        if index < line.count, line[index] == UInt8(ascii: ".") {
            index += 1
            while index < line.count, let digit = ResponseHead.digit(line[index]) {
                minor = minor * 10 + digit
                index += 1
            }
        }
        while index < line.count, line[index] != 0x20 { index += 1 }
        while index < line.count, line[index] == 0x20 { index += 1 }
        let codeStart = index
        while index < line.count, line[index] != 0x20 { index += 1 }
        code = ResponseHead.decimal(UnsafeRawBufferPointer(rebasing: line[codeStart..<index])) ?? 0
        if index < line.count { index += 1 }
        phrase = String(decoding: UnsafeRawBufferPointer(rebasing: line[index...]), as: UTF8.self)
    }

    static func digit(_ byte: UInt8) -> Int? {
        byte >= 0x30 && byte <= 0x39 ? Int(byte &- 0x30) : nil
    }

    /// A non-negative decimal number of at most 18 digits, or nil.
    static func decimal(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard let digit = digit(byte) else { return nil }
            value = value * 10 + digit
        }
        return value
    }

    static func trimmed(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0
        var end = bytes.count
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    /// Whether `bytes`, ASCII-lower-cased, equal `lowercase`.
    static func equalsLowercase(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        for index in 0..<bytes.count {
            var byte = bytes[index]
            if byte >= 0x41 && byte <= 0x5A { byte |= 0x20 }
            if byte != expected[index] { return false }
        }
        return true
    }
}
