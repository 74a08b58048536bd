import Deferreds
import Reactor
import ReactorTesting
import Testing
import WebServer

/// The WebServer's HTTP channel driven without a socket: requests fed through a `StringTransport`,
/// responses read back from it, time moved by the `MemoryReactor`'s clock.
@Suite("WebServer on a MemoryReactor, fed by hand")
struct WebServerByHandTests {
    /// A server listening on a memory reactor, and one accepted connection on a string transport.
    private func connection(
        _ configure: (WebServer) -> Void = { _ in }
    ) throws -> (MemoryReactor, WebServer, Protocol, StringTransport) {
        let reactor = MemoryReactor()
        let server = WebServer(reactor)
        server.route("/hello") { _ in .text("hello\n") }
        configure(server)
        try server.listen(port: 8080)
        let transport = StringTransport()
        let channel = try #require(reactor.tcpServers[0].accept(transport))
        return (reactor, server, channel, transport)
    }

    private func response(_ transport: StringTransport) -> (head: String, body: String) {
        let text = transport.text()
        guard let end = text.firstRange(of: "\r\n\r\n") else { return (text, "") }
        return (String(text[..<end.lowerBound]), String(text[end.upperBound...]))
    }

    @Test func aRequestFedByteByByteIsAnswered() throws {
        // When a request arrives one byte at a time, the server answers it once, after the last byte.
        let (_, server, channel, transport) = try connection()
        let request = Array("GET /hello HTTP/1.1\r\nHost: example.com\r\n\r\n".utf8)
        for byte in request.dropLast() {
            channel.dataReceived([byte])
        }
        #expect(transport.value().isEmpty)
        channel.dataReceived([request.last!])
        let (head, body) = response(transport)
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(head.contains("Content-Length: 6"))
        #expect(body == "hello\n")
        #expect(server.requestsServed == 1)
        #expect(transport.connection == .open)
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        // When two requests arrive in one chunk, both responses are written, in order, and the connection stays open.
        let (reactor, _, channel, transport) = try connection()
        channel.dataReceived(Array(
            "GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /missing HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        reactor.advance(0)
        let text = transport.text()
        let ok = try #require(text.firstRange(of: "HTTP/1.1 200 OK"))
        let missing = try #require(text.firstRange(of: "HTTP/1.1 404"))
        #expect(ok.lowerBound < missing.lowerBound)
        #expect(transport.connection == .open)
    }

    @Test func connectionCloseRequestShutsOurSideAfterTheResponse() throws {
        // When the request says Connection: close, the response is written and then our sending side is shut.
        let (_, _, channel, transport) = try connection()
        channel.dataReceived(Array("GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".utf8))
        #expect(response(transport).body == "hello\n")
        #expect(transport.connection != .open)
    }

    @Test func aMalformedRequestGets400AndTheConnectionCloses() throws {
        // When the request line is garbage, the server answers 400 and closes.
        let (_, _, channel, transport) = try connection()
        channel.dataReceived(Array("NOT HTTP AT ALL\r\n\r\n".utf8))
        #expect(response(transport).head.hasPrefix("HTTP/1.1 400"))
        #expect(transport.connection != .open)
    }

    @Test func anIdleConnectionIsClosedWhenTheClockSaysSo() throws {
        // When no request comes within idleTimeout on the reactor's clock, the server closes the connection, not before.
        let (reactor, _, _, transport) = try connection { $0.idleTimeout = 5 }
        reactor.advance(4.9)
        #expect(transport.connection == .open)
        reactor.advance(0.1)
        #expect(transport.disconnecting)
    }
}
