/// The parts of an http or https URI that the agents need, parsed strictly.
///
/// Accepts `scheme://[userinfo@]host[:port][/path][?query][#fragment]` with a bracketed IPv6 host;
/// refuses whitespace, control characters and non-ASCII bytes anywhere (percent-encode them), an
/// empty host, a host holding `[`, `]` or `:` outside an IPv6 address, an IPv6 address with other
/// than hex digits, colons and dots (and an optional `%25` zone), and a port that is not decimal
/// digits in 1…65535. The userinfo is dropped.
struct URI: Equatable {
    var scheme: String
    var host: String
    var port: Int
    /// Path and query, as sent on the request line (at least "/").
    var pathAndQuery: String
    var fragment: String?

    static func parse(_ text: String) throws -> URI {
        var contiguous = text
        return try contiguous.withUTF8 { bytes throws(InvalidURI) -> URI in try parse(bytes, text: text) }
    }

    /// Parses the bytes of `text` (byte by byte: this runs for every request).
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>, text: String) throws(InvalidURI) -> URI {
        func string(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
        func firstIndex(of byte: UInt8, in range: Range<Int>) -> Int? { range.first { bytes[$0] == byte } }
        guard !bytes.isEmpty else { throw InvalidURI(uri: text, reason: "empty") }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw InvalidURI(uri: text, reason: "whitespace, control or non-ASCII characters")
        }
        var schemeEnd: Int?
        var index = 0
        while index + 2 < bytes.count {
            if bytes[index] == UInt8(ascii: ":"), bytes[index + 1] == UInt8(ascii: "/"), bytes[index + 2] == UInt8(ascii: "/") {
                schemeEnd = index
                break
            }
            index += 1
        }
        guard let schemeEnd else { throw InvalidURI(uri: text, reason: "no scheme") }
        guard schemeEnd > 0, bytes[0..<schemeEnd].allSatisfy(isSchemeByte) else {
            throw InvalidURI(uri: text, reason: "bad scheme")
        }
        let scheme = string(0..<schemeEnd).asciiLowercased
        var restEnd = bytes.count
        var fragment: String?
        let restStart = schemeEnd + 3
        if let hash = firstIndex(of: UInt8(ascii: "#"), in: restStart..<bytes.count) {
            fragment = string((hash + 1)..<bytes.count)
            restEnd = hash
        }
        let authorityEnd = (restStart..<restEnd).first { bytes[$0] == UInt8(ascii: "/") || bytes[$0] == UInt8(ascii: "?") } ?? restEnd
        var pathAndQuery = string(authorityEnd..<restEnd)
        if authorityEnd == restEnd || bytes[authorityEnd] == UInt8(ascii: "?") { pathAndQuery = "/" + pathAndQuery }
        var authorityStart = restStart
        if let at = (restStart..<authorityEnd).last(where: { bytes[$0] == UInt8(ascii: "@") }) { authorityStart = at + 1 }
        var host: Range<Int>
        var portRange: Range<Int>?
        if authorityStart < authorityEnd, bytes[authorityStart] == UInt8(ascii: "[") {
            guard let close = firstIndex(of: UInt8(ascii: "]"), in: authorityStart..<authorityEnd) else {
                throw InvalidURI(uri: text, reason: "unclosed IPv6 host")
            }
            host = (authorityStart + 1)..<close
            if close + 1 < authorityEnd {
                guard bytes[close + 1] == UInt8(ascii: ":") else { throw InvalidURI(uri: text, reason: "junk after IPv6 host") }
                portRange = (close + 2)..<authorityEnd
            }
        } else if let colon = (authorityStart..<authorityEnd).last(where: { bytes[$0] == UInt8(ascii: ":") }) {
            host = authorityStart..<colon
            portRange = (colon + 1)..<authorityEnd
        } else {
            host = authorityStart..<authorityEnd
        }
        guard !host.isEmpty else { throw InvalidURI(uri: text, reason: "empty host") }
        let bracketed = authorityStart < authorityEnd && bytes[authorityStart] == UInt8(ascii: "[")
        if bracketed {
            guard URI.isIPv6Literal(string(host)) else { throw InvalidURI(uri: text, reason: "bad IPv6 address") }
        } else if bytes[host].contains(where: { $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "]") || $0 == UInt8(ascii: ":") }) {
            throw InvalidURI(uri: text, reason: "bad host \(string(host))")
        }
        var port = scheme == "https" ? 443 : 80
        if let portRange, !portRange.isEmpty {
            var number = 0
            for index in portRange {
                let byte = bytes[index]
                guard byte >= 0x30, byte <= 0x39, number <= 65535 else {
                    throw InvalidURI(uri: text, reason: "bad port \(string(portRange))")
                }
                number = number * 10 + Int(byte - 0x30)
            }
            guard (1...65535).contains(number) else { throw InvalidURI(uri: text, reason: "bad port \(string(portRange))") }
            port = number
        }
        return URI(scheme: scheme, host: string(host), port: port, pathAndQuery: pathAndQuery, fragment: fragment)
    }

    /// Hex digits, colons and dots with at least one colon, then optionally a zone: `%25` and
    /// unreserved or percent-encoded characters (RFC 6874).
    static func isIPv6Literal<S: StringProtocol>(_ host: S) -> Bool {
        let bytes = Array(host.utf8)
        let zone = bytes.firstIndex(of: UInt8(ascii: "%")) ?? bytes.count
        let address = bytes[..<zone]
        guard address.contains(UInt8(ascii: ":")),
            address.allSatisfy({ $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") || hexDigit($0) })
        else { return false }
        guard zone < bytes.count else { return true }
        let zoneID = bytes[zone...]
        return zoneID.starts(with: Array("%25".utf8)) && zoneID.count > 3
            && zoneID.allSatisfy { isUnreservedByte($0) || $0 == UInt8(ascii: "%") }
    }

    private static func hexDigit(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            || ((byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "f"))
    }

    private static func isUnreservedByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            || ((byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z"))
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: "~")
    }

    static func isSchemeByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "+")
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }

    /// scheme://host:port — what identifies a connection's origin.
    var origin: String { "\(scheme)://\(host.containsByte(UInt8(ascii: ":")) ? "[\(host)]" : host):\(port)" }

    /// The URI without its fragment, as handed to libcurl.
    var withoutFragment: String {
        // Built as bytes: this runs for every request, and interpolation costs several times more.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(scheme.utf8.count + host.utf8.count + pathAndQuery.utf8.count + 14)
        bytes.append(contentsOf: scheme.utf8)
        bytes.append(contentsOf: "://".utf8)
        appendAuthority(to: &bytes)
        bytes.append(contentsOf: pathAndQuery.utf8)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `host[:port]` as sent (the URI's authority, the Host header): an IPv6 host in
    /// brackets, the port left out when it is the scheme's default.
    func appendAuthority(to bytes: inout [UInt8]) {
        let bracketed = host.containsByte(UInt8(ascii: ":"))
        if bracketed { bytes.append(UInt8(ascii: "[")) }
        bytes.append(contentsOf: host.utf8)
        if bracketed { bytes.append(UInt8(ascii: "]")) }
        if port != (scheme == "https" ? 443 : 80) {
            bytes.append(UInt8(ascii: ":"))
            bytes.appendDecimal(port)
        }
    }

    /// Resolves a Location header value against this URI (absolute, scheme-relative, absolute-path
    /// or relative), keeping this URI's fragment when the location has none (RFC 9110 §10.2.2).
    /// A location with whitespace, control or non-ASCII characters anywhere (its fragment too) is
    /// refused with `InvalidURI`.
    func resolve(_ location: String) throws -> URI {
        guard location.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw InvalidURI(uri: location, reason: "whitespace, control or non-ASCII characters")
        }
        var resolved: URI
        if let scheme = URI.schemePrefix(location) {
            // An absolute reference (RFC 3986 §4.3): only http and https are followed.
            guard scheme == "http" || scheme == "https" else { throw SchemeNotSupported(scheme: scheme) }
            resolved = try URI.parse(location)
        } else if location.hasPrefix("//") {
            resolved = try URI.parse("\(scheme):\(location)")
        } else {
            var reference = location
            var newFragment: String?
            if let hash = reference.firstIndex(of: "#") {
                newFragment = String(reference[reference.index(after: hash)...])
                reference = String(reference[..<hash])
            }
            var base = self
            base.fragment = nil
            if reference.isEmpty {
                // Same document.
            } else if reference.hasPrefix("/") {
                base.pathAndQuery = reference
            } else if reference.hasPrefix("?") {
                let path = pathAndQuery.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
                base.pathAndQuery = path + reference
            } else {
                let path = pathAndQuery.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "/"
                let directory = path.hasSuffix("/") ? path : String(path[...(path.lastIndex(of: "/") ?? path.startIndex)])
                base.pathAndQuery = URI.removeDotSegments(inPathAndQuery: directory + reference)
            }
            guard base.pathAndQuery.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw InvalidURI(uri: location, reason: "whitespace, control or non-ASCII characters")
            }
            base.fragment = newFragment
            resolved = base
        }
        if resolved.fragment == nil { resolved.fragment = fragment }
        return resolved
    }

    /// The request target sent on the request line: the path without its dot segments (RFC 3986
    /// §5.2.4, as curl sends it unless told `--path-as-is`: `/a/../../etc/passwd` asks for
    /// `/etc/passwd`), then the query untouched. Percent-encoded dots (`%2e`) are not dots here,
    /// as in libcurl 7.88 (which sends https requests); curl 8 also squashes them.
    var requestTarget: String {
        // On the bytes: walking the Characters of the path cost ~8,000 instructions a request.
        let path = pathAndQuery[..<(pathAndQuery.utf8.firstIndex(of: UInt8(ascii: "?")) ?? pathAndQuery.endIndex)]
        // The usual path holds no dot segment at all (a dot in a name, `/p/1.html`, is none): sent
        // as it is, without a copy.
        guard URI.hasDotSegment(path.utf8) else { return pathAndQuery.isEmpty ? "/" : pathAndQuery }
        var target = URI.removeDotSegments(path)
        if target.isEmpty { target = "/" }
        return target + pathAndQuery[path.endIndex...]
    }

    /// Whether a segment of `path` is `.` or `..`: only then does `removeDotSegments` change it.
    static func hasDotSegment(_ path: Substring.UTF8View) -> Bool {
        var length = 0
        var dots = 0
        for byte in path {
            if byte == UInt8(ascii: "/") {
                if length > 0 && length <= 2 && dots == length { return true }
                length = 0
                dots = 0
            } else {
                length += 1
                if byte == UInt8(ascii: ".") { dots += 1 }
            }
        }
        return length > 0 && length <= 2 && dots == length
    }

    /// `path` without its `.` and `..` segments: RFC 3986 §5.2.4's remove_dot_segments, step by
    /// step on the bytes (a `..` above the root is dropped, and `%2e` is not a dot).
    static func removeDotSegments<Path: StringProtocol>(_ path: Path) -> String {
        let input = Array(path.utf8)
        let slash = UInt8(ascii: "/")
        let dot = UInt8(ascii: ".")
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var index = 0
        /// Whether the rest of the input starts with `prefix`; `whole`: is exactly it.
        func rest(is prefix: [UInt8], whole: Bool = false) -> Bool {
            let count = input.count - index
            guard whole ? count == prefix.count : count >= prefix.count else { return false }
            for offset in 0..<prefix.count where input[index + offset] != prefix[offset] { return false }
            return true
        }
        func dropLastSegment() {
            while let last = output.popLast(), last != slash {}
        }
        while index < input.count {
            if rest(is: [dot, dot, slash]) {                       // A: "../"
                index += 3
            } else if rest(is: [dot, slash]) {                     // A: "./"
                index += 2
            } else if rest(is: [slash, dot, slash]) {              // B: "/./" → "/"
                index += 2
            } else if rest(is: [slash, dot], whole: true) {        // B: "/." → "/"
                index += 1
                output.append(slash)
                index = input.count
            } else if rest(is: [slash, dot, dot, slash]) {         // C: "/../" → "/", and up one
                index += 3
                dropLastSegment()
            } else if rest(is: [slash, dot, dot], whole: true) {   // C: "/.." → "/", and up one
                dropLastSegment()
                output.append(slash)
                index = input.count
            } else if rest(is: [dot], whole: true) || rest(is: [dot, dot], whole: true) {   // D
                index = input.count
            } else {                                               // E: move one segment
                var end = index + 1
                while end < input.count, input[end] != slash { end += 1 }
                output.append(contentsOf: input[index..<end])
                index = end
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// A relative reference's merged path and query with the path's dot segments removed.
    private static func removeDotSegments(inPathAndQuery pathAndQuery: String) -> String {
        let path = pathAndQuery.prefix { $0 != "?" }
        var resolved = removeDotSegments(path)
        if !resolved.hasPrefix("/") { resolved = "/" + resolved }
        return resolved + pathAndQuery[path.endIndex...]
    }

    var string: String { withoutFragment + (fragment.map { "#\($0)" } ?? "") }
}
