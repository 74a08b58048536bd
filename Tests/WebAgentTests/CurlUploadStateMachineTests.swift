import Deferreds
import Reactor
import Testing

@testable import WebAgent

/// Every transition of `CurlUploadStateMachine`, driven by hand: no libcurl, no producer.
@Suite struct CurlUploadStateMachineTests {
    typealias Machine = CurlUploadStateMachine

    static func state(_ machine: Machine) -> String {
        switch machine.state {
        case .none: "none"
        case .producing(let readPaused, let producerPaused): "producing(\(readPaused), \(producerPaused))"
        case .produced(let readPaused): "produced(\(readPaused))"
        case .failed(_, let readPaused): "failed(\(readPaused))"
        case .stopped: "stopped"
        }
    }

    /// What libcurl's read callback gets with a buffer of `size` bytes, and the bytes copied.
    static func read(_ machine: inout Machine, size: Int) -> (Machine.ReadAction, [UInt8]) {
        var buffer = [UInt8](repeating: 0, count: size)
        let action = buffer.withUnsafeMutableBytes { machine.read(into: $0) }
        if case .wrote(let count, _) = action { return (action, Array(buffer[0..<count])) }
        return (action, [])
    }

    @Test func aRequestWithABodyStartsProducing() {
        // When the request has a body, its producer is writing and nothing waits; without one,
        // there is no upload.
        let machine = Machine(hasBody: true)
        #expect(Self.state(machine) == "producing(false, false)")
        #expect(machine.queued == 0 && machine.failure == nil)
        #expect(Self.state(Machine(hasBody: false)) == "none")
    }

    @Test func queuedBytesAreReadInOrderAcrossChunks() {
        // When the producer writes chunks, libcurl's reads copy them in order, across chunk
        // boundaries, and say when the queue is drained; empty writes are ignored.
        var machine = Machine(hasBody: true)
        do { let value = machine.written(Array("hello".utf8)); #expect(!value) }
        do { let value = machine.written([]); #expect(!value) }
        do { let value = machine.written(Array(" world".utf8)); #expect(!value) }
        #expect(machine.queued == 11)
        let (first, firstBytes) = Self.read(&machine, size: 3)
        #expect(first == .wrote(3, drained: false) && firstBytes == Array("hel".utf8))
        let (second, secondBytes) = Self.read(&machine, size: 6)
        #expect(second == .wrote(6, drained: false) && secondBytes == Array("lo wor".utf8))
        let (third, thirdBytes) = Self.read(&machine, size: 100)
        #expect(third == .wrote(2, drained: true) && thirdBytes == Array("ld".utf8))
        #expect(machine.queued == 0)
    }

    @Test func anEmptyQueuePausesTheReadUntilTheProducerWrites() {
        // When libcurl reads with nothing queued, its reading pauses; the next write asks for news,
        // and the news resumes the reading once.
        var machine = Machine(hasBody: true)
        #expect(Self.read(&machine, size: 16).0 == .pause)
        #expect(Self.state(machine) == "producing(true, false)")
        do { let value = machine.readToResume(); #expect(!value) }
        do { let value = machine.written(Array("x".utf8)); #expect(value) }
        do { let value = machine.readToResume(); #expect(value) }
        #expect(Self.state(machine) == "producing(false, false)")
        do { let value = machine.readToResume(); #expect(!value) }
        #expect(Self.read(&machine, size: 16).0 == .wrote(1, drained: true))
    }

    @Test func tooMuchQueuedPausesTheProducerUntilLibcurlReadsItAll() {
        // When more than 256 KiB are queued, the producer is paused once; the news resumes it once
        // libcurl has read everything queued.
        var machine = Machine(hasBody: true)
        _ = machine.written([UInt8](repeating: 1, count: Machine.queueLimit))
        do { let value = machine.producerToPause(); #expect(!value) }
        _ = machine.written([2])
        do { let value = machine.producerToPause(); #expect(value) }
        do { let value = machine.producerToPause(); #expect(!value) }
        #expect(Self.state(machine) == "producing(false, true)")
        #expect(Self.read(&machine, size: 1000).0 == .wrote(1000, drained: false))
        do { let value = machine.producerToResume(); #expect(!value) }
        _ = Self.read(&machine, size: Machine.queueLimit)
        do { let value = machine.producerToResume(); #expect(value) }
        do { let value = machine.producerToResume(); #expect(!value) }
        #expect(Self.state(machine) == "producing(false, false)")
    }

    @Test func aFinishedProducerLetsLibcurlReadTheRestThenTheEnd() {
        // When the producer finishes, libcurl reads what is queued, then the end of the body; a
        // paused reading is resumed by the news; later writes are dropped.
        var machine = Machine(hasBody: true)
        _ = machine.written(Array("ab".utf8))
        do { let value = machine.producerFinished(); #expect(!value) }
        #expect(Self.state(machine) == "produced(false)")
        do { let value = machine.written(Array("c".utf8)); #expect(!value) }
        #expect(Self.read(&machine, size: 16) == (.wrote(2, drained: true), Array("ab".utf8)))
        #expect(Self.read(&machine, size: 16).0 == .endOfBody)

        var paused = Machine(hasBody: true)
        #expect(Self.read(&paused, size: 16).0 == .pause)
        do { let value = paused.producerFinished(); #expect(value) }
        do { let value = paused.readToResume(); #expect(value) }
        #expect(Self.state(paused) == "produced(false)")
        #expect(Self.read(&paused, size: 16).0 == .endOfBody)
    }

    @Test func aFailedProducerAbortsLibcurlsNextRead() {
        // When the producer fails, its failure is kept, a paused reading is resumed by the news,
        // and libcurl's next read aborts the transfer, even with bytes still queued.
        var machine = Machine(hasBody: true)
        #expect(Self.read(&machine, size: 16).0 == .pause)
        do { let value = machine.producerFailed(Failure(ConnectionLost("disk"))); #expect(value) }
        #expect(Self.state(machine) == "failed(true)")
        #expect(machine.failure?.value is ConnectionLost)
        do { let value = machine.readToResume(); #expect(value) }
        #expect(Self.read(&machine, size: 16).0 == .abort)

        var queued = Machine(hasBody: true)
        _ = queued.written([1, 2, 3])
        do { let value = queued.producerFailed(Failure(ConnectionLost("disk"))); #expect(!value) }
        #expect(Self.read(&queued, size: 16).0 == .abort)
    }

    @Test func theTransfersEndStopsAWritingProducer() {
        // When the transfer ends while the producer writes, it is to be stopped (once), and what it
        // writes or reports later is dropped; a producer that already finished or failed is left
        // alone.
        var machine = Machine(hasBody: true)
        do { let value = machine.transferEnded(); #expect(value) }
        #expect(Self.state(machine) == "stopped")
        do { let value = machine.transferEnded(); #expect(!value) }
        do { let value = machine.written([1]); #expect(!value) }
        #expect(!machine.producerFinished() && !machine.producerFailed(Failure(CancelledError())))
        #expect(Self.state(machine) == "stopped" && machine.failure == nil)

        var produced = Machine(hasBody: true)
        _ = produced.producerFinished()
        do { let value = produced.transferEnded(); #expect(!value) }
        var failed = Machine(hasBody: true)
        _ = failed.producerFailed(Failure(CancelledError()))
        do { let value = failed.transferEnded(); #expect(!value) }
        var none = Machine(hasBody: false)
        do { let value = none.transferEnded(); #expect(!value) }
    }

    @Test func readingABodyTheRequestDoesNotHaveTraps() async {
        // When libcurl reads a body the request does not have, the machine traps with "Invalid
        // state".
        await #expect(processExitsWith: .failure) {
            var machine = CurlUploadStateMachine(hasBody: false)
            _ = CurlUploadStateMachineTests.read(&machine, size: 1)
        }
    }
}
