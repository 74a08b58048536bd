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

    /// Whether every UTF-8 byte satisfies `predicate`; read through the contiguous storage native
    /// strings have, several times faster than stepping through the generic `utf8` view.
    func allBytes(_ predicate: (UInt8) -> Bool) -> Bool {
        utf8.withContiguousStorageIfAvailable { $0.allSatisfy(predicate) } ?? utf8.allSatisfy(predicate)
    }

    /// Whether `byte` is one of the UTF-8 bytes (see `allBytes`).
    func containsByte(_ byte: UInt8) -> Bool {
        !allBytes { $0 != byte }
    }

    /// ASCII letters lower-cased, every other byte as it is (what HTTP means by case-insensitive);
    /// the same string, without a copy, when there is nothing to change.
    var asciiLowercased: String {
        guard !allBytes({ $0 < 0x41 || $0 > 0x5A }) else { return self }
        return String(decoding: utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
