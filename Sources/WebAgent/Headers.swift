/// HTTP headers: case-insensitive names, each with its values in the order they were added.
///
/// Names are compared without regard to ASCII case (HTTP names are ASCII tokens: other characters
/// are compared as they are, so `K` and the Kelvin sign `\u{212A}` stay apart and a name holding
/// the latter is refused when sent); `getAllRawHeaders()` spells them canonically, as
/// Twisted does: each dash-separated word capitalised, with the usual exceptions (`Content-MD5`,
/// `DNT`, `ETag`, `P3P`, `TE`, `WWW-Authenticate`, `X-XSS-Protection`). Names keep the order in
/// which they were first added. Finding, adding and setting a name take O(1) amortised time
/// whatever the number of names; removing one takes O(n).
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
        var spelling: String  // canonical; names are compared without regard to ASCII case
        var values: [String]
    }

    /// The names in the order they were first added.
    private var entries: [Entry] = []
    /// Where each name is in `entries`, once there are more than `scannedNames` of them: finding
    /// and adding a name is then O(1) amortised, so a response with thousands of distinct names
    /// costs linear time, not quadratic. Fewer names are found faster by a scan than by hashing.
    private var positions: [FoldedName: Int]?
    private static let scannedNames = 16

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

    private func index(of name: String) -> Int? {
        if let positions { return positions[FoldedName(name)] }
        return entries.firstIndex { Headers.sameName($0.spelling, name) }
    }

    private mutating func append(_ entry: Entry) {
        entries.append(entry)
        if positions != nil {
            positions?[FoldedName(entry.spelling)] = entries.count - 1
        } else if entries.count > Headers.scannedNames {
            reindex()
        }
    }

    /// Removes the entry at `index`: O(n), as the names after it move up.
    private mutating func remove(at index: Int) {
        entries.remove(at: index)
        if positions != nil { reindex() }
    }

    private mutating func reindex() {
        guard entries.count > Headers.scannedNames else {
            positions = nil
            return
        }
        var positions = [FoldedName: Int](minimumCapacity: entries.count)
        for (index, entry) in entries.enumerated() { positions[FoldedName(entry.spelling)] = index }
        self.positions = positions
    }

    /// The values of `name`, or nil when it is absent.
    public func getRawHeaders(_ name: String) -> [String]? {
        index(of: name).map { entries[$0].values }
    }

    /// The last value of `name`, or nil.
    public func getLastRawHeader(_ name: String) -> String? {
        getRawHeaders(name)?.last
    }

    /// Replaces the values of `name` (an empty list removes it).
    public mutating func setRawHeaders(_ name: String, _ values: [String]) {
        if let index = index(of: name) {
            if values.isEmpty {
                remove(at: index)
            } else {
                entries[index].values = values
            }
        } else if !values.isEmpty {
            append(Entry(spelling: Headers.canonicalName(name), values: values))
        }
    }

    /// Adds one value to `name`, after its other values.
    public mutating func addRawHeader(_ name: String, _ value: String) {
        if let index = index(of: name) {
            entries[index].values.append(value)
        } else {
            append(Entry(spelling: Headers.canonicalName(name), values: [value]))
        }
    }

    /// Whether a header named `name` (in any ASCII case) is present.
    public func hasHeader(_ name: String) -> Bool {
        index(of: name) != nil
    }

    /// Removes `name` and its values (O(n): the names after it move up).
    public mutating func removeHeader(_ name: String) {
        if let index = index(of: name) { remove(at: index) }
    }

    /// Every header, canonically spelled, with its values, in the order names were first added.
    public func getAllRawHeaders() -> [(String, [String])] {
        entries.map { ($0.spelling, $0.values) }
    }

    /// Makes room for `count` names, before adding them one by one.
    mutating func reserveCapacity(_ count: Int) {
        entries.reserveCapacity(count)
        if count > Headers.scannedNames { positions?.reserveCapacity(count) }
    }

    /// Whether there are no headers.
    public var isEmpty: Bool { entries.isEmpty }

    public static func == (lhs: Headers, rhs: Headers) -> Bool {
        lhs.entries.count == rhs.entries.count
            && lhs.entries.allSatisfy { entry in rhs.getRawHeaders(entry.spelling) == entry.values }
    }

    public var description: String {
        "Headers(" + getAllRawHeaders().map { "\($0.0): \($0.1)" }.joined(separator: ", ") + ")"
    }

    // MARK: - Spelling and validity

    private static let exceptions = [
        "Content-MD5", "DNT", "ETag", "P3P", "TE", "WWW-Authenticate", "X-XSS-Protection",
    ]
    /// Bit n is set when an exception is n bytes long: most names skip the list on their length.
    private static let exceptionLengths: UInt64 = exceptions.reduce(0) { $0 | 1 << UInt64($1.utf8.count) }

    /// Whether two header names are the same name: equal but for the case of ASCII letters.
    /// Always inlined: in the scan of a few names it costs 7 % fewer instructions (callgrind, 10
    /// names added and looked up).
    @inline(__always)
    static func sameName(_ a: String, _ b: String) -> Bool {
        let (x, y) = (a.utf8, b.utf8)
        guard x.count == y.count else { return false }
        // Native strings are contiguous UTF-8: compare through pointers, not the generic view.
        if let same = x.withContiguousStorageIfAvailable({ p in
            y.withContiguousStorageIfAvailable { q in Headers.sameName(p, q) }
        }), let same {
            return same
        }
        return x.elementsEqual(y, by: Headers.sameByte)
    }

    private static func sameName(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        for index in 0..<a.count where !sameByte(a[index], b[index]) { return false }
        return true
    }

    private static func sameByte(_ x: UInt8, _ y: UInt8) -> Bool {
        x == y || (x | 0x20 == y | 0x20 && (x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A)
    }

    /// The canonical spelling of a header name (`content-type` → `Content-Type`): the first ASCII
    /// letter of each dash-separated word upper-case, the other ASCII letters lower-case, except for
    /// the names spelled otherwise by custom (`ETag`, `WWW-Authenticate`…). Only ASCII letters
    /// change, so spelling a name canonically twice changes nothing more.
    public static func canonicalName(_ name: String) -> String {
        let utf8 = name.utf8
        let count = utf8.count
        if count < 64, exceptionLengths & (1 << UInt64(count)) != 0 {
            for exception in exceptions where exception.utf8.count == count && sameName(exception, name) {
                return exception
            }
        }
        // Already canonical (the usual case for names a server sends): the same string, no copy.
        let canonical = utf8.withContiguousStorageIfAvailable(isCanonical) ?? isCanonical(utf8)
        if canonical { return name }
        var bytes = [UInt8]()
        bytes.reserveCapacity(count)
        var startOfWord = true
        for byte in utf8 {
            let lower = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
            bytes.append(startOfWord && lower >= 0x61 && lower <= 0x7A ? lower & 0xDF : lower)
            startOfWord = byte == UInt8(ascii: "-")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether no ASCII letter needs another case: upper at the start of a word, lower elsewhere.
    private static func isCanonical<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Bool {
        var startOfWord = true
        for byte in bytes {
            if startOfWord ? (byte >= 0x61 && byte <= 0x7A) : (byte >= 0x41 && byte <= 0x5A) { return false }
            startOfWord = byte == UInt8(ascii: "-")
        }
        return true
    }

    /// `name` with its ASCII letters lower-case: names are the same when these are equal.
    static func fold(_ name: String) -> String {
        name.asciiLowercased
    }

    /// Whether `name` is an HTTP token (RFC 9110: visible ASCII except separators).
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.allBytes(isTokenByte)
    }

    /// Whether `value` can be sent: no CR, LF or NUL (other controls except tab are refused too).
    public static func isValidValue(_ value: String) -> Bool {
        value.allBytes { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    }

    /// Whether `byte` is an RFC 9110 `tchar`: a letter, a digit or one of ``!#$%&'*+-.^_`|~``.
    /// Looked up in a 128-bit set (bit b of the pair set when byte b is one): this runs for every
    /// byte of every header name, sent and received.
    @inline(__always)
    static func isTokenByte(_ byte: UInt8) -> Bool {
        if byte < 64 { return (0x03FF_6CFA_0000_0000 as UInt64) >> UInt64(byte) & 1 == 1 }
        return byte < 128 && (0x57FF_FFFF_C7FF_FFFE as UInt64) >> UInt64(byte - 64) & 1 == 1
    }

    /// Calls `body` with each header line handed to libcurl, one per value: `Name: value`,
    /// canonically spelled, in `getAllRawHeaders()` order; an empty value is written `Name;`
    /// (libcurl's way to send a field with no value). Each line is a NUL-terminated C string, valid
    /// only during the call, built in one reused buffer (no `String` per line). Only meaningful when
    /// `firstInvalid()` is nil.
    func forEachFieldLine(_ body: (UnsafePointer<CChar>) -> Void) {
        var line: [UInt8] = []
        for entry in entries {
            for value in entry.values {
                line.removeAll(keepingCapacity: true)
                line.append(contentsOf: entry.spelling.utf8)
                if value.isEmpty {
                    line.append(UInt8(ascii: ";"))
                } else {
                    line.append(UInt8(ascii: ":"))
                    line.append(UInt8(ascii: " "))
                    line.append(contentsOf: value.utf8)
                }
                line.append(0)
                line.withUnsafeBufferPointer { bytes in
                    bytes.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
                }
            }
        }
    }

    /// Appends one `Name: value` CR LF line per value, canonically spelled, in
    /// `getAllRawHeaders()` order (the request's header block). Only meaningful when
    /// `firstInvalid()` is nil.
    func appendFieldLines(to bytes: inout [UInt8]) {
        for entry in entries {
            for value in entry.values {
                bytes.append(contentsOf: entry.spelling.utf8)
                bytes.append(UInt8(ascii: ":"))
                bytes.append(UInt8(ascii: " "))
                bytes.append(contentsOf: value.utf8)
                bytes.append(0x0D)
                bytes.append(0x0A)
            }
        }
    }

    /// Whether a `Connection` value has the `close` option.
    var hasConnectionClose: Bool {
        guard let values = getRawHeaders("Connection") else { return false }
        return values.contains { value in
            value.split(separator: ",").contains { $0.utf8.count >= 5 && String($0).trimmingSpaces().asciiLowercased == "close" }
        }
    }

    /// The first header that cannot be sent, if any.
    func firstInvalid() -> InvalidHeader? {
        for entry in entries {
            guard Headers.isValidName(entry.spelling) else { return InvalidHeader(name: entry.spelling, reason: "not a token") }
            for value in entry.values where !Headers.isValidValue(value) {
                return InvalidHeader(name: entry.spelling, reason: "control character in value")
            }
        }
        return nil
    }
}

/// A header name as a dictionary key: equal to the same name in any ASCII case, and hashed on its
/// bytes with ASCII letters folded to lower case (so equal keys hash alike).
private struct FoldedName: Hashable, Sendable {
    let name: String

    init(_ name: String) { self.name = name }

    static func == (lhs: FoldedName, rhs: FoldedName) -> Bool {
        Headers.sameName(lhs.name, rhs.name)
    }

    func hash(into hasher: inout Hasher) {
        let utf8 = name.utf8
        if utf8.withContiguousStorageIfAvailable({ FoldedName.hash($0, into: &hasher) }) == nil {
            FoldedName.hash(Array(utf8), into: &hasher)
        }
    }

    /// Feeds the folded bytes eight at a time, then the count (so "a" and "a\0" differ).
    private static func hash<Bytes: Collection<UInt8>>(_ bytes: Bytes, into hasher: inout Hasher) {
        var word: UInt64 = 0
        var filled: UInt64 = 0
        for byte in bytes {
            let folded = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
            word |= UInt64(folded) << (filled * 8)
            filled += 1
            if filled == 8 {
                hasher.combine(word)
                word = 0
                filled = 0
            }
        }
        hasher.combine(word)
        hasher.combine(bytes.count)
    }
}
