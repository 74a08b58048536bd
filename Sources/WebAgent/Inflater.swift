import CZlib

/// One zlib inflate stream for one coding: the only owner of a `z_stream`.
final class Inflater {
    private enum State {
        /// No stream yet (or closed).
        case idle
        case inflating
        /// A stream (gzip member) has ended; bytes after it are another gzip member or ignored.
        case ended
        /// Bytes after the end were not another gzip member: they and all that follow are ignored
        /// (whichever read they come in, so that how the body was cut does not matter).
        case ignoring
    }

    let coding: ContentDecoderAgent.Coding
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private var initialized = false
    private var state = State.idle
    private var outputFull = false
    /// Whether any compressed byte has been seen.
    private(set) var sawInput = false

    init(coding: ContentDecoderAgent.Coding) {
        self.coding = coding
        stream.initialize(to: z_stream())
    }

    deinit {
        close()
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Whether the data seen so far ends at the end of a stream.
    var complete: Bool {
        switch state {
        case .ended, .ignoring: true
        case .idle, .inflating: false
        }
    }

    /// Whether the last call stopped because the output was full (more may come without input).
    var hasPendingOutput: Bool {
        if case .inflating = state { return outputFull }
        return false
    }

    func close() {
        if initialized {
            inflateEnd(stream)
            initialized = false
        }
    }

    /// Inflates from `input` into `output` (which must not be empty).
    ///
    /// - Parameter final: no more input will come (decide a format on what there is).
    /// - Returns: how many input bytes were used, and how many output bytes were written.
    /// - Throws: `ContentDecodingError` for data zlib refuses.
    func inflate(_ input: UnsafeBufferPointer<UInt8>, final: Bool, into output: UnsafeMutableBufferPointer<UInt8>)
        throws -> (consumed: Int, produced: Int)
    {
        let available = input.count
        switch state {
        case .inflating:
            break
        case .ignoring:
            return (available, 0)
        case .ended:
            guard available > 0 else { return (0, 0) }
            // Another gzip member follows; anything else after the end is ignored, as curl does.
            guard coding == .gzip, input[0] == 0x1F else { return ignoreTheRest(available) }
            if available < 2 { return final ? ignoreTheRest(available) : (0, 0) }
            guard input[1] == 0x8B else { return ignoreTheRest(available) }
            try begin(windowBits: 16 + MAX_WBITS)
        case .idle:
            guard available > 0 else { return (0, 0) }
            switch coding {
            case .gzip:
                try begin(windowBits: 16 + MAX_WBITS)
            case .deflate:
                if available < 2 && !final { return (0, 0) }
                let zlibWrapped = available >= 2 && Inflater.isZlibHeader(input[0], input[1])
                try begin(windowBits: zlibWrapped ? MAX_WBITS : -MAX_WBITS)
            }
        }
        sawInput = sawInput || available > 0
        let space = output.count
        stream.pointee.next_in = available > 0 ? UnsafeMutablePointer(mutating: input.baseAddress!) : nil
        stream.pointee.avail_in = UInt32(available)
        stream.pointee.next_out = output.baseAddress
        stream.pointee.avail_out = UInt32(space)
        let code = CZlib.inflate(stream, Z_NO_FLUSH)
        let consumed = available - Int(stream.pointee.avail_in)
        let produced = space - Int(stream.pointee.avail_out)
        stream.pointee.next_in = nil
        stream.pointee.next_out = nil
        switch code {
        case Z_OK:
            outputFull = produced == space
        case Z_STREAM_END:
            state = .ended
            outputFull = false
        case Z_BUF_ERROR:
            outputFull = false   // no progress possible without more input
        default:
            let message = stream.pointee.msg.map { String(cString: $0) } ?? Inflater.describe(code)
            close()
            state = .idle
            throw ContentDecodingError(coding: coding.rawValue, message: message)
        }
        return (consumed, produced)
    }

    private func ignoreTheRest(_ available: Int) -> (consumed: Int, produced: Int) {
        state = .ignoring
        return (available, 0)
    }

    private func begin(windowBits: Int32) throws {
        let code: Int32
        if initialized {
            code = inflateReset2(stream, windowBits)
        } else {
            code = inflateInit2_(stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
            initialized = code == Z_OK
        }
        guard code == Z_OK else {
            throw ContentDecodingError(coding: coding.rawValue,
                                       message: "zlib could not start: \(Inflater.describe(code))")
        }
        state = .inflating
        outputFull = false
    }

    /// Whether two bytes open a zlib stream (RFC 1950: deflate, window <= 32K, check bits).
    private static func isZlibHeader(_ cmf: UInt8, _ flg: UInt8) -> Bool {
        cmf & 0x0F == 8 && cmf >> 4 <= 7 && (UInt16(cmf) << 8 | UInt16(flg)) % 31 == 0
    }

    private static func describe(_ code: Int32) -> String {
        switch code {
        case Z_NEED_DICT: return "a preset dictionary is needed"
        case Z_DATA_ERROR: return "invalid compressed data"
        case Z_MEM_ERROR: return "out of memory"
        case Z_STREAM_ERROR: return "inconsistent stream state"
        case Z_VERSION_ERROR: return "incompatible zlib version"
        default: return "zlib error \(code)"
        }
    }
}
