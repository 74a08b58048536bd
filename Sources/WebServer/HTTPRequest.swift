import Reactor

/// One HTTP request as the server received it: request line, header fields and the whole body.
///
/// The parser fills every field from the bytes on the wire; `remoteAddress` is set by the server.
/// `path` and `query` come from the request target: for `GET /a%20b?x=1&y=2 HTTP/1.1`, `path` is
/// `/a%20b` (still percent-encoded, as sent) and `query` is `x=1&y=2`; `queryItems` decodes it.
///
/// ```swift
/// server.route("/hello") { request in
///     .text("hello, \(request.queryValue("name") ?? "world")\n")
/// }
/// ```
///
/// Twisted: `twisted.web.http.Request` (the parsed part of it).
public struct HTTPRequest: Sendable {
    /// The method, exactly as sent (methods are case-sensitive): "GET", "HEAD", "POST"…
    public var method: String
    /// The request target as sent: "/path?query", an absolute URI, "*" or an authority.
    public var target: String
    /// The target's path, percent-encoded as sent ("/" for "*" or an authority).
    public var path: String
    /// The target's query, without the "?" (nil when there is no "?").
    public var query: String?
    /// The protocol version, as (major, minor): (1, 1) or (1, 0).
    public var version: (major: Int, minor: Int)
    /// The header fields, in order; trailer fields of a chunked body are not included.
    public var headers: HTTPHeaders
    /// The body, decoded from its Content-Length or chunked framing; empty when there is none.
    public var body: [UInt8]
    /// Where the request came from (set by the server; nil for a request built by hand).
    public var remoteAddress: Address?
    /// Set by the parser when the framing was ambiguous (Transfer-Encoding beside Content-Length,
    /// or in an HTTP/1.0 request): the connection must close after the response (RFC 9112 §6.1).
    var framingRequiresClose = false

    /// A request built by hand (the parser builds the server's): `target` is split into `path` and
    /// `query`.
    public init(
        method: String, target: String, version: (major: Int, minor: Int) = (1, 1),
        headers: HTTPHeaders = [:], body: [UInt8] = []
    ) {
        self.method = method
        self.target = target
        (path, query) = HTTPRequest.splitTarget(target)
        self.version = version
        self.headers = headers
        self.body = body
    }

    /// "HTTP/1.1" or "HTTP/1.0".
    public var versionString: String { "HTTP/\(version.major).\(version.minor)" }

    /// Whether the connection may carry another request after this one's response (RFC 9112 §9.3):
    /// HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    public var keepAlive: Bool {
        if framingRequiresClose { return false }
        if headers.hasToken("close", in: "Connection") { return false }
        if version.major == 1 && version.minor == 0 { return headers.hasToken("keep-alive", in: "Connection") }
        return true
    }

    /// The query's `name=value` pairs, in order, percent-decoded ("+" is a space).
    public var queryItems: [(name: String, value: String)] {
        guard let query else { return [] }
        return query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            if let equals = pair.firstIndex(of: "=") {
                return (
                    name: percentDecode(pair[..<equals], plusIsSpace: true),
                    value: percentDecode(pair[pair.index(after: equals)...], plusIsSpace: true)
                )
            }
            return (name: percentDecode(pair, plusIsSpace: true), value: "")
        }
    }

    /// The first value of query parameter `name`, decoded, or nil.
    public func queryValue(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }

    /// The integer value of query parameter `name`, or `default` when absent or not an integer.
    public func queryInt(_ name: String, default value: Int) -> Int {
        queryValue(name).flatMap { Int($0) } ?? value
    }

    /// The path, percent-decoded (invalid escapes are kept as they are).
    public var decodedPath: String { percentDecode(path[...], plusIsSpace: false) }

    /// Splits a request target into path and query; an absolute URI loses its scheme and authority.
    static func splitTarget(_ target: String) -> (path: String, query: String?) {
        var rest = Substring(target)
        if let fragment = rest.firstIndex(of: "#") { rest = rest[..<fragment] }
        if !rest.hasPrefix("/") {
            // Absolute form ("http://host/p?q"), "*" or authority form ("host:443").
            if let scheme = rest.firstRange(of: "://") {
                let afterAuthority = rest[scheme.upperBound...]
                rest = afterAuthority.firstIndex { $0 == "/" || $0 == "?" }.map { afterAuthority[$0...] } ?? ""
            } else {
                rest = ""
            }
        }
        if let mark = rest.firstIndex(of: "?") {
            let path = rest[..<mark]
            return (path.isEmpty ? "/" : String(path), String(rest[rest.index(after: mark)...]))
        }
        return (rest.isEmpty ? "/" : String(rest), nil)
    }
}

/// Decodes `%XX` escapes (and "+" as a space when asked); invalid escapes stay as they are and
/// invalid UTF-8 becomes U+FFFD.
func percentDecode(_ text: Substring, plusIsSpace: Bool) -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var iterator = Array(text.utf8)[...]
    while let byte = iterator.popFirst() {
        if byte == UInt8(ascii: "%"), iterator.count >= 2,
            let high = hexValue(iterator[iterator.startIndex]),
            let low = hexValue(iterator[iterator.startIndex + 1])
        {
            bytes.append(high << 4 | low)
            iterator = iterator.dropFirst(2)
        } else if byte == UInt8(ascii: "+") && plusIsSpace {
            bytes.append(UInt8(ascii: " "))
        } else {
            bytes.append(byte)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The value of one hexadecimal digit, or nil.
func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}
