/// The check a URL list applies to each URL before it is requested: absolute http or https, with a
/// host (a name without `[`, `]` or `:`, or a bracketed IPv6 address) and a decimal port in
/// 1…65535, and only visible ASCII.
///
/// It mirrors what `WebAgent`'s `Agent.request` accepts, so that a line the agent would refuse is
/// reported with its line number instead of failing later; the agent checks again anyway.
///
/// ```swift
/// URLSyntax.problem(in: "http://example.com/")   // nil
/// URLSyntax.problem(in: "ftp://example.com/")    // "unsupported scheme 'ftp' (http or https only)"
/// ```
public enum URLSyntax {
    /// Why `url` cannot be fetched, for the user, or nil when it can.
    public static func problem(in url: String) -> String? {
        var contiguous = url
        return contiguous.withUTF8 { problem(inBytes: $0) }
    }

    /// `problem(in:)` on the URL's bytes: it runs for every line of a list that may have millions,
    /// so it works byte by byte rather than on `Character`s.
    private static func problem(inBytes bytes: UnsafeBufferPointer<UInt8>) -> String? {
        func text(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
        if bytes.isEmpty { return "empty URL" }
        if let bad = bytes.first(where: { $0 <= 0x20 || $0 >= 0x7F }) {
            return bad > 0x7F ? "non-ASCII character (percent-encode it)" : "space or control character"
        }
        guard let schemeEnd = (0..<max(0, bytes.count - 2)).first(where: {
            bytes[$0] == UInt8(ascii: ":") && bytes[$0 + 1] == UInt8(ascii: "/") && bytes[$0 + 2] == UInt8(ascii: "/")
        }) else {
            // Another scheme without "//" (mailto:, javascript:, data:): said so, as the agent does;
            // but "host:port/…" (digits after the colon) is a URL missing its scheme.
            if let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0, isLetter(bytes[0]),
               bytes[..<colon].allSatisfy(isSchemeByte),
               !bytes[(colon + 1)...].prefix(while: { $0 != UInt8(ascii: "/") }).allSatisfy({
                   (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
                let scheme = text(0..<colon).lowercased()
                if scheme != "http" && scheme != "https" { return "unsupported scheme '\(scheme)' (http or https only)" }
            }
            return "not an absolute URL (no scheme://)"
        }
        let scheme = text(0..<schemeEnd).lowercased()
        guard scheme == "http" || scheme == "https" else {
            return "unsupported scheme '\(scheme)' (http or https only)"
        }
        let restStart = schemeEnd + 3
        let authorityEnd = (restStart..<bytes.count).first {
            bytes[$0] == UInt8(ascii: "/") || bytes[$0] == UInt8(ascii: "?") || bytes[$0] == UInt8(ascii: "#")
        } ?? bytes.count
        var authorityStart = restStart
        if let at = (restStart..<authorityEnd).last(where: { bytes[$0] == UInt8(ascii: "@") }) { authorityStart = at + 1 }
        let bracketed = authorityStart < authorityEnd && bytes[authorityStart] == UInt8(ascii: "[")
        var host = authorityStart..<authorityEnd
        var port: Range<Int>?
        if bracketed {
            guard let close = (authorityStart..<authorityEnd).first(where: { bytes[$0] == UInt8(ascii: "]") }) else {
                return "unclosed IPv6 address"
            }
            host = (authorityStart + 1)..<close
            if close + 1 < authorityEnd {
                guard bytes[close + 1] == UInt8(ascii: ":") else { return "junk after the IPv6 address" }
                port = (close + 2)..<authorityEnd
            }
        } else if let colon = (authorityStart..<authorityEnd).last(where: { bytes[$0] == UInt8(ascii: ":") }) {
            host = authorityStart..<colon
            port = (colon + 1)..<authorityEnd
        }
        if host.isEmpty { return "no host" }
        if bracketed {
            guard isIPv6Literal(Substring(text(host))) else { return "bad IPv6 address '\(text(host))'" }
        } else if bytes[host].contains(where: { $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "]") || $0 == UInt8(ascii: ":") }) {
            return "bad host '\(text(host))'"
        }
        if let port, !port.isEmpty {
            guard bytes[port].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                let number = Int(text(port)), (1...65535).contains(number)
            else { return "bad port '\(text(port))'" }
        }
        return nil
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
    }

    /// A byte of a URI scheme after its first letter (RFC 3986 §3.1).
    private static func isSchemeByte(_ byte: UInt8) -> Bool {
        isLetter(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }

    /// Hex digits, colons and dots with at least one colon, then optionally a zone (`%25` and
    /// unreserved or percent-encoded characters).
    static func isIPv6Literal(_ host: Substring) -> Bool {
        let address = host.prefix { $0 != "%" }
        let zone = host[address.endIndex...]
        guard address.contains(":"), address.allSatisfy({ $0 == ":" || $0 == "." || $0.isHexDigit }) else {
            return false
        }
        return zone.isEmpty
            || (zone.hasPrefix("%25") && zone.count > 3
                && zone.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-._~%".contains($0)) })
    }
}

extension URLSyntax {
    /// The server a URL names, as `host:port` with the host in lower case and the scheme's default
    /// port filled in (`[v6]:port` for an IPv6 address): what `--per-host` counts by. Nil for text
    /// that is not an http or https URL (check `problem(in:)` first).
    public static func hostKey(of url: String) -> String? {
        let lower = url.prefix(8).lowercased()
        let scheme = lower.hasPrefix("https://") ? "https" : lower.hasPrefix("http://") ? "http" : nil
        guard let scheme else { return nil }
        let rest = url.dropFirst(scheme.count + 3)
        var authority = rest[..<(rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex)]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        let text = authority.lowercased()
        let hasPort: Bool
        if text.hasPrefix("[") {
            hasPort = text.contains("]:")
        } else {
            hasPort = text.contains(":")
        }
        if hasPort && !text.hasSuffix(":") { return text }
        let host = text.hasSuffix(":") ? String(text.dropLast()) : text
        return host + (scheme == "https" ? ":443" : ":80")
    }
}
