import Testing
@testable import Deferreds

@Suite("DeferredQueue")
struct QueueTests {

    @Test func anItemPutFirstIsGivenToTheNextGet() throws {
        // When an item is put before any get, it is kept and the next get fires with it at once.
        let q = DeferredQueue<String>()
        try q.put("a")
        #expect(q.pendingCount == 1)

        let got = try q.get()

        #expect(got.called)
        #expect(Outcome(got).value == "a")
        #expect(q.pendingCount == 0)
    }

    @Test func aGetWaitingBeforeAnyPutFiresWhenAnItemIsPut() throws {
        // When get is called on an empty queue, its deferred waits and fires with the next item put.
        let q = DeferredQueue<String>()
        let got = try q.get()
        let out = Outcome(got)
        #expect(!got.called)
        #expect(q.waitingCount == 1)

        try q.put("b")

        #expect(out.value == "b")
        #expect(q.waitingCount == 0)
        #expect(q.pendingCount == 0)
    }

    @Test func itemsComeOutInTheOrderTheyWerePut() throws {
        // When several items are put, gets return them first in, first out.
        let q = DeferredQueue<Int>()
        for i in 1...3 { try q.put(i) }

        let values = try (0..<3).map { _ in Outcome(try q.get()).value }

        #expect(values == [1, 2, 3])
    }

    @Test func gettersAreServedInTheOrderTheyAsked() throws {
        // When several gets wait, items put are handed to them first come, first served.
        let q = DeferredQueue<String>()
        let getters = try (0..<3).map { _ in Outcome(try q.get()) }
        #expect(q.waitingCount == 3)

        for item in ["x", "y", "z"] { try q.put(item) }

        #expect(getters.map(\.value) == ["x", "y", "z"])
    }

    @Test func putBeyondSizeThrowsQueueOverflow() throws {
        // When size items are already held, put throws QueueOverflow; a get makes room again.
        let q = DeferredQueue<Int>(size: 2)
        try q.put(1)
        try q.put(2)

        #expect(throws: QueueOverflow.self) { try q.put(3) }
        #expect(q.pendingCount == 2)

        #expect(Outcome(try q.get()).value == 1)
        try q.put(3)
        #expect(q.pendingCount == 2)
    }

    @Test func aZeroSizeQueueAcceptsAPutOnlyWhenAGetterWaits() throws {
        // When size is 0, put throws QueueOverflow unless a getter is waiting to take the item.
        let q = DeferredQueue<Int>(size: 0)
        #expect(throws: QueueOverflow.self) { try q.put(1) }

        let out = Outcome(try q.get())
        try q.put(2)
        #expect(out.value == 2)
    }

    @Test func getBeyondBacklogThrowsQueueUnderflow() throws {
        // When backlog getters already wait, get throws QueueUnderflow; with items held, get still succeeds.
        let q = DeferredQueue<Int>(backlog: 1)
        let waiting = Outcome(try q.get())

        #expect(throws: QueueUnderflow.self) { _ = try q.get() }
        #expect(q.waitingCount == 1)

        try q.put(1)
        try q.put(2)
        #expect(waiting.value == 1)
        #expect(Outcome(try q.get()).value == 2)
    }

    @Test func cancellingAWaitingGetGivesUpItsPlaceWithoutLosingAnItem() throws {
        // When a waiting get is cancelled, it fails with CancelledError and the next item goes to the next getter.
        let q = DeferredQueue<String>()
        let cancelled = try q.get()
        let cancelledOut = Outcome(cancelled)
        let nextOut = Outcome(try q.get())

        cancelled.cancel()
        #expect(cancelledOut.error(CancelledError.self) != nil)
        #expect(q.waitingCount == 1)

        try q.put("a")
        #expect(nextOut.value == "a")
        #expect(q.waitingCount == 0)
        #expect(q.pendingCount == 0)
    }

    @Test func anItemPutWhenEveryGetterWasCancelledIsKept() throws {
        // When the only waiting get was cancelled, a put keeps the item for the next get.
        let q = DeferredQueue<String>()
        let cancelled = try q.get()
        let cancelledOut = Outcome(cancelled)
        cancelled.cancel()
        #expect(q.waitingCount == 0)

        try q.put("kept")

        #expect(q.pendingCount == 1)
        #expect(cancelledOut.calls == 1)
        #expect(Outcome(try q.get()).value == "kept")
    }

    @Test func cancelledGettersDoNotCountAgainstTheBacklog() throws {
        // When a waiting get is cancelled, it frees its backlog slot for a new get.
        let q = DeferredQueue<Int>(backlog: 1)
        let cancelled = try q.get()
        let cancelledOut = Outcome(cancelled)
        cancelled.cancel()
        #expect(cancelledOut.error(CancelledError.self) != nil)

        let next = Outcome(try q.get())
        try q.put(7)

        #expect(next.value == 7)
    }
}
