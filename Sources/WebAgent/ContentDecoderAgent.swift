import CZlib
import Deferreds
import Reactor

/// An agent wrapper that asks for compressed responses and decompresses their bodies on the fly.
///
/// Each request is sent with `Accept-Encoding: gzip, deflate` (the supported `codings`, added to
/// any value the caller set). When a response's `Content-Encoding` names supported codings
/// (`gzip`, its alias `x-gzip`, `deflate`), the deferred fires with a response that looks as if
/// the body had been sent plain: those codings are removed from `Content-Encoding` (the header is
/// gone when none is left), `length` is nil, and the body protocol gets decoded bytes. Codings are
/// undone from the last applied to the first; the first unsupported one stops that, and it and the
/// codings before it stay in the header, undecoded (joined by `,`, as Twisted writes them). A
/// response with an unknown coding, and the bodiless responses to HEAD and 204/304, are passed
/// through untouched. At most `maxCodings` (5, as curl) codings are undone: a response that lists
/// more fails the request with `ResponseFailed` holding a `ContentDecodingError`.
///
/// Decoding streams with bounded memory: each compressed chunk is inflated into pieces of at most
/// 64 KiB, each handed to `dataReceived` before the next is made, so a small body that inflates to
/// gigabytes never sits in memory; stacked codings are undone in one loop, each with one buffer. A body protocol that pauses its transport stops the inflating
/// (and the transfer) until it resumes; stopping it stops the transfer, and the protocol gets
/// `CancelledError`, as from an undecoded body. With `maxBodyBytes`, a decoded body that would pass
/// that many bytes is cut there: the piece that would cross the limit is not delivered, the
/// transfer stops, and the body ends with `ResponseFailed` holding `BodyTooLarge` (a decompression
/// bomb costs at most the limit's worth of inflating, not its full size).
///
/// A body that cannot be decoded (corrupt data, or compressed data that ends before its end
/// marker) ends with `ResponseFailed` holding a `ContentDecodingError`; the transfer is stopped.
/// `deflate` accepts the zlib format (RFC 1950) and, as browsers do, raw deflate data (RFC 1951)
/// from servers that send that instead. A gzip body may hold several members, one after another.
///
/// ```swift
/// ContentDecoderAgent(Agent(reactor)).request("GET", "http://example.com/")
///     .addCallback { response in readBody(response) }    // the decompressed body
/// ```
///
/// Twisted: `twisted.web.client.ContentDecoderAgent` with `GzipDecoder`. Differences: the decoders
/// are chosen from `Coding` instead of given as factories; `deflate` is supported; a body that
/// ends inside the compressed stream fails instead of ending quietly; the number of codings is capped.
public final class ContentDecoderAgent: AgentProtocol {
    /// A content coding this agent can undo.
    public enum Coding: String, CaseIterable, Sendable {
        /// RFC 1952 gzip (`x-gzip` is taken as this too).
        case gzip
        /// RFC 1950 zlib-wrapped deflate, or raw RFC 1951 deflate.
        case deflate
    }

    /// The codings offered in `Accept-Encoding` and decoded, in the order offered.
    public let codings: [Coding]
    /// The most decoded body bytes delivered; nil for no limit.
    public let maxBodyBytes: Int?
    private let agent: any AgentProtocol

    /// - Parameters:
    ///   - agent: the agent that sends the requests.
    ///   - codings: the codings to offer and decode; both by default.
    ///   - maxBodyBytes: fail a decoded body with `BodyTooLarge` once it would pass this many bytes
    ///     (`Agent(maxBodyBytes:)` counts the bytes on the wire, before decoding).
    public init(_ agent: any AgentProtocol, codings: [Coding] = [.gzip, .deflate], maxBodyBytes: Int? = nil) {
        precondition((maxBodyBytes ?? 0) >= 0, "ContentDecoderAgent: maxBodyBytes must be >= 0")
        self.agent = agent
        self.codings = codings
        self.maxBodyBytes = maxBodyBytes
    }

    public func request(_ method: String, _ uri: String, _ headers: Headers? = nil,
                        _ bodyProducer: (any BodyProducer)? = nil, timeout: Double? = nil) -> Deferred<Response> {
        var headers = headers ?? Headers()
        if !codings.isEmpty {
            headers.addRawHeader("Accept-Encoding", codings.map(\.rawValue).joined(separator: ", "))
        }
        return agent.request(method, uri, headers, bodyProducer, timeout: timeout)
            .addCallback { [codings, maxBodyBytes] (response: Response) throws -> Response in
                try ContentDecoderAgent.decoding(response, codings, maxBodyBytes: maxBodyBytes)
            }
    }

    /// The most codings one response may have undone: 5, curl's limit since CVE-2022-32206.
    ///
    /// Each coding to undo costs a zlib stream (its state and a window of up to 32 KiB) and a
    /// 64 KiB buffer, so a server that lists thousands of `gzip`s in `Content-Encoding` could make a
    /// client hold gigabytes (curl's CVE-2022-32206; here, 12,000 listed codings took 1.19 GB).
    /// A response that lists more codings to undo fails with `ContentDecodingError` before any
    /// decoder is set up. `identity` undoes nothing and is not counted.
    public static let maxCodings = 5

    /// `response`, or a response that decodes it (whose decoded body is cut at `maxBodyBytes`).
    ///
    /// - Throws: `ResponseFailed` holding a `ContentDecodingError` when more than `maxCodings`
    ///   codings are to be undone; `response` is then dropped, which aborts its transfer.
    static func decoding(_ response: Response, _ codings: [Coding], maxBodyBytes: Int? = nil) throws -> Response {
        guard response.request.method != "HEAD", response.code != 204, response.code != 304,
              let values = response.headers.getRawHeaders("Content-Encoding")
        else { return response }
        // Names as listed (trimmed), the first applied first; undone from the last.
        var names = values.joined(separator: ",").split(separator: ",")
            .map { String($0).trimmingSpaces() }
            .filter { !$0.isEmpty }
        var toUndo: [Coding] = []
        while let last = names.last {
            let name = last.lowercased()
            if name != "identity" {
                guard let coding = Coding(rawValue: name == "x-gzip" ? "gzip" : name), codings.contains(coding)
                else { break }
                guard toUndo.count < maxCodings else {
                    throw ResponseFailed(reasons: [Failure(ContentDecodingError(
                        coding: name, message: "more than \(maxCodings) content codings to undo"))])
                }
                toUndo.append(coding)
            }
            names.removeLast()
        }
        guard !toUndo.isEmpty else { return response }
        var headers = response.headers
        if names.isEmpty {
            headers.removeHeader("Content-Encoding")
        } else {
            // As Twisted writes what it leaves: the names joined by a bare comma.
            headers.setRawHeaders("Content-Encoding", [names.joined(separator: ",")])
        }
        let body = DecodingBody(original: response, codings: toUndo, maxBodyBytes: maxBodyBytes)
        let decoded = Response(version: response.version, code: response.code, phrase: response.phrase,
                               headers: headers, length: nil, request: response.request, body: body)
        body.decoded = decoded
        decoded.previousResponse = response.previousResponse
        return decoded
    }
}

/// A compressed body could not be decoded: `coding` says which coding, `message` what was wrong.
/// It reaches the body protocol inside `ResponseFailed`.
public struct ContentDecodingError: Error, CustomStringConvertible {
    public let coding: String
    public let message: String
    public init(coding: String, message: String) {
        self.coding = coding
        self.message = message
    }
    public var description: String { "Could not decode the \(coding) response body: \(message)" }
}

// MARK: - The decoded body

/// The body of a decoded response: the original response's body, decoded on its way to the
/// protocol. Until `deliverBody`, it holds the original response; dropping the decoded response
/// unread drops that too (which aborts its transfer).
final class DecodingBody: ResponseBody {
    private var original: Response?
    /// The codings to undo, in the order they are undone (the last applied first).
    private let codings: [ContentDecoderAgent.Coding]
    private let maxBodyBytes: Int?
    weak var decoded: Response?

    init(original: Response, codings: [ContentDecoderAgent.Coding], maxBodyBytes: Int?) {
        self.original = original
        self.codings = codings
        self.maxBodyBytes = maxBodyBytes
    }

    override func start(_ protocolHandler: Protocol) {
        guard let original else { return }
        self.original = nil
        original.deliverBody(DecodingProtocol(user: protocolHandler, codings: codings, original: original,
                                              response: decoded, maxBodyBytes: maxBodyBytes))
    }

    override func responseReleased() {
        original = nil
    }
}

/// One coding of the chain being undone: its inflater, and the buffer it inflates into, which
/// holds its output until the next layer (or the user) has taken it.
private final class DecodingLayer {
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

/// The protocol the original body is delivered to: undoes each coding in turn and forwards the
/// result to the user's protocol, whose pause, resume and stop act on the original transfer.
///
/// The layers are driven by one loop, never by one layer calling the next: each round steps the
/// layer nearest the user that can make progress, so a layer inflates only once every layer after
/// it has taken its output, and each holds at most one buffer's worth (`outputChunk`).
private final class DecodingProtocol: Protocol {
    private enum State {
        case decoding
        /// The original body ended with this reason; decoded bytes are still held for a paused user.
        case ending(Failure)
        case finished
    }

    private static let outputChunk = 64 * 1024

    private let user: Protocol
    /// `layers[0]` undoes the last coding applied (it reads the bytes received); the last layer's
    /// output goes to the user.
    private let layers: [DecodingLayer]
    /// Held until the body ends: once the connection has finished, the response is what keeps its
    /// exchange (and the chunks it still holds for a paused protocol) alive.
    private var original: Response?
    private let response: Response?
    private var state = State.decoding
    /// Received bytes not yet taken by the first layer: `input[inputOffset...]`.
    private var input: [UInt8] = []
    private var inputOffset = 0
    private var pausedByUser = false
    private var innerPaused = false
    private var draining = false
    private let maxBodyBytes: Int?
    /// Decoded bytes handed to the user so far.
    private var delivered = 0

    init(user: Protocol, codings: [ContentDecoderAgent.Coding], original: Response, response: Response?,
         maxBodyBytes: Int?) {
        self.user = user
        self.layers = codings.map { DecodingLayer(coding: $0, capacity: Self.outputChunk) }
        self.original = original
        self.response = response
        self.maxBodyBytes = maxBodyBytes
    }

    override func makeConnection(_ transport: any Transport) {
        super.makeConnection(transport)
        // Strong captures: while the user holds this transport, this protocol stays (to finish
        // decoding what it holds); `finish` breaks the cycle by clearing the user's transport.
        user.makeConnection(BodyTransport(
            pause: { self.userPaused() }, resume: { self.userResumed() }, stop: { self.userStopped() },
            peer: { [weak transport] in transport?.getPeer() ?? Address(family: .ipv4, host: "", port: 0) },
            host: { [weak transport] in transport?.getHost() ?? Address(family: .ipv4, host: "", port: 0) }))
    }

    override func dataReceived(_ bytes: [UInt8]) {
        guard case .decoding = state, !bytes.isEmpty else { return }
        if inputOffset == input.count {
            input = bytes
            inputOffset = 0
        } else {
            input += bytes
        }
        layers[0].starvedAt = nil
        run()
    }

    override func connectionLost(_ reason: Failure) {
        guard case .decoding = state else { return }
        if reason.check(ResponseDone.self, PotentialDataLoss.self) != nil {
            state = .ending(reason)
            run()
        } else {
            finish(reason)
        }
    }

    // MARK: Flow control

    private func userPaused() {
        guard !pausedByUser else { return }
        pausedByUser = true
        if case .decoding = state, !innerPaused {
            innerPaused = true
            transport?.pauseProducing()
        }
    }

    private func userResumed() {
        guard pausedByUser else { return }
        pausedByUser = false
        run()
    }

    private func userStopped() {
        switch state {
        case .finished:
            return
        case .decoding:
            transport?.stopProducing()   // comes back as connectionLost(CancelledError)
        case .ending:
            break
        }
        if case .finished = state { return }
        finish(Failure(CancelledError()))
    }

    /// Decodes what is held, then resumes the transfer or ends the body as the state says.
    private func run() {
        guard !draining else { return }   // the outer call goes on (a resume from dataReceived)
        draining = true
        drain()
        draining = false
        guard !pausedByUser else { return }
        switch state {
        case .finished:
            break
        case .ending(let reason):
            if let unfinished = layers.first(where: { $0.inflater.sawInput && !$0.inflater.complete }) {
                finish(decodingFailure(ContentDecodingError(
                    coding: unfinished.inflater.coding.rawValue,
                    message: "the compressed data ended before its end marker")))
            } else {
                finish(reason)
            }
        case .decoding:
            if innerPaused {
                innerPaused = false
                transport?.resumeProducing()
            }
        }
    }

    /// Steps the layers until none can go on (they need more input, or all is decoded), the user
    /// pauses, or the body ends. Each step hands at most `outputChunk` bytes on.
    private func drain() {
        while !pausedByUser {
            let ending: Bool
            switch state {
            case .finished: return
            case .ending: ending = true
            case .decoding: ending = false
            }
            // The layer nearest the user that can go on; `final` when no more input will reach it.
            var chosen: (index: Int, final: Bool)?
            for index in layers.indices.reversed() {
                let final = ending && !layers[..<index].indices.contains(where: mayProduce)
                let layer = layers[index]
                guard inputCount(of: index) > 0 || layer.inflater.hasPendingOutput else { continue }
                if let starved = layer.starvedAt, starved || !final { continue }
                chosen = (index, final)
                break
            }
            guard let (index, final) = chosen else { break }
            do {
                try step(index, final: final)
            } catch {
                failDecoding(error)
                return
            }
        }
        if inputOffset == input.count {
            input = []
            inputOffset = 0
        }
    }

    /// Whether layer `index` may still hand bytes on (it has input it has not given up on, or
    /// output it could not yet write).
    private func mayProduce(_ index: Int) -> Bool {
        let layer = layers[index]
        return layer.inflater.hasPendingOutput || (inputCount(of: index) > 0 && layer.starvedAt != true)
    }

    /// The bytes waiting for layer `index`: received bytes for the first, the previous layer's
    /// output for the others.
    private func inputCount(of index: Int) -> Int {
        index == 0 ? input.count - inputOffset : layers[index - 1].pendingOutput
    }

    /// Inflates what waits for layer `index` into its buffer; hands the result to the next layer,
    /// or to the user from the last one.
    private func step(_ index: Int, final: Bool) throws {
        let layer = layers[index]
        let isLast = index == layers.count - 1
        if isLast {
            layer.outputStart = 0
            layer.outputEnd = 0
        } else {
            layer.compact()
        }
        let room = layer.output.count - layer.outputEnd
        guard room > 0 else {
            // A layer starves on a byte or so, never on a whole buffer: this would be a bug.
            throw ContentDecodingError(coding: layer.inflater.coding.rawValue, message: "no room to decode into")
        }
        let target = UnsafeMutableBufferPointer(rebasing: layer.output[layer.outputEnd...])
        let step: (consumed: Int, produced: Int)
        if index == 0 {
            step = try input.withUnsafeBufferPointer { bytes in
                try layer.inflater.inflate(UnsafeBufferPointer(rebasing: bytes[inputOffset...]), final: final,
                                           into: target)
            }
            inputOffset += step.consumed
        } else {
            let previous = layers[index - 1]
            step = try layer.inflater.inflate(
                UnsafeBufferPointer(rebasing: previous.output[previous.outputStart..<previous.outputEnd]),
                final: final, into: target)
            previous.outputStart += step.consumed
            if previous.outputStart == previous.outputEnd {
                previous.outputStart = 0
                previous.outputEnd = 0
            }
        }
        layer.starvedAt = step.consumed == 0 && step.produced == 0 ? final : nil
        guard step.produced > 0 else { return }
        if !isLast {
            layer.outputEnd += step.produced
            layers[index + 1].starvedAt = nil
            return
        }
        if let limit = maxBodyBytes, delivered + step.produced > limit {
            throw BodyTooLarge(limit: limit)
        }
        delivered += step.produced
        user.dataReceived(Array(UnsafeBufferPointer(rebasing: target[..<step.produced])))
    }

    private func decodingFailure(_ error: any Error) -> Failure {
        Failure(ResponseFailed(reasons: [Failure(error)], response: response))
    }

    /// Bad data, or too much of it: stop the transfer (its connectionLost is ignored) and tell the user.
    private func failDecoding(_ error: any Error) {
        let wasDecoding: Bool
        if case .decoding = state { wasDecoding = true } else { wasDecoding = false }
        let reason = decodingFailure(error)
        state = .finished
        if wasDecoding { transport?.stopProducing() }
        finish(reason)
    }

    private func finish(_ reason: Failure) {
        state = .finished
        input = []
        inputOffset = 0
        for layer in layers { layer.inflater.close() }
        user.connectionLost(reason)
        user.transport = nil
        transport = nil
        original = nil
    }
}

// MARK: - zlib

/// One zlib inflate stream for one coding: the only owner of a `z_stream`.
private final class Inflater {
    private enum State {
        /// No stream yet (or closed).
        case idle
        case inflating
        /// A stream (gzip member) has ended; bytes after it are another gzip member or ignored.
        case ended
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
        if case .ended = state { return true }
        return false
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
        case .ended:
            guard available > 0 else { return (0, 0) }
            // Another gzip member follows; anything else after the end is ignored, as curl does.
            guard coding == .gzip, input[0] == 0x1F else { return (available, 0) }
            if available < 2 { return final ? (available, 0) : (0, 0) }
            guard input[1] == 0x8B else { return (available, 0) }
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
