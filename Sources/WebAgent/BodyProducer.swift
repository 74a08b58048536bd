import Deferreds
import Glibc
import Reactor

/// Where a body producer writes the request body.
public protocol BodyConsumer: AnyObject {
    /// Takes the next bytes of the body, in order.
    func write(_ bytes: [UInt8])
}

/// The body of a request: produced on demand, paused when the connection cannot take more.
///
/// `startProducing(consumer)` begins writing the body to `consumer`; the deferred it returns fires
/// when the whole body has been written (or fails, which fails the request with
/// `RequestTransmissionFailed`). `length` is the body's size when known (sent as Content-Length),
/// else nil (sent chunked).
///
/// Twisted: `twisted.web.iweb.IBodyProducer`.
public protocol BodyProducer: AnyObject {
    /// The body's size in bytes when known (sent as `Content-Length`); nil to send it chunked.
    var length: Int? { get }
    /// Begins writing the body to `consumer`; the deferred fires once all of it has been written.
    /// A failure fails the request with `RequestTransmissionFailed`.
    func startProducing(_ consumer: any BodyConsumer) -> Deferred<Void>
    /// Stop writing until `resumeProducing()`: the connection cannot take more now.
    func pauseProducing()
    /// Write again after `pauseProducing()`.
    func resumeProducing()
    /// Stop for good: the request was cancelled or failed. The deferred of `startProducing` need
    /// not fire.
    func stopProducing()
}

/// A body from bytes in memory or from a file, written in chunks as the connection accepts them.
///
/// Twisted: `twisted.web.client.FileBodyProducer`.
public final class FileBodyProducer: BodyProducer {
    private enum Source {
        case bytes([UInt8])
        case file(Int32)
    }

    private var source: Source
    private var offset = 0
    private var paused = false
    private var stopped = false
    private var consumer: (any BodyConsumer)?
    private var done: Deferred<Void>?
    /// The body's size: the bytes' count, or the file's size when it was opened.
    public let length: Int?
    /// The size of each chunk written.
    public let chunkSize: Int

    /// A body of `bytes`.
    public init(_ bytes: [UInt8], chunkSize: Int = 64 * 1024) {
        source = .bytes(bytes)
        length = bytes.count
        self.chunkSize = chunkSize
    }

    /// A body read from the file at `path`, whose size is taken now.
    /// - Throws: `SystemCallError` when the file cannot be opened or is not a regular file.
    public init(path: String, chunkSize: Int = 64 * 1024) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemCallError(call: "open(\(path))", errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw SystemCallError(call: "fstat(\(path))", errno: EINVAL)
        }
        source = .file(fd)
        length = Int(info.st_size)
        self.chunkSize = chunkSize
    }

    deinit {
        if case .file(let fd) = source { close(fd) }
    }

    /// Writes the body to `consumer` in chunks of `chunkSize`, as the connection accepts them.
    public func startProducing(_ consumer: any BodyConsumer) -> Deferred<Void> {
        precondition(self.consumer == nil, "FileBodyProducer.startProducing: a producer produces one body")
        self.consumer = consumer
        let done = Deferred<Void>()
        self.done = done
        produce()
        return done
    }

    /// Writes chunks until paused, stopped or finished.
    private func produce() {
        while !paused && !stopped, let consumer, let done {
            switch source {
            case .bytes(let bytes):
                guard offset < bytes.count else { return finish(done) }
                let end = min(bytes.count, offset + chunkSize)
                let chunk = Array(bytes[offset..<end])
                offset = end
                consumer.write(chunk)
            case .file(let fd):
                var chunk = [UInt8](repeating: 0, count: chunkSize)
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, chunkSize) }
                if count < 0 {
                    self.done = nil
                    done.errback(SystemCallError(call: "read", errno: errno))
                    return
                }
                if count == 0 { return finish(done) }
                chunk.removeSubrange(count...)
                consumer.write(chunk)
            }
        }
    }

    private func finish(_ done: Deferred<Void>) {
        self.done = nil
        consumer = nil
        done.callback(())
    }

    /// Stops writing until `resumeProducing()`.
    public func pauseProducing() { paused = true }

    /// Writes again after `pauseProducing()`; does nothing when not paused.
    public func resumeProducing() {
        guard paused else { return }
        paused = false
        produce()
    }

    /// Stops for good and lets go of the consumer; the deferred of `startProducing` never fires.
    public func stopProducing() {
        stopped = true
        consumer = nil
        done = nil
    }
}
