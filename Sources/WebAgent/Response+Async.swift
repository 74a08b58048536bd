import Deferreds
import Reactor

// MARK: - The body as an asynchronous sequence

extension Response {
    /// The body, as an asynchronous sequence of chunks: `for try await chunk in response.body`.
    ///
    /// Iterating delivers the body (as `deliverBody(_:)` does, so a response's body is either
    /// iterated or delivered to a protocol, once). Chunks come in the order they arrived, as the
    /// connection read them (up to 64 KiB each). The sequence ends after the last chunk when
    /// the body is complete (`ResponseDone`); otherwise the loop throws the `Failure` the body ended
    /// with, after the chunks that did arrive: `PotentialDataLoss` for a body delimited by the
    /// connection closing (catch it to accept such a body), `Deferreds.TimeoutError` when the
    /// request's timeout expired, `ResponseFailed` for a body cut short.
    ///
    /// **Back-pressure.** Chunks the loop has not taken yet are held, and once `highWaterMark`
    /// bytes are held the transfer is paused (the socket is no longer read, so the server's
    /// sending stalls in TCP). It is resumed when the loop has taken every held chunk and asks for
    /// more. A slow consumer therefore holds at most about `highWaterMark` plus one chunk in memory.
    ///
    /// **Cancellation.** Cancelling the task waiting for the next chunk aborts the transfer and the
    /// loop throws `CancellationError`. Leaving the loop early (`break`, a thrown error) aborts the
    /// transfer too, when the iterator is released.
    ///
    /// Iterate it where the response came from: in `@ReactorActor` code or in an actor whose executor
    /// is a `ReactorExecutor` on the response's reactor.
    ///
    /// ```swift
    /// let response = try await agent.request("GET", url).value
    /// for try await chunk in response.body {
    ///     try file.write(chunk)
    /// }
    /// ```
    ///
    /// Twisted has no such sequence; it is `deliverBody` with a protocol that pauses its transport.
    public var body: ResponseBodyStream {
        ResponseBodyStream(response: self, highWaterMark: ResponseBodyStream.defaultHighWaterMark)
    }
}

/// The chunks of a response's body (see `Response.body`). Single pass: one iterator per response.
public struct ResponseBodyStream: AsyncSequence {
    public typealias Element = [UInt8]
    public typealias Failure = any Error

    /// 64 KiB.
    public static let defaultHighWaterMark = 64 * 1024

    let response: Response
    /// Bytes held for the loop before the transfer is paused.
    public let highWaterMark: Int

    /// The same body with another limit of held bytes (at least 1).
    public func buffering(upTo highWaterMark: Int) -> ResponseBodyStream {
        precondition(highWaterMark >= 1, "ResponseBodyStream.buffering(upTo:): the limit must be at least 1 byte")
        return ResponseBodyStream(response: response, highWaterMark: highWaterMark)
    }

    /// Starts delivering the body. A second iterator (or `deliverBody` before or after) is a
    /// programmer error.
    public func makeAsyncIterator() -> Iterator {
        let reader = BodyReader(highWaterMark: highWaterMark)
        response.deliverBody(reader)
        return Iterator(reading: Reading(reader))
    }

    /// Reads the body's chunks; made by `makeAsyncIterator()`, one per response.
    public struct Iterator: AsyncIteratorProtocol {
        let reading: Reading

        /// The next chunk, nil at the end (see `Response.body`).
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> [UInt8]? {
            try await reading.reader.next()
        }

        public nonisolated(nonsending) mutating func next() async throws -> [UInt8]? {
            try await reading.reader.next()
        }
    }

    /// Owned by the iterator (and its copies): when the last one goes, an unfinished transfer is
    /// aborted.
    final class Reading {
        let reader: BodyReader
        init(_ reader: BodyReader) { self.reader = reader }
        deinit { reader.abandon() }
    }
}

/// The protocol a body is delivered to when it is iterated: holds chunks until the loop takes them,
/// pausing the transfer when too many bytes are held.
final class BodyReader: Protocol {
    enum State {
        case streaming
        /// The body ended: nil when complete, else the failure to throw.
        case ended(Deferreds.Failure?)
        /// The reader gave up (cancelled, abandoned, or after the end was reported).
        case closed
    }

    let highWaterMark: Int
    private(set) var state = State.streaming
    private var held = HeldChunks()
    /// Bytes held for the loop.
    var heldBytes: Int { held.byteCount }
    /// Whether this reader paused the transfer.
    private(set) var pausedTransfer = false
    /// Fired when a chunk or the end arrives while the loop waits.
    private var wakeup: Deferred<Void>?
    /// Told of every pause (true) and resume (false) of the transfer; for tests.
    var onBackPressure: ((Bool) -> Void)?
    /// Fired when the body has ended, however it ended; for tests.
    let ended = Deferred<Void>()

    init(highWaterMark: Int) {
        self.highWaterMark = highWaterMark
    }

    override func dataReceived(_ bytes: [UInt8]) {
        guard case .streaming = state, !bytes.isEmpty else { return }
        held.append(bytes)
        if heldBytes >= highWaterMark && !pausedTransfer {
            pausedTransfer = true
            transport?.pauseProducing()
            onBackPressure?(true)
        }
        wake()
    }

    override func connectionLost(_ reason: Deferreds.Failure) {
        if case .streaming = state {
            state = .ended(reason.check(ResponseDone.self) != nil ? nil : reason)
        }
        wake()
        if !ended.called { ended.callback(()) }
    }

    /// The next chunk, nil at the end; throws the body's failure, or `CancellationError`.
    nonisolated(nonsending) func next() async throws -> [UInt8]? {
        while true {
            if let chunk = held.popFirst() { return chunk }
            switch state {
            case .streaming:
                if pausedTransfer {
                    pausedTransfer = false
                    transport?.resumeProducing()
                    onBackPressure?(false)
                    continue  // resuming may have delivered a chunk at once
                }
                let arrival = Deferred<Void> { [unowned self] _ in abort() }
                wakeup = arrival
                try await arrival.value
            case .ended(let failure):
                state = .closed
                if let failure { throw failure }
                return nil
            case .closed:
                return nil
            }
        }
    }

    private func wake() {
        guard let waiting = wakeup else { return }
        wakeup = nil
        waiting.callback(())
    }

    /// The loop's task was cancelled while it waited: stop the transfer.
    private func abort() {
        wakeup = nil
        state = .closed
        held.removeAll()
        transport?.stopProducing()
    }

    /// The iterator is gone: stop the transfer if the body is still coming.
    func abandon() {
        guard case .streaming = state else {
            state = .closed
            return
        }
        abort()
    }
}
