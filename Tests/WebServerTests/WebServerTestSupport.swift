import Deferreds
import Glibc
import Reactor
import Testing
import TestSupport

@testable import WebServer

/// A reactor for one test: runs until the test's work calls `stop()`, or fails the test and stops
/// after `limit` seconds so that a broken test cannot hang the suite.
func withReactor(limit: Double = 20, _ body: (EPollReactor) throws -> Void) throws {
    let timedOut = try runReactor(limit: limit, body)
    #expect(!timedOut, "the reactor was stopped by the test's time limit")
}

/// A server listening on 127.0.0.1 (or `interface`) on a fresh reactor. `body` starts the test's
/// work and calls `finish` when done, which stops the server and then the reactor. Fails the test
/// if connections are still open afterwards or the time limit stopped it.
func withServer(
    limit: Double = 20, interface: String = "127.0.0.1",
    _ body: (_ server: WebServer, _ reactor: EPollReactor, _ finish: @escaping () -> Void) throws -> Void
) throws {
    let reactor = try EPollReactor()
    defer { reactor.close() }
    let server = WebServer(reactor)
    try server.listen(interface: interface)
    var timedOut = false
    let guardCall = reactor.callLater(limit) {
        timedOut = true
        reactor.stop()
    }
    var finished = false
    // `finish` is unowned towards the server: routes that call it are held by the server.
    try body(server, reactor) { [unowned server] in
        guard !finished else { return }
        finished = true
        _ = server.stop().addCallback { _ in reactor.stop() }
    }
    reactor.run(installSignalHandlers: false)
    guardCall.cancel()
    #expect(!timedOut, "the reactor was stopped by the test's time limit")
    if !timedOut { #expect(server.openConnections == 0) }
    if timedOut { _ = server.stop() }
}

/// A raw TCP client: records what it receives, when, and how the connection ended.
final class RawClient: Protocol {
    var received: [UInt8] = []
    /// (reactor seconds, byte count) of each delivery.
    var deliveries: [(time: Double, count: Int)] = []
    var lostReason: Failure?
    var onData: ((RawClient) -> Void)?
    var onLost: ((RawClient) -> Void)?
    let clock: any ReactorTime

    init(clock: any ReactorTime) {
        self.clock = clock
    }

    var text: String { String(decoding: received, as: UTF8.self) }
    var isConnected: Bool { lostReason == nil }

    override func dataReceived(_ bytes: [UInt8]) {
        received += bytes
        deliveries.append((clock.seconds(), bytes.count))
        onData?(self)
    }

    override func connectionLost(_ reason: Failure) {
        lostReason = reason
        onLost?(self)
    }

    func send(_ text: String) {
        transport?.write(Array(text.utf8))
    }
}

/// Connects a raw client to the server's first port.
func connectClient(_ reactor: EPollReactor, _ server: WebServer, host: String = "127.0.0.1") -> Deferred<RawClient> {
    connectProtocol(reactor, host: host, port: server.port, RawClient(clock: reactor))
}

/// Sends `request` on a new connection and collects the responses until `until` says so (by
/// default: once there are as many complete responses as `methods`) or the connection ends.
func exchange(
    _ reactor: EPollReactor, _ server: WebServer, _ request: String, methods: [String] = ["GET"],
    until: ((_ responses: [TestResponse], _ client: RawClient) -> Bool)? = nil
) -> Deferred<([TestResponse], RawClient)> {
    let result = Deferred<([TestResponse], RawClient)>()
    connectClient(reactor, server).addCallback { (client: RawClient) -> Void in
        var done = false
        func check(_ client: RawClient) {
            guard !done else { return }
            let responses = parseResponses(client.received, methods: methods, closed: !client.isConnected)
            let enough = until?(responses, client) ?? (responses.filter(\.complete).count >= methods.count)
            if enough || !client.isConnected {
                done = true
                result.callback((responses, client))
            }
        }
        client.onData = check
        client.onLost = check
        client.send(request)
    }.addErrback { (failure: Failure) -> Void in
        Issue.record("connecting failed: \(failure)")
        result.errback(failure)
    }
    return result
}

// MARK: - Reading responses

/// One response as a test client parsed it.
struct TestResponse {
    var status: Int
    var reason: String
    var headers: HTTPHeaders
    var body: [UInt8]
    /// Statuses of the 1xx responses that came before it.
    var interim: [Int]
    /// How the body was framed: "length", "chunked", "close" or "none".
    var framing: String
    /// The sizes of the chunks of a chunked body.
    var chunkSizes: [Int]
    /// Whether the whole response arrived (a close-delimited body: once the connection closed).
    var complete: Bool

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// Parses the responses in `bytes`, in order; `methods[i]` is the method of the i-th request (for
/// HEAD). The last response may be incomplete (`complete == false`).
func parseResponses(_ bytes: [UInt8], methods: [String], closed: Bool) -> [TestResponse] {
    var responses: [TestResponse] = []
    var position = 0
    var interim: [Int] = []
    while position < bytes.count {
        guard let headEnd = find([13, 10, 13, 10], in: bytes, from: position) else { break }
        let headText = String(decoding: bytes[position..<headEnd], as: UTF8.self)
        position = headEnd + 4
        var lines = headText.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2).map(String.init)
        // A status line is "HTTP/1.x NNN reason"; anything else is recorded as status -1.
        let wellFormed = statusLine.count >= 2 && statusLine[0].hasPrefix("HTTP/1.") && statusLine[1].utf8.count == 3
        let status = wellFormed ? Int(statusLine[1]) ?? -1 : -1
        var headers = HTTPHeaders()
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.add(String(line[..<colon]), trimmingSpaces(line[line.index(after: colon)...]))
        }
        if (100..<200).contains(status) {
            interim.append(status)
            continue
        }
        var response = TestResponse(
            status: status, reason: statusLine.count == 3 ? statusLine[2] : "", headers: headers, body: [],
            interim: interim, framing: "none", chunkSizes: [], complete: true)
        interim = []
        let method = responses.count < methods.count ? methods[responses.count] : "GET"
        if method == "HEAD" || status == 204 || status == 304 {
            responses.append(response)
            continue
        }
        if headers["Transfer-Encoding"]?.lowercased() == "chunked" {
            response.framing = "chunked"
            response.complete = false
            while let lineEnd = find([13, 10], in: bytes, from: position) {
                let sizeText = String(decoding: bytes[position..<lineEnd], as: UTF8.self)
                guard let size = Int(sizeText.split(separator: ";").first.map(String.init) ?? "", radix: 16) else {
                    break
                }
                if size == 0 {
                    guard let end = find([13, 10, 13, 10], in: bytes, from: lineEnd) else { break }
                    position = end + 4
                    response.complete = true
                    break
                }
                let dataStart = lineEnd + 2
                guard bytes.count >= dataStart + size + 2 else { break }
                response.body += bytes[dataStart..<(dataStart + size)]
                response.chunkSizes.append(size)
                position = dataStart + size + 2
            }
            responses.append(response)
            if !response.complete { break }
        } else if let lengthText = headers["Content-Length"], let length = Int(lengthText) {
            response.framing = "length"
            let available = min(length, bytes.count - position)
            response.body = Array(bytes[position..<(position + available)])
            response.complete = available == length
            position += available
            responses.append(response)
            if !response.complete { break }
        } else {
            response.framing = "close"
            response.body = Array(bytes[position...])
            response.complete = closed
            position = bytes.count
            responses.append(response)
        }
    }
    return responses
}

func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
    guard needle.count <= bytes.count else { return nil }
    var index = start
    while index + needle.count <= bytes.count {
        if bytes[index] == needle[0] && bytes[index..<(index + needle.count)].elementsEqual(needle) { return index }
        index += 1
    }
    return nil
}

// MARK: - Checking gzip independently

struct GunzipError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Decodes a gzip member made of stored deflate blocks, checking every field: magic, method,
/// flags, block lengths and their complements, the CRC-32 and the length in the trailer.
func gunzipStored(_ data: [UInt8]) throws -> [UInt8] {
    guard data.count >= 18 else { throw GunzipError("too short") }
    guard data[0] == 0x1F, data[1] == 0x8B else { throw GunzipError("bad magic") }
    guard data[2] == 8 else { throw GunzipError("not deflate") }
    guard data[3] == 0 else { throw GunzipError("unexpected flags") }
    var position = 10
    var output: [UInt8] = []
    var final = false
    while !final {
        guard position + 5 <= data.count else { throw GunzipError("truncated block header") }
        let header = data[position]
        final = header & 1 == 1
        guard (header >> 1) & 3 == 0 else { throw GunzipError("not a stored block") }
        let length = Int(data[position + 1]) | Int(data[position + 2]) << 8
        let complement = Int(data[position + 3]) | Int(data[position + 4]) << 8
        guard length == ~complement & 0xFFFF else { throw GunzipError("LEN and NLEN disagree") }
        position += 5
        guard position + length <= data.count else { throw GunzipError("truncated block") }
        output += data[position..<(position + length)]
        position += length
    }
    guard position + 8 == data.count else { throw GunzipError("trailer missing or bytes after it") }
    func le32(_ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(data[at + $1]) << (8 * UInt32($1)) }
    }
    guard le32(position) == bitwiseCRC32(output) else { throw GunzipError("CRC-32 mismatch") }
    guard le32(position + 4) == UInt32(truncatingIfNeeded: output.count) else { throw GunzipError("ISIZE mismatch") }
    return output
}

/// CRC-32 computed bit by bit (independent of the module's table-driven one).
func bitwiseCRC32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

/// Sends `first` on a new connection, then after each complete response the request `next`
/// returns for the responses so far, until it returns nil (or the connection ends).
func converse(
    _ reactor: EPollReactor, _ server: WebServer, first: String,
    next: @escaping (_ responses: [TestResponse]) -> String?
) -> Deferred<([TestResponse], RawClient)> {
    let result = Deferred<([TestResponse], RawClient)>()
    _ = connectClient(reactor, server).addCallback { (client: RawClient) -> Void in
        var answered = 0
        var done = false
        func check(_ client: RawClient) {
            guard !done else { return }
            let responses = parseResponses(client.received, methods: [], closed: !client.isConnected)
            let complete = responses.filter(\.complete).count
            if !client.isConnected {
                done = true
                result.callback((responses, client))
            } else if complete > answered {
                answered = complete
                if let request = next(responses) {
                    client.send(request)
                } else {
                    done = true
                    result.callback((responses, client))
                }
            }
        }
        client.onData = check
        client.onLost = check
        client.send(first)
    }
    return result
}
