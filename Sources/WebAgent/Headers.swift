/// HTTP headers: case-insensitive names, each with its values in the order they were added.
///
/// Names are compared without regard to case; `getAllRawHeaders()` spells them canonically, as
/// Twisted does: each dash-separated word capitalised, with the usual exceptions (`Content-MD5`,
/// `DNT`, `ETag`, `P3P`, `TE`, `WWW-Authenticate`, `X-XSS-Protection`). Names keep the order in
/// which they were first added.
///
/// ```swift
/// var headers = Headers(["User-Agent": ["twisted"]])
/// headers.addRawHeader("accept", "text/html")
/// headers.getRawHeaders("Accept")        // ["text/html"]
/// ```
///
/// Setting never traps: a name or value that cannot be sent (a CR, LF or NUL, or a name that is
/// not an HTTP token) is refused by `Agent.request` with `InvalidHeader`, before anything is sent.
///
/// Twisted: `twisted.web.http_headers.Headers`.
public struct Headers: ExpressibleByDictionaryLiteral, Equatable, Sendable, CustomStringConvertible {
    private struct Entry: Equatable, Sendable {
        var name: String     // lower-cased
        var values: [String]
    }

    private var entries: [Entry] = []

    /// Headers from a dictionary of names to values, as `Headers({'User-Agent': ['twisted']})`.
    /// Names are taken in sorted order (a dictionary has none of its own).
    public init(_ raw: [String: [String]] = [:]) {
        for name in raw.keys.sorted() { setRawHeaders(name, raw[name]!) }
    }

    public init(dictionaryLiteral elements: (String, [String])...) {
        for (name, values) in elements { setRawHeaders(name, values) }
    }

    /// Headers from name/value pairs, in order (repeated names collect their values).
    public init(pairs: [(String, String)]) {
        for (name, value) in pairs { addRawHeader(name, value) }
    }

    /// The values of `name`, or nil when it is absent.
    public func getRawHeaders(_ name: String) -> [String]? {
        let key = name.lowercased()
        return entries.first { $0.name == key }?.values
    }

    /// The last value of `name`, or nil.
    public func getLastRawHeader(_ name: String) -> String? {
        getRawHeaders(name)?.last
    }

    /// Replaces the values of `name` (an empty list removes it).
    public mutating func setRawHeaders(_ name: String, _ values: [String]) {
        let key = name.lowercased()
        if let index = entries.firstIndex(where: { $0.name == key }) {
            if values.isEmpty {
                entries.remove(at: index)
            } else {
                entries[index].values = values
            }
        } else if !values.isEmpty {
            entries.append(Entry(name: key, values: values))
        }
    }

    /// Adds one value to `name`, after its other values.
    public mutating func addRawHeader(_ name: String, _ value: String) {
        let key = name.lowercased()
        if let index = entries.firstIndex(where: { $0.name == key }) {
            entries[index].values.append(value)
        } else {
            entries.append(Entry(name: key, values: [value]))
        }
    }

    public func hasHeader(_ name: String) -> Bool {
        getRawHeaders(name) != nil
    }

    public mutating func removeHeader(_ name: String) {
        let key = name.lowercased()
        entries.removeAll { $0.name == key }
    }

    /// Every header, canonically spelled, with its values, in the order names were first added.
    public func getAllRawHeaders() -> [(String, [String])] {
        entries.map { (Headers.canonicalName($0.name), $0.values) }
    }

    /// Whether there are no headers.
    public var isEmpty: Bool { entries.isEmpty }

    public static func == (lhs: Headers, rhs: Headers) -> Bool {
        lhs.entries.count == rhs.entries.count
            && lhs.entries.allSatisfy { entry in rhs.getRawHeaders(entry.name) == entry.values }
    }

    public var description: String {
        "Headers(" + getAllRawHeaders().map { "\($0.0): \($0.1)" }.joined(separator: ", ") + ")"
    }

    // MARK: - Spelling and validity

    private static let exceptions: [String: String] = [
        "content-md5": "Content-MD5", "dnt": "DNT", "etag": "ETag", "p3p": "P3P", "te": "TE",
        "www-authenticate": "WWW-Authenticate", "x-xss-protection": "X-XSS-Protection",
    ]

    /// The canonical spelling of a header name (`content-type` → `Content-Type`).
    public static func canonicalName(_ name: String) -> String {
        let lower = name.lowercased()
        if let exception = exceptions[lower] { return exception }
        return lower.split(separator: "-", omittingEmptySubsequences: false)
            .map { word in word.prefix(1).uppercased() + word.dropFirst() }
            .joined(separator: "-")
    }

    /// Whether `name` is an HTTP token (RFC 9110: visible ASCII except separators).
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy(isTokenByte)
    }

    /// Whether `value` can be sent: no CR, LF or NUL (other controls except tab are refused too).
    public static func isValidValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// The header lines handed to libcurl, one per value: `Name: value`, canonically spelled, in
    /// `getAllRawHeaders()` order; an empty value is written `Name;` (libcurl's way to send a field
    /// with no value). Only meaningful when `firstInvalid()` is nil.
    func fieldLines() -> [String] {
        var lines: [String] = []
        for (name, values) in getAllRawHeaders() {
            for value in values { lines.append(value.isEmpty ? "\(name);" : "\(name): \(value)") }
        }
        return lines
    }

    /// The first header that cannot be sent, if any.
    func firstInvalid() -> InvalidHeader? {
        for entry in entries {
            guard Headers.isValidName(entry.name) else { return InvalidHeader(name: entry.name, reason: "not a token") }
            for value in entry.values where !Headers.isValidValue(value) {
                return InvalidHeader(name: Headers.canonicalName(entry.name), reason: "control character in value")
            }
        }
        return nil
    }
}
