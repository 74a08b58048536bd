/// A first-in, first-out queue with O(1) amortised push and pop, for waiters and queued items.
@usableFromInline struct WaitQueue<Element> {
    @usableFromInline var storage: [Element?] = []
    @usableFromInline var head = 0

    @inlinable init() {}

    @inlinable var count: Int { storage.count - head }
    @inlinable var isEmpty: Bool { head == storage.count }

    @inlinable mutating func push(_ element: Element) {
        storage.append(element)
    }

    @inlinable mutating func pop() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        storage[head] = nil
        head += 1
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return element
    }

}
