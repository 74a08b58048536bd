import Testing
@testable import Deferreds

@Suite("Chaining callbacks")
struct ChainingTests {

    // MARK: - Order and the two paths

    @Test func callbacksRunInTheOrderAddedEachGettingThePreviousResult() {
        // When a deferred fires, its callbacks run in the order added, each receiving the previous one's result.
        let d = Deferred<Int>()
        var log: [String] = []
        _ = d.addCallback { (v: Int) -> Int in log.append("first(\(v))"); return v + 1 }
        _ = d.addCallback { (v: Int) -> Int in log.append("second(\(v))"); return v * 10 }
        _ = d.addCallback { (v: Int) -> Int in log.append("third(\(v))"); return v }
        #expect(log.isEmpty)
        #expect(!d.called)

        d.callback(1)

        #expect(d.called)
        #expect(log == ["first(1)", "second(2)", "third(20)"])
    }

    @Test func callbacksAddedAfterFiringRunImmediatelyInOrder() {
        // When a callback is added to a fired deferred, it runs before addCallback returns, on the current result.
        let d = Deferred<Int>()
        d.callback(5)
        var log: [Int] = []

        _ = d.addCallback { (v: Int) -> Int in log.append(v); return v + 1 }
        #expect(log == [5])
        _ = d.addCallback { (v: Int) -> Int in log.append(v); return v * 2 }
        #expect(log == [5, 6])
        var text: String?
        _ = d.addCallback { (v: Int) -> String in "\(v)" }.addCallback { text = $0 }
        #expect(text == "12")
    }

    @Test func aThrowingCallbackSwitchesToTheErrorPathAndARecoveringErrbackSwitchesBack() {
        // When a callback throws, later callbacks are skipped until an errback; an errback that returns resumes callbacks.
        let d = Deferred<Int>()
        var log: [String] = []
        _ = d.addCallback { (v: Int) -> Int in log.append("throws"); throw TestError(code: v) }
            .addCallback { (v: Int) -> Int in log.append("skipped"); return v }
            .addErrback { (f: Failure) -> Int in log.append("errback(\(f.value))"); return 99 }
            .addErrback { (_: Failure) -> Int in log.append("not reached"); return 0 }
            .addCallback { (v: Int) -> Int in log.append("recovered(\(v))"); return v }

        d.callback(7)

        #expect(log == ["throws", "errback(TestError #7)", "recovered(99)"])
    }

    @Test func anErrbackThatThrowsKeepsTheChainFailing() {
        // When an errback rethrows (trap with no match), the next errback receives the same failure.
        let d = Deferred<Int>()
        var trapped = false
        d.addErrback { (f: Failure) -> Int in
            try f.trap(OtherError.self)
            trapped = true
            return 0
        }
        let out = Outcome(d)

        d.errback(TestError(code: 3))

        #expect(!trapped)
        #expect(out.error(TestError.self) == TestError(code: 3))
    }

    @Test func addCallbacksErrbackDoesNotSeeTheFailureThrownByItsOwnCallback() {
        // When addCallbacks's callback throws, its own errback is skipped and the failure goes to the next step.
        let d = Deferred<Int>()
        var ownErrbackCalls = 0
        let out = Outcome(
            d.addCallbacks(
                { (v: Int) -> String in throw TestError(code: v) },
                { (_: Failure) -> String in ownErrbackCalls += 1; return "recovered" }))

        d.callback(3)

        #expect(ownErrbackCalls == 0)
        #expect(out.error(TestError.self) == TestError(code: 3))
    }

    @Test func addCallbacksRunsOnlyTheBranchForTheIncomingOutcome() {
        // When addCallbacks gets a failure, only its errback runs; on a success, only its callback runs.
        var log: [String] = []
        let good = Deferred<Int>()
        let bad = Deferred<Int>()
        let goodOut = Outcome(
            good.addCallbacks(
                { (v: Int) -> String in log.append("callback"); return "ok \(v)" },
                { (_: Failure) -> String in log.append("errback"); return "bad" }))
        let badOut = Outcome(
            bad.addCallbacks(
                { (v: Int) -> String in log.append("callback"); return "ok \(v)" },
                { (f: Failure) -> String in log.append("errback"); return "recovered \(f.value)" }))

        good.callback(1)
        bad.errback(TestError(code: 2))

        #expect(log == ["callback", "errback"])
        #expect(goodOut.value == "ok 1")
        #expect(badOut.value == "recovered TestError #2")
    }

    @Test func addBothSeesSuccessesAndFailures() {
        // When addBoth is on a chain, it receives successes and failures; returning recovers, rethrowing keeps failing.
        func describe(_ r: Result<Int, Failure>) -> String {
            switch r {
            case .success(let v): return "success(\(v))"
            case .failure(let f): return "failure(\(f.value))"
            }
        }
        var seen: [String] = []
        let good = Deferred<Int>()
        let bad = Deferred<Int>()
        let stillBad = Deferred<Int>()
        let goodOut = Outcome(good.addBoth { (r: Result<Int, Failure>) -> Int in seen.append(describe(r)); return 1 })
        let badOut = Outcome(bad.addBoth { (r: Result<Int, Failure>) -> Int in seen.append(describe(r)); return 2 })
        let stillBadOut = Outcome(
            stillBad.addBoth { (r: Result<Int, Failure>) -> Int in seen.append(describe(r)); return try r.get() })

        good.callback(10)
        bad.errback(TestError(code: 20))
        stillBad.errback(TestError(code: 30))

        #expect(seen == ["success(10)", "failure(TestError #20)", "failure(TestError #30)"])
        #expect(goodOut.value == 1)
        #expect(badOut.value == 2)
        #expect(stillBadOut.error(TestError.self) == TestError(code: 30))
    }

    // MARK: - Typed handles

    @Test func typeChangingStepsReturnHandlesOnTheSameChain() {
        // When steps change the type (Int -> String -> Void), each handle reports the one chain's `called`.
        let d = Deferred<Int>()
        let asString: Deferred<String> = d.addCallback { (n: Int) -> String in "#\(n)" }
        var got: String?
        let done: Deferred<Void> = asString.addCallback { got = $0 }
        #expect(!asString.called)
        #expect(!done.called)

        d.callback(4)

        #expect(got == "#4")
        #expect(asString.called)
        #expect(done.called)
    }

    @Test func pausingThroughAHandlePausesTheWholeChain() {
        // When a type-changed handle is paused, every handle and the root report paused and no step runs.
        let d = Deferred<Int>()
        let asString = d.addCallback { (n: Int) -> String in "\(n)" }
        var got: String?
        let done = asString.addCallback { got = $0 }

        asString.pause()
        #expect(d.paused)
        #expect(asString.paused)
        #expect(done.paused)
        d.callback(1)
        #expect(got == nil)

        done.unpause()
        #expect(!d.paused)
        #expect(got == "1")
    }

    @Test func cancellingThroughAHandleCancelsTheChain() {
        // When cancel() is called on a type-changed handle, the root's canceller runs and the chain fails with CancelledError.
        var cancellerCalls = 0
        let d = Deferred<Int>(canceller: { _ in cancellerCalls += 1 })
        let asString = d.addCallback { (n: Int) -> String in "\(n)" }
        let out = Outcome(asString)

        asString.cancel()

        #expect(cancellerCalls == 1)
        #expect(d.called)
        #expect(out.error(CancelledError.self) != nil)
    }

    @Test func sameTypeStepsReturnTheSameObject() {
        // When a step keeps the chain's type, the handle returned is the very object it was added to.
        let d = Deferred<Int>()
        #expect(d.addCallback { $0 + 1 } === d)
        #expect(d.addErrback { _ in 0 } === d)
        #expect(d.addBoth { (r: Result<Int, Failure>) -> Int in (try? r.get()) ?? 0 } === d)
        #expect(d.addCallbacks({ (v: Int) -> Int in v }, { (_: Failure) -> Int in 0 }) === d)
        #expect(d.addCallback { (v: Int) -> Deferred<Int> in Deferred.succeed(v) } === d)

        let asString = d.addCallback { (n: Int) -> String in "\(n)" }
        #expect(asString !== d)
        #expect(asString.addCallback { $0 + "!" } === asString)

        var got: String?
        _ = asString.addCallback { got = $0 }
        d.callback(1)
        #expect(got == "2!")
    }

    @Test func everyKindOfSameTypeStepReturnsItsReceiverOnARootAFiredRootAndAHandle() {
        // When a step of any of the ten kinds keeps the type, it returns its receiver, on a root, a fired root and a handle.
        func expectEachReturnsReceiver<V>(
            _ r: Deferred<V>, _ v: V, sourceLocation: Testing.SourceLocation = #_sourceLocation
        ) {
            let again = { (_: V) -> Deferred<V> in Deferred.succeed(v) }
            let recover = { (_: Failure) -> Deferred<V> in Deferred.succeed(v) }
            let keep = { (x: V) -> V in x }
            let rescue = { (_: Failure) -> V in v }
            let both = { (o: Result<V, Failure>) -> V in (try? o.get()) ?? v }
            let bothLater = { (o: Result<V, Failure>) -> Deferred<V> in Deferred.succeed((try? o.get()) ?? v) }
            #expect(r.addCallback(keep) === r, sourceLocation: sourceLocation)
            #expect(r.addCallback(again) === r, sourceLocation: sourceLocation)
            #expect(r.addErrback(rescue) === r, sourceLocation: sourceLocation)
            #expect(r.addErrback(recover) === r, sourceLocation: sourceLocation)
            #expect(r.addCallbacks(keep, rescue) === r, sourceLocation: sourceLocation)
            #expect(r.addCallbacks(again, rescue) === r, sourceLocation: sourceLocation)
            #expect(r.addCallbacks(keep, recover) === r, sourceLocation: sourceLocation)
            #expect(r.addCallbacks(again, recover) === r, sourceLocation: sourceLocation)
            #expect(r.addBoth(both) === r, sourceLocation: sourceLocation)
            #expect(r.addBoth(bothLater) === r, sourceLocation: sourceLocation)
        }
        let unfired = Deferred<Int>()
        expectEachReturnsReceiver(unfired, 1)
        let fired = Deferred.succeed(2)
        expectEachReturnsReceiver(fired, 3)
        let root = Deferred<Int>()
        let handle = root.addCallback { (n: Int) -> String in "\(n)" }
        expectEachReturnsReceiver(handle, "x")

        unfired.callback(0)
        root.callback(4)
        // The deferred-returning steps replaced each value with the one given.
        #expect(Outcome(unfired).value == 1)
        #expect(Outcome(fired).value == 3)
        #expect(Outcome(handle).value == "x")
    }

    // MARK: - Callbacks returning deferreds

    @Test func aCallbackReturningAnUnfiredDeferredPausesTheOuterChainUntilItFires() {
        // When a callback returns an unfired deferred, the outer chain pauses and resumes with the inner result.
        let outer = Deferred<Int>()
        let inner = Deferred<String>()
        var log: [String] = []
        _ = outer.addCallback { (n: Int) -> Deferred<String> in log.append("outer(\(n))"); return inner }
            .addCallback { (s: String) -> Void in log.append("then(\(s))") }

        outer.callback(1)
        #expect(log == ["outer(1)"])
        #expect(outer.paused)

        inner.callback("x")
        #expect(log == ["outer(1)", "then(x)"])
        #expect(!outer.paused)
    }

    @Test func aCallbackReturningAnAlreadyFiredDeferredContinuesAtOnce() {
        // When a callback returns a fired deferred, the outer chain continues synchronously with its result.
        let outer = Deferred<Int>()
        var got: String?
        _ = outer.addCallback { (n: Int) -> Deferred<String> in Deferred.succeed("v\(n)") }
            .addCallback { got = $0 }

        outer.callback(2)

        #expect(got == "v2")
        #expect(!outer.paused)
    }

    @Test func aCallbackMayReturnATypeChangedHandleOfAnotherChain() {
        // When a callback returns a handle whose chain changed type, the outer chain gets that chain's end result.
        let outer = Deferred<Int>()
        let innerRoot = Deferred<Int>()
        var got: String?
        _ = outer
            .addCallback { (_: Int) -> Deferred<String> in innerRoot.addCallback { (n: Int) -> String in "inner \(n)" } }
            .addCallback { got = $0 }

        outer.callback(0)
        #expect(got == nil)
        innerRoot.callback(8)
        #expect(got == "inner 8")

        var syncGot: String?
        let outer2 = Deferred<Int>()
        _ = outer2.addCallback { (n: Int) -> Deferred<String> in Deferred.succeed(n).addCallback { "sync \($0)" } }
            .addCallback { syncGot = $0 }
        outer2.callback(3)
        #expect(syncGot == "sync 3")
    }

    @Test func anInnerFailureFlowsToTheOuterErrback() {
        // When the deferred a callback returned fails (now or later), the outer chain's errback gets that failure.
        let outerAsync = Deferred<Int>()
        let inner = Deferred<Int>()
        let asyncOut = Outcome(outerAsync.addCallback { (_: Int) -> Deferred<Int> in inner })
        outerAsync.callback(0)
        #expect(!asyncOut.fired)
        inner.errback(TestError(code: 1))
        #expect(asyncOut.error(TestError.self) == TestError(code: 1))

        let outerSync = Deferred<Int>()
        let syncOut = Outcome(outerSync.addCallback { (_: Int) -> Deferred<Int> in Deferred.fail(TestError(code: 2)) })
        outerSync.callback(0)
        #expect(syncOut.error(TestError.self) == TestError(code: 2))
    }

    @Test func anErrbackMayReturnADeferredToRecoverLater() {
        // When an errback returns an unfired deferred, the chain waits and continues on the success path with its value.
        let d = Deferred<Int>()
        let rescue = Deferred<Int>()
        var got: Int?
        _ = d.addErrback { (_: Failure) -> Deferred<Int> in rescue }.addCallback { got = $0 }

        d.errback(TestError())
        #expect(got == nil)
        #expect(d.paused)

        rescue.callback(11)
        #expect(got == 11)
        #expect(!d.paused)
    }

    @Test func stepsAddedWhileWaitingOnAnInnerDeferredRunAfterItFires() {
        // When a step is added to a chain waiting on an inner deferred, it waits too and then runs on the inner result.
        let outer = Deferred<Int>()
        let inner = Deferred<Int>()
        var log: [String] = []
        _ = outer.addCallback { (_: Int) -> Deferred<Int> in inner }
        outer.callback(0)

        _ = outer.addCallback { (v: Int) -> Int in log.append("added(\(v))"); return v }
        #expect(log.isEmpty)

        inner.callback(4)
        #expect(log == ["added(4)"])
    }

    @Test func nestedChainsWaitOnEachOther() {
        // When outer waits on inner, which waits on innerInner, the outer chain resumes only once innerInner fires.
        let outer = Deferred<Int>()
        let inner = Deferred<Int>()
        let innerInner = Deferred<Int>()
        _ = inner.addCallback { (n: Int) -> Deferred<Int> in innerInner.addCallback { $0 + n } }
        var got: Int?
        _ = outer.addCallback { (_: Int) -> Deferred<Int> in inner }.addCallback { got = $0 }

        outer.callback(1)
        inner.callback(20)
        #expect(outer.paused)
        #expect(inner.paused)
        #expect(got == nil)

        innerInner.callback(300)
        #expect(got == 320)
        #expect(!outer.paused)
        #expect(!inner.paused)
    }

    @Test func aPausedInnerDeferredHoldsTheOuterChainUntilUnpaused() {
        // When the returned inner deferred has fired but is paused, the outer chain waits until it is unpaused.
        let inner = Deferred<Int>()
        inner.pause()
        inner.callback(5)
        let outer = Deferred<Int>()
        var got: Int?
        _ = outer.addCallback { (_: Int) -> Deferred<Int> in inner }.addCallback { got = $0 }

        outer.callback(0)
        #expect(got == nil)
        #expect(outer.paused)

        inner.unpause()
        #expect(got == 5)
        #expect(!outer.paused)
    }

    // MARK: - Same-type deferred-returning callbacks (stored typed, run on the unboxed value)

    @Test func aSameTypeDeferredReturningStepAmongCallbacksFeedsThemTheInnerValue() {
        // When Int callbacks surround ones returning Deferred<Int> (fired, later, a handle), each gets the inner value.
        let later = Deferred<Int>()
        var log: [Int] = []
        let d = Deferred<Int>()
        _ = d.addCallback { $0 + 1 }
            .addCallback { (v: Int) -> Deferred<Int> in Deferred.succeed(v * 10) }
            .addCallback { (v: Int) -> Int in log.append(v); return v + 1 }
            .addCallback { (v: Int) -> Deferred<Int> in later.addCallback { $0 + v } }
            .addCallback { (v: Int) -> Int in log.append(v); return v }
            .addCallback { (v: Int) -> Deferred<Int> in Deferred.succeed("\(v)").addCallback { Int($0)! + 1 } }
            .addCallback { (v: Int) -> Int in log.append(v); return v }

        d.callback(1)
        #expect(log == [20])
        #expect(d.paused)

        later.callback(100)
        #expect(log == [20, 121, 122])
        #expect(!d.paused)
        #expect(Outcome(d).value == 122)
    }

    @Test func aSameTypeDeferredReturningStepThatThrowsOrGetsAFailureSkipsTheCallbacksAfterIt() {
        // When such a step throws or its deferred fails (now or later), later callbacks skip; the errback gets it.
        let throwing = Deferred<Int>()
        var ran: [String] = []
        let line = #line; _ = throwing.addCallback { (_: Int) -> Deferred<Int> in throw TestError(code: 1) }
        _ = throwing.addCallback { (v: Int) -> Int in ran.append("after throw"); return v }
        let throwingOut = Outcome(throwing)
        throwing.callback(0)
        #expect(throwingOut.error(TestError.self) == TestError(code: 1))
        #expect(throwingOut.failure?.line == line)

        let failedNow = Deferred<Int>()
        _ = failedNow.addCallback { (_: Int) -> Deferred<Int> in Deferred.fail(TestError(code: 2)) }
        _ = failedNow.addCallback { (v: Int) -> Int in ran.append("after failed now"); return v }
        let failedNowOut = Outcome(failedNow.addErrback { _ in -1 })
        failedNow.callback(0)
        #expect(failedNowOut.value == -1)

        let inner = Deferred<Int>()
        let failedLater = Deferred<Int>()
        _ = failedLater.addCallback { (_: Int) -> Deferred<Int> in inner }
        _ = failedLater.addCallback { (v: Int) -> Int in ran.append("after failed later"); return v }
        let failedLaterOut = Outcome(failedLater)
        failedLater.callback(0)
        #expect(!failedLaterOut.fired)
        inner.errback(TestError(code: 3))
        #expect(failedLaterOut.error(TestError.self) == TestError(code: 3))
        #expect(ran.isEmpty)
    }

    @Test func cancellingAChainWaitingInASameTypeStepCancelsTheInnerDeferred() {
        // When a chain waits on the Deferred<Int> its Int callback returned, cancel() cancels that inner deferred.
        var innerCancelled = false
        let inner = Deferred<Int>(canceller: { _ in innerCancelled = true })
        _ = inner.addCallback { $0 + 1 }
        let outer = Deferred<Int>()
        _ = outer.addCallback { (_: Int) -> Deferred<Int> in inner }
        let out = Outcome(outer)
        outer.callback(0)
        #expect(outer.paused)

        outer.cancel()

        #expect(innerCancelled)
        #expect(out.error(CancelledError.self) != nil)
        #expect(!outer.paused)
    }

    @Test func chainsWaitingOnADeferredWithStepsOfItsOwnResumeInOrderBeforeStepsAddedLater() {
        // When two Int chains wait on a Deferred<Int> with a callback of its own that then gets another, they go first.
        let inner = Deferred<Int>()
        var log: [String] = []
        _ = inner.addCallback { (v: Int) -> Int in log.append("inner(\(v))"); return v + 1 }
        let first = Deferred<Int>()
        let second = Deferred<Int>()
        _ = first.addCallback { (_: Int) -> Deferred<Int> in inner }
            .addCallback { (v: Int) -> Int in log.append("first(\(v))"); return v }
        _ = second.addCallback { (_: Int) -> Deferred<Int> in inner }
            .addCallback { (v: Int) -> Int in log.append("second(\(v))"); return v }
        first.callback(0)
        second.callback(0)
        _ = inner.addCallback { (v: Int) -> Int in log.append("later(\(v))"); return v }
        #expect(log.isEmpty)

        inner.callback(1)

        #expect(log == ["inner(1)", "first(2)", "second(2)", "later(2)"])
        #expect(!first.paused && !second.paused)
    }

    @Test func aCallbackAddedToItsOwnChainFromASameTypeStepRunsAfterTheInnerValueArrives() {
        // When a deferred-returning Int callback adds a callback to its own chain, that one runs after the ones queued.
        let d = Deferred<Int>()
        let inner = Deferred<Int>()
        var log: [String] = []
        _ = d.addCallback { (v: Int) -> Deferred<Int> in
            _ = d.addCallback { (w: Int) -> Int in log.append("added(\(w))"); return w }
            return inner
        }
        _ = d.addCallback { (v: Int) -> Int in log.append("queued(\(v))"); return v + 1 }
        d.callback(0)
        #expect(log.isEmpty)

        inner.callback(5)

        #expect(log == ["queued(5)", "added(6)"])
    }

    // MARK: - Type-changing callbacks added to a fired deferred (run at once, not stored)

    @Test func aTypeChangingCallbackAddedToAFiredDeferredRunsAtOnce() {
        // When addCallback changes a fired chain's type, it runs before returning; a throw records where it was added.
        let d = Deferred.succeed(2)
        var ran = false
        let asString = d.addCallback { (v: Int) -> String in ran = true; return "\(v)!" }
        #expect(ran)
        #expect(asString.called && !asString.paused)
        #expect(Outcome(asString).value == "2!")

        let one = Deferred.succeed(1)
        let line = #line; let thrown = one.addCallback { (_: Int) -> String in throw TestError(code: 7) }
        let thrownOut = Outcome(thrown)
        #expect(thrownOut.error(TestError.self) == TestError(code: 7))
        #expect(thrownOut.failure?.line == line)
    }

    @Test func aTypeChangingCallbackAddedToAFailedDeferredIsSkippedAndTheTypeStillChanges() {
        // When addCallback changes a failed chain's type, it does not run; an errback of the new type gets the failure.
        var ran = false
        let d = Deferred<Int>.fail(TestError(code: 4))
        let asString = d.addCallback { (v: Int) -> String in ran = true; return "\(v)" }
        var seen: Failure?
        let rescued = asString.addErrback { (f: Failure) -> String in seen = f; return "rescued" }
        #expect(!ran)
        #expect(seen?.value as? TestError == TestError(code: 4))
        #expect(Outcome(rescued).value == "rescued")
    }

    @Test func aTypeChangingCallbackThatPausesItsFiredDeferredHoldsLaterSteps() {
        // When a type-changing callback run at once pauses its deferred, steps added afterwards wait for unpause().
        let d = Deferred.succeed(3)
        var log: [String] = []
        let asString = d.addCallback { (v: Int) -> String in d.pause(); return "\(v)" }
        _ = asString.addCallback { (s: String) -> Void in log.append("after(\(s))") }
        #expect(log.isEmpty)
        #expect(d.paused)

        d.unpause()

        #expect(log == ["after(3)"])
    }

    // MARK: - Re-entrancy, chainDeferred, pause

    @Test func aCallbackAddedFromInsideACallbackRunsAfterTheCallbacksAlreadyQueued() {
        // When a running callback adds another callback, the new one is appended: it runs after those already queued.
        let typed = Deferred<Int>()
        var log: [String] = []
        _ = typed.addCallback { (v: Int) -> Int in
            log.append("first(\(v))")
            _ = typed.addCallback { (w: Int) -> Int in log.append("added(\(w))"); return w }
            log.append("first returns")
            return v + 1
        }
        _ = typed.addCallback { (v: Int) -> Int in log.append("second(\(v))"); return v + 1 }
        typed.callback(0)
        #expect(log == ["first(0)", "first returns", "second(1)", "added(2)"])

        // The same through type-erased steps (addBoth).
        let erased = Deferred<Int>()
        var erasedLog: [String] = []
        _ = erased.addBoth { (r: Result<Int, Failure>) -> Int in
            let v = try r.get()
            erasedLog.append("first(\(v))")
            _ = erased.addBoth { (r: Result<Int, Failure>) -> Int in
                let w = try r.get()
                erasedLog.append("added(\(w))")
                return w
            }
            return v + 1
        }
        _ = erased.addBoth { (r: Result<Int, Failure>) -> Int in
            let v = try r.get()
            erasedLog.append("second(\(v))")
            return v + 1
        }
        erased.callback(0)
        #expect(erasedLog == ["first(0)", "second(1)", "added(2)"])
    }

    @Test func aStepAddedToTheInnerDeferredThatResumedTheRunningCallbackRunsBeforeItReturns() {
        // When an outer callback adds a step to the inner deferred that resumed it, the step runs at once (Twisted's order).
        let inner = Deferred<Int>()
        let outer = Deferred<Int>()
        var log: [String] = []
        _ = outer.addCallback { (_: Int) -> Deferred<Int> in inner }
        _ = outer.addCallback { (v: Int) -> Int in
            log.append("outer(\(v)) starts")
            _ = inner.addCallback { (w: Int) -> Int in log.append("added(\(w))"); return w + 10 }
            log.append("outer returns")
            return v
        }
        outer.callback(0)
        inner.callback(1)

        #expect(log == ["outer(1) starts", "added(1)", "outer returns"])
        #expect(Outcome(inner).value == 11)
        #expect(Outcome(outer).value == 1)
    }

    @Test func aStepAddedToTheResumingInnerDeferredThroughATypeChangingChainRunsBeforeTheCallbackReturns() {
        // When a String chain waiting on a Deferred<Int> adds a type-changing step to it, that step runs at once.
        let inner = Deferred<Int>()
        let outer = Deferred<String>()
        var log: [String] = []
        let resumed = outer.addCallback { (_: String) -> Deferred<Int> in inner }
        let described = resumed.addCallback { (v: Int) -> String in
            log.append("outer(\(v)) starts")
            _ = inner.addCallback { (w: Int) -> String in log.append("added(\(w))"); return "\(w)" }
            log.append("outer returns")
            return "\(v)"
        }
        outer.callback("go")
        inner.callback(2)

        #expect(log == ["outer(2) starts", "added(2)", "outer returns"])
        #expect(Outcome(described).value == "2")
    }

    @Test func aStepAddedByTheFirstOfTwoResumedChainsRunsAfterTheInnersOtherHandOver() {
        // When the first of two chains waiting on one deferred adds a step to it, the second chain resumes before that step, both inside the first's callback.
        let inner = Deferred<Int>()
        let first = Deferred<Int>()
        let second = Deferred<Int>()
        var log: [String] = []
        _ = first.addCallback { (_: Int) -> Deferred<Int> in inner }
        _ = first.addCallback { (v: Int) -> Int in
            log.append("first(\(v)) starts")
            _ = inner.addCallback { (w: Int) -> Int in log.append("added(\(w))"); return w }
            log.append("first returns")
            return v
        }
        _ = second.addCallback { (_: Int) -> Deferred<Int> in inner }
        _ = second.addCallback { (v: Int) -> Int in log.append("second(\(v))"); return v }
        first.callback(0)
        second.callback(0)

        inner.callback(1)

        #expect(log == ["first(1) starts", "second(1)", "added(1)", "first returns"])
    }

    @Test func aStepAddedToAChainDeferredSourceByTheTargetsCallbackRunsAfterIt() {
        // When chainDeferred's target callback adds a step to the source, the step waits: the source's own step is still running.
        let source = Deferred<Int>()
        let target = Deferred<Int>()
        var log: [String] = []
        source.chainDeferred(target)
        _ = target.addCallback { (v: Int) -> Int in
            log.append("target(\(v)) starts")
            _ = source.addCallback { (w: Int) -> Int in log.append("added(\(w))"); return w }
            log.append("target returns")
            return v
        }

        source.callback(1)

        #expect(log == ["target(1) starts", "target returns", "added(1)"])
    }

    @Test func manyCallbacksAddedFromARunningCallbackRunAfterThoseQueuedInOrder() {
        // When a running callback adds a thousand callbacks, they run after the ones already queued, in order.
        let d = Deferred<Int>()
        var log: [Int] = []
        _ = d.addCallback { (v: Int) -> Int in
            for i in 0..<1000 { _ = d.addCallback { (w: Int) -> Int in log.append(i); return w + 1 } }
            return v + 1
        }
        _ = d.addCallback { (v: Int) -> Int in log.append(-1); return v }
        var result: Int?

        d.callback(0)
        _ = d.addCallback { result = $0 }

        #expect(log == [-1] + Array(0..<1000))
        #expect(result == 1001)
    }

    @Test func chainDeferredPassesAResultToTheOtherDeferred() {
        // When chainDeferred(other) is reached with a value, other fires with that value.
        let source = Deferred<Int>()
        let target = Deferred<Int>()
        var got: Int?
        _ = target.addCallback { got = $0 }
        _ = source.addCallback { $0 * 2 }
        source.chainDeferred(target)
        #expect(!target.called)

        source.callback(21)

        #expect(target.called)
        #expect(got == 42)
    }

    @Test func chainDeferredPassesAFailureToTheOtherDeferred() {
        // When chainDeferred(other) is reached with a failure, other's errback receives that same failure.
        let source = Deferred<Int>()
        let target = Deferred<Int>()
        let out = Outcome(target)
        source.chainDeferred(target)

        let line = #line; source.errback(TestError(code: 9))

        #expect(out.error(TestError.self) == TestError(code: 9))
        #expect(out.failure?.line == line)
    }

    @Test func pausesNestAndNoCallbackRunsWhilePaused() {
        // When a deferred is paused twice, it takes two unpause() calls before its callbacks run.
        let d = Deferred<Int>()
        var log: [Int] = []
        _ = d.addCallback { log.append($0) }
        d.pause()
        d.pause()
        d.callback(1)
        #expect(log.isEmpty)
        #expect(d.paused)

        d.unpause()
        #expect(log.isEmpty)
        #expect(d.paused)

        d.unpause()
        #expect(log == [1])
        #expect(!d.paused)
    }

    @Test func aCallbackThatPausesItsOwnDeferredStopsTheChainThere() {
        // When a callback pauses its own deferred, the following callbacks wait for unpause().
        let d = Deferred<Int>()
        var log: [String] = []
        _ = d.addCallback { (v: Int) -> Int in log.append("pauses"); d.pause(); return v + 1 }
        _ = d.addCallback { (v: Int) -> Int in log.append("after(\(v))"); return v }

        d.callback(1)
        #expect(log == ["pauses"])
        #expect(d.paused)
        _ = d.addCallback { (v: Int) -> Int in log.append("added while paused(\(v))"); return v }
        #expect(log == ["pauses"])

        d.unpause()
        #expect(log == ["pauses", "after(2)", "added while paused(2)"])
    }

    // MARK: - Depth

    @Test func aMillionChainedDeferredsFiredInOrderCompleteWithoutOverflowingTheStack() {
        // When 1,000,000 deferreds each return the next unfired one from a callback and fire 0...N, the first gets the last value.
        let n = 1_000_000
        let ds = (0...n).map { _ in Deferred<Int>() }
        for i in 0..<n {
            let next = ds[i + 1]
            _ = ds[i].addCallback { (_: Int) -> Deferred<Int> in next }
        }
        var result: Int?
        _ = ds[0].addCallback { result = $0 }

        for i in 0...n { ds[i].callback(i) }

        #expect(result == n)
        #expect(!ds[0].paused)
    }

    @Test func aMillionCallbacksOnOneDeferredComplete() {
        // When 1,000,000 callbacks are on one deferred, firing it runs them all and the last sees the total.
        let n = 1_000_000
        let d = Deferred<Int>()
        for _ in 0..<n { _ = d.addCallback { $0 + 1 } }
        var result: Int?
        _ = d.addCallback { result = $0 }

        d.callback(0)

        #expect(result == n)
    }

    // MARK: - succeed, fail, maybeDeferred

    @Test func succeedAndFailReturnFiredDeferreds() {
        // When succeed/fail (free or static) are used, the deferred has already fired with that value or failure.
        let a: Deferred<Int> = succeed(1)
        let b = Deferred<Int>.succeed(2)
        let c: Deferred<Int> = fail(TestError(code: 3))
        let e = Deferred<Int>.fail(TestError(code: 4))
        #expect(a.called && b.called && c.called && e.called)

        #expect(Outcome(a).value == 1)
        #expect(Outcome(b).value == 2)
        #expect(Outcome(c).error(TestError.self) == TestError(code: 3))
        #expect(Outcome(e).error(TestError.self) == TestError(code: 4))
    }

    @Test func maybeDeferredWrapsAValueOrAThrownError() {
        // When maybeDeferred calls a value-returning function, it returns a fired deferred; a throw gives a failed one.
        var calls = 0
        let ok = maybeDeferred { () -> Int in calls += 1; return 5 }
        #expect(calls == 1)
        #expect(Outcome(ok).value == 5)

        let thrown = maybeDeferred { () throws -> Int in throw TestError(code: 6) }
        #expect(thrown.called)
        #expect(Outcome(thrown).error(TestError.self) == TestError(code: 6))
    }

    @Test func maybeDeferredPassesADeferredThroughOrWrapsAThrownError() {
        // When maybeDeferred calls a deferred-returning function, it returns that deferred; a throw gives a failed one.
        let pending = Deferred<Int>()
        let same = maybeDeferred { () -> Deferred<Int> in pending }
        #expect(same === pending)
        #expect(!same.called)

        let thrown = maybeDeferred { () throws -> Deferred<Int> in throw TestError(code: 7) }
        #expect(thrown.called)
        #expect(Outcome(thrown).error(TestError.self) == TestError(code: 7))
        pending.callback(0)
    }

    // MARK: - Failure

    @Test func checkReturnsTheFirstMatchingTypeOrNil() {
        // When check is given types, it returns the first one the error is an instance of, else nil.
        let f = Failure(TestError(code: 1))
        #expect(f.check(OtherError.self, TestError.self) == TestError.self)
        #expect(f.check(TestError.self, OtherError.self) == TestError.self)
        #expect(f.check(OtherError.self) == nil)
        #expect(f.check() == nil)
    }

    @Test func trapReturnsTheMatchOrRethrowsTheSameFailure() throws {
        // When trap matches, it returns the type; when nothing matches, it throws the very same Failure.
        let line = #line; let f = Failure(TestError(code: 2))
        #expect(try f.trap(OtherError.self, TestError.self) == TestError.self)

        do {
            try f.trap(OtherError.self, CancelledError.self)
            Issue.record("trap did not throw")
        } catch let thrown as Failure {
            #expect(thrown.value as? TestError == TestError(code: 2))
            #expect(thrown.file == #fileID)
            #expect(thrown.line == line)
        }
    }

    @Test func getErrorMessageDescribesTheError() {
        // When getErrorMessage is called, it gives the error's description.
        #expect(Failure(TestError(code: 3)).getErrorMessage() == "TestError #3")
        #expect(Failure(CancelledError()).getErrorMessage() == "Deferred was cancelled")
        #expect(Failure(OtherError()).getErrorMessage().contains("OtherError"))
    }

    @Test func aFailuresDescriptionNamesTheErrorTypeAndMessage() {
        // When a Failure is printed, its description names the error's type and message.
        let text = Failure(TestError(code: 8)).description
        #expect(text.contains("TestError"))
        #expect(text.contains("TestError #8"))
    }

    @Test func getTracebackNamesTheTypeTheMessageAndWhereErrbackWasCalled() {
        // When a deferred is errbacked here, the failure's traceback names the error type, message and this file.
        let d = Deferred<Int>()
        let out = Outcome(d)
        let line = #line; d.errback(TestError(code: 4))

        let traceback = out.failure?.getTraceback() ?? ""
        #expect(traceback.contains("TestError"))
        #expect(traceback.contains("TestError #4"))
        #expect(traceback.contains(#fileID))
        #expect(traceback.contains("\(line)"))
        #expect(out.failure?.file == #fileID)
        #expect(out.failure?.line == line)
    }

    @Test func anErrorThrownInACallbackRecordsWhereTheCallbackWasAdded() {
        // When a callback throws, its Failure's file and line are those of the addCallback call in this file.
        let typed = Deferred<Int>()
        let typedLine = #line; _ = typed.addCallback { (_: Int) -> Int in throw TestError(code: 1) }
        let typedOut = Outcome(typed)

        let changing = Deferred<Int>()
        let changingLine = #line; let asString = changing.addCallback { (_: Int) -> String in throw TestError(code: 2) }
        let changingOut = Outcome(asString)

        let errback = Deferred<Int>()
        let errbackLine = #line; errback.addErrback { (_: Failure) -> Int in throw TestError(code: 3) }
        let errbackOut = Outcome(errback)

        typed.callback(0)
        changing.callback(0)
        errback.errback(OtherError())

        #expect(typedOut.failure?.file == #fileID)
        #expect(typedOut.failure?.line == typedLine)
        #expect(changingOut.failure?.file == #fileID)
        #expect(changingOut.failure?.line == changingLine)
        #expect(errbackOut.failure?.file == #fileID)
        #expect(errbackOut.failure?.line == errbackLine)
        #expect(errbackOut.error(TestError.self) == TestError(code: 3))
    }

    @Test func aFailureIsNeverWrappedInAFailure() {
        // When a Failure is wrapped, errbacked, failed with, or thrown from a callback, the value stays the original error.
        let line = #line; let original = Failure(TestError(code: 5))

        let rewrapped = Failure(original)
        #expect(rewrapped.value is TestError)
        #expect(rewrapped.line == line)

        let d = Deferred<Int>()
        let dOut = Outcome(d)
        d.errback(original)
        #expect(dOut.failure?.value is TestError)
        #expect(dOut.failure?.line == line)

        let failed = Deferred<Int>.fail(original)
        #expect(Outcome(failed).failure?.value is TestError)

        let thrower = Deferred<Int>()
        _ = thrower.addCallback { (_: Int) -> Int in throw original }
        let throwerOut = Outcome(thrower)
        thrower.callback(0)
        #expect(throwerOut.failure?.value is TestError)
        #expect(throwerOut.failure?.line == line)
    }
}
