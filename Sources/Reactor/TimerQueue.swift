/// The pending calls of a clock or reactor, in (time, sequence) order: a first-in-first-out ring for
/// calls scheduled in that order, and a binary min-heap for the others.
///
/// Most calls are scheduled no earlier than the one before (every `callLater(0)`, every timeout of
/// one length): they go to the ring, where adding and taking the earliest cost O(1) and no sifting.
/// A call that would sort before the ring's last entry goes to the heap. The earliest call is the
/// earlier of the two fronts.
///
/// Entries are plain data — the time, the sequence number, an unretained reference and the call's
/// generation — so moving them moves no reference counts and touches no `DelayedCall`; the queue
/// holds one retain per entry, taken on insertion and given back on removal. Cancelling or moving a
/// call leaves its old entry behind as stale (its generation no longer matches): stale entries are
/// dropped when they reach the front, and the ring and heap are rebuilt without them as soon as they
/// outnumber the live ones, so a cancelled timeout never lingers in memory for long.
///
/// Every call gets the next sequence number when it is scheduled, so a reactor pass can tell the
/// calls made during it apart without a separate buffer: it notes `sequenceMark` when it starts and
/// runs only calls numbered below it (as in Twisted, a `callLater(0)` made by a timed call runs on
/// the next pass, not in the current one). A call made during the pass normally sorts after every
/// call the pass runs (its time is at least the pass's); the rare one that does not (moved earlier
/// by `delay(_:)`) is held back and put back by `endPass()`.
final class TimerQueue {
    private struct Entry {
        var time: Double
        var sequence: UInt64
        var call: Unmanaged<DelayedCall>
        var generation: UInt32

        @inline(__always) func precedes(_ other: Entry) -> Bool {
            time < other.time || (time == other.time && sequence < other.sequence)
        }

        /// Whether the call still wants to run at this entry's time.
        @inline(__always) var isLive: Bool {
            call._withUnsafeGuaranteedRef { $0.state == .pending && $0.generation == generation }
        }
    }

    // Only touched on the owner's thread, never across a call out.
    //
    // Safety budget (issue 16), the escapes this type keeps, measured by callgrind on `make
    // bench-reactor` rows (release, instructions per operation, scale 0.15 minus 0.05):
    // - `order` (the ring, the heap and the next sequence number, in one struct) skips the
    //   runtime's exclusivity checks: with it checked, call_later_bulk costs 1,477 instructions
    //   per call against 1,263 (+17 %), call_later_chain 1,490 against 1,280 (+16 %) and
    //   clock_random_100k 2,513 against 1,950 (+29 %). It is the reactor's only unchecked
    //   property. `DelayedCall`'s `function`, `inQueue` and `state` and `EPollReactor`'s
    //   `latestReading` and `pollThrottle`, unchecked before, are checked: as separate fields they
    //   cost +1.2 %, +1.5 % and +1.4 % on those rows (1,278, 1,294 and 1,977), grouped into
    //   `DelayedCall.slot` and `EPollReactor.pass` nothing measurable (1,263, 1,282 and 1,950).
    // - `Entry.isLive` and `remove(fromRing:)` read the call through `_withUnsafeGuaranteedRef`:
    //   `takeUnretainedValue()` adds a retain and a release per call (call_later_chain 1,433
    //   instead of 1,280, +12 %; call_later_bulk 1,313 instead of 1,263, +4 %). The queue holds one
    //   retain per entry, so the reference is valid while the entry is.
    @exclusivity(unchecked) private var order = Order()

    /// What every schedule and every pop touches.
    private struct Order {
        var ring = Ring()
        var heap: [Entry] = []
        var nextSequence: UInt64 = 0
    }

    private var ring: Ring {
        get { order.ring }
        _modify { yield &order.ring }
    }
    private var heap: [Entry] {
        get { order.heap }
        _modify { yield &order.heap }
    }
    private var nextSequence: UInt64 {
        get { order.nextSequence }
        _modify { yield &order.nextSequence }
    }
    /// Stale entries in the ring and the heap.
    private var staleCount = 0
    /// Calls taken off during a pass because they were made during it (see the type).
    private var heldBack: [DelayedCall] = []
    /// The clock the calls' times are measured on.
    var now: () -> Double

    init(now: @escaping () -> Double) {
        self.now = now
    }

    deinit {
        removeAll()
        ring.deallocate()
    }

    /// The number of pending calls.
    var count: Int { ring.count + heap.count - staleCount + heldBack.lazy.filter { $0.state == .pending }.count }

    /// The sequence number the next scheduled call will get.
    var sequenceMark: UInt64 { nextSequence }

    /// The time of the earliest pending call (calls held back by a pass are not looked at).
    @inline(__always)
    var earliestTime: Double? {
        guard let (front, _) = front() else { return nil }
        return front.isLive ? front.time : earliestAfterDroppingStale()
    }

    private func earliestAfterDroppingStale() -> Double? {
        while let (front, fromRing) = front() {
            if front.isLive { return front.time }
            remove(fromRing: fromRing).release()
            staleCount -= 1
        }
        return nil
    }

    func schedule(at time: Double, _ function: consuming @escaping () -> Void) -> DelayedCall {
        precondition(!time.isNaN, "callLater(_:_:) needs a delay in seconds, got NaN")
        let call = DelayedCall(time: time, function: function)
        call.queue = self
        call.sequence = nextSequence
        nextSequence &+= 1
        insert(call)
        return call
    }

    /// Removes and returns the earliest pending call if it is due at `time` and was scheduled before
    /// `mark` (a `sequenceMark`); due calls scheduled since are held back until `endPass()`.
    @inline(__always)
    func popDue(at time: Double, scheduledBefore mark: UInt64 = .max) -> DelayedCall? {
        while let (front, fromRing) = front() {
            guard front.isLive else {
                remove(fromRing: fromRing).release()
                staleCount -= 1
                continue
            }
            guard front.time <= time else { return nil }
            let call = remove(fromRing: fromRing).takeRetainedValue()
            if front.sequence < mark { return call }
            heldBack.append(call)
        }
        return nil
    }

    /// Puts the calls held back by `popDue` back in the queue.
    @inline(__always)
    func endPass() {
        if !heldBack.isEmpty { reinsertHeldBack() }
    }

    private func reinsertHeldBack() {
        let calls = heldBack
        heldBack = []
        for call in calls where call.state == .pending { insert(call) }
    }

    /// A pending call was cancelled: its entry (if queued) is now stale.
    func cancelled(_ call: DelayedCall) {
        guard call.inQueue else { return }
        call.inQueue = false
        noteStale()
    }

    /// Moves a pending call to `time`: a new entry replaces the old, now stale, one.
    func move(_ call: DelayedCall, to time: Double) {
        call.time = time
        guard call.inQueue else { return }  // held back: it rejoins the queue with its new time
        call.generation &+= 1
        noteStale()
        insert(call)
    }

    /// The pending calls, earliest first (for `Clock.getDelayedCalls`).
    func pendingCalls() -> [DelayedCall] {
        let queued = (ring.entries + heap).filter { $0.isLive }.sorted { $0.precedes($1) }
        return queued.map { $0.call.takeUnretainedValue() } + heldBack.filter { $0.state == .pending }
    }

    /// Drops every pending call without running it.
    func removeAll() {
        let entries = ring.entries + heap
        ring.removeAll()
        heap = []
        staleCount = 0
        let held = heldBack
        heldBack = []
        for entry in entries {
            let call = entry.call.takeRetainedValue()
            if entry.generation == call.generation {
                call.inQueue = false
                call.cancel()
            }
        }
        for call in held { call.cancel() }
    }

    // MARK: - Ring and heap

    @inline(__always)
    private func insert(_ call: DelayedCall) {
        call.inQueue = true
        let entry = Entry(time: call.time, sequence: call.sequence, call: Unmanaged.passRetained(call),
                          generation: call.generation)
        if ring.isEmpty || ring.last.precedes(entry) {
            ring.append(entry)
        } else {
            heapPush(entry)
        }
    }

    /// The earliest entry, live or stale, and where it is.
    @inline(__always)
    private func front() -> (Entry, fromRing: Bool)? {
        if ring.isEmpty { return heap.first.map { ($0, false) } }
        let first = ring.first
        if let top = heap.first, top.precedes(first) { return (top, false) }
        return (first, true)
    }

    @inline(__always)
    private func remove(fromRing: Bool) -> Unmanaged<DelayedCall> {
        let call = fromRing ? ring.removeFirst().call : heapRemoveTop()
        call._withUnsafeGuaranteedRef { $0.inQueue = false }
        return call
    }

    private func noteStale() {
        staleCount += 1
        if staleCount > 64 && staleCount * 2 > ring.count + heap.count { compact() }
    }

    /// Rebuilds the ring and the heap from their live entries.
    private func compact() {
        let ringEntries = ring.entries
        ring.removeAll()
        for entry in ringEntries {
            if entry.isLive { ring.append(entry) } else { entry.call.release() }
        }
        var live: [Entry] = []
        live.reserveCapacity(heap.count)
        for entry in heap {
            if entry.isLive { live.append(entry) } else { entry.call.release() }
        }
        heap = live
        staleCount = 0
        heap.withUnsafeMutableBufferPointer { buffer in
            guard buffer.count > 1 else { return }
            for index in stride(from: buffer.count / 2 - 1, through: 0, by: -1) {
                TimerQueue.siftDown(buffer, from: index)
            }
        }
    }

    private func heapPush(_ entry: Entry) {
        heap.append(entry)
        heap.withUnsafeMutableBufferPointer { TimerQueue.siftUp($0, from: $0.count - 1) }
    }

    private func heapRemoveTop() -> Unmanaged<DelayedCall> {
        let top = heap[0].call
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            heap.withUnsafeMutableBufferPointer { TimerQueue.siftDown($0, from: 0) }
        }
        return top
    }

    private static func siftUp(_ heap: UnsafeMutableBufferPointer<Entry>, from start: Int) {
        var index = start
        let entry = heap[index]
        while index > 0 {
            let parent = (index - 1) / 2
            guard entry.precedes(heap[parent]) else { break }
            heap[index] = heap[parent]
            index = parent
        }
        heap[index] = entry
    }

    private static func siftDown(_ heap: UnsafeMutableBufferPointer<Entry>, from start: Int) {
        var index = start
        let entry = heap[index]
        let count = heap.count
        while true {
            let left = 2 * index + 1
            guard left < count else { break }
            let right = left + 1
            let child = right < count && heap[right].precedes(heap[left]) ? right : left
            guard heap[child].precedes(entry) else { break }
            heap[index] = heap[child]
            index = child
        }
        heap[index] = entry
    }

    /// A first-in-first-out queue of entries in a circular buffer whose size is a power of two.
    /// (Not an `Array`: taking from the front of one costs a copy or leaves a hole to compact.)
    private struct Ring {
        private var storage: UnsafeMutablePointer<Entry>?
        private var mask = -1
        private var head = 0
        private(set) var count = 0

        var isEmpty: Bool { count == 0 }
        /// The oldest entry; the ring must not be empty.
        var first: Entry { storage.unsafelyUnwrapped[head] }
        /// The newest entry; the ring must not be empty.
        var last: Entry { storage.unsafelyUnwrapped[(head &+ count &- 1) & mask] }
        /// Every entry, oldest first.
        var entries: [Entry] { (0..<count).map { storage.unsafelyUnwrapped[(head + $0) & mask] } }

        mutating func append(_ entry: Entry) {
            if count == mask &+ 1 { grow() }
            storage.unsafelyUnwrapped[(head &+ count) & mask] = entry
            count &+= 1
        }

        mutating func removeFirst() -> Entry {
            let entry = storage.unsafelyUnwrapped[head]
            head = (head &+ 1) & mask
            count &-= 1
            return entry
        }

        mutating func removeAll() {
            head = 0
            count = 0
        }

        /// Frees the buffer (the entries' references are the queue's business).
        mutating func deallocate() {
            storage?.deallocate()
            storage = nil
            mask = -1
            head = 0
            count = 0
        }

        private mutating func grow() {
            let capacity = max(16, 2 * (mask + 1))
            let bigger = UnsafeMutablePointer<Entry>.allocate(capacity: capacity)
            for index in 0..<count { (bigger + index).initialize(to: storage.unsafelyUnwrapped[(head + index) & mask]) }
            storage?.deallocate()
            storage = bigger
            mask = capacity - 1
            head = 0
        }
    }
}
