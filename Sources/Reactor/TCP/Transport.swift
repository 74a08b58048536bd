import Deferreds

/// Something that produces data on its own and can be told to pause: the other side of flow control.
///
/// A transport calls `pauseProducing()` when its write buffer passes its high-water mark and
/// `resumeProducing()` once it has drained; `stopProducing()` means no more data is wanted.
///
/// Twisted: `twisted.internet.interfaces.IPushProducer`.
public protocol PushProducer: AnyObject {
    /// Stop producing until `resumeProducing()`; data already on its way may still arrive.
    func pauseProducing()
    /// Produce again after `pauseProducing()`.
    func resumeProducing()
    /// Stop for good: no more data is wanted.
    func stopProducing()
}

/// One side of a connection, as its `Protocol` sees it: write to it, close it, pause it.
///
/// Writes are buffered and sent as the socket accepts them; `loseConnection()` closes once the
/// buffer has been sent, `abortConnection()` at once (the peer sees a reset). A transport is also a
/// producer of incoming data: `pauseProducing()` stops reading (the peer's sends then back up),
/// `resumeProducing()` starts again.
///
/// Twisted: `twisted.internet.interfaces.ITransport`, `ITCPTransport`, `IConsumer`.
public protocol Transport: PushProducer {
    /// Queues `bytes` to be sent. Ignored once the connection is closing or closed.
    func write(_ bytes: [UInt8])
    /// Queues several chunks, in order.
    func writeSequence(_ chunks: [[UInt8]])
    /// Closes the connection once everything written has been sent.
    func loseConnection()
    /// Closes the connection now, dropping anything unsent.
    func abortConnection()
    /// Shuts down our sending side after the buffer is sent; reading goes on.
    func loseWriteConnection()
    /// The remote end's address.
    func getPeer() -> Address
    /// The local end's address.
    func getHost() -> Address
    /// Asks `producer` to pause while the write buffer is above the high-water mark (`streaming`
    /// producers), or to produce each time the buffer empties (`streaming: false`).
    func registerProducer(_ producer: any PushProducer, streaming: Bool)
    /// Forgets the producer given to `registerProducer(_:streaming:)`.
    func unregisterProducer()
}

extension Transport {
    public func writeSequence(_ chunks: [[UInt8]]) {
        for chunk in chunks { write(chunk) }
    }
}

/// The connection was closed by `abortConnection()`. Twisted: `twisted.internet.error.ConnectionAborted`.
public struct ConnectionAborted: Error, CustomStringConvertible {
    /// The error a locally aborted connection ends with.
    public init() {}
    public var description: String { "Connection was aborted locally using abortConnection." }
}
