/// An HTTP proxy server, from a URL such as `http://user:secret@proxy.example:3128`: where
/// `ProxyAgent` sends its requests.
///
/// Parsed as curl parses `--proxy`: the scheme may be left out (`proxy.example:3128` is
/// `http://proxy.example:3128`), and a missing port is 1080. Only `http` proxies are supported
/// (plain http requests go to them in absolute form, https ones through a `CONNECT` tunnel); any
/// other scheme (`https`, `socks5`, …) is refused. A `user:password@` gives the proxy's
/// credentials, sent as `Proxy-Authorization: Basic …` (percent-escapes in them are decoded first;
/// an error about the URL shows the password as `***`); a path after the address is ignored.
///
/// ```swift
/// let proxy = try HTTPProxy("http://alice:s%40cret@127.0.0.1:3128")
/// proxy.host                 // "127.0.0.1"
/// proxy.password             // "s@cret"
/// ```
public struct HTTPProxy: Hashable, Sendable, CustomStringConvertible {
    /// The proxy's host name or numeric address.
    public let host: String
    /// The proxy's port (1080 when the URL has none).
    public let port: Int
    /// The user of the proxy's credentials, percent-escapes decoded; nil without credentials.
    public let user: String?
    /// The password of the proxy's credentials, percent-escapes decoded; nil without one.
    public let password: String?

    /// - Throws: `InvalidURI` for a URL that does not parse (`URI`'s rules), `SchemeNotSupported`
    ///   for a scheme other than http.
    public init(_ url: String) throws {
        let separator = HTTPProxy.schemeSeparator(in: url)
        let scheme = separator.map { url[..<$0.lowerBound].lowercased() } ?? "http"
        guard scheme == "http" else { throw SchemeNotSupported(scheme: scheme) }
        let rest: Substring = separator.map { url[$0.upperBound...] } ?? url[...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let hostStart = authority.lastIndex(of: "@").map { authority.index(after: $0) } ?? authority.startIndex
        let hostPart = authority[hostStart...]
        let hasPort = hostPart.hasPrefix("[") ? hostPart.contains("]:") : hostPart.contains(":")
        // The default port is curl's for a proxy (1080), not http's.
        let parsed: URI
        do {
            parsed = try URI.parse("http://" + authority + (hasPort ? "" : ":1080") + "/")
        } catch let error as InvalidURI {
            // The message names the proxy without its password.
            var shown = "http://" + hostPart
            if let at = authority.lastIndex(of: "@") {
                let userInfo = authority[..<at]
                let user = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                shown = "http://" + user + (userInfo.contains(":") ? ":***" : "") + "@" + hostPart
            }
            throw InvalidURI(uri: shown, reason: error.reason)
        }
        host = parsed.host
        port = parsed.port
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            let colon = userInfo.firstIndex(of: ":")
            user = HTTPProxy.percentDecoded(userInfo[..<(colon ?? userInfo.endIndex)])
            password = colon.map { HTTPProxy.percentDecoded(userInfo[userInfo.index(after: $0)...]) } ?? ""
        } else {
            user = nil
            password = nil
        }
    }

    /// `http://host:port`, without the credentials (for messages).
    public var description: String {
        "http://\(host.containsByte(UInt8(ascii: ":")) ? "[\(host)]" : host):\(port)"
    }

    /// The `Proxy-Authorization` value for the credentials, if any: `Basic` and base64 of
    /// `user:password` (RFC 7617).
    var authorization: String? {
        guard let user else { return nil }
        return "Basic " + HTTPProxy.base64(Array("\(user):\(password ?? "")".utf8))
    }

    /// The proxy as libcurl's `CURLOPT_PROXY` takes it (credentials escaped again).
    var curlURL: String {
        guard let user else { return description }
        let escape = { (text: String) in HTTPProxy.percentEncoded(text) }
        return "http://\(escape(user)):\(escape(password ?? ""))@\(description.dropFirst("http://".count))"
    }

    /// Where `://` is in `text`, if anywhere.
    private static func schemeSeparator(in text: String) -> Range<String.Index>? {
        var index = text.startIndex
        while index < text.endIndex {
            if text[index...].hasPrefix("://") { return index..<text.index(index, offsetBy: 3) }
            index = text.index(after: index)
        }
        return nil
    }

    // MARK: - Encoding

    static func percentDecoded<S: StringProtocol>(_ text: S) -> String {
        var bytes: [UInt8] = []
        var input = Array(text.utf8)[...]
        while let byte = input.popFirst() {
            if byte == UInt8(ascii: "%"), input.count >= 2,
                let high = hexValue(input[input.startIndex]), let low = hexValue(input[input.startIndex + 1])
            {
                bytes.append(high << 4 | low)
                input = input.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func percentEncoded(_ text: String) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for byte in text.utf8 {
            let unreserved = (byte >= 0x30 && byte <= 0x39) || ((byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "~")
            if unreserved {
                bytes.append(byte)
            } else {
                bytes += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func base64(_ input: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var output: [UInt8] = []
        output.reserveCapacity((input.count + 2) / 3 * 4)
        var index = 0
        while index < input.count {
            let count = min(3, input.count - index)
            var group = UInt32(input[index]) << 16
            if count > 1 { group |= UInt32(input[index + 1]) << 8 }
            if count > 2 { group |= UInt32(input[index + 2]) }
            for position in 0..<4 {
                if position <= count {
                    output.append(alphabet[Int((group >> UInt32(18 - 6 * position)) & 0x3F)])
                } else {
                    output.append(UInt8(ascii: "="))
                }
            }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }
}
