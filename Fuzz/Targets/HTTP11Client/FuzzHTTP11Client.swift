/// Fuzz target: the whole plain-HTTP/1.1 client path (`Agent` → pool → `HTTP11Connection` with its
/// `HTTP11ClientStateMachine` and `ResponseParser` → `HTTP11Exchange` with its
/// `BodyDeliveryStateMachine`) on a `MemoryReactor`, the server's bytes fed from the input.
///
/// Input: byte 0 picks the scenario (bits 0–1: GET, HEAD, POST with a body sent at once, or POST
/// with a chunked body that ends only once the response has begun; bits 2–3: the body protocol is
/// given at once, never (the response is dropped), after the last byte, or given at once and
/// pausing on its first chunk until the end; bit 4: the connection ends with an error rather
/// than a clean close); byte 1 seeds how the rest is cut into reads; the rest is what the server
/// sends. A second request follows the first one's body end (on the kept connection when it is
/// idle), and the rest of the bytes go to whichever connection is open.
///
/// Invariants (the machines' `preconditionFailure`s aside, which would crash too):
/// - every response deferred fires exactly once, by the time the connections are closed; it fails
///   only with `ResponseNeverReceived`, `ResponseFailed` or `RequestTransmissionFailed`;
/// - a body protocol gets `connectionLost` exactly once, no byte after it, and ends with
///   `ResponseDone`, `PotentialDataLoss` or `ResponseFailed`;
/// - a body that ends with `ResponseDone` delivered exactly the `Content-Length` it announced;
/// - the pool asks for at most two connections per request (one retry).
import Deferreds
import FuzzSupport
import Reactor
import ReactorTesting

@testable import WebAgent

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP11Client(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = fuzzBytes(data, count)
    guard input.count >= 2 else { return 0 }
    Scenario(flags: input[0], seed: UInt64(input[1]), server: Array(input.dropFirst(2))).run()
    return 0
}

/// A request body of 5 bytes with a known length, written at once.
private final class ImmediateBody: BodyProducer {
    var length: Int? { 5 }
    func startProducing(_ consumer: any BodyConsumer) -> Deferred<Void> {
        consumer.write(Array("hello".utf8))
        return succeed(())
    }
    func pauseProducing() {}
    func resumeProducing() {}
    func stopProducing() {}
}

/// A chunked request body whose end comes when `finish()` is called (or never).
private final class LateBody: BodyProducer {
    var length: Int? { nil }
    private var done: Deferred<Void>?
    private var consumer: (any BodyConsumer)?
    func startProducing(_ consumer: any BodyConsumer) -> Deferred<Void> {
        self.consumer = consumer
        consumer.write(Array("part".utf8))
        let done = Deferred<Void>()
        self.done = done
        return done
    }
    func finish() {
        let done = self.done
        self.done = nil
        consumer = nil
        done?.callback(())
    }
    func pauseProducing() {}
    func resumeProducing() {}
    func stopProducing() {
        done = nil
        consumer = nil
    }
}

/// Records what a body protocol is told.
private final class BodyRecorder: Protocol {
    var bytes = 0
    var ends: [Failure] = []
    var pauseOnFirstChunk = false
    var pausedTransport: (any Transport)?

    override func dataReceived(_ bytes: [UInt8]) {
        invariant(ends.isEmpty, "body bytes after connectionLost")
        self.bytes += bytes.count
        if pauseOnFirstChunk, pausedTransport == nil, let transport {
            pausedTransport = transport
            transport.pauseProducing()
        }
    }

    override func connectionLost(_ reason: Failure) {
        ends.append(reason)
    }
}

/// One request's outcome.
private final class Exchange {
    var responses = 0
    var failures: [Failure] = []
    var response: Response?
    var body: BodyRecorder?
    var length: Int?
}

private struct Scenario {
    let flags: UInt8
    let seed: UInt64
    let server: [UInt8]

    func run() {
        let reactor = MemoryReactor()
        let agent = Agent(reactor, pool: HTTPConnectionPool(reactor))
        let method = ["GET", "HEAD", "POST", "POST"][Int(flags & 3)]
        let late = flags & 3 == 3 ? LateBody() : nil
        let bodyMode = (flags >> 2) & 3
        var exchanges: [Exchange] = []
        var deferredBodies: [Exchange] = []

        func start() {
            let exchange = Exchange()
            exchanges.append(exchange)
            let producer: (any BodyProducer)? = flags & 3 == 2 ? ImmediateBody() : late
            let deferred = agent.request(method, "http://example.com/\(exchanges.count)", nil, producer)
            _ = deferred.addBoth { (result: Result<Response, Failure>) -> Void in
                switch result {
                case .success(let response):
                    exchange.responses += 1
                    exchange.length = response.length
                    let recorder = BodyRecorder()
                    exchange.body = recorder
                    switch bodyMode {
                    case 0: response.deliverBody(recorder)
                    case 1: exchange.body = nil   // dropped unread
                    case 2:
                        exchange.response = response
                        deferredBodies.append(exchange)
                    default:
                        recorder.pauseOnFirstChunk = true
                        exchange.response = response
                        response.deliverBody(recorder)
                    }
                case .failure(let failure):
                    exchange.failures.append(failure)
                }
            }
        }

        start()
        var transports: [StringTransport] = []
        var connections: [Protocol] = []
        /// Completes every connection the pool asked for and has not been given.
        func connectNew() {
            while connections.count < reactor.tcpClients.count {
                let transport = StringTransport()
                transports.append(transport)
                guard let connection = reactor.tcpClients[connections.count].complete(with: transport) else {
                    invariant(false, "a connection attempt could not be completed")
                    return
                }
                connections.append(connection)
            }
        }
        /// Reports the close of every transport the client closed, as the reactor would.
        var lost = Set<Int>()
        func reportCloses() {
            for (index, transport) in transports.enumerated() where transport.disconnecting && !lost.contains(index) {
                lost.insert(index)
                connections[index].connectionLost(Failure(transport.connection == .aborted
                    ? ConnectionAborted() : ConnectionDone()))
            }
        }
        connectNew()
        var secondStarted = false
        for (number, piece) in pieces(of: server, seed: seed).enumerated() {
            if number == 1 { late?.finish() }
            // The open connection most recently made takes the bytes.
            guard let index = transports.indices.last(where: { !lost.contains($0) && !transports[$0].disconnecting })
            else { break }
            connections[index].dataReceived(piece)
            reportCloses()
            if !secondStarted, exchanges[0].body.map({ !$0.ends.isEmpty }) ?? !exchanges[0].failures.isEmpty {
                secondStarted = true
                start()
            }
            connectNew()
        }
        late?.finish()
        for exchange in deferredBodies {
            if let response = exchange.response, let body = exchange.body { response.deliverBody(body) }
        }
        for exchange in exchanges {
            if let body = exchange.body, let transport = body.pausedTransport {
                body.pauseOnFirstChunk = false
                transport.resumeProducing()
            }
        }
        // The server closes (or the network fails) every connection still open.
        for (index, connection) in connections.enumerated() where !lost.contains(index) {
            lost.insert(index)
            connection.connectionLost(Failure(flags & 16 == 0 ? ConnectionDone() : ConnectionLost("reset")))
            connectNew()   // a request sent again on a fresh connection
        }
        var rounds = 0
        while connections.count > lost.count, rounds < 4 {
            rounds += 1
            for index in connections.indices where !lost.contains(index) {
                lost.insert(index)
                connections[index].connectionLost(Failure(ConnectionDone()))
                connectNew()
            }
        }
        invariant(reactor.tcpClients.count <= exchanges.count * 2, "more connections than requests and retries")
        check(exchanges)
        for exchange in exchanges { exchange.response = nil }
    }

    func check(_ exchanges: [Exchange]) {
        for exchange in exchanges {
            invariant(exchange.responses + exchange.failures.count == 1,
                      "the response deferred fired \(exchange.responses + exchange.failures.count) times")
            for failure in exchange.failures {
                invariant(failure.check(ResponseNeverReceived.self, ResponseFailed.self,
                                        RequestTransmissionFailed.self) != nil,
                          "the request failed with \(failure)")
            }
            guard let body = exchange.body else { continue }
            invariant(body.ends.count == 1, "the body ended \(body.ends.count) times")
            guard let end = body.ends.first else { continue }
            invariant(end.check(ResponseDone.self, PotentialDataLoss.self, ResponseFailed.self) != nil,
                      "the body ended with \(end)")
            if end.value is ResponseDone, let length = exchange.length {
                invariant(body.bytes == length, "a body of \(length) bytes delivered \(body.bytes)")
            }
        }
    }
}
