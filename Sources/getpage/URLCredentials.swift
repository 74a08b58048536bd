/// What getpage does with the credentials a URL may carry (`scheme://user:password@host/…`): they
/// are never printed nor put in a file name.
///
/// Messages, log lines and JSON records show a URL with its password as `***`
/// (`http://user:***@host/x`), the way curl writes a password in its own messages; the user name
/// stays, to tell such URLs apart. A file name is derived from the URL without its userinfo.
enum URLCredentials {
    /// `text` with the password of every URL in it (after each `://`, up to the last `@` before
    /// the authority ends) replaced by `***`: a whole URL, or a message that quotes one. The same
    /// string, without a copy, when it has no `@`.
    static func masked(_ text: String) -> String {
        // On the contiguous bytes: UTF8View's own contains costs ~1,000 instructions a URL.
        let at = UInt8(ascii: "@")
        guard text.utf8.withContiguousStorageIfAvailable({ $0.contains(at) }) ?? text.utf8.contains(at) else { return text }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            guard index + 2 < bytes.count, bytes[index] == UInt8(ascii: ":"), bytes[index + 1] == UInt8(ascii: "/"),
                  bytes[index + 2] == UInt8(ascii: "/")
            else {
                out.append(bytes[index])
                index += 1
                continue
            }
            out.append(contentsOf: bytes[index..<(index + 3)])
            let start = index + 3
            let end = authorityEnd(bytes, from: start)
            if let at = (start..<end).last(where: { bytes[$0] == UInt8(ascii: "@") }),
               let colon = (start..<at).first(where: { bytes[$0] == UInt8(ascii: ":") }) {
                out.append(contentsOf: bytes[start...colon])
                out.append(contentsOf: "***".utf8)
                out.append(contentsOf: bytes[at..<end])
            } else {
                out.append(contentsOf: bytes[start..<end])
            }
            index = end
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `url` without its userinfo (`http://user:pw@host/x` → `http://host/x`); the same string
    /// when it has none.
    static func withoutUserinfo(_ url: String) -> String {
        guard url.utf8.contains(UInt8(ascii: "@")), let schemeEnd = url.firstRange(of: "://") else { return url }
        let bytes = Array(url.utf8)
        let start = url.utf8.distance(from: url.utf8.startIndex, to: schemeEnd.upperBound)
        let end = authorityEnd(bytes, from: start)
        guard let at = (start..<end).last(where: { bytes[$0] == UInt8(ascii: "@") }) else { return url }
        return String(decoding: bytes[..<start] + bytes[(at + 1)...], as: UTF8.self)
    }

    /// Where the authority that starts at `start` ends: at `/`, `?`, `#`, or anything that
    /// cannot be in a URL (a space, a control character, a quote, `<`, `>`), or the end.
    private static func authorityEnd(_ bytes: [UInt8], from start: Int) -> Int {
        var end = start
        while end < bytes.count {
            let byte = bytes[end]
            if byte <= 0x20 || byte == 0x7F || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "?")
                || byte == UInt8(ascii: "#") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")
                || byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">") {
                break
            }
            end += 1
        }
        return end
    }
}
