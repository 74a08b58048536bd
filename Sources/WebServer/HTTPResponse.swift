/// What a route answers: status, header fields, a body, and how the body is to be sent.
///
/// The server adds the framing: `Content-Length` when the body's length is known (`.bytes`, or a
/// `.stream` with a length), `Transfer-Encoding: chunked` for `.chunked` and for streams of
/// unknown length (to HTTP/1.0 clients these are sent close-delimited instead). It also adds
/// `Date`, `Server` and, when the connection is to close, `Connection: close`; a route's own
/// `Content-Length`, `Transfer-Encoding` and `Connection` fields are replaced.
///
/// A HEAD request gets the head a GET would get (with its `Content-Length`) and no body;
/// 1xx, 204 and 304 responses never carry a body or a length. When `compressible` is set and the
/// request's `Accept-Encoding` allows gzip, the body is gzip-encoded (see `Gzip`) and
/// `Content-Encoding: gzip` and `Vary: Accept-Encoding` are added.
///
/// `fault` makes the response go wrong on the wire on purpose (see `Fault`); `delay` holds the
/// whole response back for that many seconds.
///
/// ```swift
/// server.route("/hello") { _ in .text("hello\n") }
/// server.route("/old") { _ in .redirect(to: "/new", status: 301) }
/// server.route("/big") { _ in HTTPResponse(body: .stream(BodyStream(length: 1 << 30) { max in … })) }
/// ```
///
/// Twisted: what a `twisted.web.resource.Resource` writes through its `Request`.
public struct HTTPResponse {
    /// The body, and how it is framed by default.
    public enum Body {
        /// Bytes held in memory; sent with `Content-Length`.
        case bytes([UInt8])
        /// Sent with `Transfer-Encoding: chunked`, one chunk per non-empty element.
        case chunked([[UInt8]])
        /// Pulled as the connection can take it (flow control): never held in memory whole.
        case stream(BodyStream)
    }

    /// How the end of the body is marked on the wire.
    public enum Framing: Sendable {
        /// `Content-Length` when the length is known, else chunked (close-delimited for HTTP/1.0).
        case automatic
        /// `Transfer-Encoding: chunked`, even for `.bytes` (close-delimited for HTTP/1.0).
        case chunked
        /// No length and no chunking: the body ends when the server closes the connection,
        /// as in HTTP/1.0. The connection is closed after the response.
        case closeDelimited
    }

    /// The status code, such as 200.
    public var status: Int
    /// The reason phrase; the standard one for `status` by default.
    public var reason: String
    /// The header fields to send; the server adds `Date` and `Server` when missing, and the
    /// framing and `Connection` fields.
    public var headers: HTTPHeaders
    /// The body: bytes, chunks, or a stream pulled as the connection can take it.
    public var body: Body
    /// How the end of the body is marked on the wire; `.automatic` by default.
    public var framing: Framing = .automatic
    /// Gzip-encode the body when the request's `Accept-Encoding` allows it.
    public var compressible = false
    /// Close the connection after this response even if the client wants to keep it.
    public var closeConnection = false
    /// Seconds to wait (on the reactor's clock) before sending anything.
    public var delay: Double = 0
    /// Break the response on purpose; nil sends it whole.
    public var fault: Fault?

    /// A response with `status` (200 by default), its standard reason phrase unless `reason` is
    /// given, `headers` and `body`.
    public init(status: Int = 200, reason: String? = nil, headers: HTTPHeaders = [:], body: Body = .bytes([])) {
        self.status = status
        self.reason = reason ?? HTTPResponse.reasonPhrase(for: status)
        self.headers = headers
        self.body = body
    }

    /// A `text/plain; charset=utf-8` response.
    public static func text(_ text: String, status: Int = 200) -> HTTPResponse {
        HTTPResponse(
            status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: .bytes(Array(text.utf8)))
    }

    /// A `text/html; charset=utf-8` response.
    public static func html(_ html: String, status: Int = 200) -> HTTPResponse {
        HTTPResponse(
            status: status, headers: ["Content-Type": "text/html; charset=utf-8"], body: .bytes(Array(html.utf8)))
    }

    /// A redirect to `location` (absolute or relative), with a short text body.
    public static func redirect(to location: String, status: Int = 302) -> HTTPResponse {
        var response = text("redirecting to \(location)\n", status: status)
        response.headers.add("Location", location)
        return response
    }

    /// `status` with the body "<status> <reason>\n" (no body for 1xx, 204 and 304).
    public static func status(_ status: Int) -> HTTPResponse {
        var response = text("\(status) \(reasonPhrase(for: status))\n", status: status)
        if !HTTPResponse.statusAllowsBody(status) { response.body = .bytes([]) }
        return response
    }

    /// Whether a response with `status` may carry a body (not 1xx, 204 or 304).
    public static func statusAllowsBody(_ status: Int) -> Bool {
        !(100..<200).contains(status) && status != 204 && status != 304
    }

    /// The standard reason phrase of `status` ("Unknown" when it has none).
    public static func reasonPhrase(for status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 203: return "Non-Authoritative Information"
        case 204: return "No Content"
        case 205: return "Reset Content"
        case 206: return "Partial Content"
        case 300: return "Multiple Choices"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 303: return "See Other"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 418: return "I'm a teapot"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Unknown"
        }
    }
}

/// A body produced piece by piece as the connection can take it, so that it is never held in
/// memory whole.
///
/// `next(maxBytes)` is called on the reactor's thread whenever the connection wants more; it
/// returns up to `maxBytes` bytes (more are accepted), or nil (or an empty array) at the end.
/// With a `length`, the response has that `Content-Length`; a stream that ends early makes the
/// server close the connection (the client sees a short body), one that goes on is cut at
/// `length`. A stream is pulled at most once: a new response needs a new stream.
///
/// ```swift
/// var sent = 0
/// let stream = BodyStream(length: 1 << 28) { max in
///     let count = min(max, (1 << 28) - sent); sent += count
///     return count == 0 ? nil : [UInt8](repeating: 0x61, count: count)
/// }
/// ```
///
/// Twisted: an `IBodyProducer`, pulled instead of pushing.
public final class BodyStream {
    /// The body's length when known in advance.
    public let length: Int?
    private let produce: (Int) -> [UInt8]?
    private let onEnd: (() -> Void)?

    /// - Parameters:
    ///   - length: the total length, or nil when unknown (the response is then chunked).
    ///   - onEnd: called once when the stream is finished or abandoned (connection lost), to
    ///     release what `next` holds (a file descriptor, say).
    ///   - next: the next piece, up to `maxBytes` long; nil at the end.
    public init(length: Int?, onEnd: (() -> Void)? = nil, next: @escaping (_ maxBytes: Int) -> [UInt8]?) {
        self.length = length
        self.onEnd = onEnd
        self.produce = next
    }

    private var ended = false

    /// The next piece, or nil at the end.
    public func next(_ maxBytes: Int) -> [UInt8]? {
        guard !ended else { return nil }
        guard let bytes = produce(maxBytes), !bytes.isEmpty else {
            end()
            return nil
        }
        return bytes
    }

    /// Marks the stream finished; calls `onEnd` once.
    public func end() {
        guard !ended else { return }
        ended = true
        onEnd?()
    }

    deinit { end() }
}
