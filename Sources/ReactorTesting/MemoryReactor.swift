import Deferreds
import Reactor
import Synchronization

/// A reactor that does no I/O: it records what library code asks of it, and the test plays the
/// network and the clock by hand.
///
/// - Time is a `Clock`: nothing runs until the test calls `advance(_:)`.
/// - `listenTCP` and `connectTCP` make no sockets: each call is recorded (`tcpServers`,
///   `tcpClients`) with its factory, and the test completes a connection over a transport of its
///   choice (usually a `StringTransport`) or fails it with the typed error it wants to test.
/// - `addReader`/`addWriter` record the descriptors (`readers`, `writers`); nothing is polled.
/// - `run()` and `stop()` fire the startup and shutdown triggers at once, without a loop.
/// - `callFromThread` may be called from any thread; the queued functions run when the test calls
///   `runThreadCalls()`.
///
/// ```swift
/// let reactor = MemoryReactor()
/// let pool = MyPool(reactor)               // library code that takes the reactor's faces
/// pool.open("example.com", 80)             // → reactor.connectTCP(...)
/// let transport = StringTransport()
/// reactor.tcpClients[0].complete(with: transport)
/// #expect(transport.text().hasPrefix("GET / HTTP/1.1\r\n"))
/// ```
///
/// Like everything reactor-bound, it is used from one thread (`callFromThread` excepted).
///
/// Twisted: `twisted.internet.testing.MemoryReactor` and `MemoryReactorClock`.
public final class MemoryReactor: ReactorTime, ReactorCore, ReactorTCP, ReactorFDSet, ReactorThreads,
    ReactorAttachments
{
    /// Where the reactor is in its life.
    public enum State: Equatable, Sendable {
        /// Made, not yet `run()`.
        case idle
        /// `run()` was called (and the startup triggers have run).
        case running
        /// `stop()` was called (and the shutdown triggers have run).
        case stopped
    }

    /// The reactor's time: `advance(_:)` it to run the calls that are due.
    public let clock: Clock
    /// Where the reactor is in its life.
    public private(set) var state = State.idle
    /// Every `listenTCP` call, oldest first.
    public private(set) var tcpServers: [MemoryListeningPort] = []
    /// Every `connectTCP` call, oldest first.
    public private(set) var tcpClients: [MemoryTCPClient] = []
    private var readerTable: [Int32: any ReadDescriptor] = [:]
    private var writerTable: [Int32: any WriteDescriptor] = [:]
    private let triggers = SystemEventTriggers()
    private var attachments: [ObjectIdentifier: AnyObject] = [:]
    /// The functions queued by `callFromThread`. A `Mutex` because that method may be called from
    /// any thread; a memory reactor has no loop to wake, so it needs nothing more.
    private let threadCalls = Mutex<[@Sendable () -> Void]>([])
    private var nextEphemeralPort = 40000

    /// - Parameter clock: the time to use (a new `Clock` at 0 by default).
    public init(clock: Clock = Clock()) {
        self.clock = clock
    }

    // MARK: - ReactorTime

    public func seconds() -> Double { clock.seconds() }

    @discardableResult
    public func callLater(_ delay: Double, _ f: @escaping () -> Void) -> DelayedCall {
        clock.callLater(delay, f)
    }

    /// Moves time forward by `seconds`, running the calls due by then. Twisted: `Clock.advance`.
    public func advance(_ seconds: Double) { clock.advance(seconds) }

    // MARK: - ReactorCore

    public var running: Bool { state == .running }

    /// Fires the startup triggers and marks the reactor running; returns at once (there is no
    /// loop to turn). Calling it twice traps, as a real reactor is not restartable.
    public func run() {
        precondition(state == .idle, "MemoryReactor.run(): ReactorNotRestartable, it has already run")
        triggers.fire(.startup) { [self] in state = .running }
    }

    /// Fires the shutdown triggers (waiting for the deferreds "before" triggers return) and marks
    /// the reactor stopped. Does nothing unless it is running.
    public func stop() {
        guard state == .running else { return }
        triggers.fire(.shutdown) { [self] in state = .stopped }
    }

    public func callWhenRunning(_ f: @escaping () -> Void) {
        if state == .running {
            f()
        } else {
            _ = triggers.add(.after, .startup) { f(); return nil }
        }
    }

    @discardableResult
    public func addSystemEventTrigger(_ phase: EventPhase, _ event: SystemEvent, _ f: @escaping () -> Void)
        -> TriggerID
    {
        triggers.add(phase, event) { f(); return nil }
    }

    @discardableResult
    public func addSystemEventTrigger(
        _ phase: EventPhase, _ event: SystemEvent, _ f: @escaping () -> Deferred<Void>
    ) -> TriggerID {
        triggers.add(phase, event) { f() }
    }

    public func removeSystemEventTrigger(_ id: TriggerID) {
        triggers.remove(id)
    }

    // MARK: - ReactorAttachments

    public func attachment<T: AnyObject>(_ type: T.Type, orMake make: () -> T) -> T {
        let key = ObjectIdentifier(type)
        if let existing = attachments[key] as? T { return existing }
        let made = make()
        attachments[key] = made
        return made
    }

    // MARK: - ReactorTCP

    /// Records the call and returns a port that accepts nothing by itself: the test calls its
    /// `accept(_:)`. Port 0 gets a made-up port number (40000, 40001, …). The factory hears
    /// `startFactory()`, as on a real reactor.
    public func listenTCP(_ port: Int, _ factory: Factory, interface: String, backlog: Int) throws
        -> MemoryListeningPort
    {
        guard (0...65535).contains(port) else {
            throw CannotListenError(interface: interface, port: port, errno: 22)  // EINVAL
        }
        var number = port
        if number == 0 {
            number = nextEphemeralPort
            nextEphemeralPort += 1
        }
        let family: Address.Family = interface.contains(":") ? .ipv6 : .ipv4
        let listening = MemoryListeningPort(
            factory: factory, address: Address(family: family, host: interface, port: number), backlog: backlog)
        factory.startFactory()
        tcpServers.append(listening)
        return listening
    }

    /// Records the call and returns a connector that connects nowhere by itself: the test
    /// completes or fails it through the matching entry of `tcpClients`. The factory hears
    /// `startFactory()` and `startedConnecting(_:)`, as on a real reactor; no timeout runs.
    @discardableResult
    public func connectTCP(_ host: String, _ port: Int, _ factory: ClientFactory, timeout: Double) -> Connector {
        let connector = Connector(memoryHost: host, port: port, factory: factory, timeout: timeout)
        tcpClients.append(MemoryTCPClient(connector: connector, factory: factory))
        connector.startInMemory()
        return connector
    }

    // MARK: - ReactorFDSet

    public func addReader(_ reader: any ReadDescriptor) { readerTable[reader.fileDescriptor] = reader }

    public func addWriter(_ writer: any WriteDescriptor) { writerTable[writer.fileDescriptor] = writer }

    public func removeReader(_ reader: any ReadDescriptor) {
        if readerTable[reader.fileDescriptor] === reader { readerTable[reader.fileDescriptor] = nil }
    }

    public func removeWriter(_ writer: any WriteDescriptor) {
        if writerTable[writer.fileDescriptor] === writer { writerTable[writer.fileDescriptor] = nil }
    }

    /// The descriptors watched for reading, by descriptor number. Twisted: `getReaders()`.
    public var readers: [any ReadDescriptor] { readerTable.keys.sorted().map { readerTable[$0]! } }

    /// The descriptors watched for writing, by descriptor number. Twisted: `getWriters()`.
    public var writers: [any WriteDescriptor] { writerTable.keys.sorted().map { writerTable[$0]! } }

    // MARK: - ReactorThreads

    /// Queues `f` for `runThreadCalls()`. Safe from any thread.
    public func callFromThread(_ f: @escaping @Sendable () -> Void) {
        threadCalls.withLock { $0.append(f) }
    }

    /// Runs the functions queued by `callFromThread` so far, oldest first (those they queue wait
    /// for the next call).
    public func runThreadCalls() {
        let calls = threadCalls.withLock { queued in
            let taken = queued
            queued = []
            return taken
        }
        for call in calls { call() }
    }
}
