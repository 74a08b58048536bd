import Deferreds
import Glibc
import Testing

@testable import Reactor

/// Reads a pipe; reports each read.
final class PipeReader: ReadDescriptor {
    let fileDescriptor: Int32
    var onRead: (PipeReader, [UInt8]) throws -> Void
    var lost: Failure?

    init(_ fd: Int32, onRead: @escaping (PipeReader, [UInt8]) throws -> Void) {
        fileDescriptor = fd
        self.onRead = onRead
    }

    func doRead() throws {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(fileDescriptor, &buffer, buffer.count)
        if count > 0 { try onRead(self, Array(buffer[0..<count])) }
    }

    func connectionLost(_ reason: Failure) { lost = reason }
}

/// Becomes writable and reports it.
final class PipeWriter: WriteDescriptor {
    let fileDescriptor: Int32
    var onWrite: (PipeWriter) -> Void
    init(_ fd: Int32, onWrite: @escaping (PipeWriter) -> Void) {
        fileDescriptor = fd
        self.onWrite = onWrite
    }
    func doWrite() { onWrite(self) }
    func connectionLost(_ reason: Failure) {}
}

struct HandlerBroke: Error {}

@Suite struct DescriptorTests {
    @Test func readerIsCalledWhenDataArrives() throws {
        // When bytes are written to a watched pipe, the reader gets them on the reactor's thread.
        let (readEnd, writeEnd) = makePipe()
        defer { close(readEnd); close(writeEnd) }
        var got: [UInt8] = []
        try withReactor { reactor in
            let reader = PipeReader(readEnd) { reader, bytes in
                got += bytes
                reactor.removeReader(reader)
                reactor.stop()
            }
            reactor.addReader(reader)
            reactor.callLater(0.01) { _ = write(writeEnd, "ping", 4) }
        }
        #expect(got == Array("ping".utf8))
    }

    @Test func writerIsCalledWhileWritableAndStopsAfterRemoval() throws {
        // When a writer is removed during its own dispatch, it is not called again.
        let (readEnd, writeEnd) = makePipe()
        defer { close(readEnd); close(writeEnd) }
        var calls = 0
        try withReactor { reactor in
            let writer = PipeWriter(writeEnd) { writer in
                calls += 1
                reactor.removeWriter(writer)
                reactor.callLater(0.02) { reactor.stop() }
            }
            reactor.addWriter(writer)
        }
        #expect(calls == 1)
    }

    @Test func aReaderThatThrowsIsRemovedReportedAndTheLoopGoesOn() throws {
        // When doRead throws, the descriptor is removed, the error reported and connectionLost called,
        // while the reactor keeps running other work.
        let (readEnd, writeEnd) = makePipe()
        defer { close(readEnd); close(writeEnd) }
        var reported: [String] = []
        var reads = 0
        var laterRan = false
        var reader: PipeReader?
        try withReactor { reactor in
            reactor.logError = { message, failure in reported.append("\(message) \(failure.getErrorMessage())") }
            reader = PipeReader(readEnd) { _, _ in
                reads += 1
                throw HandlerBroke()
            }
            reactor.addReader(reader!)
            _ = write(writeEnd, "x", 1)
            reactor.callLater(0.05) {
                _ = write(writeEnd, "y", 1)
                reactor.callLater(0.05) { laterRan = true; reactor.stop() }
            }
        }
        #expect(reads == 1)
        #expect(reported.count == 1)
        #expect(reader?.lost?.check(HandlerBroke.self) != nil)
        #expect(laterRan)
    }

    @Test func removingAReaderInsideAnotherHandlerPreventsItsDispatch() throws {
        // When one handler removes another descriptor that is ready in the same pass, that one is not called.
        let a = makePipe()
        let b = makePipe()
        defer { [a.read, a.write, b.read, b.write].forEach { close($0) } }
        var log: [String] = []
        // Each handler refers to both readers: let go of them when the test ends (a cycle otherwise).
        var readerA: PipeReader!
        var readerB: PipeReader!
        defer { (readerA, readerB) = (nil, nil) }
        try withReactor { reactor in
            readerA = PipeReader(a.read) { _, _ in
                log.append("a")
                reactor.removeReader(readerB)
                reactor.removeReader(readerA)
            }
            readerB = PipeReader(b.read) { _, _ in
                log.append("b")
                reactor.removeReader(readerB)
                reactor.removeReader(readerA)
            }
            reactor.addReader(readerA)
            reactor.addReader(readerB)
            _ = write(a.write, "1", 1)
            _ = write(b.write, "1", 1)
            reactor.callLater(0.05) { reactor.stop() }
        }
        #expect(log.count == 1)
    }

    @Test func aClosedAndReusedDescriptorNumberCanBeWatchedAgain() throws {
        // When a watched fd is closed without removal and its number reused, adding the new one works.
        var got: [UInt8] = []
        try withReactor { reactor in
            let first = makePipe()
            reactor.addReader(PipeReader(first.read) { _, _ in })
            close(first.read)
            close(first.write)
            let second = makePipe()
            let reader = PipeReader(second.read) { reader, bytes in
                got = bytes
                reactor.removeReader(reader)
                close(second.read)
                close(second.write)
                reactor.stop()
            }
            reactor.addReader(reader)
            _ = write(second.write, "ok", 2)
        }
        #expect(got == Array("ok".utf8))
    }
}

@Suite struct RefusedDescriptorTests {
    @Test func aRegularFileCannotBeWatchedAndItsReaderIsToldSo() throws {
        // When addReader is given a regular file (which epoll refuses), the reader gets connectionLost
        // with the EPERM error instead of a registration that never fires.
        let path = "/tmp/reactor-regular-file-\(getpid())"
        let fd = open(path, O_CREAT | O_RDWR, 0o600)
        defer { close(fd); unlink(path) }
        var lost: Failure?
        try withReactor { reactor in
            let reader = PipeReader(fd) { _, _ in }
            reactor.addReader(reader)
            reactor.callLater(0.05) {
                lost = reader.lost
                reactor.stop()
            }
        }
        #expect((lost?.value as? SystemCallError)?.errno == EPERM)
    }
}
