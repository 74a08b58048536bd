/// Body bytes held for a protocol that cannot take them yet (no `deliverBody` so far, or paused),
/// in arrival order: a queue of chunks with their total, taken from the front.
struct HeldChunks {
    private var chunks: [[UInt8]] = []
    private var head = 0
    /// The bytes held.
    private(set) var byteCount = 0

    var isEmpty: Bool { head == chunks.count }

    mutating func append(_ chunk: [UInt8]) {
        chunks.append(chunk)
        byteCount += chunk.count
    }

    /// Appends `bytes` to the last chunk held when it has room for them (fewer, larger chunks for
    /// the protocol), else as a new chunk from `newChunk(count)`, an empty array with capacity.
    mutating func gather(_ bytes: UnsafeRawBufferPointer, newChunk: (Int) -> [UInt8]) {
        let last = chunks.count - 1
        if last >= head, chunks[last].capacity - chunks[last].count >= bytes.count {
            chunks[last].append(contentsOf: bytes)
        } else {
            var chunk = newChunk(bytes.count)
            chunk.append(contentsOf: bytes)
            chunks.append(chunk)
        }
        byteCount += bytes.count
    }

    /// The first chunk held, removed; nil when none is.
    mutating func popFirst() -> [UInt8]? {
        guard head < chunks.count else { return nil }
        var chunk: [UInt8] = []
        swap(&chunk, &chunks[head])
        head += 1
        byteCount -= chunk.count
        if head == chunks.count {
            chunks.removeAll(keepingCapacity: true)
            head = 0
        }
        return chunk
    }

    mutating func removeAll() {
        self = HeldChunks()
    }
}
