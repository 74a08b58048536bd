/// A pull source of response bytes: a body, or a body with its content and transfer codings
/// applied. The connection pulls pieces as the socket drains; nothing is read ahead.
protocol ByteSource: AnyObject {
    /// The next piece, normally at most `maxBytes` long (a chunk frame or gzip header may add a
    /// few bytes); nil at the end.
    func next(_ maxBytes: Int) -> [UInt8]?
    /// Whether the underlying body ended before its declared length (the response is then short
    /// and its connection must close).
    var endedEarly: Bool { get }
    /// Releases the underlying body; called when the response is abandoned.
    func cancel()
}

/// Bytes in memory, handed out in pieces (the whole array when it fits, without copying).
final class BytesSource: ByteSource {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    func next(_ maxBytes: Int) -> [UInt8]? {
        guard offset < bytes.count else { return nil }
        if offset == 0 && bytes.count <= maxBytes {
            offset = bytes.count
            return bytes
        }
        let end = min(bytes.count, offset + max(maxBytes, 1))
        defer { offset = end }
        return Array(bytes[offset..<end])
    }

    var endedEarly: Bool { false }
    func cancel() { offset = bytes.count }
}

/// A list of pieces, each handed out whole (chunk boundaries are kept).
final class PiecesSource: ByteSource {
    private var pieces: [[UInt8]]
    private var index = 0

    init(_ pieces: [[UInt8]]) {
        self.pieces = pieces.filter { !$0.isEmpty }
    }

    func next(_ maxBytes: Int) -> [UInt8]? {
        guard index < pieces.count else { return nil }
        defer {
            pieces[index] = []
            index += 1
        }
        return pieces[index]
    }

    var endedEarly: Bool { false }
    func cancel() { index = pieces.count }
}

/// A `BodyStream`, cut at its declared length; notes when it ends before it.
final class StreamSource: ByteSource {
    private let stream: BodyStream
    private var remaining: Int?
    private(set) var endedEarly = false

    init(_ stream: BodyStream) {
        self.stream = stream
        self.remaining = stream.length
    }

    func next(_ maxBytes: Int) -> [UInt8]? {
        let wanted = max(1, min(maxBytes, remaining ?? .max))
        if let remaining, remaining <= 0 {
            stream.end()
            return nil
        }
        guard var piece = stream.next(wanted) else {
            if let remaining, remaining > 0 { endedEarly = true }
            return nil
        }
        if let left = remaining {
            if piece.count > left { piece.removeSubrange(left...) }
            remaining = left - piece.count
        }
        return piece
    }

    func cancel() { stream.end() }
}

/// Gzip-encodes another source as it is pulled.
final class GzipSource: ByteSource {
    private let inner: any ByteSource
    private var encoder = GzipEncoder()
    private var done = false

    init(_ inner: any ByteSource) {
        self.inner = inner
    }

    func next(_ maxBytes: Int) -> [UInt8]? {
        guard !done else { return nil }
        if let piece = inner.next(maxBytes) { return encoder.encode(piece) }
        done = true
        return encoder.finish()
    }

    var endedEarly: Bool { inner.endedEarly }
    func cancel() { inner.cancel() }
}

/// Frames another source in the chunked transfer coding: one chunk per piece, then the last
/// chunk `0\r\n\r\n` (left out when `omitLastChunk`, to break the response on purpose).
final class ChunkedSource: ByteSource {
    private let inner: any ByteSource
    private let omitLastChunk: Bool
    private var done = false

    init(_ inner: any ByteSource, omitLastChunk: Bool = false) {
        self.inner = inner
        self.omitLastChunk = omitLastChunk
    }

    func next(_ maxBytes: Int) -> [UInt8]? {
        guard !done else { return nil }
        if let piece = inner.next(maxBytes) { return ChunkedSource.frame(piece) }
        done = true
        return omitLastChunk || inner.endedEarly ? nil : ChunkedSource.lastChunk
    }

    var endedEarly: Bool { inner.endedEarly }
    func cancel() { inner.cancel() }

    static let lastChunk = Array("0\r\n\r\n".utf8)

    /// One chunk: size in hex, CRLF, the bytes, CRLF.
    static func frame(_ piece: [UInt8]) -> [UInt8] {
        var framed = Array(String(piece.count, radix: 16).utf8) + [13, 10]
        framed.reserveCapacity(framed.count + piece.count + 2)
        framed += piece
        framed += [13, 10]
        return framed
    }
}

/// Another source cut after `limit` bytes.
final class PrefixSource: ByteSource {
    private let inner: any ByteSource
    private var remaining: Int

    init(_ inner: any ByteSource, limit: Int) {
        self.inner = inner
        self.remaining = max(0, limit)
    }

    func next(_ maxBytes: Int) -> [UInt8]? {
        guard remaining > 0, var piece = inner.next(min(maxBytes, remaining)) else {
            if remaining == 0 { inner.cancel() }
            return nil
        }
        if piece.count > remaining { piece.removeSubrange(remaining...) }
        remaining -= piece.count
        return piece
    }

    var endedEarly: Bool { inner.endedEarly }
    func cancel() { inner.cancel() }
}
