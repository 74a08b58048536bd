import Deferreds
import Glibc
import TestSupport
import Testing

@testable import Reactor

@Suite struct EPollReactorTests {
    @Test func runReturnsAfterStop() throws {
        // When a timed call stops the reactor, run() returns and later calls never run.
        var log: [String] = []
        try withReactor { reactor in
            reactor.callLater(0.01) { log.append("a"); reactor.stop() }
            reactor.callLater(5) { log.append("too late") }
        }
        #expect(log == ["a"])
    }

    @Test func callWhenRunningRunsAfterStartup() throws {
        // When callWhenRunning is used before run(), the function runs once the loop has started.
        var log: [String] = []
        try withReactor { reactor in
            reactor.addSystemEventTrigger(.before, .startup) { log.append("before startup") }
            reactor.callWhenRunning {
                log.append("running: \(reactor.running)")
                reactor.stop()
            }
        }
        #expect(log == ["before startup", "running: true"])
    }

    @Test func timedCallsRunInTimeThenSchedulingOrder() throws {
        // When calls are due at the same time, they run in the order they were scheduled.
        var log: [Int] = []
        try withReactor { reactor in
            reactor.callLater(0.02) { log.append(3) }
            reactor.callLater(0.01) { log.append(1) }
            reactor.callLater(0.01) { log.append(2) }
            reactor.callLater(0.03) { reactor.stop() }
        }
        #expect(log == [1, 2, 3])
    }

    @Test func callLaterZeroFromATimedCallRunsOnTheNextPass() throws {
        // When a timed call schedules callLater(0), it runs after the other calls due in this pass.
        var log: [String] = []
        try withReactor { reactor in
            reactor.callLater(0) {
                log.append("first")
                reactor.callLater(0) { log.append("scheduled by first"); reactor.stop() }
            }
            reactor.callLater(0) { log.append("second") }
        }
        #expect(log == ["first", "second", "scheduled by first"])
    }

    @Test func aCallMadeInAPassAndMovedEarlierStillWaitsForTheNextPass() throws {
        // When a timed call schedules callLater(0) and delays it by a negative amount (before the other
        // calls due in this pass), the new call still runs on the next pass, after them.
        var log: [String] = []
        try withReactor { reactor in
            reactor.callLater(0) {
                log.append("first")
                let moved = reactor.callLater(0) { log.append("made by first, moved earlier"); reactor.stop() }
                moved.delay(-1)
            }
            reactor.callLater(0) { log.append("second") }
        }
        #expect(log == ["first", "second", "made by first, moved earlier"])
    }

    @Test func descriptorsAreServedWhileZeroDelayCallsChainForEver() throws {
        // When every timed call schedules another callLater(0), a pipe that becomes readable is still read,
        // within the poll throttle's bound of passes, and stop() from its reader ends the chain.
        let (readEnd, writeEnd) = makePipe()
        defer { close(readEnd); close(writeEnd) }
        var steps = 0
        var wroteAt = -1
        var readAt = -1
        try withReactor { reactor in
            let reader = PipeReader(readEnd) { reader, _ in
                readAt = steps
                reactor.removeReader(reader)
                reactor.stop()
            }
            reactor.addReader(reader)
            func step() {
                steps += 1
                if steps == 1_000 {
                    wroteAt = steps
                    _ = write(writeEnd, "x", 1)
                }
                reactor.callLater(0, step)
            }
            reactor.callLater(0, step)
        }
        #expect(wroteAt == 1_000)
        #expect(readAt >= wroteAt && readAt - wroteAt <= PollThrottle.maxSkipsInARow)
        #expect(steps == readAt, "no timed call ran after stop()")
    }

    @Test func callFromThreadIsDeliveredWhileZeroDelayCallsChainForEver() throws {
        // When every timed call schedules another callLater(0), functions queued by the reactor's own thread and
        // by another thread still run, and the one that calls stop() ends the chain with that pass.
        var steps = 0
        var fromOwnThread = -1
        var fromOtherThread = -1
        try withReactor { reactor in
            let queue = reactor.threadQueue
            let recordOwn = ReactorBound { fromOwnThread = steps }
            let recordOtherAndStop = ReactorBound {
                fromOtherThread = steps
                reactor.stop()
            }
            func step() {
                steps += 1
                if steps == 100 {
                    queue.callFromThread { recordOwn.value() }
                    startThread { queue.callFromThread { recordOtherAndStop.value() } }
                }
                reactor.callLater(0, step)
            }
            reactor.callLater(0, step)
        }
        #expect(fromOwnThread == 100, "queued on the reactor's thread: runs at the start of the next pass")
        #expect(fromOtherThread >= 100)
        #expect(steps == fromOtherThread + 1, "the pass that called stop() runs its due calls, and is the last")
    }

    @Test func cancelledCallsDoNotRunAndLeaveNothingBehind() throws {
        // When a call is cancelled, it never runs and the reactor holds no pending call for it.
        var ran = false
        var pendingBefore = -1
        var pendingAfterCancel = -1
        try withReactor { reactor in
            pendingBefore = reactor.pendingCallCount
            let call = reactor.callLater(0.01) { ran = true }
            call.cancel()
            call.cancel()
            pendingAfterCancel = reactor.pendingCallCount
            #expect(!call.active)
            reactor.callLater(0.02) { reactor.stop() }
        }
        #expect(!ran)
        #expect(pendingAfterCancel == pendingBefore)
    }

    @Test func shutdownTriggersRunInPhaseOrderAndBeforeDeferredsAreAwaited() throws {
        // When stop() is called, before/during/after shutdown triggers run in that order, and a
        // Deferred returned by a "before" trigger is awaited while the loop keeps turning.
        var log: [String] = []
        try withReactor { reactor in
            reactor.addSystemEventTrigger(.after, .shutdown) { log.append("after") }
            reactor.addSystemEventTrigger(.during, .shutdown) { log.append("during") }
            reactor.addSystemEventTrigger(.before, .shutdown) { () -> Deferred<Void> in
                log.append("before")
                let d = Deferred<Void>()
                reactor.callLater(0.01) { log.append("before's deferred fired"); d.callback(()) }
                return d
            }
            reactor.callWhenRunning { reactor.stop() }
        }
        #expect(log == ["before", "before's deferred fired", "during", "after"])
    }

    @Test func callFromThreadDeliversEveryCallInOrderPerThread() throws {
        // When 4 threads each queue 10,000 calls, all 40,000 run on the reactor, in order per thread.
        let threads = 4
        let perThread = 10_000
        var seen = Array(repeating: [Int](), count: threads)
        var total = 0
        try withReactor(limit: 60) { reactor in
            let queue = reactor.threadQueue
            let box = ReactorBound(Recorder { thread, index in
                seen[thread].append(index)
                total += 1
                if total == threads * perThread { reactor.stop() }
            })
            for thread in 0..<threads {
                startThread {
                    for index in 0..<perThread {
                        queue.callFromThread { box.value.record(thread, index) }
                    }
                }
            }
        }
        #expect(total == threads * perThread)
        for thread in 0..<threads { #expect(seen[thread] == Array(0..<perThread)) }
    }

    @Test func aClosedReactorHasNoLoopThread() throws {
        // When a reactor is closed, no thread counts as its loop's any more, not even the one that
        // ran it (which the test runner may hand to another test).
        let reactor = try EPollReactor()
        reactor.callWhenRunning { reactor.stop() }
        reactor.run(installSignalHandlers: false)
        #expect(reactor.threadQueue.isReactorThread)
        reactor.close()
        #expect(!reactor.threadQueue.isReactorThread)
    }

    @Test func closeDropsTimersAndReleasesWhatTheyCaptured() throws {
        // When a reactor is closed, pending calls are dropped and the objects they captured freed.
        final class Token {}
        weak var weakToken: Token?
        let reactor = try EPollReactor()
        do {
            let token = Token()
            weakToken = token
            reactor.callLater(100) { _ = token; _ = reactor }
        }
        #expect(weakToken != nil)
        reactor.close()
        #expect(weakToken == nil)
        #expect(reactor.pendingCallCount == 0)
    }

    @Test func aCallFromThreadAfterCloseIsDroppedWithWhatItCaptured() throws {
        // When a function is queued on a closed reactor (a worker finishing late), it is released at once.
        final class Token: Sendable {}
        weak var weakToken: Token?
        let reactor = try EPollReactor()
        reactor.close()
        do {
            let token = Token()
            weakToken = token
            reactor.callFromThread { _ = token }
        }
        #expect(weakToken == nil)
    }
}

/// Records a (thread, index) call on the reactor's thread.
final class Recorder {
    let body: (Int, Int) -> Void
    init(_ body: @escaping (Int, Int) -> Void) { self.body = body }
    func record(_ thread: Int, _ index: Int) { body(thread, index) }
}

/// Starts a detached thread running `body`.
func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue()
        (box as! Box).body()
        return nil
    }, context)
    precondition(result == 0)
    pthread_detach(thread)
}

/// SIGINT goes to every reactor of the process that installed handlers, so these tests run one at
/// a time: one's signal would otherwise stop the other's reactor early.
@Suite(.serialized) struct ReactorSignalTests {
    @Test func sigintStopsTheReactorAndRunsShutdownTriggers() throws {
        // When SIGINT reaches the process while run() installed handlers, the reactor stops cleanly.
        let reactor = try EPollReactor()
        defer { reactor.close() }
        var shutdownRan = false
        reactor.addSystemEventTrigger(.before, .shutdown) { shutdownRan = true }
        reactor.callWhenRunning { kill(getpid(), SIGINT) }
        let limit = reactor.callLater(20) { reactor.stop() }
        reactor.run(installSignalHandlers: true)
        #expect(limit.active, "stopped by SIGINT, not by the time limit")
        limit.cancel()
        #expect(shutdownRan)
    }

    @Test func sigintStopsTheReactorWhileZeroDelayCallsChainForEver() throws {
        // When SIGINT arrives while every timed call schedules another callLater(0) (passes that skip
        // their poll), the reactor still stops.
        let reactor = try EPollReactor()
        defer { reactor.close() }
        var steps = 0
        func step() {
            steps += 1
            if steps == 1_000 { kill(getpid(), SIGINT) }
            reactor.callLater(0, step)
        }
        reactor.callLater(0, step)
        let limit = reactor.callLater(20) { reactor.stop() }
        reactor.run(installSignalHandlers: true)
        #expect(limit.active, "stopped by SIGINT, not by the time limit")
        #expect(steps >= 1_000)
        limit.cancel()
    }
}
