/// gzip (RFC 1952) without compression: deflate "stored" blocks (RFC 1951 §3.2.4) and a CRC-32.
///
/// The output is valid gzip that every decoder accepts (`gzip -t`, zlib, curl's
/// `--compressed`); it is a few bytes *larger* than the input (18 bytes of header and trailer plus
/// 5 bytes per 65,535-byte block), which is what a test server wants: exact, cheap and
/// streamable. Content-coding behaviour (headers, framing, decoding on the client) is exercised
/// the same as with real compression.
///
/// ```swift
/// let encoded = Gzip.compress(Array("hello".utf8))
/// var stream = GzipEncoder()
/// var out = stream.encode(part1) + stream.encode(part2) + stream.finish()
/// ```
public enum Gzip {
    /// `bytes` as one gzip member.
    public static func compress(_ bytes: [UInt8]) -> [UInt8] {
        var encoder = GzipEncoder()
        var output: [UInt8] = []
        output.reserveCapacity(compressedSize(ofLength: bytes.count))
        output += encoder.encode(bytes, final: true)
        output += encoder.finish()
        return output
    }

    /// The size of `compress` of `length` bytes.
    public static func compressedSize(ofLength length: Int) -> Int {
        let blocks = max(1, (length + GzipEncoder.maxBlock - 1) / GzipEncoder.maxBlock)
        return 10 + blocks * 5 + length + 8
    }

    /// The CRC-32 (ISO-HDLC, as in gzip and zlib) of `bytes`, continuing from `crc`.
    public static func crc32<C: Collection>(_ bytes: C, continuing crc: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
        var value = ~crc
        for byte in bytes {
            value = crcTable[Int((value ^ UInt32(byte)) & 0xFF)] ^ (value >> 8)
        }
        return ~value
    }

    static let crcTable: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 {
            value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1
        }
        return value
    }
}

/// A streaming gzip encoder (stored blocks): feed parts with `encode`, end with `finish()`.
///
/// The first `encode` (or `finish`) output starts with the gzip header. Each part becomes one or
/// more stored blocks; `finish()` adds an empty final block (unless the last `encode` was marked
/// `final`) and the CRC-32 and length trailer. Parts may be of any size, including empty.
public struct GzipEncoder: Sendable {
    static let maxBlock = 65_535

    private var started = false
    private var closed = false
    private var crc: UInt32 = 0
    private var length: UInt32 = 0

    /// An encoder that has written nothing yet; its first part starts with the gzip header.
    public init() {}

    /// The gzip bytes for `bytes`. With `final`, the last block is marked final and no more parts
    /// may follow (only `finish()`).
    public mutating func encode(_ bytes: [UInt8], final: Bool = false) -> [UInt8] {
        precondition(!closed, "GzipEncoder.encode: the stream was already ended; make a new encoder")
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + 10 + 5 * (bytes.count / Self.maxBlock + 1))
        if !started {
            started = true
            // Magic, CM = deflate, no flags, MTIME 0, XFL 0, OS 255 (unknown).
            output += [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF]
        }
        if bytes.isEmpty {
            if final {
                output += [1, 0, 0, 0xFF, 0xFF]
                closed = true
            }
            return output
        }
        var offset = 0
        while offset < bytes.count {
            let size = min(Self.maxBlock, bytes.count - offset)
            let last = final && offset + size == bytes.count
            output.append(last ? 1 : 0)
            output += [UInt8(size & 0xFF), UInt8(size >> 8), UInt8(~size & 0xFF), UInt8((~size >> 8) & 0xFF)]
            output += bytes[offset..<(offset + size)]
            offset += size
        }
        crc = Gzip.crc32(bytes, continuing: crc)
        length = length &+ UInt32(truncatingIfNeeded: bytes.count)
        if final { closed = true }
        return output
    }

    /// The final block (if not sent yet) and the trailer: CRC-32 and length mod 2^32, little-endian.
    public mutating func finish() -> [UInt8] {
        var output: [UInt8] = []
        if !closed { output = encode([], final: true) }
        for value in [crc, length] {
            output += [
                UInt8(value & 0xFF), UInt8((value >> 8) & 0xFF), UInt8((value >> 16) & 0xFF), UInt8(value >> 24),
            ]
        }
        return output
    }
}
