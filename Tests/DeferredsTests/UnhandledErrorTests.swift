import Testing
@testable import Deferreds

/// Each test fires its own `Marker` and looks only for reports carrying it (see `UnhandledReports`),
/// so other suites running in parallel cannot disturb it. Every "not reported" test also checks the
/// deferreds involved were freed, so that the absence of a report means something.
@Suite("Unhandled errors in deferreds", .serialized)
struct UnhandledErrorTests {

    @Test func anUnhandledFailureIsReportedOnceWhenTheDeferredIsFreed() {
        // When a failed deferred with no errback is freed, the hook is called once with "Unhandled error in Deferred".
        let marker = UnhandledReports.newMarker()
        weak var weakD: Deferred<Int>?
        do {
            let d = Deferred<Int>()
            weakD = d
            d.errback(marker)
            withExtendedLifetime(d) {
                #expect(UnhandledReports.messages(for: marker).isEmpty)
            }
        }
        #expect(weakD == nil)
        let messages = UnhandledReports.messages(for: marker)
        #expect(messages.count == 1)
        #expect(messages.first?.contains("Unhandled error in Deferred") == true)
    }

    @Test func aFailureThrownOnATypeChangedChainIsReportedOnce() {
        // When a callback that changed the chain's type throws and nothing handles it, one report is made for the chain.
        let marker = UnhandledReports.newMarker()
        weak var weakRoot: Deferred<Int>?
        weak var weakHandle: Deferred<String>?
        do {
            let d = Deferred<Int>()
            let handle = d.addCallback { (_: Int) -> String in throw marker }
            weakRoot = d
            weakHandle = handle
            d.callback(1)
        }
        #expect(weakRoot == nil)
        #expect(weakHandle == nil)
        #expect(UnhandledReports.messages(for: marker).count == 1)
    }

    @Test func aFailureAnErrbackHandledIsNotReported() {
        // When an errback (or addBoth) receives the failure and recovers, nothing is reported.
        let marker = UnhandledReports.newMarker()
        weak var weakErrback: Deferred<Int>?
        weak var weakBoth: Deferred<Int>?
        do {
            let a = Deferred<Int>()
            a.addErrback { _ in 0 }
            a.errback(marker)
            let b = Deferred<Int>()
            _ = b.addBoth { (r: Result<Int, Failure>) -> Int in (try? r.get()) ?? 0 }
            b.errback(marker)
            weakErrback = a
            weakBoth = b
        }
        #expect(weakErrback == nil)
        #expect(weakBoth == nil)
        #expect(UnhandledReports.messages(for: marker).isEmpty)
    }

    @Test func aFailureRecoveredThenRaisedAgainIsReported() {
        // When an errback recovers and a later callback throws, the new failure is reported.
        let handled = UnhandledReports.newMarker()
        let raisedAgain = UnhandledReports.newMarker()
        weak var weakD: Deferred<Int>?
        do {
            let d = Deferred<Int>()
            d.addErrback { _ in 0 }
            _ = d.addCallback { (_: Int) -> Int in throw raisedAgain }
            d.errback(handled)
            weakD = d
        }
        #expect(weakD == nil)
        #expect(UnhandledReports.messages(for: handled).isEmpty)
        #expect(UnhandledReports.messages(for: raisedAgain).count == 1)
    }

    @Test func aFailureReturnedFromACallbackIsNotReportedByTheInnerDeferred() {
        // When a failed inner deferred is returned from a callback (already failed or failing later) and the outer handles it, nothing is reported.
        let marker = UnhandledReports.newMarker()
        weak var weakSyncInner: Deferred<Int>?
        weak var weakAsyncInner: Deferred<Int>?
        weak var weakOuter: Deferred<Int>?
        var handledCount = 0
        do {
            let syncInner = Deferred<Int>.fail(marker)
            let asyncInner = Deferred<Int>()
            let outer = Deferred<Int>()
            _ = outer.addCallback { (_: Int) -> Deferred<Int> in syncInner }
            outer.addErrback { (_: Failure) -> Deferred<Int> in asyncInner }
            outer.addErrback { (_: Failure) -> Int in handledCount += 1; return 0 }
            outer.callback(0)
            asyncInner.errback(marker)
            weakSyncInner = syncInner
            weakAsyncInner = asyncInner
            weakOuter = outer
        }
        #expect(weakSyncInner == nil)
        #expect(weakAsyncInner == nil)
        #expect(weakOuter == nil)
        #expect(handledCount == 1)
        #expect(UnhandledReports.messages(for: marker).isEmpty)
    }

    @Test func aFailureReturnedFromACallbackIsReportedOnceByTheOuterWhenUnhandledThere() {
        // When an inner failure flows into an outer chain that has no errback, the outer alone reports it, once.
        let marker = UnhandledReports.newMarker()
        weak var weakInner: Deferred<Int>?
        weak var weakOuter: Deferred<Int>?
        do {
            let inner = Deferred<Int>()
            let outer = Deferred<Int>()
            _ = outer.addCallback { (_: Int) -> Deferred<Int> in inner }
            outer.callback(0)
            inner.errback(marker)
            weakInner = inner
            weakOuter = outer
        }
        #expect(weakInner == nil)
        #expect(weakOuter == nil)
        #expect(UnhandledReports.messages(for: marker).count == 1)
    }

    @Test func aFailurePassedOnByChainDeferredIsNotReportedBySource() {
        // When chainDeferred passes a failure to a target that handles it, neither deferred reports it.
        let marker = UnhandledReports.newMarker()
        weak var weakSource: Deferred<Int>?
        weak var weakTarget: Deferred<Int>?
        var targetSaw: Marker?
        do {
            let source = Deferred<Int>()
            let target = Deferred<Int>()
            target.addErrback { (f: Failure) -> Int in targetSaw = f.value as? Marker; return 0 }
            source.chainDeferred(target)
            source.errback(marker)
            weakSource = source
            weakTarget = target
        }
        #expect(weakSource == nil)
        #expect(weakTarget == nil)
        #expect(targetSaw == marker)
        #expect(UnhandledReports.messages(for: marker).isEmpty)
    }

    @Test func aFailurePassedOnByChainDeferredIsReportedOnceByAnUnhandlingTarget() {
        // When chainDeferred passes a failure to a target with no errback, only the target reports it, once.
        let marker = UnhandledReports.newMarker()
        weak var weakSource: Deferred<Int>?
        weak var weakTarget: Deferred<Int>?
        do {
            let source = Deferred<Int>()
            let target = Deferred<Int>()
            source.chainDeferred(target)
            source.errback(marker)
            weakSource = source
            weakTarget = target
        }
        #expect(weakSource == nil)
        #expect(weakTarget == nil)
        #expect(UnhandledReports.messages(for: marker).count == 1)
    }

    @Test func failuresConsumedByDeferredListGatherResultsOrRaceAreNotReported() {
        // When inputs fail into DeferredList/gatherResults with consumeErrors, or into race, the inputs report nothing.
        let marker = UnhandledReports.newMarker()
        weak var weakListInput: Deferred<Int>?
        weak var weakGatherInput: Deferred<Int>?
        weak var weakRaceInput: Deferred<Int>?
        var listResults = 0
        var gatherFailure: FirstError?
        var raceWinner: Int?
        do {
            let listInput = Deferred<Int>()
            _ = DeferredList([listInput, Deferred.succeed(1)], consumeErrors: true)
                .addCallback { listResults = $0.count }
            listInput.errback(marker)

            let gatherInput = Deferred<Int>()
            gatherResults([Deferred.succeed(1), gatherInput], consumeErrors: true)
                .addErrback { (f: Failure) -> [Int] in gatherFailure = f.value as? FirstError; return [] }
            gatherInput.errback(marker)

            let raceInput = Deferred<Int>()
            let raceOther = Deferred<Int>()
            _ = race([raceInput, raceOther]).addCallback { raceWinner = $0.index }
            raceInput.errback(marker)
            raceOther.callback(2)

            weakListInput = listInput
            weakGatherInput = gatherInput
            weakRaceInput = raceInput
        }
        #expect(weakListInput == nil)
        #expect(weakGatherInput == nil)
        #expect(weakRaceInput == nil)
        #expect(listResults == 2)
        #expect(gatherFailure?.index == 1)
        #expect(raceWinner == 1)
        #expect(UnhandledReports.messages(for: marker).isEmpty)
    }

    @Test func aFailureThrownToAnAwaitIsNotReported() async {
        // When a failed deferred is awaited (already failed, or failing during the await), the await throws it and no report is made.
        let marker = UnhandledReports.newMarker()
        let thrown = await FailureAwaiter().awaitFailures(marker)
        #expect(thrown == [marker, marker])
        #expect(UnhandledReports.messages(for: marker).isEmpty)
    }
}

/// Awaits two deferreds that fail with `marker`: one failed already, one failed by another task of
/// the same actor while the await waits. Both deferreds are freed before it returns.
private actor FailureAwaiter {
    func awaitFailures(_ marker: Marker) async -> [Marker] {
        var thrown: [Marker] = []
        weak var weakFailed: Deferred<Int>?
        weak var weakLater: Deferred<Int>?
        do {
            let failed = Deferred<Int>.fail(marker)
            weakFailed = failed
            do { _ = try await failed.value } catch let failure as Failure {
                if let marker = failure.value as? Marker { thrown.append(marker) }
            } catch {}

            let later = Deferred<Int>()
            weakLater = later
            Task {
                _ = self
                later.errback(marker)
            }
            do { _ = try await later.value } catch let failure as Failure {
                if let marker = failure.value as? Marker { thrown.append(marker) }
            } catch {}
        }
        if weakFailed != nil || weakLater != nil { thrown.append(Marker(id: -1)) }
        return thrown
    }
}
