import Testing
import Deferreds

private struct Boom: Error {}

/// `Deferred.setThreadAffinity(_:_:)`: debug builds check the owner's rule as a chain fires; each
/// trap is checked in a child process (an exit test). Release builds check nothing, so the trap
/// tests exist only in debug builds.
@Suite("A deferred bound to an owner's thread")
struct ThreadAffinityTests {
    #if DEBUG
    @Test func callbackWhereTheOwnerSaysNoTraps() async {
        // When a deferred whose owner's check answers false is called back, the process traps.
        await #expect(processExitsWith: .failure) {
            let d = Deferred<Int>()
            d.setThreadAffinity("a test owner") { false }
            d.callback(1)
        }
    }

    @Test func errbackWhereTheOwnerSaysNoTraps() async {
        // When a deferred whose owner's check answers false is errbacked, the process traps.
        await #expect(processExitsWith: .failure) {
            let d = Deferred<Int>()
            d.setThreadAffinity("a test owner") { false }
            d.errback(Boom())
        }
    }

    @Test func cancelWhereTheOwnerSaysNoTraps() async {
        // When a bound deferred is cancelled where its owner's check answers false, the process traps.
        await #expect(processExitsWith: .failure) {
            let d = Deferred<Int>()
            d.setThreadAffinity("a test owner") { false }
            d.cancel()
        }
    }

    @Test func bindingThroughAHandleBindsTheRoot() async {
        // When the affinity is set through a handle of another type, firing the root traps.
        await #expect(processExitsWith: .failure) {
            let d = Deferred<Int>()
            let text = d.addCallback { "\($0)" }
            text.setThreadAffinity("a test owner") { false }
            d.callback(1)
        }
    }
    #endif

    @Test func firingWhereTheOwnerSaysYesRunsTheChain() {
        // When the owner's check answers true, the deferred fires as usual and the check ran once.
        let d = Deferred<Int>()
        var checks = 0
        d.setThreadAffinity("a test owner") {
            checks += 1
            return true
        }
        var got: Int?
        _ = d.addCallback { got = $0 }
        d.callback(41)
        #expect(got == 41)
        #if DEBUG
        #expect(checks == 1)
        #else
        #expect(checks == 0)
        #endif
    }

    @Test func theCheckIsDroppedOnceTheChainHasFired() {
        // When a bound deferred has fired, its check (and what the check captured) is released.
        final class Owner {}
        weak var released: Owner?
        let d = Deferred<Int>()
        do {
            let owner = Owner()
            released = owner
            d.setThreadAffinity("a test owner") { withExtendedLifetime(owner) { true } }
        }
        #if DEBUG
        #expect(released != nil)
        #endif
        d.callback(1)
        #expect(released == nil)
    }
}
