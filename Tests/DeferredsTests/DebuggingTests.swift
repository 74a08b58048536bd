#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import Deferreds

/// `setDebugging` is process-wide, so every test that turns it on does so in a child process (an
/// exit test); the child writes the lines it expects to see to standard error first.
@Suite("Deferred debugging (setDebugging)")
struct DebuggingTests {

    /// Writes `text` and a newline to standard error, unbuffered (the child may trap next).
    private static func note(_ text: String) {
        let line = text + "\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    /// The value of "name=…" noted by the child.
    private func noted(_ name: String, in stderr: String) -> String? {
        stderr.split(separator: "\n").first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
    }

    @Test func debuggingIsOffByDefaultAndCostsADeferredNoAllocation() {
        // When debugging was never turned on, getDebugging() is false and a new deferred has no extras allocated.
        #expect(getDebugging() == false)
        let d = Deferred<Int>()
        #expect(d.extras == nil)
        d.callback(1)
        #expect(d.extras == nil)
    }

    // The children's work is in plain functions: inside an exit test's body, #line (and so every
    // default `line:` argument) is the line of the #expect that holds it.

    private static func fireTwiceWithDebuggingOn() {
        setDebugging(true)
        let d = Deferred<Int>(); note("created=\(#line)")
        d.callback(1); note("first=\(#line)")
        note("again=\(#line + 1)")
        d.callback(2)
    }

    private static func errbackASucceededDeferredWithDebuggingOn() {
        setDebugging(true)
        let d = Deferred.succeed(1); note("created=\(#line)")
        d.errback(CancelledError())
    }

    private static func dropAFailedDeferredWithDebuggingOn() {
        setDebugging(true)
        precondition(getDebugging())
        let d = Deferred<Int>(); note("created=\(#line)")
        d.errback(CancelledError()); note("fired=\(#line)")
    }

    @Test func firingTwiceWithDebuggingOnTrapsNamingWhereItWasCreatedAndFirstFired() async {
        // When debugging is on and a deferred is fired twice, the trap names where it was created, first fired and fired again.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            DebuggingTests.fireTwiceWithDebuggingOn()
        }
        #if DEBUG
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        let file = "DeferredsTests/DebuggingTests.swift"
        let created = noted("created", in: stderr), first = noted("first", in: stderr)
        let again = noted("again", in: stderr)
        #expect(Set([created, first, again]).count == 3, "standard error: \(stderr)")
        #expect(stderr.contains("AlreadyCalledError"))
        #expect(stderr.contains(" C: Deferred was created at \(file):\(created ?? "?")\n"), "standard error: \(stderr)")
        #expect(stderr.contains(" I: First Invoker was at \(file):\(first ?? "?")\n"), "standard error: \(stderr)")
        #expect(stderr.contains("fired again at \(file):\(again ?? "?"))"), "standard error: \(stderr)")
        #endif
    }

    @Test func anErrbackAfterSucceedWithDebuggingOnNamesTheSucceedCallAsTheCreation() async {
        // When debugging is on and a succeed()-made deferred is errbacked, the trap names the succeed call as its creation.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            DebuggingTests.errbackASucceededDeferredWithDebuggingOn()
        }
        #if DEBUG
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        let created = noted("created", in: stderr)
        #expect(created != nil)
        #expect(stderr.contains(" C: Deferred was created at DeferredsTests/DebuggingTests.swift:\(created ?? "?")"),
                "standard error: \(stderr)")
        #endif
    }

    @Test func firingTwiceWithDebuggingOffNamesOnlyTheSecondFire() async {
        // When debugging is off, the AlreadyCalledError trap names the second fire but has no creation or first-fire line.
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let d = Deferred<Int>()
            d.callback(1)
            d.callback(2)
        }
        #if DEBUG
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("fired again at DeferredsTests/DebuggingTests.swift:"), "standard error: \(stderr)")
        #expect(!stderr.contains("Deferred was created"), "standard error: \(stderr)")
        #expect(!stderr.contains("First Invoker"), "standard error: \(stderr)")
        #endif
    }

    @Test func anUnhandledFailureWithDebuggingOnIsReportedWithWhereItWasCreatedAndFirstFired() async {
        // When debugging is on and a failed deferred nobody handled is freed, its report names where it was created and fired.
        let result = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            DebuggingTests.dropAFailedDeferredWithDebuggingOn()
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        let file = "DeferredsTests/DebuggingTests.swift"
        let created = noted("created", in: stderr), fired = noted("fired", in: stderr)
        #expect(created != nil && fired != nil && created != fired, "standard error: \(stderr)")
        #expect(stderr.contains("Unhandled error in Deferred:\n(debug:\n"), "standard error: \(stderr)")
        #expect(stderr.contains(" C: Deferred was created at \(file):\(created ?? "?")\n"), "standard error: \(stderr)")
        #expect(stderr.contains(" I: First Invoker was at \(file):\(fired ?? "?"))"), "standard error: \(stderr)")
    }

    @Test func setDebuggingFalseTurnsRecordingOffAgain() async {
        // When debugging is turned on then off, deferreds created afterwards record nothing.
        await #expect(processExitsWith: .success) {
            setDebugging(true)
            let recorded = Deferred<Int>()
            setDebugging(false)
            let plain = Deferred<Int>()
            // A failed precondition makes the child exit with a failure.
            precondition(recorded.extras?.debug?.created != nil)
            precondition(plain.extras == nil)
            precondition(!getDebugging())
        }
    }
}
