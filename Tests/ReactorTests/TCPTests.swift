import Deferreds
import Glibc
import Synchronization
import TestSupport
import Testing

@testable import Reactor

@Suite struct TCPTests {
    @Test func echoOverLoopback() throws {
        // When a client writes to an echo server, it receives the same bytes back, and a clean close
        // ends both sides with ConnectionDone.
        let client = RecordingProtocol()
        var serverLost: Failure?
        try withReactor { reactor in
            let port = try reactor.listenTCP(0, Factory.forProtocol {
                let echo = RecordingProtocol()
                echo.onData = { $0.transport?.write($0.received); $0.received = [] }
                echo.onLost = { serverLost = $0.lostReason }
                return echo
            })
            #expect(port.getHost().port > 0)
            client.onData = { p in if p.received.count == 5 { p.transport?.loseConnection() } }
            client.onLost = { _ in reactor.callLater(0.01) { reactor.stop() } }
            _ = connectProtocol(reactor, host: "127.0.0.1", port: port.getHost().port, client).addCallback { p in
                p.transport?.write(Array("hello".utf8))
            }
        }
        #expect(client.made)
        #expect(client.received == Array("hello".utf8))
        #expect(client.lostReason?.check(ConnectionDone.self) != nil)
        #expect(serverLost?.check(ConnectionDone.self) != nil)
    }

    @Test func echoOverIPv6Loopback() throws {
        // When the server listens on ::1, a client connecting to ::1 gets its echo and IPv6 addresses.
        let client = RecordingProtocol()
        var peer: Address?
        try withReactor { reactor in
            let port = try reactor.listenTCP(0, Factory.forProtocol { EchoProtocol() }, interface: "::1")
            client.onData = { p in
                peer = p.transport?.getPeer()
                p.transport?.loseConnection()
            }
            client.onLost = { _ in reactor.stop() }
            _ = connectProtocol(reactor, host: "::1", port: port.getHost().port, client).addCallback { p in
                p.transport?.write([1, 2, 3])
            }
        }
        #expect(client.received == [1, 2, 3])
        #expect(peer?.family == .ipv6)
        #expect(peer?.host == "::1")
    }

    @Test func aHundredConcurrentClientsAllGetTheirOwnEcho() throws {
        // When 100 clients connect at once, each receives exactly what it sent.
        let count = 100
        var results: [Int: [UInt8]] = [:]
        try withReactor(limit: 30) { reactor in
            let port = try reactor.listenTCP(0, Factory.forProtocol { EchoProtocol() })
            for index in 0..<count {
                let message = Array("client \(index)".utf8)
                let client = RecordingProtocol()
                client.onData = { p in
                    if p.received.count == message.count { p.transport?.loseConnection() }
                }
                client.onLost = { p in
                    results[index] = p.received
                    if results.count == count { reactor.stop() }
                }
                _ = connectProtocol(reactor, host: "127.0.0.1", port: port.getHost().port, client).addCallback { p in
                    p.transport?.write(message)
                }
            }
        }
        #expect(results.count == count)
        for index in 0..<count { #expect(results[index] == Array("client \(index)".utf8)) }
    }

    @Test func connectingToAClosedPortFailsWithConnectionRefused() throws {
        // When nothing listens on the port, the connection fails with ConnectionRefusedError.
        var failure: Failure?
        try withReactor { reactor in
            let port = try reactor.listenTCP(0, Factory.forProtocol { EchoProtocol() })
            let number = port.getHost().port
            _ = port.stopListening().addCallback { _ in
                connectProtocol(reactor, host: "127.0.0.1", port: number, RecordingProtocol())
                    .addErrback { f -> RecordingProtocol in
                        failure = f
                        reactor.stop()
                        return RecordingProtocol()
                    }
            }
        }
        #expect(failure?.check(ConnectionRefusedError.self) != nil)
    }

    @Test func connectTimesOutAgainstAFullAcceptQueue() throws {
        // When the listener's accept queue is full, SYNs are dropped and the connect times out
        // with ConnectTimeoutError.
        let listener = UnservedListener()
        let port = listener.port
        var failure: Failure?
        var started = 0.0
        var elapsed = 0.0
        try withReactor { reactor in
            reactor.callLater(0.2) {
                started = reactor.seconds()
                connectProtocol(reactor, host: "127.0.0.1", port: port, RecordingProtocol(), timeout: 0.5)
                    .addErrback { f -> RecordingProtocol in
                        failure = f
                        elapsed = reactor.seconds() - started
                        reactor.stop()
                        return RecordingProtocol()
                    }
            }
        }
        #expect(failure?.check(ConnectTimeoutError.self) != nil)
        #expect(elapsed >= 0.45)
    }

    @Test func resolvingLocalhostConnects() throws {
        // When the host is a name, it is resolved off the reactor's thread and the connection made.
        let client = RecordingProtocol()
        try withReactor { reactor in
            let port = try reactor.listenTCP(0, Factory.forProtocol { EchoProtocol() })
            client.onData = { $0.transport?.loseConnection() }
            client.onLost = { _ in reactor.stop() }
            connectProtocol(reactor, host: "localhost", port: port.getHost().port, client).addCallback { p in
                p.transport?.write([42])
            }.addErrback { (f: Failure) -> Void in
                Issue.record("connecting to localhost failed: \(f)")
                reactor.stop()
            }
        }
        #expect(client.received == [42])
    }

    @Test func abortConnectionResetsThePeer() throws {
        // When a side aborts, it gets ConnectionAborted and the peer sees a non-clean ConnectionLost.
        var serverReason: Failure?
        let client = RecordingProtocol()
        try withReactor { reactor in
            let port = try reactor.listenTCP(0, Factory.forProtocol {
                let server = RecordingProtocol()
                server.onLost = { serverReason = $0.lostReason; reactor.stop() }
                return server
            })
            _ = connectProtocol(reactor, host: "127.0.0.1", port: port.getHost().port, client).addCallback { p in
                p.transport?.write(Array(repeating: 7, count: 1000))
                reactor.callLater(0.02) { p.transport?.abortConnection() }
            }
        }
        #expect(client.lostReason?.check(ConnectionAborted.self) != nil)
        #expect(serverReason?.check(ConnectionLost.self) != nil)
    }

    @Test func halfCloseLetsTheServerAnswerAfterTheClientFinishedSending() throws {
        // When the client shuts down its sending side, a half-closeable server still reads the end
        // of the request and can answer before closing.
        final class Summer: Protocol, HalfCloseableProtocol {
            var total = 0
            override func dataReceived(_ bytes: [UInt8]) { total += bytes.count }
            func readConnectionLost() {
                transport?.write(Array("\(total)".utf8))
                transport?.loseConnection()
            }
        }
        let client = RecordingProtocol()
        try withReactor { reactor in
            let port = try reactor.listenTCP(0, Factory.forProtocol { Summer() })
            client.onLost = { _ in reactor.stop() }
            _ = connectProtocol(reactor, host: "127.0.0.1", port: port.getHost().port, client).addCallback { p in
                p.transport?.write(Array(repeating: 1, count: 3000))
                p.transport?.loseWriteConnection()
            }
        }
        #expect(String(decoding: client.received, as: UTF8.self) == "3000")
        #expect(client.lostReason?.check(ConnectionDone.self) != nil)
    }

    @Test func everyByteArrivesInOrderThroughSmallAndLargeReads() throws {
        // When a server sends a few small writes, then 4 MiB at once (reads fill the buffer, and
        // are made straight into the arrays handed over), then small writes again, the client gets
        // exactly the bytes sent, in order, and some of its reads were 32 KiB or more.
        func pattern(_ range: Range<Int>) -> [UInt8] { range.map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) } }
        final class Collector: Protocol {
            var bytes: [UInt8] = []
            var largeReads = 0
            let expected: Int
            let done: () -> Void
            init(expected: Int, done: @escaping () -> Void) {
                self.expected = expected
                self.done = done
            }
            override func dataReceived(_ chunk: [UInt8]) {
                bytes += chunk
                if chunk.count >= 32 * 1024 { largeReads += 1 }
                if bytes.count == expected { done() }
            }
        }
        let sizes = [1, 100, 3000, 4 * 1024 * 1024, 7, 2000, 65_536, 5]
        let total = sizes.reduce(0, +)
        var collector: Collector?
        try withReactor(limit: 30) { reactor in
            final class Sender: Protocol {
                let chunks: [[UInt8]]
                init(_ chunks: [[UInt8]]) { self.chunks = chunks }
                override func connectionMade() {
                    for chunk in chunks { transport?.write(chunk) }
                    transport?.loseConnection()
                }
            }
            var offset = 0
            let chunks = sizes.map { size -> [UInt8] in
                defer { offset += size }
                return pattern(offset..<(offset + size))
            }
            let port = try reactor.listenTCP(0, Factory.forProtocol { Sender(chunks) })
            let receiver = Collector(expected: total) { reactor.stop() }
            collector = receiver
            _ = connectProtocol(reactor, host: "127.0.0.1", port: port.getHost().port, receiver)
        }
        #expect(collector?.bytes.count == total)
        #expect(collector?.bytes == pattern(0..<total))
        #expect((collector?.largeReads ?? 0) > 0)
    }

    @Test func aPausedProducerMovesAHundredMegabytesWithBoundedBuffering() throws {
        // When a streaming producer writes 100 MB to a slow reader, the transport pauses it above
        // the high-water mark, so the write buffer never holds more than a little over that mark.
        final class Pump: PushProducer {
            let transport: any Transport
            let chunk = [UInt8](repeating: 0xAB, count: 64 * 1024)
            var remaining: Int
            var paused = false
            var pauses = 0
            var maxBuffered = 0
            let buffered: () -> Int
            init(_ transport: any Transport, total: Int, buffered: @escaping () -> Int) {
                self.transport = transport
                self.remaining = total
                self.buffered = buffered
            }
            func pump() {
                while !paused && remaining > 0 {
                    let size = min(chunk.count, remaining)
                    transport.write(size == chunk.count ? chunk : Array(chunk[0..<size]))
                    remaining -= size
                    maxBuffered = max(maxBuffered, buffered())
                }
                if remaining == 0 {
                    transport.unregisterProducer()
                    transport.loseConnection()
                }
            }
            func pauseProducing() { paused = true; pauses += 1 }
            func resumeProducing() { paused = false; pump() }
            func stopProducing() { remaining = 0 }
        }
        final class Counter: Protocol {
            let clock: any ReactorTime
            var count = 0
            var reads = 0
            init(clock: any ReactorTime) { self.clock = clock }
            override func dataReceived(_ bytes: [UInt8]) {
                count += bytes.count
                reads += 1
                // Read slowly: every 16 reads, stop reading for a millisecond.
                if reads % 16 == 0, let transport {
                    transport.pauseProducing()
                    clock.callLater(0.001) { transport.resumeProducing() }
                }
            }
        }
        let total = 100 * 1024 * 1024
        var counter: Counter?
        var pump: Pump?
        try withReactor(limit: 60) { reactor in
            let receiver = Counter(clock: reactor)
            counter = receiver
            let port = try reactor.listenTCP(0, Factory.forProtocol { receiver })
            let sender = RecordingProtocol()
            _ = connectProtocol(reactor, host: "127.0.0.1", port: port.getHost().port, sender).addCallback { p in
                let connection = p.transport as! TCPConnection
                let producer = Pump(connection, total: total) { connection.bufferedBytes }
                pump = producer
                connection.registerProducer(producer, streaming: true)
                producer.pump()
            }
            func check() {
                if receiver.count >= total { reactor.stop() } else { reactor.callLater(0.01, check) }
            }
            check()
        }
        #expect(counter?.count == total)
        #expect((pump?.pauses ?? 0) > 0)
        #expect((pump?.maxBuffered ?? .max) <= 64 * 1024 + 64 * 1024)
    }

    @Test func stopListeningClosesThePortButNotItsConnections() throws {
        // When the port stops listening, new connections are refused but an accepted one goes on.
        let client = RecordingProtocol()
        var secondFailure: Failure?
        try withReactor { reactor in
            let port = try reactor.listenTCP(0, Factory.forProtocol { EchoProtocol() })
            let number = port.getHost().port
            _ = connectProtocol(reactor, host: "127.0.0.1", port: number, client).addCallback { p in
                port.stopListening().addCallback { _ in
                    p.transport?.write([9])
                    connectProtocol(reactor, host: "127.0.0.1", port: number, RecordingProtocol())
                        .addErrback { f -> RecordingProtocol in
                            secondFailure = f
                            return RecordingProtocol()
                        }
                }
            }
            client.onData = { $0.transport?.loseConnection() }
            client.onLost = { _ in reactor.callLater(0.05) { reactor.stop() } }
        }
        #expect(client.received == [9])
        #expect(secondFailure?.check(ConnectionRefusedError.self) != nil)
    }

    @Test func listeningOnABadInterfaceThrowsCannotListen() throws {
        // When the interface is not a numeric address, listenTCP throws CannotListenError.
        let reactor = try EPollReactor()
        defer { reactor.close() }
        #expect(throws: CannotListenError.self) {
            try reactor.listenTCP(0, Factory.forProtocol { EchoProtocol() }, interface: "not an address")
        }
    }

    @Test func aConnectorWhoseLookupOutlivesItsReactorIsReleasedOnTheReactorThread() throws {
        // When a connection attempt is cancelled while its name lookup is still running on a
        // worker thread, the connector (and the protocol it held) is released on the reactor's
        // thread, at the latest when the reactor closes: never later, on the worker's.
        final class DeinitProbe: Protocol {
            let onDeinit: @Sendable () -> Void
            init(_ onDeinit: @escaping @Sendable () -> Void) { self.onDeinit = onDeinit }
            deinit { onDeinit() }
        }
        let testThread = UInt(pthread_self())
        let releases = Mutex<[Bool]>([])  // per release: on the test's (the reactor's) thread
        try withReactor { reactor in
            reactor.callWhenRunning {
                let probe = DeinitProbe { releases.withLock { $0.append(UInt(pthread_self()) == testThread) } }
                let d = connectProtocol(reactor, host: "localhost", port: 9, probe)
                d.addErrback { _ -> DeinitProbe in DeinitProbe {} }
                d.cancel()
                reactor.stop()
            }
        }
        #expect(releases.withLock { $0 } == [true])
    }

    @Test func cancellingConnectProtocolStopsTheAttempt() throws {
        // When the deferred of connectProtocol is cancelled while connecting, it fails with
        // ConnectingCancelledError.
        var failure: Failure?
        try withReactor { reactor in
            reactor.callWhenRunning {
                let d = connectProtocol(reactor, host: "localhost", port: 9, RecordingProtocol())
                d.addErrback { f -> RecordingProtocol in
                    failure = f
                    reactor.stop()
                    return RecordingProtocol()
                }
                d.cancel()
            }
        }
        #expect(failure?.check(ConnectingCancelledError.self) != nil)
    }

    @Test func stoppingTheReactorClosesAPausedConnectionToo() throws {
        // When the reactor stops while a connection's reading is paused (so epoll does not watch it),
        // its protocol still gets connectionLost and its socket is closed.
        final class Pauser: Protocol {
            var lost: Failure?
            override func connectionMade() { transport?.pauseProducing() }
            override func connectionLost(_ reason: Failure) { lost = reason }
        }
        let pauser = Pauser()
        try withReactor { reactor in
            let port = try reactor.listenTCP(0, Factory.forProtocol { pauser })
            _ = connectProtocol(reactor, host: "127.0.0.1", port: port.getHost().port, Protocol())
                .addCallback { _ in reactor.callLater(0.05) { reactor.stop() } }
        }
        #expect(pauser.lost?.check(ConnectionLost.self) != nil)
        #expect(pauser.transport == nil)
    }
}
