import Deferreds
import Glibc
import Reactor

@testable import WebAgent

/// A TCP server scripted byte by byte, for what the WebServer will not do (speak HTTP/1.0, drop a
/// kept-alive connection just as a request arrives, ...): it keeps what each connection received,
/// and `script` answers, each time bytes arrive.
final class RawServer {
    final class Connection: Protocol {
        unowned let server: RawServer
        /// Its place among the server's connections, in the order they were accepted.
        let index: Int
        private(set) var received: [UInt8] = []
        /// Responses written on it with `answer`.
        private(set) var answered = 0
        private(set) var lost = false

        init(server: RawServer, index: Int) {
            self.server = server
            self.index = index
        }

        override func dataReceived(_ bytes: [UInt8]) {
            received += bytes
            server.script(self)
        }

        override func connectionLost(_ reason: Failure) { lost = true }

        var text: String { String(decoding: received, as: UTF8.self) }

        /// How many header blocks (each ends with a blank line) have arrived: the requests, when
        /// they have no body.
        var headsReceived: Int {
            guard received.count >= 4 else { return 0 }
            return (0...(received.count - 4)).filter {
                received[$0] == 13 && received[$0 + 1] == 10 && received[$0 + 2] == 13 && received[$0 + 3] == 10
            }.count
        }

        /// Writes `response`, then closes the connection when `close`.
        func answer(_ response: String, close: Bool = false) {
            answered += 1
            transport?.write(Array(response.utf8))
            if close { transport?.loseConnection() }
        }

        /// Answers every header block not answered yet with `response`.
        func answerEachHead(_ response: String) {
            while answered < headsReceived { answer(response) }
        }
    }

    private(set) var connections: [Connection] = []
    let script: (Connection) -> Void
    private(set) var port = 0
    private let interface: String

    private init(interface: String, script: @escaping (Connection) -> Void) {
        self.interface = interface
        self.script = script
    }

    /// Listens on a free port of `interface`; the listening port keeps the server alive.
    static func start(_ reactor: EPollReactor, interface: String = "127.0.0.1",
                      script: @escaping (Connection) -> Void) throws -> RawServer {
        let server = RawServer(interface: interface, script: script)
        let port = try reactor.listenTCP(0, Factory { _ in
            let connection = Connection(server: server, index: server.connections.count)
            server.connections.append(connection)
            return connection
        }, interface: interface)
        server.port = port.getHost().port
        return server
    }

    var url: String { interface.contains(":") ? "http://[\(interface)]:\(port)" : "http://\(interface):\(port)" }

    /// A server whose first connection answers its first request and closes, without a response,
    /// when a second arrives on it (a kept connection the server drops just as it is reused);
    /// every other request gets "hello".
    static func closingOnTheSecondRequest(_ reactor: EPollReactor) throws -> RawServer {
        try start(reactor) { connection in
            if connection.index == 0 && connection.headsReceived == 2 {
                connection.transport?.loseConnection()
            } else {
                connection.answerEachHead(okResponse("hello"))
            }
        }
    }
}

/// A complete HTTP/1.1 response with a Content-Length and no Connection header.
func okResponse(_ body: String, version: String = "HTTP/1.1", headers: [String] = []) -> String {
    "\(version) 200 OK\r\n" + headers.map { $0 + "\r\n" }.joined() + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
}

/// Fires once `condition` holds, checking every 5 ms of reactor time; after `tries` checks it
/// fires anyway (the test then asserts on what it waited for).
func eventually(_ reactor: EPollReactor, tries: Int = 400, _ condition: @escaping () -> Bool) -> Deferred<Void> {
    if condition() || tries == 0 { return succeed(()) }
    return deferLater(reactor, 0.005) { () }.addCallback { _ in eventually(reactor, tries: tries - 1, condition) }
}

/// The body of the response to a GET of `url`, as text.
func text(_ agent: Agent, _ url: String, timeout: Double? = 5) -> Deferred<String> {
    agent.request("GET", url, nil, nil, timeout: timeout)
        .addCallback { readBody($0) }
        .addCallback { String(decoding: $0, as: UTF8.self) }
}

/// A body producer of unknown length that writes some bytes, then fails with `Broken`.
final class FailingProducer: BodyProducer {
    struct Broken: Error {}
    var length: Int? { nil }
    func startProducing(_ consumer: any BodyConsumer) -> Deferred<Void> {
        consumer.write(Array("partial".utf8))
        return fail(Broken())
    }
    func pauseProducing() {}
    func resumeProducing() {}
    func stopProducing() {}
}
