/// What every fuzz target shares: the input as bytes, invariant checks that crash with a message
/// (so libFuzzer saves the input), and a deterministic way to cut an input into pieces.

/// The fuzzer's input as an array.
public func fuzzBytes(_ data: UnsafePointer<UInt8>?, _ count: Int) -> [UInt8] {
    guard let data, count > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: count))
}

/// Stops the process with `message` when `condition` is false: the fuzzer records a crash and
/// keeps the input that caused it.
public func invariant(_ condition: Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fatalError("invariant violated: \(message())", file: file, line: line) }
}

/// `bytes` cut into pieces whose sizes come from a small PRNG seeded with `seed`: the same input
/// and seed always give the same pieces. Seed 0 cuts one byte at a time.
public func pieces(of bytes: [UInt8], seed: UInt64) -> [[UInt8]] {
    guard !bytes.isEmpty else { return [] }
    var result: [[UInt8]] = []
    var state = seed | 1
    var start = 0
    let maxPiece = seed == 0 ? 1 : Int(seed % 61) + 1
    while start < bytes.count {
        // xorshift64
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        let size = seed == 0 ? 1 : Int(state % UInt64(maxPiece)) + 1
        let end = min(bytes.count, start + size)
        result.append(Array(bytes[start..<end]))
        start = end
    }
    return result
}

/// A 64-bit FNV-1a hash of `bytes`, for seeds that follow the input.
public func fnv1a(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
}

/// `bytes` split at every `separator` (empty pieces kept).
public func split(_ bytes: [UInt8], at separator: UInt8) -> [[UInt8]] {
    bytes.split(separator: separator, omittingEmptySubsequences: false).map(Array.init)
}

/// Whether `byte` is an RFC 9110 `tchar`.
public func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    default:
        return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
    }
}

/// `text` with ASCII upper-case letters made lower-case, and nothing else changed.
public func asciiLowercased(_ text: String) -> String {
    String(decoding: text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
}

/// `text` with ASCII lower-case letters made upper-case, and nothing else changed.
public func asciiUppercased(_ text: String) -> String {
    String(decoding: text.utf8.map { $0 >= 0x61 && $0 <= 0x7A ? $0 & ~0x20 : $0 }, as: UTF8.self)
}
