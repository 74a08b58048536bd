import Testing
@testable import Deferreds

@Suite("debugDescription")
struct DebugDescriptionTests {

    /// The number after the first "#" in a description.
    private func number(_ d: Deferred<some Any>) -> Int {
        let text = d.debugDescription
        guard let hash = text.firstIndex(of: "#") else { return -1 }
        return Int(text[text.index(after: hash)...].prefix { $0.isNumber }) ?? -1
    }

    private enum Broken: Error { case pipe(code: Int) }
    private struct Plain: Error { let reason: String }

    @Test func anUnfiredDeferredShowsItsTypeAndNumberAndPendingSteps() {
        // When a deferred has not fired, its description is its type and number, then how many steps wait.
        let d = Deferred<Int>()
        let n = number(d)
        #expect(n > 0)
        #expect(d.debugDescription == "<Deferred<Int> #\(n)>")
        _ = d.addCallback { $0 + 1 }
        #expect(d.debugDescription == "<Deferred<Int> #\(n), 1 step pending>")
        d.addErrback { _ in 0 }
        #expect(d.debugDescription == "<Deferred<Int> #\(n), 2 steps pending>")
    }

    @Test func aFiredDeferredShowsItsCurrentResult() {
        // When a deferred has fired, its description shows the current result, as Swift's debug rendering.
        let d = Deferred<Int>()
        d.callback(41)
        _ = d.addCallback { $0 + 1 }
        #expect(d.debugDescription == "<Deferred<Int> #\(number(d)) current result: 42>")
        let s = Deferred.succeed("hi")
        #expect(s.debugDescription == "<Deferred<String> #\(number(s)) current result: \"hi\">")
    }

    @Test func aFailedDeferredShowsTheErrorWithItsType() {
        // When a deferred holds a failure, its description says "failed:" and the error as TypeName(details).
        let timedOut = Deferred<Int>.fail(TimeoutError(seconds: 5))
        let broken = Deferred<Int>.fail(Broken.pipe(code: 32))
        let plain = Deferred<Int>.fail(Plain(reason: "no"))
        #expect(timedOut.debugDescription
            == "<Deferred<Int> #\(number(timedOut)) failed: TimeoutError(Deferred timed out after 5.0 seconds)>")
        #expect(broken.debugDescription == "<Deferred<Int> #\(number(broken)) failed: Broken.pipe(code: 32)>")
        #expect(plain.debugDescription == "<Deferred<Int> #\(number(plain)) failed: Plain(reason: \"no\")>")
        for d in [timedOut, broken, plain] { d.addErrback { _ in 0 } }
    }

    @Test func aChainWaitingOnAnInnerDeferredNamesItAndTheStepsAfter() {
        // When a chain waits on a deferred a step returned, its description (and its handles') names the inner one.
        let outer = Deferred<Int>()
        let inner = Deferred<String>()
        let waiting = outer.addCallback { (_: Int) -> Deferred<String> in inner }
        let last = waiting.addCallback { $0 + "!" }.addCallback { $0.count }
        outer.callback(1)
        let o = number(outer), i = number(inner)
        #expect(o != i)
        #expect(outer.debugDescription == "<Deferred<Int> #\(o) waiting on Deferred<String> #\(i), 2 steps pending>")
        #expect(waiting.debugDescription == "<Deferred<String> #\(o) waiting on Deferred<String> #\(i), 2 steps pending>")
        // The inner deferred's one step is the hand-over to the outer chain.
        #expect(inner.debugDescription == "<Deferred<String> #\(i), 1 step pending>")

        inner.callback("ab")

        #expect(last.debugDescription == "<Deferred<Int> #\(o) current result: 3>")
        #expect(number(outer) == o)
    }

    @Test func aPausedDeferredSaysSo() {
        // When pause() holds a fired chain, its description ends with ", paused"; waiting alone does not say it.
        let d = Deferred<Int>()
        d.pause()
        d.callback(7)
        _ = d.addCallback { $0 }
        #expect(d.debugDescription == "<Deferred<Int> #\(number(d)) current result: 7, 1 step pending, paused>")
        d.unpause()
        #expect(d.debugDescription == "<Deferred<Int> #\(number(d)) current result: 7>")
    }

    @Test func numbersAreStableAndDistinct() {
        // When deferreds are described several times, each keeps its number and no two share one.
        let ds = (0..<100).map { _ in Deferred<Int>() }
        let first = ds.map(number)
        #expect(Set(first).count == 100)
        #expect(ds.map(number) == first)
    }
}
