import Deferreds
import Reactor
import ReactorTesting
import Testing
import WebAgent

/// The Agent's HTTP/1.1 connection driven without a socket: the `MemoryReactor` records the
/// connection the pool asks for, the test completes it over a `StringTransport`, reads the request
/// bytes the connection wrote and feeds the response bytes in.
@Suite("Agent's HTTP/1.1 connection on a MemoryReactor, fed by hand")
struct AgentByHandTests {
    /// Collects a deferred's outcome.
    final class Outcome<V> {
        var value: V?
        var failure: Failure?
        init(_ d: Deferred<V>) {
            _ = d.addBoth { [self] (result: Result<V, Failure>) -> Void in
                switch result {
                case .success(let value): self.value = value
                case .failure(let failure): self.failure = failure
                }
            }
        }
    }

    private func feed(_ text: String, to connection: Protocol, byteByByte: Bool = true) {
        let bytes = Array(text.utf8)
        if byteByByte {
            for byte in bytes { connection.dataReceived([byte]) }
        } else {
            connection.dataReceived(bytes)
        }
    }

    @Test func aRequestIsWrittenAndItsResponseParsedByteByByte() throws {
        // When the test completes the connection, the request goes out, and a response fed byte by byte fires the deferred with its body.
        let reactor = MemoryReactor()
        let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
        let response = Outcome(agent.request("GET", "http://example.com:8080/path?q=1", Headers(["X-Test": ["yes"]])))
        #expect(reactor.tcpClients.count == 1)
        let client = reactor.tcpClients[0]
        #expect(client.host == "example.com" && client.port == 8080)

        let transport = StringTransport()
        let connection = try #require(client.complete(with: transport))
        let request = transport.text()
        #expect(request.hasPrefix("GET /path?q=1 HTTP/1.1\r\n"))
        #expect(request.contains("\r\nHost: example.com:8080\r\n"))
        #expect(request.contains("\r\nX-Test: yes\r\n"))
        #expect(request.hasSuffix("\r\n\r\n"))

        feed("HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\n", to: connection)
        let received = try #require(response.value)
        #expect(received.code == 200)
        #expect(received.headers.getRawHeaders("content-type") == ["text/plain"])
        let body = Outcome(readBody(received))
        #expect(body.value == nil)
        feed("hello world", to: connection)
        #expect(body.value.map { String(decoding: $0, as: UTF8.self) } == "hello world")
        #expect(transport.connection == .open)
    }

    @Test func aKeptConnectionCarriesTheNextRequest() throws {
        // When a response completes on a persistent connection, the next request to the host is written to the same transport.
        let reactor = MemoryReactor()
        let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
        let first = Outcome(agent.request("GET", "http://example.com/one").addCallback { readBody($0) })
        let transport = StringTransport()
        let connection = try #require(reactor.tcpClients[0].complete(with: transport))
        feed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none", to: connection, byteByByte: false)
        #expect(first.value == Array("one".utf8))

        transport.clear()
        let second = Outcome(agent.request("GET", "http://example.com/two").addCallback { readBody($0) })
        #expect(reactor.tcpClients.count == 1)
        #expect(transport.text().hasPrefix("GET /two HTTP/1.1\r\n"))
        feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n", to: connection)
        #expect(second.value == Array("two".utf8))
    }

    @Test func aRefusedConnectionFailsTheRequest() throws {
        // When the test fails the recorded connection, the request fails with that typed error.
        let reactor = MemoryReactor()
        let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
        let response = Outcome(agent.request("GET", "http://example.com/"))
        reactor.tcpClients[0].fail(ConnectionRefusedError(host: "example.com", port: 80))
        let failure = try #require(response.failure)
        #expect(failure.check(ConnectionRefusedError.self) != nil)
    }

    @Test func aServerThatClosesBeforeRespondingFailsTheRequest() throws {
        // When the connection is lost before any response byte, the request fails with ResponseNeverReceived.
        let reactor = MemoryReactor()
        let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
        let response = Outcome(agent.request("GET", "http://example.com/"))
        let connection = try #require(reactor.tcpClients[0].complete(with: StringTransport()))
        connection.connectionLost(Failure(ConnectionDone()))
        let failure = try #require(response.failure)
        #expect(failure.check(ResponseNeverReceived.self) != nil)
    }

    @Test func aMalformedStatusLineAbortsTheConnection() throws {
        // When the status line is garbage, the request fails and the connection is aborted, not reused.
        let reactor = MemoryReactor()
        let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
        let response = Outcome(agent.request("GET", "http://example.com/"))
        let transport = StringTransport()
        let connection = try #require(reactor.tcpClients[0].complete(with: transport))
        feed("HTTX/9 abc\r\n\r\n", to: connection, byteByByte: false)
        #expect(response.failure != nil)
        #expect(transport.connection == .aborted)
    }

    @Test func aResponseTimeoutRunsOnTheReactorsClock() throws {
        // When no response comes within the request's timeout on the memory clock, the request fails with TimeoutError, not before.
        let reactor = MemoryReactor()
        let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
        let response = Outcome(agent.request("GET", "http://example.com/", timeout: 10))
        _ = try #require(reactor.tcpClients[0].complete(with: StringTransport()))
        reactor.advance(9.9)
        #expect(response.failure == nil)
        reactor.advance(0.1)
        let failure = try #require(response.failure)
        #expect(failure.check(Deferreds.TimeoutError.self) != nil)
    }

    /// A request body the test writes by hand, recording how it is paced.
    final class HandProducer: BodyProducer {
        let length: Int? = nil
        var consumer: (any BodyConsumer)?
        var events: [String] = []
        let done = Deferred<Void>()
        func startProducing(_ consumer: any BodyConsumer) -> Deferred<Void> {
            self.consumer = consumer
            return done
        }
        func pauseProducing() { events.append("pause") }
        func resumeProducing() { events.append("resume") }
        func stopProducing() { events.append("stop") }
    }

    /// A body protocol that pauses its transport at the first chunk.
    final class PausingBody: Protocol {
        var received: [UInt8] = []
        override func dataReceived(_ bytes: [UInt8]) {
            received += bytes
            transport?.pauseProducing()
        }
    }

    @Test func anUploadIsChunkedAndPacedByTheTransport() throws {
        // When a body of unknown length is sent, it goes out chunked, and the transport's flow control reaches its producer.
        let reactor = MemoryReactor()
        let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
        let producer = HandProducer()
        let response = Outcome(agent.request("POST", "http://example.com/upload", nil, producer))
        let transport = StringTransport()
        let connection = try #require(reactor.tcpClients[0].complete(with: transport))
        #expect(transport.text().contains("\r\nTransfer-Encoding: chunked\r\n"))
        #expect(transport.producer != nil && transport.streaming)
        transport.clear()
        producer.consumer?.write(Array("abc".utf8))
        #expect(transport.text() == "3\r\nabc\r\n")
        transport.pauseRegisteredProducer()
        transport.resumeRegisteredProducer()
        #expect(producer.events == ["pause", "resume"])
        producer.done.callback(())
        #expect(transport.text() == "3\r\nabc\r\n0\r\n\r\n")
        #expect(transport.producer == nil)
        // The exchange ends (and lets go of its deferred) with the response.
        feed("HTTP/1.1 204 No Content\r\n\r\n", to: connection, byteByByte: false)
        #expect(try #require(response.value).code == 204)
    }

    @Test func heldAndPausedBodiesPauseTheConnectionsReading() throws {
        // When body bytes arrive before deliverBody, or the body protocol pauses, the connection stops reading; resuming reads again.
        let reactor = MemoryReactor()
        let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
        let response = Outcome(agent.request("GET", "http://example.com/"))
        let transport = StringTransport()
        let connection = try #require(reactor.tcpClients[0].complete(with: transport))
        feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", to: connection, byteByByte: false)
        #expect(transport.producerState == .paused)
        let body = PausingBody()
        try #require(response.value).deliverBody(body)
        #expect(body.received == Array("hello".utf8))
        #expect(transport.producerState == .paused)
        body.transport?.resumeProducing()
        #expect(transport.producerState == .producing)
    }

    // The connection's state machine (HTTP11ClientStateMachine), its decisions carried out on a
    // StringTransport.

    @Test func aResponseBeforeTheUploadEndsAbortsTheConnection() throws {
        // When the response is complete before the request body was sent whole, the connection is reset, not reused.
        let reactor = MemoryReactor()
        let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
        let producer = HandProducer()
        let response = Outcome(agent.request("POST", "http://example.com/upload", nil, producer)
            .addCallback { readBody($0) })
        let transport = StringTransport()
        let connection = try #require(reactor.tcpClients[0].complete(with: transport))
        feed("HTTP/1.1 413 Too Large\r\nContent-Length: 2\r\n\r\nno", to: connection, byteByByte: false)
        #expect(response.value == Array("no".utf8))
        #expect(transport.connection == .aborted)
        #expect(producer.events == ["stop"])
        _ = agent.request("GET", "http://example.com/next")
        #expect(reactor.tcpClients.count == 2)
    }

    @Test func bytesOnAnIdleConnectionCloseIt() throws {
        // When an idle kept connection receives bytes nobody asked for, it is reset and the next request gets a new one.
        let reactor = MemoryReactor()
        let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
        _ = agent.request("GET", "http://example.com/").addCallback { readBody($0) }
        let transport = StringTransport()
        let connection = try #require(reactor.tcpClients[0].complete(with: transport))
        feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", to: connection, byteByByte: false)
        #expect(transport.connection == .open)
        feed("HTTP/1.1 200 OK\r\n", to: connection, byteByByte: false)
        #expect(transport.connection == .aborted)
        _ = agent.request("GET", "http://example.com/again")
        #expect(reactor.tcpClients.count == 2)
    }

    @Test func aKeptConnectionLostBeforeAnyByteSendsTheRequestAgain() throws {
        // When a reused connection closes before any byte of the response, an idempotent request goes again on a new connection.
        let reactor = MemoryReactor()
        let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
        _ = agent.request("GET", "http://example.com/one").addCallback { readBody($0) }
        let first = StringTransport()
        let connection = try #require(reactor.tcpClients[0].complete(with: first))
        feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", to: connection, byteByByte: false)
        let second = Outcome(agent.request("GET", "http://example.com/two").addCallback { readBody($0) })
        #expect(first.text().contains("GET /two HTTP/1.1\r\n"))
        connection.connectionLost(Failure(ConnectionDone()))
        #expect(second.value == nil && second.failure == nil)
        #expect(reactor.tcpClients.count == 2)
        let fresh = StringTransport()
        let again = try #require(reactor.tcpClients[1].complete(with: fresh))
        #expect(fresh.text().hasPrefix("GET /two HTTP/1.1\r\n"))
        feed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo", to: again, byteByByte: false)
        #expect(second.value == Array("two".utf8))
    }

    @Test func anHTTP10ResponseClosesTheConnectionGracefully() throws {
        // When the response is HTTP/1.0 without keep-alive, the connection is closed after what was written, not reused.
        let reactor = MemoryReactor()
        let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
        let response = Outcome(agent.request("GET", "http://example.com/").addCallback { readBody($0) })
        let transport = StringTransport()
        let connection = try #require(reactor.tcpClients[0].complete(with: transport))
        feed("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", to: connection, byteByByte: false)
        #expect(response.value == Array("ok".utf8))
        #expect(transport.connection == .losing)
    }

    @Test func aConnectionLostInsideTheHeadFailsWithResponseFailed() throws {
        // When the connection is lost after part of the head, the request fails with ResponseFailed, not ResponseNeverReceived.
        let reactor = MemoryReactor()
        let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
        let response = Outcome(agent.request("GET", "http://example.com/"))
        let connection = try #require(reactor.tcpClients[0].complete(with: StringTransport()))
        feed("HTTP/1.1 200 OK\r\nContent-Le", to: connection, byteByByte: false)
        connection.connectionLost(Failure(ConnectionDone()))
        let failure = try #require(response.failure)
        #expect(failure.check(ResponseFailed.self) != nil)
    }
}
