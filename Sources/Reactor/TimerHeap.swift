/// The pending calls of a clock or reactor, as a binary min-heap ordered by (time, sequence).
///
/// Entries are plain data — the time, the sequence number and an unretained reference — so
/// sifting moves no reference counts; the queue holds one retain per call it contains, taken on
/// insertion and given back on removal. Cancelled calls are removed at once (each call knows its
/// heap index), so a cancelled timeout never lingers until its deadline.
///
/// While `buffering` is on (during a reactor pass), new calls wait in a buffer and join the heap
/// at the next `flushBuffer()`: as in Twisted, a `callLater(0)` made by a timed call runs on the
/// next pass, not in the current one.
final class TimerQueue {
    private struct Entry {
        var time: Double
        var sequence: UInt64
        var call: Unmanaged<DelayedCall>

        @inline(__always) func precedes(_ other: Entry) -> Bool {
            time < other.time || (time == other.time && sequence < other.sequence)
        }
    }

    private var heap: [Entry] = []
    private var buffer: [DelayedCall] = []
    private var nextSequence: UInt64 = 0
    /// New calls go to the buffer instead of the heap.
    var buffering = false
    /// The clock the calls' times are measured on.
    let now: () -> Double

    init(now: @escaping () -> Double) {
        self.now = now
    }

    deinit { removeAll() }

    /// The number of pending calls.
    var count: Int { heap.count + buffer.count }

    /// The time of the earliest call in the heap (the buffer is not looked at).
    var earliestTime: Double? { heap.first?.time }

    func schedule(at time: Double, _ function: @escaping () -> Void) -> DelayedCall {
        precondition(!time.isNaN, "callLater(_:_:) needs a delay in seconds, got NaN")
        let call = DelayedCall(time: time, function: function)
        call.queue = self
        call.sequence = nextSequence
        nextSequence &+= 1
        if buffering {
            buffer.append(call)
        } else {
            insert(call)
        }
        return call
    }

    /// Moves the buffered calls into the heap.
    func flushBuffer() {
        guard !buffer.isEmpty else { return }
        let calls = buffer
        buffer.removeAll(keepingCapacity: true)
        for call in calls where call.state == .pending { insert(call) }
    }

    /// Removes and returns the earliest call if it is due at `time`.
    func popDue(at time: Double) -> DelayedCall? {
        guard let first = heap.first, first.time <= time else { return nil }
        return removeEntry(at: 0)
    }

    func remove(_ call: DelayedCall) {
        let index = call.heapIndex
        if index >= 0 {
            _ = removeEntry(at: index)
        } else if let position = buffer.firstIndex(where: { $0 === call }) {
            buffer.remove(at: position)
        }
    }

    func move(_ call: DelayedCall, to time: Double) {
        call.time = time
        let index = call.heapIndex
        guard index >= 0 else { return }
        heap[index].time = time
        siftDown(siftUp(index))
    }

    /// The pending calls, earliest first (for `Clock.getDelayedCalls`).
    func pendingCalls() -> [DelayedCall] {
        let inHeap = heap.sorted { $0.precedes($1) }.map { $0.call.takeUnretainedValue() }
        return inHeap + buffer
    }

    /// Drops every pending call without running it.
    func removeAll() {
        let entries = heap
        heap = []
        let buffered = buffer
        buffer = []
        for entry in entries {
            let call = entry.call.takeRetainedValue()
            call.heapIndex = -1
            call.cancel()
        }
        for call in buffered { call.cancel() }
    }

    // MARK: - Heap

    private func insert(_ call: DelayedCall) {
        heap.append(Entry(time: call.time, sequence: call.sequence, call: Unmanaged.passRetained(call)))
        siftUp(heap.count - 1)
    }

    private func removeEntry(at index: Int) -> DelayedCall {
        let call = heap[index].call.takeRetainedValue()
        call.heapIndex = -1
        let last = heap.removeLast()
        if index < heap.count {
            heap[index] = last
            setIndex(index)
            siftDown(siftUp(index))
        }
        return call
    }

    @inline(__always) private func setIndex(_ index: Int) {
        heap[index].call._withUnsafeGuaranteedRef { $0.heapIndex = index }
    }

    /// Moves the entry at `index` up to its place; returns where it ended.
    @discardableResult
    private func siftUp(_ start: Int) -> Int {
        var index = start
        let entry = heap[index]
        while index > 0 {
            let parent = (index - 1) / 2
            guard entry.precedes(heap[parent]) else { break }
            heap[index] = heap[parent]
            setIndex(index)
            index = parent
        }
        heap[index] = entry
        setIndex(index)
        return index
    }

    private func siftDown(_ start: Int) {
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
            setIndex(index)
            index = child
        }
        heap[index] = entry
        setIndex(index)
    }
}
