import Deferreds
import Reactor

/// The protocol the original body is delivered to: undoes each coding in turn and forwards the
/// result to the user's protocol, whose pause, resume and stop act on the original transfer.
///
/// The layers are driven by one loop, never by one layer calling the next: each round steps the
/// layer nearest the user that can make progress, so a layer inflates only once every layer after
/// it has taken its output, and each holds at most one buffer's worth (`outputChunk`).
final class DecodingProtocol: Protocol {
    /// Where the original body stands (the decoded body's side is `delivery`).
    private enum State {
        /// Its bytes arrive.
        case decoding
        /// It ended with this reason; received bytes are still to be decoded for a paused user.
        case ending(Failure)
        /// Decoding is over: the user was told, or is being told, how the body ended.
        case finished
    }

    private static let outputChunk = 64 * 1024

    private let user: Protocol
    /// `layers[0]` undoes the last coding applied (it reads the bytes received); the last layer's
    /// output goes to the user.
    private let layers: [DecodingLayer]
    /// Held until the body ends: once the connection has finished, the response is what keeps its
    /// exchange (and the chunks it still holds for a paused protocol) alive.
    private var original: Response?
    private let response: Response?
    private var state = State.decoding
    /// Received bytes not yet taken by the first layer: `input[inputOffset...]`.
    private var input: [UInt8] = []
    private var inputOffset = 0
    /// The decoded body's way to the user: its pause, the end. Its source is the original
    /// transfer and the decoding loop: paused while the user is.
    private var delivery = BodyDeliveryStateMachine(bufferLimit: DecodingProtocol.outputChunk)
    private var draining = false
    private let maxBodyBytes: Int?
    /// Decoded bytes handed to the user so far.
    private var delivered = 0

    init(user: Protocol, codings: [ContentDecoderAgent.Coding], original: Response, response: Response?,
         maxBodyBytes: Int?) {
        self.user = user
        self.layers = codings.map { DecodingLayer(coding: $0, capacity: Self.outputChunk) }
        self.original = original
        self.response = response
        self.maxBodyBytes = maxBodyBytes
        _ = delivery.attach(user)
    }

    override func makeConnection(_ transport: any Transport) {
        super.makeConnection(transport)
        // Strong captures: while the user holds this transport, this protocol stays (to finish
        // decoding what it holds); `finish` breaks the cycle by clearing the user's transport.
        user.makeConnection(BodyTransport(
            pause: { self.userPaused() }, resume: { self.userResumed() }, stop: { self.userStopped() },
            peer: { [weak transport] in transport?.getPeer() ?? Address(family: .ipv4, host: "", port: 0) },
            host: { [weak transport] in transport?.getHost() ?? Address(family: .ipv4, host: "", port: 0) }))
    }

    override func dataReceived(_ bytes: [UInt8]) {
        guard case .decoding = state, !bytes.isEmpty else { return }
        if inputOffset == input.count {
            input = bytes
            inputOffset = 0
        } else {
            input += bytes
        }
        layers[0].starvedAt = nil
        run()
    }

    override func connectionLost(_ reason: Failure) {
        guard case .decoding = state else { return }
        if reason.check(ResponseDone.self, PotentialDataLoss.self) != nil {
            state = .ending(reason)
            run()
        } else {
            finish(reason)
        }
    }

    // MARK: Flow control

    private func userPaused() {
        guard !delivery.isPaused else { return }
        delivery.pause()
        if case .decoding = state { updateSource() }
    }

    private func userResumed() {
        guard delivery.isPaused else { return }
        delivery.resume()
        run()
    }

    /// Pauses or resumes the original transfer as the delivery says.
    private func updateSource() {
        switch delivery.sourceAction() {
        case .none: break
        case .pauseSource: transport?.pauseProducing()
        case .resumeSource: transport?.resumeProducing()
        }
    }

    private func userStopped() {
        switch state {
        case .finished:
            return
        case .decoding:
            transport?.stopProducing()   // comes back as connectionLost(ResponseFailed([ConnectionAborted]))
        case .ending:
            break
        }
        if case .finished = state { return }
        finish(Failure(CancelledError()))
    }

    /// Decodes what is held, then resumes the transfer or ends the body as the state says.
    private func run() {
        guard !draining else { return }   // the outer call goes on (a resume from dataReceived)
        draining = true
        drain()
        draining = false
        guard !delivery.isPaused else { return }
        switch state {
        case .finished:
            break
        case .ending(let reason):
            if let unfinished = layers.first(where: { $0.inflater.sawInput && !$0.inflater.complete }) {
                finish(decodingFailure(ContentDecodingError(
                    coding: unfinished.inflater.coding.rawValue,
                    message: "the compressed data ended before its end marker")))
            } else {
                finish(reason)
            }
        case .decoding:
            updateSource()
        }
    }

    /// Steps the layers until none can go on (they need more input, or all is decoded), the user
    /// pauses, or the body ends. Each step hands at most `outputChunk` bytes on.
    private func drain() {
        while !delivery.isPaused {
            let ending: Bool
            switch state {
            case .finished: return
            case .ending: ending = true
            case .decoding: ending = false
            }
            // The layer nearest the user that can go on; `final` when no more input will reach it.
            var chosen: (index: Int, final: Bool)?
            for index in layers.indices.reversed() {
                let final = ending && !layers[..<index].indices.contains(where: mayProduce)
                let layer = layers[index]
                guard inputCount(of: index) > 0 || layer.inflater.hasPendingOutput else { continue }
                if let starved = layer.starvedAt, starved || !final { continue }
                chosen = (index, final)
                break
            }
            guard let (index, final) = chosen else { break }
            do {
                try step(index, final: final)
            } catch {
                failDecoding(error)
                return
            }
        }
        if inputOffset == input.count {
            input = []
            inputOffset = 0
        }
    }

    /// Whether layer `index` may still hand bytes on (it has input it has not given up on, or
    /// output it could not yet write).
    private func mayProduce(_ index: Int) -> Bool {
        let layer = layers[index]
        return layer.inflater.hasPendingOutput || (inputCount(of: index) > 0 && layer.starvedAt != true)
    }

    /// The bytes waiting for layer `index`: received bytes for the first, the previous layer's
    /// output for the others.
    private func inputCount(of index: Int) -> Int {
        index == 0 ? input.count - inputOffset : layers[index - 1].pendingOutput
    }

    /// Inflates what waits for layer `index` into its buffer; hands the result to the next layer,
    /// or to the user from the last one.
    private func step(_ index: Int, final: Bool) throws {
        let layer = layers[index]
        let isLast = index == layers.count - 1
        if isLast {
            layer.outputStart = 0
            layer.outputEnd = 0
        } else {
            layer.compact()
        }
        let room = layer.output.count - layer.outputEnd
        guard room > 0 else {
            // A layer starves on a byte or so, never on a whole buffer: this would be a bug.
            throw ContentDecodingError(coding: layer.inflater.coding.rawValue, message: "no room to decode into")
        }
        let target = UnsafeMutableBufferPointer(rebasing: layer.output[layer.outputEnd...])
        let step: (consumed: Int, produced: Int)
        if index == 0 {
            step = try input.withUnsafeBufferPointer { bytes in
                try layer.inflater.inflate(UnsafeBufferPointer(rebasing: bytes[inputOffset...]), final: final,
                                           into: target)
            }
            inputOffset += step.consumed
        } else {
            let previous = layers[index - 1]
            step = try layer.inflater.inflate(
                UnsafeBufferPointer(rebasing: previous.output[previous.outputStart..<previous.outputEnd]),
                final: final, into: target)
            previous.outputStart += step.consumed
            if previous.outputStart == previous.outputEnd {
                previous.outputStart = 0
                previous.outputEnd = 0
            }
        }
        layer.starvedAt = step.consumed == 0 && step.produced == 0 ? final : nil
        guard step.produced > 0 else { return }
        if !isLast {
            layer.outputEnd += step.produced
            layers[index + 1].starvedAt = nil
            return
        }
        if let limit = maxBodyBytes, delivered + step.produced > limit {
            throw BodyTooLarge(limit: limit)
        }
        delivered += step.produced
        let chunk = Array(UnsafeBufferPointer(rebasing: target[..<step.produced]))
        // The loop steps only while the user is not paused: the chunk goes to it at once.
        delivery.received(chunk)?.dataReceived(chunk)
    }

    private func decodingFailure(_ error: any Error) -> Failure {
        Failure(ResponseFailed(reasons: [Failure(error)], response: response))
    }

    /// Bad data, or too much of it: stop the transfer (its connectionLost is ignored) and tell the user.
    private func failDecoding(_ error: any Error) {
        let wasDecoding: Bool
        if case .decoding = state { wasDecoding = true } else { wasDecoding = false }
        let reason = decodingFailure(error)
        state = .finished
        if wasDecoding { transport?.stopProducing() }
        finish(reason)
    }

    private func finish(_ reason: Failure) {
        state = .finished
        input = []
        inputOffset = 0
        for layer in layers { layer.inflater.close() }
        delivery.ended(reason, discardingHeld: true)
        while let next = delivery.nextDelivery() {
            if case .connectionLost(let user, let reason) = next {
                user.connectionLost(reason)
                user.transport = nil
            }
        }
        transport = nil
        original = nil
    }
}
