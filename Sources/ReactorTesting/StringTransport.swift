import Deferreds
import Reactor

/// A `Transport` that sends nothing anywhere: it keeps what the protocol writes and records how it
/// is closed and paused, so a test drives a protocol by hand, byte by byte, without a socket.
///
/// Writes collect in `written` (in order, as one byte array) until the transport is closing:
/// after `loseConnection()`, `abortConnection()` or `loseWriteConnection()` they are ignored, as a
/// real transport ignores them. Nothing calls the protocol's `connectionLost`: the test does, with
/// the reason it wants to test.
///
/// The transport is two producers at once, as a TCP connection is: it *is* the producer of the
/// incoming bytes (the protocol's `pauseProducing()` and friends land in `producerState`), and it
/// *holds* the producer of outgoing bytes the protocol registered (`registerProducer`), which the
/// test pauses and resumes with `pauseRegisteredProducer()` and `resumeRegisteredProducer()` as a
/// full or drained write buffer would.
///
/// ```swift
/// let transport = StringTransport()
/// let channel = MyProtocol()
/// channel.makeConnection(transport)
/// channel.dataReceived(Array("PING\r\n".utf8))
/// #expect(transport.value() == Array("PONG\r\n".utf8))
/// ```
///
/// Twisted: `twisted.internet.testing.StringTransport` (formerly `proto_helpers`). Differences:
/// writes after closing are ignored (this package's `Transport` contract), and registering a
/// second producer traps, as Twisted raises.
public final class StringTransport: Transport {
    /// How far the connection has been closed.
    public enum Connection: Equatable, Sendable {
        /// Open both ways.
        case open
        /// `loseWriteConnection()` was called: our side is shut after the buffer; reading goes on.
        case writeShut
        /// `loseConnection()` was called: close after the buffer is sent.
        case losing
        /// `abortConnection()` was called: closed at once, the unsent bytes dropped.
        case aborted
    }

    /// What the transport was last told as a producer of incoming bytes.
    public enum ProducerState: Equatable, Sendable {
        case producing, paused, stopped
    }

    /// Every byte written while the transport was open, in order.
    public private(set) var written: [UInt8] = []
    /// How far the connection has been closed (`.open` until the protocol closes it).
    public private(set) var connection = Connection.open
    /// Whether the protocol paused, resumed or stopped its incoming bytes.
    public private(set) var producerState = ProducerState.producing
    /// The producer the protocol registered for its outgoing bytes, until it unregisters it.
    public private(set) var producer: (any PushProducer)?
    /// Whether that producer is a streaming one (see `Transport.registerProducer`).
    public private(set) var streaming = false
    /// How many times `write` and `writeSequence` were given bytes (a protocol that writes a
    /// response in one call shows 1).
    public private(set) var writeCount = 0

    /// The address `getPeer()` reports.
    public let peer: Address
    /// The address `getHost()` reports.
    public let host: Address

    /// - Parameters:
    ///   - peer: the remote end (default 192.0.2.1:54321, a documentation address).
    ///   - host: the local end (default 10.0.0.1:80).
    public init(
        peer: Address = Address(family: .ipv4, host: "192.0.2.1", port: 54321),
        host: Address = Address(family: .ipv4, host: "10.0.0.1", port: 80)
    ) {
        self.peer = peer
        self.host = host
    }

    /// The bytes written so far. Twisted: `StringTransport.value()`.
    public func value() -> [UInt8] { written }

    /// The bytes written so far, decoded as UTF-8 (for readable expectations).
    public func text() -> String { String(decoding: written, as: UTF8.self) }

    /// Forgets the bytes written so far. Twisted: `StringTransport.clear()`.
    public func clear() { written = [] }

    /// Whether `loseConnection()` or `abortConnection()` was called. Twisted: `disconnecting`.
    public var disconnecting: Bool { connection == .losing || connection == .aborted }

    // MARK: - Transport

    public func write(_ bytes: [UInt8]) {
        guard connection == .open else { return }
        written += bytes
        writeCount += 1
    }

    public func writeSequence(_ chunks: [[UInt8]]) {
        guard connection == .open else { return }
        for chunk in chunks { written += chunk }
        writeCount += 1
    }

    public func loseConnection() {
        if connection != .aborted { connection = .losing }
    }

    public func abortConnection() {
        connection = .aborted
    }

    public func loseWriteConnection() {
        if connection == .open { connection = .writeShut }
    }

    public func getPeer() -> Address { peer }

    public func getHost() -> Address { host }

    /// Holds `producer`. A second registration without `unregisterProducer()` first is a
    /// programmer error and traps.
    public func registerProducer(_ producer: any PushProducer, streaming: Bool) {
        precondition(
            self.producer == nil,
            "StringTransport.registerProducer: a producer is already registered; unregisterProducer() first")
        self.producer = producer
        self.streaming = streaming
    }

    public func unregisterProducer() {
        producer = nil
        streaming = false
    }

    // MARK: - The transport as the producer of incoming bytes

    public func pauseProducing() {
        if producerState == .producing { producerState = .paused }
    }

    public func resumeProducing() {
        if producerState == .paused { producerState = .producing }
    }

    public func stopProducing() {
        producerState = .stopped
    }

    // MARK: - Driving the registered producer

    /// Pauses the registered producer, as a write buffer over its high-water mark would.
    public func pauseRegisteredProducer() { producer?.pauseProducing() }

    /// Resumes the registered producer, as a drained write buffer would (for a non-streaming
    /// producer: asks it for more).
    public func resumeRegisteredProducer() { producer?.resumeProducing() }

    /// Stops the registered producer, as a closed connection would.
    public func stopRegisteredProducer() { producer?.stopProducing() }
}
