import Deferreds
import Glibc
import Synchronization
import Testing
import TestSupport

@testable import Reactor

/// The global reactor, run once for the whole test process on a thread of its own, as a program's
/// main thread would run it. Only the tests of `ReactorActorTests` use it.
enum GlobalReactorThread {
    /// The thread running the global reactor (a `pthread_t`), recorded by the loop itself.
    static let thread = Atomic<UInt>(0)

    /// Starts the global reactor's loop the first time it is called.
    static func ensureRunning() { _ = started }

    private static let started: Void = {
        startThread {
            reactor.callWhenRunning { GlobalReactorThread.thread.store(pthread_self(), ordering: .releasing) }
            reactor.run(installSignalHandlers: false)
        }
    }()

    static var isCurrent: Bool { pthread_equal(thread.load(ordering: .acquiring), pthread_self()) != 0 }
}

/// `@ReactorActor`: the global actor of the default reactor. The suite is serialized because all of
/// it shares that one reactor.
@Suite(.serialized) struct ReactorActorTests {
    init() { GlobalReactorThread.ensureRunning() }

    @Test @ReactorActor func reactorActorCodeRunsOnTheGlobalReactorsThread() async throws {
        // When @ReactorActor code awaits a deferred fired by a timer of the global reactor, it runs and resumes on that reactor's thread.
        #expect(GlobalReactorThread.isCurrent)
        let d = Deferred<String>()
        reactor.callLater(0.001) { d.callback("fired") }
        let value = try await d.value
        #expect(value == "fired")
        #expect(GlobalReactorThread.isCurrent)
        ReactorActor.shared.preconditionIsolated()
    }

    @Test @ReactorActor func fromTaskRunsItsOperationOnTheGlobalReactor() async throws {
        // When @ReactorActor code makes a deferred from async code, the operation runs on the global reactor's thread and the deferred fires with its result.
        let trigger = Deferred<Int>()
        let doubled = Deferred<Int>.fromTask {
            let value = try await trigger.value
            return GlobalReactorThread.isCurrent ? value * 2 : -1
        }
        reactor.callLater(0) { trigger.callback(21) }
        let result = try await doubled.value
        #expect(result == 42)
    }

    @Test @ReactorActor func callbacksEnterReactorActorCodeWithAssumeIsolated() async throws {
        // When a reactor callback calls ReactorActor.assumeIsolated, the @ReactorActor code runs synchronously inside the callback.
        let entered = Deferred<Bool>()
        reactor.callLater(0) {
            let isolated = ReactorActor.assumeIsolated { isolatedHelper() }
            entered.callback(isolated)
        }
        let isolated = try await entered.value
        #expect(isolated)
    }

    @Test @ReactorActor func aSemaphoreLimitsAsyncWorkAsItLimitsDeferreds() async throws {
        // When async operations go through DeferredSemaphore(tokens: 2).run with fromTask, at most two run at once and all finish.
        let semaphore = DeferredSemaphore(tokens: 2)
        var running = 0
        var most = 0
        let gates = (0..<5).map { _ in Deferred<Int>() }
        let all = gates.map { gate in
            semaphore.run {
                Deferred.fromTask {
                    running += 1
                    most = max(most, running)
                    let value = try await gate.value
                    running -= 1
                    return value
                }
            }
        }
        for (index, gate) in gates.enumerated() {
            reactor.callLater(0.001 * Double(index + 1)) { gate.callback(index) }
        }
        let results = try await gatherResults(all).value
        #expect(results == [0, 1, 2, 3, 4])
        #expect(most == 2)
    }

    @Test func nonisolatedCodeReachesTheReactorThroughTheActor() async throws {
        // When nonisolated async code calls a @ReactorActor function, the call runs on the global reactor's thread.
        let onReactor = await isolatedHelper()
        #expect(onReactor)
        #expect(!GlobalReactorThread.isCurrent)
    }
}

@ReactorActor private func isolatedHelper() -> Bool {
    GlobalReactorThread.isCurrent
}
