import Reactor

/// Sends one prepared response over a transport, with flow control, and reports how the
/// connection should go on afterwards. Faults are carried out here.
///
/// Bodies in memory are written at once (they are in memory already); a body source is pulled
/// in pieces of `pieceSize` while the transport is below its high-water mark: the writer is the
/// transport's streaming producer, paused and resumed by it.
final class ResponseWriter: PushProducer {
    /// How the connection goes on after the response.
    enum Ending {
        case keepAlive, close, stall, reset
    }

    enum State {
        case idle, delayed, streaming, dripping, finished
    }

    private let response: PreparedResponse
    private let transport: any Transport
    private let clock: any ReactorTime
    private let done: (Ending) -> Void
    private var state = State.idle
    private var source: (any ByteSource)?
    private var timer: DelayedCall?
    private var paused = false
    private var pumping = false
    private var producerRegistered = false
    /// The ending once the body is out (the fault's, or keep-alive/close).
    private var ending: Ending = .close

    static let pieceSize = 64 * 1024

    init(
        _ response: PreparedResponse, transport: any Transport, clock: any ReactorTime,
        done: @escaping (Ending) -> Void
    ) {
        self.response = response
        self.transport = transport
        self.clock = clock
        self.done = done
    }

    func start() {
        if response.delay > 0 {
            state = .delayed
            timer = clock.callLater(response.delay) { [weak self] in
                self?.timer = nil
                self?.begin()
            }
        } else {
            begin()
        }
    }

    /// The connection went away: stop timers and release the body.
    func abandon() {
        timer?.cancel()
        timer = nil
        source?.cancel()
        source = nil
        if case .source(let source) = response.body { source.cancel() }
        state = .finished
    }

    private func begin() {
        let normal: Ending = response.keepAlive ? .keepAlive : .close
        switch response.fault {
        case .none:
            ending = normal
            send(head: response.head, body: response.body)
        case .raw(let bytes, then: let faultEnding)?:
            cancelBody()
            transport.write(bytes)
            finish(faultEnding.writerEnding)
        case .interrupt(at: .beforeHead, then: let faultEnding)?:
            cancelBody()
            finish(faultEnding.writerEnding)
        case .interrupt(at: .afterBodyBytes(let count), then: let faultEnding)?:
            ending = faultEnding.writerEnding
            switch response.body {
            case .none: send(head: response.head, body: .none)
            case .bytes(let bytes): send(head: response.head, body: .bytes(Array(bytes.prefix(max(0, count)))))
            case .source(let source): send(head: response.head, body: .source(PrefixSource(source, limit: count)))
            }
        case .interrupt(at: .beforeLastChunk, then: let faultEnding)?:
            // The prepared body already lacks its last chunk.
            ending = faultEnding.writerEnding
            send(head: response.head, body: response.body)
        case .drip(let interval)?:
            ending = normal
            transport.write(response.head)
            switch response.body {
            case .none: finish(ending)
            case .bytes(let bytes): drip(BytesSource(bytes), interval: interval)
            case .source(let source): drip(source, interval: interval)
            }
        }
    }

    private func cancelBody() {
        if case .source(let source) = response.body { source.cancel() }
    }

    private func send(head: [UInt8], body: PreparedResponse.Body) {
        switch body {
        case .none:
            transport.write(head)
            finish(ending)
        case .bytes(let bytes):
            if bytes.count <= ResponseWriter.pieceSize {
                transport.write(head + bytes)
            } else {
                transport.write(head)
                transport.write(bytes)
            }
            finish(ending)
        case .source(let source):
            transport.write(head)
            self.source = source
            state = .streaming
            producerRegistered = true
            transport.registerProducer(self, streaming: true)
            pump()
        }
    }

    private func finish(_ ending: Ending) {
        guard state != .finished else { return }
        state = .finished
        if producerRegistered {
            producerRegistered = false
            transport.unregisterProducer()
        }
        var ending = ending
        if ending == .keepAlive, let source, source.endedEarly { ending = .close }
        source = nil
        if ending == .reset {
            // Reset only once what was written has reached the socket: abortConnection drops
            // the transport's buffer, and the client should see the part before the reset.
            let waiter = DrainWaiter(transport) { [done] in done(.reset) }
            transport.registerProducer(waiter, streaming: false)
        } else {
            done(ending)
        }
    }

    // MARK: - Streaming

    private func pump() {
        guard !pumping else { return }
        pumping = true
        defer { pumping = false }
        while state == .streaming && !paused {
            guard let piece = source?.next(ResponseWriter.pieceSize) else {
                finish(ending)
                return
            }
            transport.write(piece)
        }
    }

    func pauseProducing() {
        paused = true
    }

    func resumeProducing() {
        paused = false
        pump()
    }

    func stopProducing() {
        abandon()
    }

    // MARK: - Dripping

    private func drip(_ source: any ByteSource, interval: Double) {
        self.source = source
        state = .dripping
        timer = clock.callLater(interval) { [weak self] in self?.dripOne(interval: interval) }
    }

    private func dripOne(interval: Double) {
        timer = nil
        guard state == .dripping else { return }
        guard let byte = source?.next(1) else {
            finish(ending)
            return
        }
        transport.write(byte)
        timer = clock.callLater(interval) { [weak self] in self?.dripOne(interval: interval) }
    }
}

/// Calls `drained` once the transport's write buffer is empty (a non-streaming producer is
/// resumed exactly then), and unregisters itself.
private final class DrainWaiter: PushProducer {
    private let transport: any Transport
    private var drained: (() -> Void)?

    init(_ transport: any Transport, drained: @escaping () -> Void) {
        self.transport = transport
        self.drained = drained
    }

    func resumeProducing() {
        guard let drained else { return }
        self.drained = nil
        transport.unregisterProducer()
        drained()
    }

    func pauseProducing() {}

    func stopProducing() {
        drained = nil
    }
}

extension Fault.Ending {
    var writerEnding: ResponseWriter.Ending {
        switch self {
        case .stall: return .stall
        case .close: return .close
        case .reset: return .reset
        }
    }
}
