import Testing
@testable import Deferreds

/// "ok(v)" or "failed(error)", to compare a list's results.
private func describe<V>(_ results: [Result<V, Failure>]?) -> [String]? {
    results?.map { r in
        switch r {
        case .success(let v): return "ok(\(v))"
        case .failure(let f): return "failed(\(f.value))"
        }
    }
}

@Suite("DeferredList, gatherResults and race")
struct DeferredListTests {

    // MARK: - DeferredList

    @Test func resultsComeInInputOrderWithSuccessesAndFailures() {
        // When inputs fire out of order, some failing, the list's results are in input order with each outcome.
        let ds = (0..<3).map { _ in Deferred<Int>() }
        let out = Outcome(DeferredList(ds))

        ds[2].callback(20)
        ds[0].callback(0)
        ds[1].errback(TestError(code: 1))

        #expect(describe(out.value) == ["ok(0)", "failed(TestError #1)", "ok(20)"])
        ds[1].addErrback { _ in -1 }
    }

    @Test func theListFiresOnlyAfterEveryInputHasFired() {
        // When some inputs are still unfired, the list has not fired; the last input fires it.
        let ds = (0..<3).map { _ in Deferred<String>() }
        let list = DeferredList(ds)
        let out = Outcome(list)

        ds[0].callback("a")
        ds[1].callback("b")
        #expect(!list.called)
        #expect(!out.fired)

        ds[2].callback("c")
        #expect(list.called)
        #expect(describe(out.value) == ["ok(a)", "ok(b)", "ok(c)"])
    }

    @Test func alreadyFiredInputsAreCollectedAtOnce() {
        // When every input has already fired, the list fires during init.
        let list = DeferredList([Deferred.succeed(1), Deferred.succeed(2)])
        #expect(list.called)
        #expect(describe(Outcome(list).value) == ["ok(1)", "ok(2)"])
    }

    @Test func inputsMayBeTypeChangedHandles() {
        // When the inputs are handles whose chains changed type, the list collects each chain's end result.
        let roots = (0..<2).map { _ in Deferred<Int>() }
        let pages = roots.map { root in root.addCallback { (n: Int) -> String in "page \(n)" } }
        let listOut = Outcome(DeferredList(pages))
        let gathered = Outcome(gatherResults(pages))

        roots[1].callback(1)
        roots[0].callback(0)

        #expect(describe(listOut.value) == ["ok(page 0)", "ok(page 1)"])
        #expect(gathered.value == ["page 0", "page 1"])
    }

    @Test func anEmptyListFiresWithNoResults() {
        // When the input list is empty, the DeferredList fires at once with [].
        let list = DeferredList([Deferred<Int>]())
        #expect(list.called)
        let out = Outcome(list)
        #expect(out.value?.isEmpty == true)
    }

    @Test func fireOnOneErrbackFailsAtTheFirstFailureWithFirstError() {
        // When fireOnOneErrback is set and an input fails, the list fails at once with FirstError (index, sub-failure).
        let ds = (0..<3).map { _ in Deferred<Int>() }
        let list = DeferredList(ds, fireOnOneErrback: true)
        let out = Outcome(list)

        ds[0].callback(0)
        ds[2].errback(TestError(code: 2))

        let first = out.error(FirstError.self)
        #expect(first?.index == 2)
        #expect(first?.subFailure.value as? TestError == TestError(code: 2))

        // Inputs firing afterwards change nothing.
        ds[1].errback(TestError(code: 1))
        #expect(out.calls == 1)
        #expect(out.error(FirstError.self)?.index == 2)
        ds[1].addErrback { _ in 0 }
        ds[2].addErrback { _ in 0 }
    }

    @Test func withConsumeErrorsLaterErrbacksOnTheInputsStillReceiveTheFailure() {
        // When consumeErrors is set, an errback added to a failed input afterwards still gets the failure.
        let d = Deferred<Int>()
        let list = DeferredList([d], consumeErrors: true)
        let listOut = Outcome(list)
        d.errback(TestError(code: 4))

        let inputOut = Outcome(d)

        #expect(inputOut.error(TestError.self) == TestError(code: 4))
        #expect(describe(listOut.value) == ["failed(TestError #4)"])
    }

    @Test func withConsumeErrorsInputFailuresAreNotReportedAsUnhandled() {
        // When consumeErrors is set and an input fails with no errback of its own, no unhandled error is reported for it.
        let marker = UnhandledReports.newMarker()
        weak var weakInput: Deferred<Int>?
        var results: [String]?
        do {
            let d = Deferred<Int>()
            weakInput = d
            _ = DeferredList([d], consumeErrors: true).addCallback { results = describe($0) }
            d.errback(marker)
        }
        #expect(weakInput == nil)
        #expect(results == ["failed(\(marker))"])
        #expect(UnhandledReports.messages(for: marker).isEmpty)
    }

    @Test func withoutConsumeErrorsAnUnhandledInputFailureIsReported() {
        // When consumeErrors is not set and a failed input has no errback, its failure is reported once when it is freed.
        let marker = UnhandledReports.newMarker()
        weak var weakInput: Deferred<Int>?
        var results: [String]?
        do {
            let d = Deferred<Int>()
            weakInput = d
            _ = DeferredList([d]).addCallback { results = describe($0) }
            d.errback(marker)
        }
        #expect(weakInput == nil)
        #expect(results == ["failed(\(marker))"])
        let messages = UnhandledReports.messages(for: marker)
        #expect(messages.count == 1)
        #expect(messages.first?.contains("Unhandled error in Deferred") == true)
    }

    @Test func cancellingTheListCancelsEveryInput() {
        // When the list is cancelled, every unfired input's canceller runs and the list fires with their CancelledErrors.
        var cancelled: [Int] = []
        let ds = (0..<3).map { i in Deferred<Int>(canceller: { _ in cancelled.append(i) }) }
        ds[1].callback(1)
        let list = DeferredList(ds, consumeErrors: true)
        let out = Outcome(list)

        list.cancel()

        #expect(cancelled == [0, 2])
        #expect(describe(out.value) == [
            "failed(Deferred was cancelled)", "ok(1)", "failed(Deferred was cancelled)",
        ])
    }

    @Test func cancellingAListThatAlreadyFailedOnOneErrbackLeavesTheOtherInputsAlone() {
        // When a fireOnOneErrback list has already failed, cancelling it does not cancel the remaining inputs.
        var cancelled: [Int] = []
        let ds = (0..<2).map { i in Deferred<Int>(canceller: { _ in cancelled.append(i) }) }
        let list = DeferredList(ds, fireOnOneErrback: true, consumeErrors: true)
        let out = Outcome(list)
        ds[0].errback(TestError(code: 0))

        list.cancel()

        #expect(cancelled.isEmpty)
        #expect(!ds[1].called)
        #expect(out.error(FirstError.self)?.index == 0)
        ds[1].callback(1)
    }

    // MARK: - gatherResults

    @Test func gatherResultsGivesTheValuesInInputOrder() {
        // When every input succeeds, gatherResults fires with their values in input order.
        let ds = (0..<4).map { _ in Deferred<Int>() }
        let out = Outcome(gatherResults(ds))

        for i in [3, 1, 0] { ds[i].callback(i * 10) }
        #expect(!out.fired)
        ds[2].callback(20)

        #expect(out.value == [0, 10, 20, 30])
    }

    @Test func gatherResultsOfNothingIsEmpty() {
        // When gatherResults gets no inputs, it fires at once with [].
        let out = Outcome(gatherResults([Deferred<Int>]()))
        #expect(out.value == [])
    }

    @Test func gatherResultsFailsWithFirstErrorAtTheFirstFailure() {
        // When an input fails, gatherResults fails at once with FirstError carrying its index and failure.
        let ds = (0..<3).map { _ in Deferred<Int>() }
        let out = Outcome(gatherResults(ds, consumeErrors: true))

        ds[0].callback(0)
        ds[1].errback(TestError(code: 1))

        #expect(out.error(FirstError.self)?.index == 1)
        #expect(out.error(FirstError.self)?.subFailure.value as? TestError == TestError(code: 1))
        ds[2].callback(2)
        #expect(out.calls == 1)
    }

    @Test func cancellingGatherResultsCancelsTheInputs() {
        // When the gathered deferred is cancelled, each input's canceller runs and the result fails with FirstError(CancelledError).
        var cancelled: [Int] = []
        let ds = (0..<3).map { i in Deferred<Int>(canceller: { _ in cancelled.append(i) }) }
        let gathered = gatherResults(ds, consumeErrors: true)
        let out = Outcome(gathered)

        gathered.cancel()

        #expect(cancelled == [0, 1, 2])
        #expect(ds.allSatisfy { $0.called })
        #expect(out.error(FirstError.self)?.subFailure.value is CancelledError)
    }

    // MARK: - race

    @Test func raceFiresWithTheFirstSuccessAndItsIndexAndCancelsTheOthers() {
        // When one input succeeds first, race gives its index and value and the other inputs are cancelled.
        var cancelled: [Int] = []
        let ds = (0..<3).map { i in Deferred<String>(canceller: { _ in cancelled.append(i) }) }
        let out = Outcome(race(ds).addCallback { "\($0.index):\($0.value)" })

        ds[1].callback("b")

        #expect(out.value == "1:b")
        #expect(cancelled == [0, 2])
        #expect(ds.allSatisfy { $0.called })
    }

    @Test func aLoserWhoseCancellerSucceedsDoesNotChangeTheWinner() {
        // When a losing input's canceller calls back with a value, the race keeps the first winner.
        let ds = [Deferred<Int>(), Deferred<Int>(canceller: { $0.callback(99) })]
        let out = Outcome(race(ds).addCallback { "\($0.index):\($0.value)" })

        ds[0].callback(1)

        #expect(out.value == "0:1")
        #expect(out.calls == 1)
        #expect(ds[1].called)
    }

    @Test func raceIgnoresFailuresWhileAnInputMaySucceed() {
        // When an input fails before another succeeds, the race still goes to the one that succeeds.
        var cancelled: [Int] = []
        let ds = (0..<3).map { i in Deferred<Int>(canceller: { _ in cancelled.append(i) }) }
        let out = Outcome(race(ds).addCallback { "\($0.index):\($0.value)" })

        ds[0].errback(TestError(code: 0))
        #expect(!out.fired)
        ds[2].callback(22)

        #expect(out.value == "2:22")
        #expect(cancelled == [1])
    }

    @Test func raceFailsWithFailureGroupWhenEveryInputFails() {
        // When every input fails, race fails with FailureGroup holding the failures in input order.
        let ds = (0..<3).map { _ in Deferred<Int>() }
        let winner = race(ds)
        let out = Outcome(winner)

        ds[2].errback(TestError(code: 2))
        ds[0].errback(TestError(code: 0))
        #expect(!out.fired)
        ds[1].errback(TestError(code: 1))

        let codes = out.error(FailureGroup.self)?.failures.map { ($0.value as? TestError)?.code }
        #expect(codes == [0, 1, 2])
    }

    @Test func raceOfNothingFails() {
        // When race gets no inputs, it fails at once with an empty FailureGroup.
        let out = Outcome(race([Deferred<Int>]()))
        #expect(out.error(FailureGroup.self)?.failures.isEmpty == true)
    }

    @Test func cancellingTheRaceCancelsEveryInput() {
        // When the race is cancelled, every input's canceller runs and the race fails with their CancelledErrors.
        var cancelled: [Int] = []
        let ds = (0..<3).map { i in Deferred<Int>(canceller: { _ in cancelled.append(i) }) }
        let winner = race(ds)
        let out = Outcome(winner)

        winner.cancel()

        #expect(cancelled == [0, 1, 2])
        let failures = out.error(FailureGroup.self)?.failures
        #expect(failures?.count == 3)
        #expect(failures?.allSatisfy { $0.value is CancelledError } == true)
    }
}
