import Testing

@testable import WebAgent

@Suite struct HeldChunksTests {
    @Test func chunksComeOutInOrderAndTheCountFollows() {
        // When chunks are appended and popped, they come out first in, first out, and byteCount is
        // always the bytes still held.
        var held = HeldChunks()
        held.append([1, 2, 3])
        held.append([4])
        #expect(held.byteCount == 4 && !held.isEmpty)
        #expect(held.popFirst() == [1, 2, 3])
        #expect(held.byteCount == 1)
        held.append([5, 6])
        #expect(held.popFirst() == [4])
        #expect(held.popFirst() == [5, 6])
        #expect(held.popFirst() == nil)
        #expect(held.byteCount == 0 && held.isEmpty)
    }

    @Test func gatheredBytesFillTheLastChunkWhileItHasRoom() {
        // When bytes are gathered, they go into the last held chunk while its capacity allows, and
        // into a new chunk from newChunk otherwise.
        var held = HeldChunks()
        var made: [Int] = []
        var capacity = 0
        let newChunk = { (count: Int) -> [UInt8] in
            made.append(count)
            var chunk: [UInt8] = []
            chunk.reserveCapacity(8)
            capacity = chunk.capacity
            return chunk
        }
        [UInt8]([1, 2, 3]).withUnsafeBytes { held.gather($0, newChunk: newChunk) }
        [UInt8]([4, 5]).withUnsafeBytes { held.gather($0, newChunk: newChunk) }
        let capacityLeft = capacity - 5
        [UInt8](repeating: 9, count: capacityLeft + 1).withUnsafeBytes { held.gather($0, newChunk: newChunk) }
        #expect(made == [3, capacityLeft + 1])
        #expect(held.byteCount == 5 + capacityLeft + 1)
        #expect(held.popFirst() == [1, 2, 3, 4, 5])
        #expect(held.popFirst()?.count == capacityLeft + 1)
        held.append([7])
        held.removeAll()
        #expect(held.isEmpty && held.byteCount == 0)
    }
}
