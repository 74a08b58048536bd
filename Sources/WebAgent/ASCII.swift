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

    /// ASCII letters lower-cased; the same string (no copy) when there are none to change. Text
    /// with non-ASCII bytes falls back to Unicode lower-casing.
    var asciiLowercased: String {
        var needsWork = false
        for byte in utf8 where byte >= 0x41 && byte <= 0x5A || byte >= 0x80 {
            needsWork = true
            break
        }
        guard needsWork else { return self }
        if utf8.contains(where: { $0 >= 0x80 }) { return lowercased() }
        return String(unsafeUninitializedCapacity: utf8.count) { buffer in
            var index = 0
            for byte in utf8 {
                buffer[index] = byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
                index += 1
            }
            return index
        }
    }
}
