import CLinux
import Deferreds
import Glibc

/// A connected TCP socket on the reactor: the `Transport` a protocol writes to, and the reader
/// and writer the reactor drives.
final class TCPConnection: ReadDescriptor, WriteDescriptor, Transport, OwnedSocket {
    enum State {
        /// Reading and writing.
        case open
        /// `loseConnection()` was called: flushing the buffer, then closing.
        case disconnecting
        case closed
    }

    let reactor: EPollReactor
    private(set) var fileDescriptor: Int32
    private(set) var state = State.open
    private var protocolHandler: Protocol?
    /// Called once, after the protocol's `connectionLost`, with the same reason.
    var onClose: ((Failure) -> Void)?

    private var buffer: [[UInt8]] = []
    private var bufferHead = 0
    private var headOffset = 0
    private(set) var bufferedBytes = 0
    private var writing = false

    private var readPaused = false
    /// Whether the last read filled at least half the buffer (see `doRead`).
    private var readsAreLarge = false
    private var readShut = false
    private var writeShutPending = false
    private var writeShut = false

    private var producer: (any PushProducer)?
    private var producerStreaming = true
    private var producerPaused = false

    /// Above this many buffered bytes a streaming producer is paused; below `lowWaterMark` resumed.
    var highWaterMark = 64 * 1024
    var lowWaterMark = 16 * 1024


    /// - Parameter peer: the remote address when the caller knows it (from `accept` or the address
    ///   connected to), sparing a `getpeername`.
    init(reactor: EPollReactor, fileDescriptor: Int32, peer: Address? = nil) {
        self.reactor = reactor
        self.fileDescriptor = fileDescriptor
        self.knownPeer = peer
        var one: Int32 = 1
        setsockopt(fileDescriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Hands the connection to `handler` and starts reading.
    func start(with handler: Protocol) {
        protocolHandler = handler
        reactor.adopt(self)
        reactor.addReader(self)
        handler.makeConnection(self)
    }

    // MARK: - Reading

    func doRead() throws {
        guard state != .closed, !readShut else { return }
        let readBuffer = reactor.readBuffer
        for _ in 0..<4 {
            // Small reads go through the reactor's shared buffer and are copied out at their size;
            // while reads come back at least half full (a large body streaming in), each is read
            // straight into the array handed to the protocol, sparing a copy of every byte.
            var count = 0
            let bytes: [UInt8]
            if readsAreLarge {
                bytes = [UInt8](unsafeUninitializedCapacity: readBuffer.count) { buffer, initialized in
                    count = Glibc.read(fileDescriptor, buffer.baseAddress, buffer.count)
                    initialized = max(0, count)
                }
            } else {
                count = Glibc.read(fileDescriptor, readBuffer.baseAddress, readBuffer.count)
                bytes = count > 0 ? Array(UnsafeRawBufferPointer(rebasing: readBuffer[0..<count])) : []
            }
            if count > 0 {
                readsAreLarge = count >= readBuffer.count / 2
                protocolHandler?.dataReceived(bytes)
                // The protocol may have closed or paused us.
                guard state == .open, !readPaused, !readShut else { return }
                if count < readBuffer.count { return }
            } else if count == 0 {
                readEnded()
                return
            } else {
                switch errno {
                case EAGAIN, EWOULDBLOCK: return
                case EINTR: continue
                default:
                    close(Failure(ConnectionLost(String(cString: strerror(errno)))))
                    return
                }
            }
        }
    }

    /// The peer shut down its side.
    private func readEnded() {
        if let halfCloseable = protocolHandler as? HalfCloseableProtocol, state == .open {
            readShut = true
            reactor.removeReader(self)
            halfCloseable.readConnectionLost()
            if writeShut { close(Failure(ConnectionDone())) }
        } else {
            close(Failure(ConnectionDone()))
        }
    }

    // MARK: - Writing

    func write(_ bytes: [UInt8]) {
        guard state == .open, !writeShutPending, !writeShut, !bytes.isEmpty else { return }
        if bufferedBytes == 0 {
            let sent = send(bytes, from: 0)
            guard sent >= 0 else { return }
            if sent == bytes.count { return }
            buffer.append(bytes)
            headOffset = sent
            bufferedBytes = bytes.count - sent
        } else {
            buffer.append(bytes)
            bufferedBytes += bytes.count
        }
        startWriting()
        if let producer, producerStreaming, !producerPaused, bufferedBytes > highWaterMark {
            producerPaused = true
            producer.pauseProducing()
        }
    }

    func writeSequence(_ chunks: [[UInt8]]) {
        for chunk in chunks { write(chunk) }
    }

    /// Sends what it can of `bytes[offset...]`; -1 if the connection failed (and is closing).
    private func send(_ bytes: [UInt8], from offset: Int) -> Int {
        while true {
            let sent = bytes.withUnsafeBytes {
                Glibc.send(fileDescriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent >= 0 { return sent }
            switch errno {
            case EAGAIN, EWOULDBLOCK: return 0
            case EINTR: continue
            default:
                let reason = Failure(ConnectionLost(String(cString: strerror(errno))))
                // Report from the loop, not from inside the protocol's write call.
                reactor.callLater(0) { [self] in close(reason) }
                state = .disconnecting
                return -1
            }
        }
    }

    private func startWriting() {
        guard !writing, state != .closed else { return }
        writing = true
        reactor.addWriter(self)
    }

    private func stopWriting() {
        guard writing else { return }
        writing = false
        reactor.removeWriter(self)
    }

    func doWrite() throws {
        guard state != .closed else { return }
        while bufferHead < buffer.count {
            let chunk = buffer[bufferHead]
            let sent = send(chunk, from: headOffset)
            if sent < 0 { return }
            bufferedBytes -= sent
            headOffset += sent
            if headOffset < chunk.count { break }
            buffer[bufferHead] = []
            bufferHead += 1
            headOffset = 0
        }
        if bufferHead == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            bufferHead = 0
        } else if bufferHead > 64 && bufferHead * 2 > buffer.count {
            buffer.removeFirst(bufferHead)
            bufferHead = 0
        }
        if let producer, producerPaused, bufferedBytes <= lowWaterMark {
            producerPaused = false
            producer.resumeProducing()
        }
        guard bufferedBytes == 0 else { return }
        stopWriting()
        if let producer, !producerStreaming { producer.resumeProducing() }
        if state == .disconnecting {
            close(Failure(ConnectionDone()))
        } else if writeShutPending {
            writeShutPending = false
            writeShut = true
            shutdown(fileDescriptor, Int32(SHUT_WR))
            (protocolHandler as? HalfCloseableProtocol)?.writeConnectionLost()
            if readShut { close(Failure(ConnectionDone())) }
        }
    }

    // MARK: - Closing

    func loseConnection() {
        guard state == .open else { return }
        state = .disconnecting
        stopReadingNow()
        if bufferedBytes == 0 {
            reactor.callLater(0) { [self] in close(Failure(ConnectionDone())) }
        }
    }

    func loseWriteConnection() {
        guard state == .open, !writeShutPending, !writeShut else { return }
        writeShutPending = true
        if bufferedBytes == 0 {
            startWriting()
        }
    }

    func abortConnection() {
        guard state != .closed else { return }
        state = .disconnecting
        stopReadingNow()
        stopWriting()
        // A zero linger time makes close() send a reset instead of a FIN.
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fileDescriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        reactor.callLater(0) { [self] in close(Failure(ConnectionAborted())) }
    }

    private func stopReadingNow() {
        if !readShut && !readPaused { reactor.removeReader(self) }
    }

    /// Closes the socket and tells the protocol, once.
    func close(_ reason: Failure) {
        guard state != .closed else { return }
        state = .closed
        reactor.release(self)
        reactor.removeReader(self)
        stopWriting()
        Glibc.close(fileDescriptor)
        fileDescriptor = -1
        buffer = []
        bufferedBytes = 0
        let producer = self.producer
        self.producer = nil
        producer?.stopProducing()
        let handler = protocolHandler
        protocolHandler = nil
        handler?.connectionLost(reason)
        handler?.transport = nil
        let onClose = self.onClose
        self.onClose = nil
        onClose?(reason)
    }

    func connectionLost(_ reason: Failure) {
        close(reason)
    }

    func shutDown(_ reason: Failure) {
        close(reason)
    }

    func closeSilently() {
        guard state != .closed else { return }
        state = .closed
        Glibc.close(fileDescriptor)
        fileDescriptor = -1
        buffer = []
        producer = nil
        protocolHandler?.transport = nil
        protocolHandler = nil
        onClose = nil
    }

    // MARK: - Flow control

    func pauseProducing() {
        guard !readPaused, state == .open else { return }
        readPaused = true
        if !readShut { reactor.removeReader(self) }
    }

    func resumeProducing() {
        guard readPaused, state == .open else { return }
        readPaused = false
        if !readShut { reactor.addReader(self) }
    }

    func stopProducing() {
        loseConnection()
    }

    func registerProducer(_ producer: any PushProducer, streaming: Bool) {
        precondition(self.producer == nil, "Transport.registerProducer: a producer is already registered")
        guard state != .closed else {
            producer.stopProducing()
            return
        }
        self.producer = producer
        producerStreaming = streaming
        producerPaused = false
        if streaming {
            if bufferedBytes > highWaterMark {
                producerPaused = true
                producer.pauseProducing()
            }
        } else if bufferedBytes == 0 {
            producer.resumeProducing()
        }
    }

    func unregisterProducer() {
        producer = nil
        producerPaused = false
    }

    // MARK: - Addresses

    // Looked up on first use (most connections never ask: two system calls saved per connection)
    // and kept. The peer is usually known from the start; the local address of a connection that
    // closed before anyone asked is no longer known (port 0).
    private var knownPeer: Address?
    private var knownHost: Address?

    func getPeer() -> Address {
        if let knownPeer { return knownPeer }
        let peer = fileDescriptor >= 0 ? SocketAddress.peer(of: fileDescriptor).address : Address(family: .ipv4, host: "", port: 0)
        knownPeer = peer
        return peer
    }

    func getHost() -> Address {
        if let knownHost { return knownHost }
        guard fileDescriptor >= 0 else { return Address(family: getPeer().family, host: "", port: 0) }
        let host = SocketAddress.local(of: fileDescriptor).address
        knownHost = host
        return host
    }
}
