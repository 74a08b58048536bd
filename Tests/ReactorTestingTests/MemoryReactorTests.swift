import Deferreds
import Reactor
import ReactorTesting
import Synchronization
import Testing

@Suite("MemoryReactor records TCP calls and runs time, triggers and thread calls by hand")
struct MemoryReactorTests {
    /// A client factory that writes down what it hears.
    final class RecordingClientFactory: ClientFactory {
        var events: [String] = []
        var failure: Failure?
        let make: () -> Protocol
        init(_ make: @escaping () -> Protocol = { Protocol() }) {
            self.make = make
            super.init { _ in nil }
        }
        override func buildProtocol(_ address: Address) -> Protocol? {
            events.append("build \(address.host):\(address.port)")
            return make()
        }
        override func startFactory() { events.append("start") }
        override func stopFactory() { events.append("stop") }
        override func startedConnecting(_ connector: Connector) { events.append("connecting") }
        override func clientConnectionFailed(_ connector: Connector, _ reason: Failure) {
            events.append("failed")
            failure = reason
        }
        override func clientConnectionLost(_ connector: Connector, _ reason: Failure) { events.append("lost") }
    }

    final class Greeter: Protocol {
        override func connectionMade() { transport?.write(Array("hello".utf8)) }
    }

    @Test func connectTCPIsRecordedAndCompletedOverATransport() {
        // When a test completes a recorded connection, the factory builds a protocol that writes to the transport.
        let reactor = MemoryReactor()
        let factory = RecordingClientFactory { Greeter() }
        let connector = reactor.connectTCP("example.com", 80, factory, timeout: 7)
        #expect(reactor.tcpClients.count == 1)
        let client = reactor.tcpClients[0]
        #expect(client.host == "example.com" && client.port == 80 && client.timeout == 7)
        #expect(client.connector === connector)
        #expect(factory.events == ["start", "connecting"])
        let transport = StringTransport()
        let handler = client.complete(with: transport)
        #expect(handler is Greeter)
        #expect(transport.text() == "hello")
        #expect(connector.transport === transport)
        client.lose(Failure(ConnectionDone()))
        #expect(factory.events == ["start", "connecting", "build example.com:80", "lost", "stop"])
    }

    @Test func failingAConnectionTellsTheFactoryWithTheTypedError() {
        // When a test fails a recorded connection, the factory hears clientConnectionFailed with that error.
        let reactor = MemoryReactor()
        let factory = RecordingClientFactory()
        reactor.connectTCP("127.0.0.1", 1, factory)
        reactor.tcpClients[0].fail(ConnectionRefusedError(host: "127.0.0.1", port: 1))
        #expect(factory.events == ["start", "connecting", "failed", "stop"])
        #expect(factory.failure?.check(ConnectionRefusedError.self) != nil)
        // The attempt is over: completing it now does nothing.
        #expect(reactor.tcpClients[0].complete(with: StringTransport()) == nil)
    }

    @Test func connectProtocolFiresWhenTheTestCompletesTheConnection() {
        // When connectProtocol's connection is completed, its deferred fires with the protocol.
        let reactor = MemoryReactor()
        let greeter = Greeter()
        var connected: Greeter?
        _ = connectProtocol(reactor, host: "::1", port: 8080, greeter).addCallback { (p: Greeter) -> Void in connected = p }
        #expect(connected == nil)
        let transport = StringTransport()
        reactor.tcpClients[0].complete(with: transport)
        #expect(connected === greeter)
        #expect(greeter.transport?.getPeer() == transport.peer)
    }

    @Test func cancellingConnectProtocolStopsTheAttempt() {
        // When connectProtocol's deferred is cancelled, the recorded attempt fails with ConnectingCancelledError.
        let reactor = MemoryReactor()
        var failure: Failure?
        let d = connectProtocol(reactor, host: "example.com", port: 80, Greeter())
        _ = d.addBoth { (outcome: Result<Greeter, Failure>) -> Void in
            if case .failure(let reason) = outcome { failure = reason }
        }
        d.cancel()
        #expect(failure != nil)
        #expect(reactor.tcpClients[0].complete(with: StringTransport()) == nil)
    }

    @Test func listenTCPIsRecordedAndAcceptsByHand() throws {
        // When a test accepts on a recorded port, the factory's protocol gets the transport.
        let reactor = MemoryReactor()
        let factory = Factory.forProtocol { Greeter() }
        let port = try reactor.listenTCP(0, factory, interface: "::1")
        #expect(reactor.tcpServers.count == 1)
        #expect(port.getHost().family == .ipv6)
        #expect(port.getHost().port != 0)
        let transport = StringTransport()
        #expect(port.accept(transport) is Greeter)
        #expect(transport.text() == "hello")
        var stopped = false
        _ = port.stopListening().addCallback { stopped = true }
        #expect(stopped && !port.listening)
        #expect(port.accept(StringTransport()) == nil)
    }

    @Test func listenTCPRefusesAnOutOfRangePort() {
        // When the port is out of range, listenTCP throws CannotListenError.
        let reactor = MemoryReactor()
        #expect(throws: CannotListenError.self) { try reactor.listenTCP(70000, Factory()) }
    }

    @Test func timeIsTheClocks() {
        // When the test advances the reactor's clock, the calls due run and no others.
        let reactor = MemoryReactor()
        var ran: [Int] = []
        reactor.callLater(2) { ran.append(2) }
        reactor.callLater(1) { ran.append(1) }
        reactor.advance(1.5)
        #expect(ran == [1])
        #expect(reactor.seconds() == 1.5)
        reactor.clock.advance(1)
        #expect(ran == [1, 2])
    }

    @Test func runAndStopFireTheTriggers() {
        // When the test runs and stops the reactor, callWhenRunning and the shutdown triggers run in their phases.
        let reactor = MemoryReactor()
        var events: [String] = []
        reactor.callWhenRunning { events.append("running") }
        reactor.addSystemEventTrigger(.before, .shutdown) { () -> Void in events.append("before shutdown") }
        reactor.addSystemEventTrigger(.after, .shutdown) { () -> Void in events.append("after shutdown") }
        let removed = reactor.addSystemEventTrigger(.during, .shutdown) { () -> Void in events.append("removed") }
        reactor.removeSystemEventTrigger(removed)
        #expect(!reactor.running)
        reactor.run()
        #expect(reactor.running)
        reactor.callWhenRunning { events.append("at once") }
        reactor.stop()
        #expect(reactor.state == .stopped)
        #expect(events == ["running", "at once", "before shutdown", "after shutdown"])
    }

    @Test func threadCallsRunWhenTheTestSaysSo() {
        // When a call is queued with callFromThread, it runs at runThreadCalls, not before, and once.
        let reactor = MemoryReactor()
        let counter = Counter()
        reactor.callFromThread { counter.increment() }
        #expect(counter.value == 0)
        reactor.runThreadCalls()
        reactor.runThreadCalls()
        #expect(counter.value == 1)
    }

    @Test func descriptorsAreRecorded() {
        // When a descriptor is added and removed, readers and writers follow, and a stranger's removal is ignored.
        final class Descriptor: ReadDescriptor, WriteDescriptor {
            let fileDescriptor: Int32
            init(_ fd: Int32) { fileDescriptor = fd }
            func doRead() {}
            func doWrite() {}
            func connectionLost(_ reason: Failure) {}
        }
        let reactor = MemoryReactor()
        let a = Descriptor(5)
        reactor.addReader(a)
        reactor.addWriter(a)
        reactor.removeReader(Descriptor(5))
        #expect(reactor.readers.count == 1 && reactor.writers.count == 1)
        reactor.removeReader(a)
        #expect(reactor.readers.isEmpty && reactor.writers.count == 1)
    }

    @Test func attachmentsAreOnePerType() {
        // When an attachment is asked for twice, the same object comes back.
        final class Box {}
        let reactor = MemoryReactor()
        let first = reactor.attachment(Box.self) { Box() }
        let second = reactor.attachment(Box.self) { Box() }
        #expect(first === second)
    }
}

/// A counter a `@Sendable` function can bump.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func increment() { count.add(1, ordering: .relaxed) }
}
