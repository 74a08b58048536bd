import Deferreds
import Reactor

/// How a response body reaches the protocol given to `deliverBody`: a value type that takes events
/// (bytes arrived, the body ended, a protocol attached, the protocol paused or resumed) and says
/// what to do (hand these bytes over, tell `connectionLost`, pause or resume the source). Its
/// owners, the HTTP/1.1 exchange, the libcurl transfer and the content decoder, carry the actions
/// out; the machine itself calls nobody.
///
/// - Bytes that arrive before a protocol is attached, or while it is paused, are held in arrival
///   order and handed over when it can take them.
/// - The source (a socket, a libcurl transfer, a decoder's input) should pause while any byte is
///   held before a protocol is attached, and while the protocol is paused or `bufferLimit` bytes
///   or more are held.
/// - The end comes once, after every held byte; the first end reported wins. Ended with nothing
///   held, the protocol hears of it at once, even while paused.
/// - A body is given once: attaching a protocol to a machine that already has one is a
///   programmer error (`Response.deliverBody` traps first with a plainer message).
///
/// Twisted: `twisted.web._newclient.Response` (its `_state`).
struct BodyDeliveryStateMachine {
    enum State {
        /// No protocol yet; bytes are held and the source paused while any are. Twisted: INITIAL.
        case waiting
        /// No protocol yet and the body has ended with `reason`: the bytes held and then the
        /// reason go to the protocol when it is given. Twisted: DEFERRED_CLOSE.
        case waitingEnded(Failure)
        /// Delivering to `protocol`; `paused` while it has paused its transport. Twisted:
        /// CONNECTED.
        case delivering(Protocol, paused: Bool)
        /// The body ended with `reason` while bytes were still held for `protocol` (paused): they
        /// go first, then `connectionLost`. Twisted: CONNECTED, after `_bodyDataFinished` with a
        /// paused protocol (Twisted delivers at once; held bytes wait here).
        case draining(Protocol, paused: Bool, reason: Failure)
        /// `connectionLost(reason)` was told, or the body was abandoned (the response dropped
        /// unread, the pool shut down); a protocol given now hears `reason` at once. Twisted:
        /// FINISHED.
        case finished(Failure)
    }

    /// Who pauses the source.
    enum SourceControl {
        /// The machine says when (`sourceAction()` returns `.pauseSource`): a TCP transport.
        case byMachine
        /// The source pauses itself when it offers bytes that `mayHold` refuses, and reports it
        /// with `sourceRefused()`; the machine only says when to resume (libcurl's write callback).
        case bySourceItself
    }

    /// What the owner does next.
    enum Delivery {
        /// Call `protocol.dataReceived(bytes)`.
        case deliver(Protocol, [UInt8])
        /// Call `protocol.connectionLost(reason)` (the machine is now `finished`).
        case connectionLost(Protocol, Failure)
    }

    /// What the owner does to its source.
    enum SourceAction {
        case none
        case pauseSource
        case resumeSource
    }

    private(set) var state = State.waiting
    private var held = HeldChunks()
    /// Whether the source is paused now (by an action of this machine, or by itself).
    private(set) var sourcePaused = false
    /// Bytes held for a protocol before the source is paused.
    let bufferLimit: Int
    let sourceControl: SourceControl

    init(bufferLimit: Int, sourceControl: SourceControl = .byMachine) {
        self.bufferLimit = bufferLimit
        self.sourceControl = sourceControl
    }

    /// The bytes held now.
    var heldBytes: Int { held.byteCount }

    /// Whether a protocol has been attached (the body was given).
    var hasProtocol: Bool {
        switch state {
        case .delivering, .draining: return true
        case .waiting, .waitingEnded: return false
        case .finished: return false
        }
    }

    /// Whether the body has ended (reported by `ended`, told, or abandoned).
    var hasEnded: Bool {
        if case .waiting = state { return false }
        if case .delivering = state { return false }
        return true
    }

    /// Whether the protocol has paused its transport.
    var isPaused: Bool {
        switch state {
        case .delivering(_, let paused), .draining(_, let paused, _): return paused
        case .waiting, .waitingEnded, .finished: return false
        }
    }

    /// Whether bytes offered now would be held without the source having to pause first: false
    /// when the source should be paused, or the body has ended.
    var mayHold: Bool {
        switch state {
        case .waiting: return held.byteCount == 0
        case .delivering(_, let paused): return !paused && held.byteCount < bufferLimit
        case .waitingEnded, .draining, .finished: return false
        }
    }

    // MARK: - Events

    /// Bytes arrived while the body goes on. Returns the protocol when it may take them at once
    /// (attached, not paused, nothing held before them): the owner calls its `dataReceived`.
    /// Otherwise they are held (the owner then asks `sourceAction()`), or dropped once the body
    /// has ended.
    mutating func received(_ bytes: [UInt8]) -> Protocol? {
        switch state {
        case .delivering(let protocolHandler, paused: false) where held.byteCount == 0:
            return protocolHandler
        case .waiting, .delivering:
            held.append(bytes)
            return nil
        case .waitingEnded, .draining, .finished:
            return nil
        }
    }

    /// Holds `bytes`, gathering them into the last chunk held when it has room (see
    /// `HeldChunks.gather`); the owner delivers them with `nextDelivery()`. Only while `mayHold`.
    mutating func hold(gathering bytes: UnsafeRawBufferPointer, newChunk: (Int) -> [UInt8]) {
        precondition(mayHold, "Invalid state: bytes held while the source should be paused (\(state))")
        held.gather(bytes, newChunk: newChunk)
    }

    /// The source offered bytes that `mayHold` refused, and paused itself (`bySourceItself`).
    mutating func sourceRefused() {
        sourcePaused = true
    }

    /// The source was replaced by a fresh one, not paused (a request sent again on a new
    /// connection).
    mutating func sourceReplaced() {
        sourcePaused = false
    }

    /// A protocol was given the body. Returns the reason when the body had already finished (the
    /// owner then tells the protocol `connectionLost` at once); otherwise the owner goes on with
    /// `nextDelivery()`.
    mutating func attach(_ protocolHandler: Protocol) -> Failure? {
        switch state {
        case .waiting:
            state = .delivering(protocolHandler, paused: false)
            return nil
        case .waitingEnded(let reason):
            state = .draining(protocolHandler, paused: false, reason: reason)
            return nil
        case .finished(let reason):
            return reason
        case .delivering, .draining:
            preconditionFailure("Invalid state: a body is delivered once (\(state))")
        }
    }

    /// The protocol paused its transport.
    mutating func pause() {
        switch state {
        case .delivering(let protocolHandler, paused: false):
            state = .delivering(protocolHandler, paused: true)
        case .draining(let protocolHandler, paused: false, let reason):
            state = .draining(protocolHandler, paused: true, reason: reason)
        case .waiting, .waitingEnded, .delivering, .draining, .finished:
            break
        }
    }

    /// The protocol resumed its transport.
    mutating func resume() {
        switch state {
        case .delivering(let protocolHandler, paused: true):
            state = .delivering(protocolHandler, paused: false)
        case .draining(let protocolHandler, paused: true, let reason):
            state = .draining(protocolHandler, paused: false, reason: reason)
        case .waiting, .waitingEnded, .delivering, .draining, .finished:
            break
        }
    }

    /// The body ended with `reason` (`ResponseDone`, `PotentialDataLoss`, or a failure). With
    /// `discardingHeld` (a failure that ends it now) the held bytes are dropped. An end after the
    /// first is ignored.
    mutating func ended(_ reason: Failure, discardingHeld: Bool = false) {
        switch state {
        case .waiting:
            state = .waitingEnded(reason)
        case .delivering(let protocolHandler, let paused):
            state = .draining(protocolHandler, paused: paused, reason: reason)
        case .waitingEnded, .draining, .finished:
            return
        }
        if discardingHeld { held.removeAll() }
    }

    /// The body will never be given (the response was dropped unread, or its source shut down):
    /// drop what is held; a protocol given later hears `reason`, or the end already reported.
    /// Nothing is told to anyone.
    mutating func abandon(_ reason: Failure) {
        switch state {
        case .waiting:
            state = .finished(reason)
        case .waitingEnded(let ending), .draining(_, _, let ending):
            state = .finished(ending)
        case .delivering:
            state = .finished(reason)
        case .finished:
            break
        }
        held.removeAll()
        sourcePaused = false
    }

    // MARK: - Actions

    /// The next thing to tell the protocol, if any: held bytes while it is not paused, then the
    /// end once nothing is held. Call it until it returns nil (a protocol's calls in between, such
    /// as a pause, are taken into account).
    mutating func nextDelivery() -> Delivery? {
        switch state {
        case .delivering(let protocolHandler, paused: false):
            guard let chunk = held.popFirst() else { return nil }
            return .deliver(protocolHandler, chunk)
        case .draining(let protocolHandler, let paused, let reason):
            if !paused, let chunk = held.popFirst() { return .deliver(protocolHandler, chunk) }
            guard held.byteCount == 0 else { return nil }
            state = .finished(reason)
            sourcePaused = false
            return .connectionLost(protocolHandler, reason)
        case .waiting, .waitingEnded, .delivering, .finished:
            return nil
        }
    }

    /// Whether the source should be paused or resumed now; the machine takes it as done.
    mutating func sourceAction() -> SourceAction {
        let shouldPause: Bool
        switch state {
        case .waiting: shouldPause = held.byteCount > 0
        case .delivering(_, let paused): shouldPause = paused || held.byteCount >= bufferLimit
        case .waitingEnded, .draining, .finished: shouldPause = false
        }
        if shouldPause == sourcePaused { return .none }
        switch sourceControl {
        case .byMachine:
            sourcePaused = shouldPause
            return shouldPause ? .pauseSource : .resumeSource
        case .bySourceItself:
            guard !shouldPause else { return .none }
            sourcePaused = false
            return .resumeSource
        }
    }
}
