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
/// codings before it stay in the header, undecoded. A response with an unknown coding, and the
/// bodiless responses to HEAD and 204/304, are passed through untouched.
///
/// Decoding streams with bounded memory: each compressed chunk is inflated into pieces of at most
/// 64 KiB, each handed to `dataReceived` before the next is made, so a small body that inflates to
/// gigabytes never sits in memory. A body protocol that pauses its transport stops the inflating
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
/// ends inside the compressed stream fails instead of ending quietly.
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
            .addCallback { [codings, maxBodyBytes] (response: Response) -> Response in
                ContentDecoderAgent.decoding(response, codings, maxBodyBytes: maxBodyBytes)
            }
    }

    /// `response`, or a response that decodes it (whose decoded body is cut at `maxBodyBytes`).
    static func decoding(_ response: Response, _ codings: [Coding], maxBodyBytes: Int? = nil) -> Response {
        guard response.request.method != "HEAD", response.code != 204, response.code != 304,
              let values = response.headers.getRawHeaders("Content-Encoding")
        else { return response }
        var names = values.joined(separator: ",").split(separator: ",")
            .map { String($0).trimmingSpaces().lowercased() }
            .filter { !$0.isEmpty }
        var toUndo: [Coding] = []
        while let last = names.last {
            if last != "identity" {
                guard let coding = Coding(rawValue: last == "x-gzip" ? "gzip" : last), codings.contains(coding)
                else { break }
                toUndo.append(coding)
            }
            names.removeLast()
        }
        guard !toUndo.isEmpty else { return response }
        var headers = response.headers
        if names.isEmpty {
            headers.removeHeader("Content-Encoding")
        } else {
            headers.setRawHeaders("Content-Encoding", [names.joined(separator: ", ")])
        }
        var decoded = response
        for (index, coding) in toUndo.enumerated() {
            // Only the last decoding, whose bytes the caller gets, is limited.
            let limit = index == toUndo.count - 1 ? maxBodyBytes : nil
            let body = DecodingBody(original: decoded, coding: coding, maxBodyBytes: limit)
            decoded = Response(version: response.version, code: response.code, phrase: response.phrase,
                               headers: headers, length: nil, request: response.request, body: body)
            body.decoded = decoded
        }
        decoded.previousResponse = response.previousResponse
        return decoded
    }
}

/// A compressed body could not be decoded: `coding` says which coding, `message` what was wrong.
/// It reaches the body protocol inside `ResponseFailed`.
public struct ContentDecodingError: Error, CustomStringConvertible {
    /// The content coding that failed, such as "gzip".
    public let coding: String
    /// What was wrong with the coded body.
    public let message: String
    /// A failure to decode `coding`, saying why in `message`.
    public init(coding: String, message: String) {
        self.coding = coding
        self.message = message
    }
    public var description: String { "Could not decode the \(coding) response body: \(message)" }
}

// MARK: - The decoded body

/// The body of a decoded response: the original response's body, inflated on its way to the
/// protocol. Until `deliverBody`, it holds the original response; dropping the decoded response
/// unread drops that too (which aborts its transfer).
final class DecodingBody: ResponseBody {
    private var original: Response?
    private let coding: ContentDecoderAgent.Coding
    private let maxBodyBytes: Int?
    weak var decoded: Response?

    init(original: Response, coding: ContentDecoderAgent.Coding, maxBodyBytes: Int?) {
        self.original = original
        self.coding = coding
        self.maxBodyBytes = maxBodyBytes
    }

    override func start(_ protocolHandler: Protocol) {
        guard let original else { return }
        self.original = nil
        original.deliverBody(DecodingProtocol(user: protocolHandler, coding: coding, original: original,
                                              response: decoded, maxBodyBytes: maxBodyBytes))
    }

    override func responseReleased() {
        original = nil
    }
}

/// The protocol the original body is delivered to: inflates and forwards to the user's protocol,
/// whose pause, resume and stop act on the original transfer.
private final class DecodingProtocol: Protocol {
    private enum State {
        case decoding
        /// The original body ended with this reason; decoded bytes are still held for a paused user.
        case ending(Failure)
        case finished
    }

    private static let outputChunk = 64 * 1024

    private let user: Protocol
    private let inflater: Inflater
    /// Held until the body ends: once the connection has finished, the response is what keeps its
    /// exchange (and the chunks it still holds for a paused protocol) alive.
    private var original: Response?
    private let response: Response?
    private var state = State.decoding
    private var input: [UInt8] = []
    private var inputOffset = 0
    private var pausedByUser = false
    private var innerPaused = false
    private var draining = false
    private let maxBodyBytes: Int?
    /// Decoded bytes handed to the user so far.
    private var delivered = 0

    init(user: Protocol, coding: ContentDecoderAgent.Coding, original: Response, response: Response?,
         maxBodyBytes: Int?) {
        self.user = user
        self.inflater = Inflater(coding: coding)
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
        guard case .decoding = state else { return }
        if inputOffset == input.count {
            input = bytes
            inputOffset = 0
        } else {
            input += bytes
        }
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
            finish(inflater.sawInput && !inflater.complete
                ? decodingFailure("the compressed data ended before its end marker") : reason)
        case .decoding:
            if innerPaused {
                innerPaused = false
                transport?.resumeProducing()
            }
        }
    }

    /// Inflates held input into pieces of at most `outputChunk` bytes, handing each to the user,
    /// until the input is used up, the user pauses, or the body ends.
    private func drain() {
        while !pausedByUser {
            let final: Bool
            switch state {
            case .finished: return
            case .ending: final = true
            case .decoding: final = false
            }
            guard inputOffset < input.count || inflater.hasPendingOutput else { break }
            let step: (consumed: Int, output: [UInt8])
            do {
                step = try inflater.inflate(input, from: inputOffset, final: final, maxOutput: Self.outputChunk)
            } catch {
                failDecoding(error)
                return
            }
            inputOffset += step.consumed
            if !step.output.isEmpty {
                if let limit = maxBodyBytes, delivered + step.output.count > limit {
                    failDecoding(BodyTooLarge(limit: limit))
                    return
                }
                delivered += step.output.count
                user.dataReceived(step.output)
            }
            if step.consumed == 0 && step.output.isEmpty { break }   // it needs more input
        }
        if inputOffset == input.count {
            input = []
            inputOffset = 0
        }
    }

    private func decodingFailure(_ message: String) -> Failure {
        decodingFailure(ContentDecodingError(coding: inflater.coding.rawValue, message: message))
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
        inflater.close()
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

    /// Inflates from `input[offset...]` into at most `maxOutput` bytes.
    ///
    /// - Parameter final: no more input will come (decide a format on what there is).
    /// - Returns: how many input bytes were used, and the output.
    /// - Throws: `ContentDecodingError` for data zlib refuses.
    func inflate(_ input: [UInt8], from offset: Int, final: Bool, maxOutput: Int) throws
        -> (consumed: Int, output: [UInt8])
    {
        let available = input.count - offset
        switch state {
        case .inflating:
            break
        case .ended:
            guard available > 0 else { return (0, []) }
            // Another gzip member follows; anything else after the end is ignored, as curl does.
            guard coding == .gzip, input[offset] == 0x1F else { return (available, []) }
            if available < 2 { return final ? (available, []) : (0, []) }
            guard input[offset + 1] == 0x8B else { return (available, []) }
            try begin(windowBits: 16 + MAX_WBITS)
        case .idle:
            guard available > 0 else { return (0, []) }
            switch coding {
            case .gzip:
                try begin(windowBits: 16 + MAX_WBITS)
            case .deflate:
                if available < 2 && !final { return (0, []) }
                let zlibWrapped = available >= 2 && Inflater.isZlibHeader(input[offset], input[offset + 1])
                try begin(windowBits: zlibWrapped ? MAX_WBITS : -MAX_WBITS)
            }
        }
        sawInput = sawInput || available > 0
        var output = [UInt8](repeating: 0, count: maxOutput)
        var code: Int32 = Z_OK
        var consumed = 0
        var produced = 0
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.pointee.next_in =
                    available > 0 ? UnsafeMutablePointer(mutating: source.baseAddress! + offset) : nil
                stream.pointee.avail_in = UInt32(available)
                stream.pointee.next_out = target.baseAddress
                stream.pointee.avail_out = UInt32(maxOutput)
                code = CZlib.inflate(stream, Z_NO_FLUSH)
                consumed = available - Int(stream.pointee.avail_in)
                produced = maxOutput - Int(stream.pointee.avail_out)
                stream.pointee.next_in = nil
                stream.pointee.next_out = nil
            }
        }
        output.removeLast(maxOutput - produced)
        switch code {
        case Z_OK:
            outputFull = produced == maxOutput
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
        return (consumed, output)
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
