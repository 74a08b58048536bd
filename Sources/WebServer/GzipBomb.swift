/// A decompression bomb for testing clients: gzip that is about a thousandth the size of what it
/// inflates to, streamed without ever being held whole.
///
/// The body is one gzip member holding 1 MiB of zero bytes (1,051 bytes, made by zlib at level 9:
/// deflate's best ratio is about 1,032 to 1), repeated: several gzip members one after another are
/// one valid gzip stream (RFC 1952 §2.2) that decoders inflate member after member. So
/// `GzipBomb.body(mebibytes: 10_240)` is 10.3 MiB on the wire and 10 GiB of zeros once inflated,
/// and the server's memory holds one member.
///
/// ```swift
/// var response = HTTPResponse(headers: ["Content-Encoding": "gzip"], body: GzipBomb.body(mebibytes: 1024))
/// ```
public enum GzipBomb {
    /// One gzip member inflating to `memberInflatedSize` zero bytes: the 10-byte header (no name,
    /// MTIME 0, XFL 2: best compression), the deflate data (one final dynamic-Huffman block: a
    /// literal zero, then back-references of 258 bytes at distance 1, each two bits long, which is
    /// why it is mostly zero bytes), then CRC-32 0xA738EA1C and ISIZE 2^20, little-endian.
    public static let member: [UInt8] =
        [0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03]
        + [0xED, 0xC1, 0x31, 0x01, 0x00, 0x00, 0x00, 0xC2, 0xA0, 0xF5, 0x4F, 0x6D, 0x08, 0x5F, 0xA0]
        + [UInt8](repeating: 0, count: 1016)
        + [0x3E, 0x03]
        + [0x1C, 0xEA, 0x38, 0xA7, 0x00, 0x00, 0x10, 0x00]

    /// What one member inflates to: 1 MiB of zeros.
    public static let memberInflatedSize = 1 << 20

    /// A streamed body of `mebibytes` members (`mebibytes` MiB of zeros once inflated), with its
    /// length known; serve it with `Content-Encoding: gzip`.
    public static func body(mebibytes: Int) -> HTTPResponse.Body {
        let total = max(0, mebibytes) * member.count
        var sent = 0
        return .stream(BodyStream(length: total) { maxBytes in
            // Whole members where they fit, else the next part of one: the member is sliced where
            // `sent` stands, so pieces of any size line up.
            let count = min(maxBytes, total - sent, 64 * 1024)
            guard count > 0 else { return nil }
            var piece: [UInt8] = []
            piece.reserveCapacity(count)
            while piece.count < count {
                let offset = (sent + piece.count) % member.count
                piece += member[offset..<min(member.count, offset + count - piece.count)]
            }
            sent += count
            return piece
        })
    }
}
