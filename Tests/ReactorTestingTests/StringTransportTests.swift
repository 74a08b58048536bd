import Deferreds
import Reactor
import ReactorTesting
import Testing

@Suite("StringTransport collects writes and records closing and flow control")
struct StringTransportTests {
    final class RecordingProducer: PushProducer {
        var events: [String] = []
        func pauseProducing() { events.append("pause") }
        func resumeProducing() { events.append("resume") }
        func stopProducing() { events.append("stop") }
    }

    @Test func writesCollectInOrder() {
        // When a protocol writes chunks and sequences, value() holds every byte in order.
        let transport = StringTransport()
        transport.write(Array("GET ".utf8))
        transport.writeSequence([Array("/ ".utf8), Array("HTTP/1.1".utf8)])
        #expect(transport.text() == "GET / HTTP/1.1")
        #expect(transport.writeCount == 2)
        transport.clear()
        #expect(transport.value().isEmpty)
    }

    @Test func loseConnectionIsRecordedAndLaterWritesAreIgnored() {
        // When the protocol loses the connection, the transport says so and drops what is written after.
        let transport = StringTransport()
        transport.write([1])
        transport.loseConnection()
        transport.write([2])
        #expect(transport.connection == .losing)
        #expect(transport.disconnecting)
        #expect(transport.value() == [1])
    }

    @Test func abortWinsOverLose() {
        // When the protocol aborts after losing, the transport reports the abort, and a later lose leaves it aborted.
        let transport = StringTransport()
        transport.loseConnection()
        transport.abortConnection()
        transport.loseConnection()
        #expect(transport.connection == .aborted)
    }

    @Test func loseWriteConnectionShutsOnlyOurSide() {
        // When the protocol shuts its sending side, writes stop but the transport is not disconnecting.
        let transport = StringTransport()
        transport.loseWriteConnection()
        transport.write([1])
        #expect(transport.connection == .writeShut)
        #expect(!transport.disconnecting)
        #expect(transport.value().isEmpty)
    }

    @Test func pausingIncomingBytesIsRecorded() {
        // When the protocol pauses, resumes and stops its transport, producerState follows.
        let transport = StringTransport()
        transport.pauseProducing()
        #expect(transport.producerState == .paused)
        transport.resumeProducing()
        #expect(transport.producerState == .producing)
        transport.stopProducing()
        transport.resumeProducing()
        #expect(transport.producerState == .stopped)
    }

    @Test func registeredProducerIsDrivenByTheTest() {
        // When a producer is registered, the test pauses, resumes and stops it through the transport.
        let transport = StringTransport()
        let producer = RecordingProducer()
        transport.registerProducer(producer, streaming: true)
        #expect(transport.producer === producer)
        #expect(transport.streaming)
        transport.pauseRegisteredProducer()
        transport.resumeRegisteredProducer()
        transport.stopRegisteredProducer()
        #expect(producer.events == ["pause", "resume", "stop"])
        transport.unregisterProducer()
        #expect(transport.producer == nil)
        transport.pauseRegisteredProducer()
        #expect(producer.events.count == 3)
    }

    @Test func addressesAreThoseGiven() {
        // When a transport is made with addresses, getPeer and getHost report them.
        let peer = Address(family: .ipv6, host: "::1", port: 5000)
        let host = Address(family: .ipv6, host: "::1", port: 8080)
        let transport = StringTransport(peer: peer, host: host)
        #expect(transport.getPeer() == peer)
        #expect(transport.getHost() == host)
    }

    @Test func secondProducerTraps() async {
        // When a second producer is registered without unregistering the first, the process traps.
        await #expect(processExitsWith: .failure) {
            let transport = StringTransport()
            transport.registerProducer(RecordingProducer(), streaming: true)
            transport.registerProducer(RecordingProducer(), streaming: false)
        }
    }
}
