extension URI {
    /// The lower-cased scheme that `reference` starts with, if it starts with one (RFC 3986 §3.1:
    /// a letter, then letters, digits, "+", "-" or ".", then ":"), whether or not "//" follows:
    /// "file" for `file:///etc/passwd`, "mailto" for `mailto:a@example.com`, nil for `/path`.
    static func schemePrefix(_ reference: String) -> String? {
        guard let colon = reference.utf8.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let scheme = reference.utf8[..<colon]
        guard let first = scheme.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first | 0x20),
              scheme.allSatisfy(URI.isSchemeByte)
        else { return nil }
        return String(decoding: scheme, as: UTF8.self).asciiLowercased
    }
}
