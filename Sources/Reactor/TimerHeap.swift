/// The pending calls of a clock or reactor, as a binary min-heap ordered by (time, sequence).
///
/// Entries are plain data — the time, the sequence number, an unretained reference and the call's
/// generation — so sifting moves no reference counts and touches no `DelayedCall`; the queue holds
/// one retain per entry, taken on insertion and given back on removal. Cancelling or moving a call
/// leaves its old entry behind as stale (its generation no longer matches): stale entries are
/// dropped when they reach the top, and the heap is rebuilt without them as soon as they outnumber
/// the live ones, so a cancelled timeout never lingers in memory for long.
///
/// While `buffering` is on (during a reactor pass), new calls wait in a buffer and join the heap
/// at the next `flushBuffer()`: as in Twisted, a `callLater(0)` made by a timed call runs on the
/// next pass, not in the current one.
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

    @exclusivity(unchecked) private var heap: [Entry] = []
    @exclusivity(unchecked) private var staleCount = 0
    @exclusivity(unchecked) private var buffer: [DelayedCall] = []
    @exclusivity(unchecked) private var spareBuffer: [DelayedCall] = []
    @exclusivity(unchecked) private var nextSequence: UInt64 = 0
    /// New calls go to the buffer instead of the heap.
    @exclusivity(unchecked) var buffering = false
    /// The clock the calls' times are measured on.
    var now: () -> Double

    init(now: @escaping () -> Double) {
        self.now = now
    }

    deinit { removeAll() }

    /// The number of pending calls.
    var count: Int { heap.count - staleCount + buffer.lazy.filter { $0.state == .pending }.count }

    /// The time of the earliest pending call in the heap (the buffer is not looked at).
    var earliestTime: Double? {
        dropStaleTop()
        return heap.first?.time
    }

    func schedule(at time: Double, _ function: @escaping () -> Void) -> DelayedCall {
        precondition(!time.isNaN, "callLater(_:_:) needs a delay in seconds, got NaN")
        let call = DelayedCall(time: time, function: function)
        call.queue = self
        call.sequence = nextSequence
        nextSequence &+= 1
        if buffering {
            buffer.append(call)
        } else {
            push(call)
        }
        return call
    }

    /// Moves the buffered calls into the heap.
    func flushBuffer() {
        guard !buffer.isEmpty else { return }
        swap(&buffer, &spareBuffer)
        for call in spareBuffer where call.state == .pending { push(call) }
        spareBuffer.removeAll(keepingCapacity: true)
    }

    /// Removes and returns the earliest pending call if it is due at `time`.
    func popDue(at time: Double) -> DelayedCall? {
        while let top = heap.first {
            if !top.isLive {
                removeTop().release()
                staleCount -= 1
                continue
            }
            guard top.time <= time else { return nil }
            return removeTop().takeRetainedValue()
        }
        return nil
    }

    /// A pending call was cancelled: its entry (if in the heap) is now stale.
    func cancelled(_ call: DelayedCall) {
        guard call.inHeap else { return }
        call.inHeap = false
        noteStale()
    }

    /// Moves a pending call to `time`: a new entry replaces the old, now stale, one.
    func move(_ call: DelayedCall, to time: Double) {
        call.time = time
        guard call.inHeap else { return }  // still buffered: it joins the heap with its new time
        call.generation &+= 1
        noteStale()
        push(call)
    }

    /// The pending calls, earliest first (for `Clock.getDelayedCalls`).
    func pendingCalls() -> [DelayedCall] {
        let inHeap = heap.filter { $0.isLive }.sorted { $0.precedes($1) }.map { $0.call.takeUnretainedValue() }
        return inHeap + buffer.filter { $0.state == .pending }
    }

    /// Drops every pending call without running it.
    func removeAll() {
        let entries = heap
        heap = []
        staleCount = 0
        let buffered = buffer
        buffer = []
        for entry in entries {
            let call = entry.call.takeRetainedValue()
            if entry.generation == call.generation {
                call.inHeap = false
                call.cancel()
            }
        }
        for call in buffered { call.cancel() }
    }

    // MARK: - Heap

    private func push(_ call: DelayedCall) {
        call.inHeap = true
        heap.append(Entry(time: call.time, sequence: call.sequence, call: Unmanaged.passRetained(call),
                          generation: call.generation))
        heap.withUnsafeMutableBufferPointer { TimerQueue.siftUp($0, from: $0.count - 1) }
    }

    private func noteStale() {
        staleCount += 1
        if staleCount > 64 && staleCount * 2 > heap.count { compact() }
    }

    private func dropStaleTop() {
        while let top = heap.first, !top.isLive {
            removeTop().release()
            staleCount -= 1
        }
    }

    /// Rebuilds the heap from its live entries.
    private func compact() {
        var live: [Entry] = []
        live.reserveCapacity(heap.count - staleCount)
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

    private func removeTop() -> Unmanaged<DelayedCall> {
        let top = heap[0].call
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            heap.withUnsafeMutableBufferPointer { TimerQueue.siftDown($0, from: 0) }
        }
        top._withUnsafeGuaranteedRef { $0.inHeap = false }
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
}
