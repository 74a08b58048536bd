import Deferreds
import Glibc
import Reactor

/// A tiny DNS server for tests, on the test's reactor: UDP and TCP on one port of 127.0.0.1.
///
/// It answers A and AAAA questions for the names in `answers` (lower case, no final dot) as their
/// `Behaviour` says, after `delay` seconds; any other name is NXDOMAIN. Every question it
/// receives is recorded in `queries`, so tests count lookups. Its UDP socket closes when it is
/// released (keep it until the test's lookups are done); its TCP port when the reactor closes.
public final class TestDNSServer {
    public enum Behaviour {
        /// Answers with these addresses (either list may be empty: NOERROR with no record).
        case addresses(v4: [String], v6: [String], ttl: UInt32)
        /// Over UDP, an empty answer with the truncation bit set; over TCP, the addresses.
        case truncated(v4: [String], v6: [String], ttl: UInt32)
        case nameError
        case serverFailure
        case refused
        /// Never answers.
        case silent
    }

    public struct Query: Equatable, Sendable {
        public let name: String
        /// 1 (A) or 28 (AAAA), or another type asked.
        public let type: UInt16
        public let overTCP: Bool
    }

    public var answers: [String: Behaviour] = [:]
    public var delay: Double = 0
    public private(set) var queries: [Query] = []
    public let port: Int
    private let reactor: EPollReactor
    private let udp: UDPEndpoint
    private let tcp: ListeningPort

    /// The server's address for a resolver's configuration ("127.0.0.1:port").
    public var address: String { "127.0.0.1:\(port)" }

    public init(reactor: EPollReactor) throws {
        self.reactor = reactor
        // UDP on a port the kernel picks, then TCP on the same number, which another test's socket
        // may hold already: then both are given up and tried again.
        var server: (UDPEndpoint, ListeningPort)?
        let factory = DNSFactory()
        for attempt in 1...50 where server == nil {
            let udp = try UDPEndpoint()
            do {
                server = (udp, try reactor.listenTCP(udp.port, factory))
            } catch {
                Glibc.close(udp.fileDescriptor)
                if attempt == 50 { throw error }
            }
        }
        let (udp, tcp) = server!
        self.udp = udp
        port = udp.port
        self.tcp = tcp
        udp.server = self
        reactor.addReader(udp)
        factory.make = { [unowned self] in DNSOverTCP(server: self) }
    }

    deinit { Glibc.close(udp.fileDescriptor) }

    /// The queries for `name` (of any type, over either transport).
    public func queries(for name: String) -> [Query] { queries.filter { $0.name == name } }

    fileprivate func handle(_ message: [UInt8], overTCP: Bool, reply: @escaping ([UInt8]) -> Void) {
        guard let question = DNSQuestion(message) else { return }
        queries.append(Query(name: question.name, type: question.type, overTCP: overTCP))
        let behaviour = answers[question.name] ?? .nameError
        if case .silent = behaviour { return }
        let response = question.response(to: message, behaviour, overTCP: overTCP)
        if delay > 0 {
            reactor.callLater(delay) { reply(response) }
        } else {
            reply(response)
        }
    }
}

/// The question of a DNS query and how to answer it.
private struct DNSQuestion {
    let name: String
    let type: UInt16
    /// Where the question ends in the message.
    let end: Int

    init?(_ message: [UInt8]) {
        guard message.count >= 17, message[4] == 0, message[5] == 1 else { return nil }
        var labels: [String] = []
        var index = 12
        while index < message.count, message[index] != 0 {
            let length = Int(message[index])
            guard length < 64, index + 1 + length < message.count else { return nil }
            labels.append(String(decoding: message[(index + 1)..<(index + 1 + length)], as: UTF8.self).lowercased())
            index += 1 + length
        }
        guard index + 5 <= message.count else { return nil }
        name = labels.joined(separator: ".")
        type = UInt16(message[index + 1]) << 8 | UInt16(message[index + 2])
        end = index + 5
    }

    func response(to query: [UInt8], _ behaviour: TestDNSServer.Behaviour, overTCP: Bool) -> [UInt8] {
        var rcode: UInt8 = 0
        var truncated = false
        var records: [[UInt8]] = []
        var ttl: UInt32 = 0
        switch behaviour {
        case .addresses(let v4, let v6, let seconds), .truncated(let v4, let v6, let seconds):
            ttl = seconds
            if case .truncated = behaviour, !overTCP {
                truncated = true
            } else if type == 1 {
                records = v4.map { DNSQuestion.bytes(AF_INET, $0, count: 4) }
            } else if type == 28 {
                records = v6.map { DNSQuestion.bytes(AF_INET6, $0, count: 16) }
            }
        case .nameError: rcode = 3
        case .serverFailure: rcode = 2
        case .refused: rcode = 5
        case .silent: break
        }
        var out: [UInt8] = [query[0], query[1]]
        out.append(0x84 | (query[2] & 0x79) | (truncated ? 0x02 : 0))  // QR, AA, opcode, RD, TC
        out.append(0x80 | rcode)  // RA
        out += [0, 1, 0, UInt8(records.count), 0, 0, 0, 0]
        out += query[12..<end]
        for data in records {
            out += [0xC0, 0x0C, UInt8(type >> 8), UInt8(type & 0xFF), 0, 1]
            out += [UInt8(ttl >> 24), UInt8((ttl >> 16) & 0xFF), UInt8((ttl >> 8) & 0xFF), UInt8(ttl & 0xFF)]
            out += [0, UInt8(data.count)] + data
        }
        return out
    }

    static func bytes(_ family: Int32, _ text: String, count: Int) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 16)
        _ = inet_pton(family, text, &buffer)
        return Array(buffer.prefix(count))
    }
}

/// Makes the server's TCP protocols (told how once the server exists).
private final class DNSFactory: Factory {
    var make: (() -> Protocol)?
    override func buildProtocol(_ address: Address) -> Protocol? { make?() }
}

/// The server's UDP socket.
private final class UDPEndpoint: ReadDescriptor {
    let fileDescriptor: Int32
    let port: Int
    weak var server: TestDNSServer?

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        fileDescriptor = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard fileDescriptor >= 0, bound else { throw SystemCallError(call: "bind (UDP)", errno: errno) }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func doRead() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var peer = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let count = withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(fileDescriptor, &buffer, buffer.count, 0, $0, &length)
                }
            }
            guard count > 0 else { return }
            let fd = fileDescriptor
            server?.handle(Array(buffer.prefix(count)), overTCP: false) { response in
                var peer = peer
                _ = withUnsafeMutablePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, response, response.count, 0, $0, length)
                    }
                }
            }
        }
    }

    func connectionLost(_ reason: Failure) {}
}

/// One TCP connection to the server: messages framed by a two-byte length.
private final class DNSOverTCP: Protocol {
    private unowned let server: TestDNSServer
    private var buffer: [UInt8] = []

    init(server: TestDNSServer) { self.server = server }

    override func dataReceived(_ bytes: [UInt8]) {
        buffer += bytes
        while buffer.count >= 2 {
            let length = Int(buffer[0]) << 8 | Int(buffer[1])
            guard buffer.count >= 2 + length else { return }
            let message = Array(buffer[2..<(2 + length)])
            buffer.removeFirst(2 + length)
            server.handle(message, overTCP: true) { [weak self] response in
                self?.transport?.write([UInt8(response.count >> 8), UInt8(response.count & 0xFF)] + response)
            }
        }
    }
}
