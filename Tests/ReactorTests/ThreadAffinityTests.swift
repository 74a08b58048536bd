import Deferreds
import Dispatch
import Reactor
import Testing

/// Debug builds check that a running reactor's entry points run on its thread (`EPollReactor.assertInLoop`);
/// each trap is checked in a child process (an exit test). Release builds check nothing, so these
/// tests exist only in debug builds.
@Suite("EPollReactor's thread affinity is checked in debug builds")
struct ThreadAffinityTests {
    #if DEBUG
    @Test func callLaterFromAnotherThreadTraps() async {
        // When callLater is called on a thread that is not the running reactor's, the process traps.
        await #expect(processExitsWith: .failure) {
            let reactor = try EPollReactor()
            nonisolated(unsafe) let shared = reactor
            reactor.callWhenRunning {
                DispatchQueue(label: "another thread").async { shared.callLater(1) {} }
            }
            reactor.callLater(5) { reactor.stop() }
            reactor.run(installSignalHandlers: false)
        }
    }

    @Test func addReaderFromAnotherThreadTraps() async {
        // When addReader is called on a thread that is not the running reactor's, the process traps.
        await #expect(processExitsWith: .failure) {
            final class Quiet: ReadDescriptor {
                var fileDescriptor: Int32 { 0 }
                func doRead() {}
                func connectionLost(_ reason: Failure) {}
            }
            let reactor = try EPollReactor()
            nonisolated(unsafe) let shared = reactor
            reactor.callWhenRunning {
                DispatchQueue(label: "another thread").async { shared.addReader(Quiet()) }
            }
            reactor.callLater(5) { reactor.stop() }
            reactor.run(installSignalHandlers: false)
        }
    }

    @Test func errbackOfAReactorsDeferredFromAnotherThreadTraps() async {
        // When another thread errbacks a deferred the reactor made (deferLater's), the process traps.
        await #expect(processExitsWith: .failure) {
            struct Boom: Error {}
            let reactor = try EPollReactor()
            nonisolated(unsafe) let wait = deferLater(reactor, 30) {}
            reactor.callWhenRunning {
                DispatchQueue(label: "another thread").async { wait.errback(Boom()) }
            }
            reactor.callLater(5) { reactor.stop() }
            reactor.run(installSignalHandlers: false)
        }
    }

    @Test func cancellingAReactorsDeferredFromAnotherThreadTraps() async {
        // When another thread cancels a deferred the reactor made (retry's), the process traps.
        await #expect(processExitsWith: .failure) {
            let reactor = try EPollReactor()
            nonisolated(unsafe) let result = retry(reactor, attempts: 3) { Deferred<Int>() }
            reactor.callWhenRunning {
                DispatchQueue(label: "another thread").async { result.cancel() }
            }
            reactor.callLater(5) { reactor.stop() }
            reactor.run(installSignalHandlers: false)
        }
    }

    @Test func callFromThreadFromAnotherThreadIsAllowed() async {
        // When another thread uses callFromThread, which is thread-safe, the function runs on the loop and nothing traps.
        await #expect(processExitsWith: .success) {
            let reactor = try EPollReactor()
            nonisolated(unsafe) let shared = reactor
            reactor.callWhenRunning {
                DispatchQueue(label: "another thread").async {
                    shared.callFromThread { shared.callLater(0) { shared.stop() } }
                }
            }
            reactor.run(installSignalHandlers: false)
            reactor.close()
        }
    }
    #endif

    @Test func theReactorsDeferredsFireOnItsThread() throws {
        // When the reactor fires its own deferreds on its thread (deferLater's, and one cancelled there), nothing traps.
        let reactor = try EPollReactor()
        var fired: [String] = []
        let later = deferLater(reactor, 0) { "later" }
        _ = later.addCallback { fired.append($0) }
        let cancelled = deferLater(reactor, 30) { "never" }
        _ = cancelled.addErrback { _ in
            fired.append("cancelled")
            return "cancelled"
        }
        reactor.callWhenRunning {
            cancelled.cancel()
            reactor.callLater(0.01) { reactor.stop() }
        }
        reactor.run(installSignalHandlers: false)
        reactor.close()
        #expect(fired.sorted() == ["cancelled", "later"])
    }

    @Test func theReactorsOwnThreadMayCallEveryEntryPoint() throws {
        // When the creating thread schedules, watches and triggers before and while running, nothing traps and the calls run.
        let reactor = try EPollReactor()
        var ran: [String] = []
        reactor.addSystemEventTrigger(.after, .shutdown) { () -> Void in ran.append("shutdown") }
        reactor.callWhenRunning {
            reactor.callLater(0) {
                ran.append("timer")
                reactor.stop()
            }
        }
        reactor.run(installSignalHandlers: false)
        reactor.close()
        #expect(ran == ["timer", "shutdown"])
    }
}
