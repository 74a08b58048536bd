/// Fuzz target: what `Agent.request` checks before sending (method, URI), the `Location`
/// resolution the redirect agents use, and getpage's early URL check (`URLSyntax`) against both.
///
/// Input: a URI, then optionally LF and a `Location` to resolve against it, then optionally LF and
/// a method ("GET" when absent). Bytes that are not UTF-8 become U+FFFD.
///
/// Invariants:
/// - what `Agent.validate` accepts is visible ASCII with scheme http or https, a host libcurl can
///   take (a name without `[`, `]`, `:` or `@`, or a bracketed IPv6 address), a port in 1…65535 and a
///   path starting with "/"; what it hands libcurl (`withoutFragment`) is visible ASCII without `#`;
/// - parsing is idempotent: the URI's own spelling (`string`) parses to the same URI;
/// - `URLSyntax` (getpage) finds a problem exactly when `Agent.validate` refuses the URI;
/// - a `Location` resolved by the redirect agents' `RedirectFollower.resolve` (or by `URI.resolve`,
///   which it builds on) is http or https, passes the same checks, and parses back to itself.
import FuzzSupport
import URLList

@testable import WebAgent

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzURI(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let parts = split(fuzzBytes(data, count), at: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
    let text = parts[0]
    let method = parts.count > 2 ? parts[2] : "GET"
    let uri: URI
    do {
        uri = try Agent.validate(method, text, Headers())
    } catch {
        invariant(error is InvalidMethod || error is InvalidURI || error is SchemeNotSupported,
                  "Agent.validate threw \(type(of: error))")
        if method == "GET" {
            invariant(URLSyntax.problem(in: text) != nil,
                      "getpage accepts \(text.debugDescription), the agent refuses it: \(error)")
        }
        return 0
    }
    invariant(!method.isEmpty && method.utf8.allSatisfy(isTokenByte), "method \(method.debugDescription) accepted")
    invariant(text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "URI with invisible or non-ASCII bytes accepted")
    invariant(URLSyntax.problem(in: text) == nil,
              "the agent accepts \(text.debugDescription), getpage refuses it: \(URLSyntax.problem(in: text) ?? "")")
    checkSendable(uri, from: text)

    if parts.count > 1 {
        let location = parts[1]
        // What the redirect agents call, and the URI method it builds on.
        for resolved in [try? RedirectFollower.resolve(location, against: text), try? uri.resolve(location)] {
            guard let resolved else { continue }
            invariant(resolved.scheme == "http" || resolved.scheme == "https",
                      "Location \(location.debugDescription) resolved to scheme \(resolved.scheme)")
            checkSendable(resolved, from: location)
        }
    }
    return 0
}

private func checkSendable(_ uri: URI, from text: String) {
    invariant(uri.scheme == "http" || uri.scheme == "https", "scheme \(uri.scheme) from \(text.debugDescription)")
    invariant(!uri.host.isEmpty, "empty host from \(text.debugDescription)")
    invariant(isHostLibcurlTakes(uri.host), "host \(uri.host.debugDescription) from \(text.debugDescription)")
    invariant((1...65535).contains(uri.port), "port \(uri.port) from \(text.debugDescription)")
    invariant(uri.pathAndQuery.hasPrefix("/") && !uri.pathAndQuery.contains("#"),
              "path \(uri.pathAndQuery.debugDescription) from \(text.debugDescription)")
    let sent = uri.withoutFragment
    invariant(sent.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") },
              "libcurl would get \(sent.debugDescription) from \(text.debugDescription)")
    guard let again = try? URI.parse(uri.string) else {
        invariant(false, "\(uri.string.debugDescription) (from \(text.debugDescription)) does not parse")
        return
    }
    invariant(again == uri, "\(text.debugDescription) → \(uri) → \(again)")
}

/// A registered name without the characters that end or bracket a host, or an IPv6 address (hex
/// digits, colons and dots, then optionally a zone: "%25" and unreserved or percent-encoded bytes).
private func isHostLibcurlTakes(_ host: String) -> Bool {
    if host.contains(":") {
        let bytes = Array(host.utf8)
        let zone = bytes.firstIndex(of: UInt8(ascii: "%")) ?? bytes.count
        let unreserved = Array("-._~%".utf8)
        return bytes[..<zone].allSatisfy { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") || isHexDigit($0) }
            && bytes[zone...].allSatisfy { isAlphanumeric($0) || unreserved.contains($0) }
    }
    return !host.utf8.contains { "[]@/?#".utf8.contains($0) }
}

private func isAlphanumeric(_ byte: UInt8) -> Bool {
    (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
        || ((byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z"))
}

private func isHexDigit(_ byte: UInt8) -> Bool {
    (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
        || ((byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "f"))
}
