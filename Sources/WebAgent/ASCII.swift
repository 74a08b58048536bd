/// Byte-level helpers for the ASCII text of HTTP (names, tokens, numbers): cheaper than `String`'s
/// Unicode-aware operations, and exact for what HTTP means by case-insensitive.
extension String {
    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        var utf8 = Substring(self).utf8
        while let first = utf8.first, first == 0x20 || first == 0x09 { utf8.removeFirst() }
        while let last = utf8.last, last == 0x20 || last == 0x09 { utf8.removeLast() }
        return String(Substring(utf8))
    }

    /// ASCII letters lower-cased, every other byte as it is (what HTTP means by case-insensitive);
    /// the same string, without a copy, when there is nothing to change.
    var asciiLowercased: String {
        guard utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) else { return self }
        return String(decoding: utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
