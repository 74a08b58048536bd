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
        if url.isEmpty { return "empty URL" }
        if let bad = url.unicodeScalars.first(where: { $0.value <= 0x20 || $0.value >= 0x7F }) {
            return bad.value > 0x7F ? "non-ASCII character (percent-encode it)" : "space or control character"
        }
        guard let schemeEnd = url.firstRange(of: "://") else { return "not an absolute URL (no scheme://)" }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else {
            return "unsupported scheme '\(scheme)' (http or https only)"
        }
        let rest = url[schemeEnd.upperBound...]
        var authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var host = authority
        var port: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return "unclosed IPv6 address" }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return "junk after the IPv6 address" }
                port = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            port = authority[authority.index(after: colon)...]
        }
        if host.isEmpty { return "no host" }
        if authority.hasPrefix("[") {
            guard isIPv6Literal(host) else { return "bad IPv6 address '\(host)'" }
        } else if host.contains(where: { $0 == "[" || $0 == "]" || $0 == ":" }) {
            return "bad host '\(host)'"
        }
        if let port, !port.isEmpty {
            guard port.allSatisfy({ $0 >= "0" && $0 <= "9" }), let number = Int(port), (1...65535).contains(number)
            else { return "bad port '\(port)'" }
        }
        return nil
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
