/// One coding of the chain being undone: its inflater, and the buffer it inflates into, which
/// holds its output until the next layer (or the user) has taken it.
final class DecodingLayer {
    let inflater: Inflater
    /// Allocated once: every inflate of this layer writes here.
    let output: UnsafeMutableBufferPointer<UInt8>
    /// The output not yet taken by the next layer: `output[outputStart..<outputEnd]`.
    var outputStart = 0
    var outputEnd = 0
    /// Set when a step made no progress (it needs more input): the `final` it was made with.
    /// Cleared when input arrives. A layer that starved with `final` false is tried again once its
    /// input is known to be complete.
    var starvedAt: Bool?

    init(coding: ContentDecoderAgent.Coding, capacity: Int) {
        inflater = Inflater(coding: coding)
        output = .allocate(capacity: capacity)
    }

    deinit {
        output.deallocate()
    }

    var pendingOutput: Int { outputEnd - outputStart }

    /// Moves the untaken output to the front (a byte or so, when the next layer starved on it).
    func compact() {
        guard outputStart > 0 else { return }
        let count = pendingOutput
        if count > 0 {
            UnsafeMutableRawPointer(output.baseAddress!).copyMemory(
                from: output.baseAddress! + outputStart, byteCount: count)
        }
        outputStart = 0
        outputEnd = count
    }
}
