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
        guard !text.isEmpty else { throw InvalidURI(uri: text, reason: "empty") }
        guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw InvalidURI(uri: text, reason: "whitespace, control or non-ASCII characters")
        }
        guard let schemeEnd = text.firstRange(of: "://") else {
            throw InvalidURI(uri: text, reason: "no scheme")
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard !scheme.isEmpty, scheme.utf8.allSatisfy({ isSchemeByte($0) }) else {
            throw InvalidURI(uri: text, reason: "bad scheme")
        }
        var rest = text[schemeEnd.upperBound...]
        var fragment: String?
        if let hash = rest.firstIndex(of: "#") {
            fragment = String(rest[rest.index(after: hash)...])
            rest = rest[..<hash]
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        var pathAndQuery = String(rest[authorityEnd...])
        if pathAndQuery.isEmpty || pathAndQuery.first == "?" { pathAndQuery = "/" + pathAndQuery }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var host: Substring
        var portText: Substring?
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { throw InvalidURI(uri: text, reason: "unclosed IPv6 host") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { throw InvalidURI(uri: text, reason: "junk after IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw InvalidURI(uri: text, reason: "empty host") }
        if authority.first == "[" {
            guard URI.isIPv6Literal(host) else { throw InvalidURI(uri: text, reason: "bad IPv6 address") }
        } else if host.contains(where: { $0 == "[" || $0 == "]" || $0 == ":" }) {
            throw InvalidURI(uri: text, reason: "bad host \(host)")
        }
        let defaultPort = scheme == "https" ? 443 : 80
        var port = defaultPort
        if let portText, !portText.isEmpty {
            guard portText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                let number = Int(portText), (1...65535).contains(number)
            else {
                throw InvalidURI(uri: text, reason: "bad port \(portText)")
            }
            port = number
        }
        return URI(scheme: scheme, host: String(host), port: port, pathAndQuery: pathAndQuery, fragment: fragment)
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
    var origin: String { "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    /// The URI without its fragment, as handed to libcurl.
    var withoutFragment: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let defaultPort = scheme == "https" ? 443 : 80
        return "\(scheme)://\(hostPart)\(port == defaultPort ? "" : ":\(port)")\(pathAndQuery)"
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
        if let colon = location.firstIndex(of: ":"),
            let first = location.utf8.first, (first | 0x20) >= UInt8(ascii: "a"), (first | 0x20) <= UInt8(ascii: "z"),
            location[..<colon].utf8.allSatisfy({ URI.isSchemeByte($0) })
        {
            // An absolute reference (RFC 3986 §4.3): only http and https are followed.
            let scheme = location[..<colon].lowercased()
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
                base.pathAndQuery = URI.removeDotSegments(directory + reference)
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

    private static func removeDotSegments(_ pathAndQuery: String) -> String {
        let parts = pathAndQuery.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var output: [Substring] = []
        let segments = parts[0].split(separator: "/", omittingEmptySubsequences: false)
        for (index, segment) in segments.enumerated() {
            if segment == "." { if index == segments.count - 1 { output.append("") }; continue }
            if segment == ".." {
                if output.count > 1 { output.removeLast() }
                if index == segments.count - 1 { output.append("") }
                continue
            }
            output.append(segment)
        }
        var path = output.joined(separator: "/")
        if !path.hasPrefix("/") { path = "/" + path }
        return parts.count > 1 ? path + "?" + parts[1] : path
    }

    var string: String { withoutFragment + (fragment.map { "#\($0)" } ?? "") }
}
