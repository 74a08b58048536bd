import Deferreds
import Reactor
import Testing

@testable import WebAgent

// Helpers for the wrapper agents' tests (RedirectAgent, ContentDecoderAgent, RetryAgent).

// MARK: - Raw responses

/// A raw HTTP/1.1 response with a byte body: Content-Length framed, or chunked in `chunkSize` pieces.
func rawResponse(_ status: String = "200 OK", headers: [String] = [], body: [UInt8], chunkSize: Int? = nil)
    -> [UInt8]
{
    var head = "HTTP/1.1 \(status)\r\n"
    for header in headers { head += header + "\r\n" }
    guard let chunkSize else {
        head += "Content-Length: \(body.count)\r\n\r\n"
        return Array(head.utf8) + body
    }
    head += "Transfer-Encoding: chunked\r\n\r\n"
    var bytes = Array(head.utf8)
    var start = 0
    while start < body.count {
        let end = min(body.count, start + chunkSize)
        bytes += Array((String(end - start, radix: 16) + "\r\n").utf8) + body[start..<end] + Array("\r\n".utf8)
        start = end
    }
    return bytes + Array("0\r\n\r\n".utf8)
}

/// The request line of a raw request ("GET /path HTTP/1.1").
func requestLine(_ request: String) -> String {
    // "\r\n" is one Character, so the line ends at the first one.
    String(request.split(separator: "\r\n", maxSplits: 1).first ?? "")
}

/// The value of a header in a raw request, if present.
func requestHeader(_ request: String, _ name: String) -> String? {
    for line in request.split(separator: "\r\n").dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        if line[..<colon].lowercased() == name.lowercased() {
            return String(line[line.index(after: colon)...]).trimmingSpaces()
        }
    }
    return nil
}

/// The body of a raw request (after the blank line).
func requestBody(_ request: String) -> String {
    guard let end = request.firstRange(of: "\r\n\r\n") else { return "" }
    return String(request[end.upperBound...])
}

/// Fires `d`'s outcome into `record` and stops the reactor.
func stopAfter<V>(_ d: Deferred<V>, _ reactor: EPollReactor, _ record: @escaping (Result<V, Failure>) -> Void) {
    _ = d.addBoth { (outcome: Result<V, Failure>) -> Void in
        record(outcome)
        reactor.stop()
    }
}

extension Result where Failure == Deferreds.Failure {
    var failureValue: Deferreds.Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
    var successValue: Success? {
        if case .success(let value) = self { return value }
        return nil
    }
}

// MARK: - Compressed fixtures

func bytes(hex: String) -> [UInt8] {
    var result: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        result.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return result
}

enum CompressedFixtures {
    static let text = Array(String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 40).utf8)

    /// `text`, compressed by Python's gzip.compress(text, 9, mtime=0) (dynamic Huffman codes).
    static let textGzip = bytes(hex: "1f8b08000000000002030bc94855282ccd4cce56482aca2fcf5348cbaf50c82acd2d2856c82f"
        + "4b2d5228014ae72456552aa4e4a7eb29848c2a1e553caa7854f1a8e251c5c34b3100e6c3956408070000")
    /// `text`, by zlib.compress(text, 9).
    static let textZlib = bytes(hex: "78da0bc94855282ccd4cce56482aca2fcf5348cbaf50c82acd2d2856c82f4b2d5228014ae7"
        + "2456552aa4e4a7eb29848c2a1e553caa7854f1a8e251c5c34b3100880a8637")
    /// `text`, as raw deflate (wbits -15).
    static let textRawDeflate = bytes(hex: "0bc94855282ccd4cce56482aca2fcf5348cbaf50c82acd2d2856c82f4b2d5228014ae7"
        + "2456552aa4e4a7eb29848c2a1e553caa7854f1a8e251c5c34b3100")

    /// 1 MiB of zeros in 1,051 bytes of gzip (Python's gzip.compress(bytes(1 << 20), 9, mtime=0)).
    static let megabyteOfZerosGzip = bytes(hex: "1f8b0800000000000203edc13101000000c2a0f54f6d085fa0")
        + [UInt8](repeating: 0, count: 1016) + bytes(hex: "3e031cea38a700001000")
}

/// gzip, zlib and raw deflate made of stored blocks (RFC 1951 §3.2.4): uncompressed, but valid.
enum StoredDeflate {
    static func deflate(_ data: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var start = 0
        repeat {
            let end = min(data.count, start + 65_535)
            let length = UInt16(end - start)
            output.append(end == data.count ? 1 : 0)
            output += [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
            output += data[start..<end]
            start = end
        } while start < data.count
        return output
    }

    static func gzip(_ data: [UInt8]) -> [UInt8] {
        [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 255] + deflate(data) + littleEndian(crc32(data))
            + littleEndian(UInt32(truncatingIfNeeded: data.count))
    }

    static func zlib(_ data: [UInt8]) -> [UInt8] {
        let adler = adler32(data)
        return [0x78, 0x01] + deflate(data) + [UInt8(adler >> 24), UInt8(adler >> 16 & 0xFF),
                                              UInt8(adler >> 8 & 0xFF), UInt8(adler & 0xFF)]
    }

    private static func littleEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24)]
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        }
        return ~crc
    }

    static func adler32(_ data: [UInt8]) -> UInt32 {
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        return b << 16 | a
    }
}

/// Bytes that are not all alike (so a mixed-up order would show).
func patternBytes(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 / 251) }
}

// MARK: - A body protocol that records

/// Records a body's chunks and its end; optionally pauses after each chunk and resumes on the
/// reactor's next turn.
final class BodyRecorder: Protocol {
    var chunks: [[UInt8]] = []
    var reason: Failure?
    var pauses = 0
    /// Chunks that came while the transport was paused (there should be none).
    var receivedWhilePaused = 0
    private var paused = false
    let pauseEachChunk: EPollReactor?
    let done = Deferred<Void>()

    init(pausingOn reactor: EPollReactor? = nil) {
        pauseEachChunk = reactor
    }

    var bytes: [UInt8] { chunks.flatMap { $0 } }

    override func dataReceived(_ bytes: [UInt8]) {
        chunks.append(bytes)
        if paused { receivedWhilePaused += 1 }
        if let reactor = pauseEachChunk {
            pauses += 1
            paused = true
            transport?.pauseProducing()
            reactor.callLater(0) { [weak self] in
                self?.paused = false
                self?.transport?.resumeProducing()
            }
        }
    }

    override func connectionLost(_ reason: Failure) {
        self.reason = reason
        done.callback(())
    }
}

// MARK: - Time and agents for the retry tests

/// A `ReactorTime` that records every delay asked for and runs the call on `base` after `delay`
/// (or at once, on the next turn, when `immediate`).
final class RecordingTime: ReactorTime {
    let base: any ReactorTime
    let immediate: Bool
    private(set) var delays: [Double] = []

    init(_ base: any ReactorTime, immediate: Bool) {
        self.base = base
        self.immediate = immediate
    }

    func seconds() -> Double { base.seconds() }

    @discardableResult
    func callLater(_ delay: Double, _ f: @escaping () -> Void) -> DelayedCall {
        delays.append(delay)
        return base.callLater(immediate ? 0 : delay, f)
    }
}

/// An agent whose answers are scripted: each request takes the next outcome (the last repeats).
final class ScriptedAgent: AgentProtocol {
    enum Outcome {
        case fail(any Error)
        case respond(Int, [String: [String]])
        /// A deferred that never fires by itself; cancelling it is recorded.
        case hang
    }

    let script: [Outcome]
    private(set) var requests: [(method: String, uri: String)] = []
    private(set) var cancelled = 0

    init(_ script: [Outcome]) {
        self.script = script
    }

    func request(_ method: String, _ uri: String, _ headers: Headers?, _ bodyProducer: (any BodyProducer)?,
                 timeout: Double?) -> Deferred<Response> {
        requests.append((method, uri))
        let request = Request(method: method, absoluteURI: uri, headers: headers ?? Headers())
        switch script[min(requests.count - 1, script.count - 1)] {
        case .fail(let error):
            return Deferred.fail(error)
        case .respond(let code, let headers):
            return Deferred.succeed(Response(version: ("HTTP", 1, 1), code: code, phrase: "", headers: Headers(headers),
                                             length: 0, request: request, body: EmptyBody()))
        case .hang:
            return Deferred { [weak self] _ in self?.cancelled += 1 }
        }
    }
}

/// A body that is empty and complete.
final class EmptyBody: ResponseBody {
    private(set) var released = false

    override func start(_ protocolHandler: Protocol) {
        protocolHandler.makeConnection(BodyTransport(pause: {}, resume: {}, stop: {},
                                                     peer: { Address(family: .ipv4, host: "127.0.0.1", port: 0) },
                                                     host: { Address(family: .ipv4, host: "127.0.0.1", port: 0) }))
        protocolHandler.connectionLost(Failure(ResponseDone()))
    }
}

// MARK: - A server that keeps connections open

/// A scripted HTTP server that counts connections and keeps them open between requests (requests
/// have no bodies), to see whether a client reuses its connection.
final class KeepAliveServer {
    private(set) var requests: [String] = []
    private(set) var connections = 0
    let respond: (String) -> [UInt8]
    private(set) var portNumber = 0

    @discardableResult
    static func start(_ reactor: EPollReactor, respond: @escaping (String) -> [UInt8]) throws -> KeepAliveServer {
        let server = KeepAliveServer(respond: respond)
        let port = try reactor.listenTCP(0, Factory { _ in
            server.connections += 1
            return Connection(server: server)
        })
        server.portNumber = port.getHost().port
        return server
    }

    private init(respond: @escaping (String) -> [UInt8]) {
        self.respond = respond
    }

    var url: String { "http://127.0.0.1:\(portNumber)" }

    private final class Connection: Protocol {
        unowned let server: KeepAliveServer
        var buffer = ""
        init(server: KeepAliveServer) { self.server = server }

        override func dataReceived(_ bytes: [UInt8]) {
            buffer += String(decoding: bytes, as: UTF8.self)
            while let end = buffer.firstRange(of: "\r\n\r\n") {
                let request = String(buffer[..<end.upperBound])
                buffer = String(buffer[end.upperBound...])
                server.requests.append(request)
                transport?.write(server.respond(request))
            }
        }
    }
}
