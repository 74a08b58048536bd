import Glibc

/// A response turned into what goes on the wire for one request: the head's bytes, the body with
/// its codings applied, and whether the connection stays open afterwards.
///
/// This is where HTTP's rules for responses live: HEAD gets the head only, 1xx/204/304 no body
/// and no length, HTTP/1.0 clients no chunking, gzip only when asked for and allowed.
struct PreparedResponse {
    enum Body {
        case none
        /// The whole wire body, in memory.
        case bytes([UInt8])
        /// The wire body, pulled as the socket drains.
        case source(any ByteSource)
    }

    var head: [UInt8]
    var body: Body
    /// The connection may carry another request after this response.
    var keepAlive: Bool
    var delay: Double
    var fault: Fault?

    /// - Parameters:
    ///   - request: the request answered; nil for a request that could not be parsed (the
    ///     response then goes out as to an HTTP/1.1 GET and the connection closes).
    ///   - date: the `Date` field's value.
    init(_ response: HTTPResponse, for request: HTTPRequest?, date: String, serverName: String) {
        let isHead = request?.method == "HEAD"
        let http10 = request.map { $0.version.major == 1 && $0.version.minor == 0 } ?? false
        let bodyAllowed = HTTPResponse.statusAllowsBody(response.status)
        let gzip = response.compressible && bodyAllowed && (request.map(PreparedResponse.acceptsGzip) ?? false)
        var omitLastChunk = false
        if case .interrupt(at: .beforeLastChunk, then: _)? = response.fault { omitLastChunk = true }

        // The content, with its content coding.
        enum Content {
            case bytes([UInt8])
            case pieces([[UInt8]])
            case source(any ByteSource, length: Int?)
        }
        var content: Content
        switch response.body {
        case .bytes(let bytes):
            content = .bytes(gzip ? Gzip.compress(bytes) : bytes)
        case .chunked(let chunks):
            if gzip {
                var encoder = GzipEncoder()
                content = .pieces(chunks.filter { !$0.isEmpty }.map { encoder.encode($0) } + [encoder.finish()])
            } else {
                content = .pieces(chunks)
            }
        case .stream(let stream):
            let source = StreamSource(stream)
            content = gzip ? .source(GzipSource(source), length: nil) : .source(source, length: stream.length)
        }

        // The framing.
        enum Framing {
            case none
            case length(Int)
            case chunked, close
        }
        var framing: Framing
        if !bodyAllowed {
            framing = .none
        } else {
            var length: Int?
            switch content {
            case .bytes(let bytes): length = bytes.count
            case .pieces: length = nil
            case .source(_, let sourceLength): length = sourceLength
            }
            switch response.framing {
            case .closeDelimited: framing = .close
            case .chunked: framing = http10 ? .close : .chunked
            case .automatic:
                if let length { framing = .length(length) } else { framing = http10 ? .close : .chunked }
            }
        }
        var keepAlive =
            (request?.keepAlive ?? false) && !response.closeConnection
            && !response.headers.hasToken("close", in: "Connection")
        if case .close = framing { keepAlive = false }

        // The head.
        var headers = response.headers
        headers.remove("Content-Length")
        headers.remove("Transfer-Encoding")
        headers.remove("Connection")
        if gzip {
            headers.set("Content-Encoding", "gzip")
            if !headers.hasToken("Accept-Encoding", in: "Vary") { headers.add("Vary", "Accept-Encoding") }
        }
        if !headers.contains("Date") { headers.add("Date", date) }
        if !headers.contains("Server") { headers.add("Server", serverName) }
        switch framing {
        case .length(let length): headers.add("Content-Length", String(length))
        case .chunked: headers.add("Transfer-Encoding", "chunked")
        case .none, .close: break
        }
        if !keepAlive {
            headers.add("Connection", "close")
        } else if http10 {
            headers.add("Connection", "keep-alive")
        }
        head = PreparedResponse.serializeHead(status: response.status, reason: response.reason, headers: headers)

        // The wire body.
        if isHead || !bodyAllowed {
            if case .source(let source, _) = content { source.cancel() }
            body = .none
        } else {
            switch (content, framing) {
            case (_, .none):
                body = .none
            case (.bytes(let bytes), .chunked):
                body = .bytes(PreparedResponse.chunkedWire([bytes], omitLastChunk: omitLastChunk))
            case (.pieces(let pieces), .chunked):
                body = .bytes(PreparedResponse.chunkedWire(pieces, omitLastChunk: omitLastChunk))
            case (.source(let source, _), .chunked):
                body = .source(ChunkedSource(source, omitLastChunk: omitLastChunk))
            case (.bytes(let bytes), _):
                body = .bytes(bytes)
            case (.pieces(let pieces), _):
                body = .bytes(pieces.flatMap { $0 })
            case (.source(let source, _), _):
                body = .source(source)
            }
        }
        delay = response.delay
        fault = response.fault
        self.keepAlive = keepAlive
    }

    /// Whether `Accept-Encoding` allows gzip: `gzip`, `x-gzip` or `*` with a non-zero q, and gzip
    /// not refused with `q=0`.
    static func acceptsGzip(_ request: HTTPRequest) -> Bool {
        var gzip: Bool?
        var star: Bool?
        for value in request.headers.values(for: "Accept-Encoding") {
            for element in value.split(separator: ",") {
                let parts = element.split(separator: ";")
                guard let first = parts.first else { continue }
                let coding = trimmingSpaces(first).lowercased()
                var accepted = true
                for parameter in parts.dropFirst() {
                    let text = trimmingSpaces(parameter).lowercased()
                    if text.hasPrefix("q=") {
                        let q = text.dropFirst(2)
                        accepted = !q.isEmpty && !q.allSatisfy { $0 == "0" || $0 == "." }
                    }
                }
                if coding == "gzip" || coding == "x-gzip" { gzip = accepted } else if coding == "*" { star = accepted }
            }
        }
        return gzip ?? star ?? false
    }

    /// Chunks in the chunked coding, then the last chunk (unless left out).
    static func chunkedWire(_ pieces: [[UInt8]], omitLastChunk: Bool) -> [UInt8] {
        var wire: [UInt8] = []
        wire.reserveCapacity(pieces.reduce(0) { $0 + $1.count + 12 } + 5)
        for piece in pieces where !piece.isEmpty { wire += ChunkedSource.frame(piece) }
        if !omitLastChunk { wire += ChunkedSource.lastChunk }
        return wire
    }

    /// The status line and header fields; CR and LF in names or values become spaces, so a route
    /// cannot split a response by accident.
    static func serializeHead(status: Int, reason: String, headers: HTTPHeaders) -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(clean(reason))\r\n"
        for (name, value) in headers { text += "\(clean(name)): \(clean(value))\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    private static func clean(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) else { return text }
        return String(text.map { $0 == "\r" || $0 == "\n" || $0 == "\r\n" || $0 == "\0" ? " " : $0 })
    }
}

/// The `Date` field's format, RFC 9110 §5.6.7: "Sun, 06 Nov 1994 08:49:37 GMT".
func httpDate(_ seconds: time_t) -> String {
    var time = seconds
    var parts = tm()
    gmtime_r(&time, &parts)
    let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    let day = days[Int(parts.tm_wday) % 7]
    let month = months[Int(parts.tm_mon) % 12]
    return "\(day), \(two(parts.tm_mday)) \(month) \(parts.tm_year + 1900) "
        + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
}
