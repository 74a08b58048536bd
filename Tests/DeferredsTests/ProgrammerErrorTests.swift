import Testing
@testable import Deferreds

/// Programmer errors trap; each is checked in a child process (an exit test), with the message it prints.
@Suite("Programmer errors trap with a clear message")
struct ProgrammerErrorTests {

    /// Expects the child's standard error to contain `text`.
    ///
    /// Only in debug builds: optimised builds trap without printing a precondition's message.
    private func expectMessage(
        _ result: ExitTest.Result?, contains text: String,
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) {
        #if DEBUG
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains(text), "standard error: \(stderr)", sourceLocation: sourceLocation)
        #endif
    }

    @Test func callingBackTwiceTrapsNamingAlreadyCalledError() async {
        // When a fired deferred is called back again, the process traps with a message naming AlreadyCalledError.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let d = Deferred<Int>()
            d.callback(1)
            d.callback(2)
        }
        expectMessage(result, contains: "AlreadyCalledError")
    }

    @Test func errbackAfterCallbackTrapsNamingAlreadyCalledError() async {
        // When a called-back deferred is errbacked, the process traps with a message naming AlreadyCalledError.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let d = Deferred<Int>()
            _ = d.addCallback { _ in }
            d.callback(1)
            d.errback(TestError())
        }
        expectMessage(result, contains: "AlreadyCalledError")
    }

    @Test func aSecondLateFireAfterCancelTraps() async {
        // When a cancelled deferred is fired twice more, the first late fire is ignored and the second traps.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let d = Deferred<Int>()
            d.addErrback { _ in 0 }
            d.cancel()
            d.callback(1)
            d.callback(2)
        }
        expectMessage(result, contains: "AlreadyCalledError")
    }

    @Test func aLateFireAfterACancellerThatFiredTheDeferredTraps() async {
        // When the canceller itself fired the deferred, a later fire is not ignored: it traps.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let d = Deferred<Int>(canceller: { $0.callback(0) })
            d.cancel()
            d.callback(1)
        }
        expectMessage(result, contains: "AlreadyCalledError")
    }

    @Test func unpauseWithoutPauseTraps() async {
        // When unpause() is called more often than pause(), the process traps.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let d = Deferred<Int>()
            d.unpause()
        }
        expectMessage(result, contains: "unpause")
    }

    @Test func addingToAStaleHandleTraps() async {
        // When a step is added through a handle whose type the chain has moved past, the process traps.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let d = Deferred<Int>()
            _ = d.addCallback { "\($0)" }
            _ = d.addCallback { $0 + 1 }
        }
        expectMessage(result, contains: "stale handle")
    }

    @Test func firingThroughAHandleOfAnotherTypeTraps() async {
        // When a type-changed handle is called back, the process traps: only the chain's first type can fire it.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let d = Deferred<Int>()
            let asString = d.addCallback { "\($0)" }
            asString.callback("x")
        }
        expectMessage(result, contains: "fired through a handle")
    }

    @Test func aCallbackReturningItsOwnDeferredTraps() async {
        // When a callback returns the deferred it was added to, the process traps.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let d = Deferred<Int>()
            _ = d.addCallback { (_: Int) -> Deferred<Int> in d }
            d.callback(1)
        }
        expectMessage(result, contains: "returned the Deferred it was added to")
    }

    @Test func releasingASemaphoreMoreThanAcquiredTraps() async {
        // When a semaphore is released with every token free, the process traps.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let s = DeferredSemaphore(tokens: 1)
            s.release()
        }
        expectMessage(result, contains: "released more tokens than were acquired")
    }

    @Test func aSemaphoreWithoutTokensTraps() async {
        // When a semaphore is created with fewer than one token, the process traps.
        await #expect(processExitsWith: .failure) {
            _ = DeferredSemaphore(tokens: 0)
        }
    }

    @Test func releasingAnUnlockedLockTraps() async {
        // When an unlocked DeferredLock is released, the process traps.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            DeferredLock().release()
        }
        expectMessage(result, contains: "not locked")
    }
}
