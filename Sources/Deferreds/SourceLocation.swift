/// A source location (`#fileID`, `#line`) packed into one word.
///
/// Every callback added to a chain remembers where it was added, so that a `Failure` created when it
/// throws can say where it came from. That costs one word per callback instead of three: the file
/// name is a compile-time string literal (its address fits in 48 bits on Linux) and the line fits in
/// the remaining 16 (longer files report line 65535).
@usableFromInline struct SourceLocation: Sendable {
    @usableFromInline let bits: UInt64

    @inlinable init(_ file: StaticString, _ line: UInt) {
        if file.hasPointerRepresentation {
            let address = UInt64(UInt(bitPattern: file.utf8Start))
            if address < (1 << 48) {
                bits = address << 16 | UInt64(min(line, 0xFFFF))
                return
            }
        }
        bits = UInt64(min(line, 0xFFFF))
    }

    @inlinable init(bits: UInt64) { self.bits = bits }

    /// No location: reads as "<unknown>", line 0 (a fire by `cancel()` or `chainDeferred`).
    @inlinable static var unknown: SourceLocation { SourceLocation(bits: 0) }

    /// The file, as `#fileID` spelled it, or "<unknown>".
    var file: String {
        guard let pointer = UnsafePointer<CChar>(bitPattern: UInt(bits >> 16)) else { return "<unknown>" }
        // String literals are emitted NUL-terminated.
        return String(cString: pointer)
    }

    var line: Int { Int(bits & 0xFFFF) }
}
