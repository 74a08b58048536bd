import CLinux
import Deferreds
import Glibc

/// A single-threaded event loop on Linux epoll: timers, file descriptors, calls from other threads,
/// system events and signals.
///
/// `run()` turns the loop until `stop()`. Each *pass* runs the functions queued by
/// `callFromThread`, then the timed calls due at the start of the pass (a `callLater(0)` made by one
/// of them waits for the next pass, as in Twisted), then polls the descriptors with `epoll_wait` —
/// waiting until the next timer is due or a descriptor is ready — and dispatches the ready ones.
/// `stop()` fires the shutdown triggers ("before" ones may return deferreds, which are awaited while
/// the loop keeps turning), drops every descriptor with `ConnectionLost`, and returns from `run()`.
///
/// A pass whose poll would not wait (a timer is already due, a thread call is queued) skips it
/// while the last poll is recent (`PollThrottle` has the rule). So while zero-delay calls chain,
/// descriptors and SIGINT/SIGTERM are polled by the first pass that starts 50 µs or more after the
/// last polling pass started, or by the 128th pass after it, whichever comes first. A pass that
/// would wait always polls, and every pass runs the thread calls, polled or not. Twisted polls on
/// every pass; here an `epoll_wait(0)` costs more than the rest of a chained pass.
///
/// Everything here runs on the thread that calls `run()`; the reactor is not `Sendable`. The one
/// thread-safe entry is `callFromThread(_:)` (or `threadQueue`, which other threads may hold).
///
/// ```swift
/// let reactor = try EPollReactor()
/// reactor.callLater(1.5) { print("tick"); reactor.stop() }
/// reactor.run()
/// reactor.close()
/// ```
///
/// Twisted: `twisted.internet.epollreactor.EPollReactor`. A stopped reactor cannot run again
/// (Twisted's `ReactorNotRestartable`); `stop()` on a reactor that is not running does nothing.
public final class EPollReactor: ReactorTime, ReactorCore, ReactorTCP, ReactorFDSet, ReactorThreads,
    ReactorAttachments
{
    enum State {
        case idle, running, stopping, stopped, closed
    }

    let poller: Poller
    /// The thread-safe queue behind `callFromThread`; hand it to other threads instead of the reactor.
    public let threadQueue: ThreadCallQueue
    private(set) var state = State.idle
    private var shutdownRequested = false
    private var startupComplete = false
    private let timers = TimerQueue(now: { 0 })
    private var descriptors = DescriptorTable()
    private let triggers = SystemEventTriggers()
    private var wakeReader: WakeReader?
    private var attachments: [ObjectIdentifier: AnyObject] = [:]
    /// Sockets the reactor owns (connections, listening ports), also while not watched (a paused
    /// connection): closed at shutdown and by `close()`.
    private var ownedSockets: [ObjectIdentifier: any OwnedSocket] = [:]
    /// What every pass reads and writes, in one stored struct: its accesses are checked, and cost
    /// nothing measurable grouped so (see `TimerQueue`'s safety budget).
    private var pass = PassState()

    private struct PassState {
        /// The latest clock reading taken by a pass or by `callLater`: the clock is monotonic, so
        /// a timer due by then is due now, and the pass's timeout needs no new reading.
        var latestReading = -Double.infinity
        var pollThrottle = PollThrottle()
    }

    /// Where the reactor reports errors it cannot hand to anyone (a descriptor that threw, a
    /// failing shutdown trigger). The default writes to standard error.
    public var logError: (_ message: String, _ failure: Failure) -> Void = { message, failure in
        let text = "\(message)\n\(failure.getTraceback())"
        _ = text.withCString { Glibc.write(2, $0, strlen($0)) }
    }

    /// Creates a reactor that is not running yet: its epoll instance and its thread queue's wake-up
    /// descriptor. SIGPIPE is ignored from now on (a write to a closed socket fails instead).
    ///
    /// - Throws: `SystemCallError` when the descriptors cannot be created.
    public init() throws {
        clinux_ignore_sigpipe()
        poller = try Poller()
        threadQueue = try ThreadCallQueue()
        let wake = WakeReader(queue: threadQueue)
        wakeReader = wake
        addReader(wake)
        triggers.logError = { [unowned self] message, failure in self.logError(message, failure) }
        timers.now = { [unowned self] in self.seconds() }
    }

    deinit {
        timers.removeAll()
        readBufferStorage?.deallocate()
    }

    private var readBufferStorage: UnsafeMutableRawBufferPointer?

    /// The one buffer every TCP connection of this reactor reads into (64 KiB, made on first use).
    /// Safe to share: the loop is single-threaded and a connection copies what it read out of it
    /// before calling its protocol. One per connection would cost 64 KiB of memory each.
    var readBuffer: UnsafeMutableRawBufferPointer {
        if let readBufferStorage { return readBufferStorage }
        let made = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        readBufferStorage = made
        return made
    }

    // MARK: - Running

    /// Runs the loop until `stop()` and every shutdown trigger have run.
    ///
    /// - Parameter installSignalHandlers: stop cleanly on SIGINT and SIGTERM (Ctrl-C) while
    ///   running; the previous handlers are restored when the last reactor that installed them
    ///   returns. Tests that run reactors in parallel pass `false`.
    public func run(installSignalHandlers: Bool = true) {
        precondition(state == .idle, "ReactorNotRestartable: this reactor has already run (or was closed)")
        state = .running
        threadQueue.adoptCurrentThread()
        if installSignalHandlers { _ = clinux_signal_wake_add(threadQueue.wakeFD) }
        defer { if installSignalHandlers { clinux_signal_wake_remove(threadQueue.wakeFD) } }
        triggers.fire(.startup) { [unowned self] in startupComplete = true }
        while state == .running || state == .stopping {
            if shutdownRequested {
                shutdownRequested = false
                triggers.fire(.shutdown) { [unowned self] in
                    disconnectAll()
                    state = .stopped
                }
                if state == .stopped { break }
            }
            let passStart = runUntilCurrent()
            guard state == .running || state == .stopping else { break }
            let timeout = nextTimeout()
            if pass.pollThrottle.shouldPoll(timeout: timeout, passStart: passStart) {
                poller.poll(timeoutMilliseconds: timeout) { fd, events in dispatch(fd, events) }
                // A signal marks itself pending before it writes the wake-up eventfd, so it is
                // seen after the poll it wakes (or an earlier one): passes without a poll need
                // not look.
                if installSignalHandlers { checkSignals() }
            }
        }
    }

    /// Starts the shutdown: the loop finishes the current pass, fires the shutdown triggers and
    /// returns from `run()`. Does nothing if the reactor is not running or already stopping.
    public func stop() {
        assertInLoop()
        guard state == .running else { return }
        state = .stopping
        shutdownRequested = true
    }

    /// Whether `run()` is turning the loop (including during shutdown).
    public var running: Bool { state == .running || state == .stopping }

    /// Runs `f` once the reactor is running: now if it is, else after the startup triggers.
    public func callWhenRunning(_ f: @escaping () -> Void) {
        assertInLoop()
        if state == .running && startupComplete {
            f()
        } else {
            _ = triggers.add(.after, .startup) { f(); return nil }
        }
    }

    /// Queues `f` to run on the reactor's thread in its next pass. The only method that may be
    /// called from another thread.
    public func callFromThread(_ f: @escaping @Sendable () -> Void) {
        threadQueue.callFromThread(f)
    }

    /// Adds a trigger for a system event. Twisted: `addSystemEventTrigger`.
    @discardableResult
    public func addSystemEventTrigger(_ phase: EventPhase, _ event: SystemEvent, _ f: @escaping () -> Void)
        -> TriggerID
    {
        assertInLoop()
        return triggers.add(phase, event) { f(); return nil }
    }

    /// Adds a trigger that returns a deferred; in the "before" phase the event waits for it.
    @discardableResult
    public func addSystemEventTrigger(
        _ phase: EventPhase, _ event: SystemEvent, _ f: @escaping () -> Deferred<Void>
    ) -> TriggerID {
        assertInLoop()
        return triggers.add(phase, event) { f() }
    }

    /// Removes a trigger added by `addSystemEventTrigger`; an unknown or already removed `id` is
    /// ignored.
    public func removeSystemEventTrigger(_ id: TriggerID) {
        assertInLoop()
        triggers.remove(id)
    }

    /// Drops every timer, trigger, queued thread call and descriptor (without calling them), so
    /// closures that capture the reactor are released. The reactor cannot be used afterwards.
    public func close() {
        timers.removeAll()
        triggers.removeAll()
        _ = threadQueue.close()
        for (fd, _) in descriptors.all {
            poller.setInterest(fd, reading: false, writing: false, wasRegistered: true)
        }
        descriptors.removeAll()
        let owned = ownedSockets.values
        ownedSockets = [:]
        for socket in owned { socket.closeSilently() }
        wakeReader = nil
        attachments = [:]
        state = .closed
    }

    /// The one object of type `T` attached to this reactor, made by `make` on first use.
    ///
    /// Lets a module keep per-reactor state (the WebAgent's shared connection pool) without a
    /// global. Attachments are released by `close()`.
    public func attachment<T: AnyObject>(_ type: T.Type, orMake make: () -> T) -> T {
        assertInLoop()
        let key = ObjectIdentifier(type)
        if let existing = attachments[key] { return existing as! T }
        let made = make()
        attachments[key] = made
        return made
    }

    // MARK: - Thread affinity

    /// Debug builds trap when a reactor method other than `callFromThread` is called off the
    /// reactor's thread once `run()` has started (the thread running it, and after it returns the
    /// thread that ran it). Before `run()` the reactor may be set up on one thread and handed to
    /// another that runs it; a closed reactor accepts any thread, so objects released late may
    /// still unregister. Release builds check nothing: `assert` is compiled out. SwiftNIO:
    /// `EventLoop.assertInEventLoop`.
    @inline(__always)
    func assertInLoop(_ function: StaticString = #function) {
        assert(mayBeCalledHere, "EPollReactor.\(function) was called off the reactor's thread: only callFromThread may be")
    }

    /// Whether the calling thread may use the reactor now (see `assertInLoop`).
    var mayBeCalledHere: Bool { threadQueue.isReactorThread || state == .idle || state == .closed }

    /// Debug builds: binds `deferred`, which this reactor fires, to the reactor's thread under the
    /// rule of `assertInLoop` (`Deferred.setThreadAffinity`): firing or cancelling it from another
    /// thread traps. Release builds do nothing.
    @inline(__always)
    func bindToLoop<V>(_ deferred: Deferred<V>) {
        #if DEBUG
        deferred.setThreadAffinity("EPollReactor") { [weak self] in self?.mayBeCalledHere ?? true }
        #endif
    }

    // MARK: - Time

    public func seconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
    }

    @discardableResult
    public func callLater(_ delay: Double, _ f: consuming @escaping () -> Void) -> DelayedCall {
        assertInLoop()
        let now = seconds()
        pass.latestReading = now
        return timers.schedule(at: now + max(0, delay), f)
    }

    /// The number of timed calls pending.
    public var pendingCallCount: Int { timers.count }

    // MARK: - Descriptors

    /// Watches `reader`'s descriptor for readability, replacing any reader it had.
    public func addReader(_ reader: any ReadDescriptor) {
        assertInLoop()
        let fd = reader.fileDescriptor
        var registration = descriptors[fd] ?? Registration()
        let wasRegistered = !registration.isEmpty
        registration.reader = reader
        descriptors[fd] = registration
        let error = poller.setInterest(fd, reading: true, writing: registration.writer != nil, wasRegistered: wasRegistered)
        if error != 0 { refuse(fd, error, lost: reader.connectionLost) }
    }

    /// Watches `writer`'s descriptor for writability, replacing any writer it had.
    public func addWriter(_ writer: any WriteDescriptor) {
        assertInLoop()
        let fd = writer.fileDescriptor
        var registration = descriptors[fd] ?? Registration()
        let wasRegistered = !registration.isEmpty
        registration.writer = writer
        descriptors[fd] = registration
        let error = poller.setInterest(fd, reading: registration.reader != nil, writing: true, wasRegistered: wasRegistered)
        if error != 0 { refuse(fd, error, lost: writer.connectionLost) }
    }

    /// epoll refused a descriptor (a regular file: EPERM; a closed one: EBADF): it is dropped and
    /// its handler told, on the next pass, with the error — never a silent registration that
    /// never fires.
    private func refuse(_ fd: Int32, _ error: Int32, lost: @escaping (Failure) -> Void) {
        descriptors[fd] = nil
        let failure = Failure(SystemCallError(call: "epoll_ctl(\(fd))", errno: error))
        callLater(0) { lost(failure) }
    }

    /// Stops watching `reader` (if it is the descriptor's reader).
    public func removeReader(_ reader: any ReadDescriptor) {
        assertInLoop()
        let fd = reader.fileDescriptor
        guard var registration = descriptors[fd], registration.reader === reader else { return }
        registration.reader = nil
        descriptors[fd] = registration
        poller.setInterest(fd, reading: false, writing: registration.writer != nil, wasRegistered: true)
    }

    /// Stops watching `writer` (if it is the descriptor's writer).
    public func removeWriter(_ writer: any WriteDescriptor) {
        assertInLoop()
        let fd = writer.fileDescriptor
        guard var registration = descriptors[fd], registration.writer === writer else { return }
        registration.writer = nil
        descriptors[fd] = registration
        poller.setInterest(fd, reading: registration.reader != nil, writing: false, wasRegistered: true)
    }

    /// The number of descriptors watched, not counting the reactor's own wake-up descriptor.
    public var watchedDescriptorCount: Int { descriptors.count - (wakeReader == nil ? 0 : 1) }

    // MARK: - The loop's steps

    /// Runs the queued thread calls, then the timed calls due now and scheduled before now.
    ///
    /// - Returns: the time the timed calls were compared with (the pass's start).
    @inline(__always)
    private func runUntilCurrent() -> Double {
        threadQueue.runAll()
        let now = seconds()
        pass.latestReading = now
        let mark = timers.sequenceMark
        while let call = timers.popDue(at: now, scheduledBefore: mark) {
            call.takeForRunning()?()
        }
        timers.endPass()
        return now
    }

    @inline(__always)
    private func nextTimeout() -> Int32 {
        if shutdownRequested || !threadQueue.isEmpty { return 0 }
        guard let earliest = timers.earliestTime else { return -1 }
        if earliest <= pass.latestReading { return 0 }
        let milliseconds = ((earliest - seconds()) * 1000).rounded(.up)
        if milliseconds <= 0 { return 0 }
        return milliseconds >= Double(Int32.max) ? Int32.max : Int32(milliseconds)
    }

    private func dispatch(_ fd: Int32, _ events: UInt32) {
        let errorOrHangUp = EPOLLERR.rawValue | EPOLLHUP.rawValue
        if events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | errorOrHangUp) != 0,
            let reader = descriptors[fd]?.reader
        {
            do { try reader.doRead() } catch {
                fail(fd, error, lost: reader.connectionLost)
                return
            }
        }
        if events & (EPOLLOUT.rawValue | errorOrHangUp) != 0, let writer = descriptors[fd]?.writer {
            do { try writer.doWrite() } catch {
                fail(fd, error, lost: writer.connectionLost)
            }
        }
    }

    /// Removes a descriptor whose handler threw, reports the error and tells the handler.
    private func fail(_ fd: Int32, _ error: any Error, lost: (Failure) -> Void) {
        if descriptors[fd] != nil {
            descriptors[fd] = nil
            poller.setInterest(fd, reading: false, writing: false, wasRegistered: true)
        }
        let failure = Failure(error)
        logError("Unhandled error in a descriptor's handler (descriptor \(fd) removed):", failure)
        lost(failure)
    }

    func adopt(_ socket: any OwnedSocket) {
        ownedSockets[ObjectIdentifier(socket)] = socket
    }

    func release(_ socket: any OwnedSocket) {
        ownedSockets[ObjectIdentifier(socket)] = nil
    }

    /// At shutdown: drops every descriptor and tells each it lost its connection.
    private func disconnectAll() {
        let owned = ownedSockets.values
        ownedSockets = [:]
        for socket in owned { socket.shutDown(Failure(ConnectionLost("the reactor stopped"))) }
        let all = descriptors.all
        for (fd, registration) in all where registration.reader !== wakeReader {
            descriptors[fd] = nil
            poller.setInterest(fd, reading: false, writing: false, wasRegistered: true)
        }
        let reason = Failure(ConnectionLost("the reactor stopped"))
        for (_, registration) in all where registration.reader !== wakeReader {
            registration.reader?.connectionLost(reason)
            if let writer = registration.writer, writer !== registration.reader { writer.connectionLost(reason) }
        }
    }

    private func checkSignals() {
        let pending = clinux_signal_take_pending(threadQueue.wakeFD)
        if pending & (1 << UInt(SIGINT) | 1 << UInt(SIGTERM)) != 0 { stop() }
    }
}

/// Drains the thread queue's eventfd so that `epoll_wait` can sleep again.
private final class WakeReader: ReadDescriptor {
    let queue: ThreadCallQueue
    init(queue: ThreadCallQueue) { self.queue = queue }
    var fileDescriptor: Int32 { queue.wakeFD }
    func doRead() { queue.drainWakeups() }
    func connectionLost(_ reason: Failure) {}
}

/// A socket the reactor owns: it shuts it down when stopping and closes it when closed.
protocol OwnedSocket: AnyObject {
    /// Closes the socket and tells its owner (the protocol, the factory) with `reason`.
    func shutDown(_ reason: Failure)
    /// Closes the socket and lets go of everything, telling no one (the reactor is being closed).
    func closeSilently()
}

/// `EPollReactor.bindToLoop(_:)` when `clock` is an `EPollReactor` (debug builds; a test `Clock`
/// or another reactor binds nothing). Release builds do nothing.
@inline(__always)
func bindToLoop<V>(_ deferred: Deferred<V>, of clock: AnyObject) {
    #if DEBUG
    (clock as? EPollReactor)?.bindToLoop(deferred)
    #endif
}
