/// A queue whose `get()` is a deferred: it fires with the next item, now or when one is put.
///
/// Items are handed out in the order they were put, to getters in the order they asked.
/// With `size`, `put` throws `QueueOverflow` when `size` items are waiting for a getter; with
/// `backlog`, `get` throws `QueueUnderflow` when `backlog` getters are already waiting. Cancelling
/// a waiting `get()` gives up its place (it fails with `CancelledError`; no item is lost).
///
/// ```swift
/// let queue = DeferredQueue<String>()
/// _ = queue.get().addCallback { print("got", $0) }
/// try queue.put("hello")                      // prints "got hello"
/// ```
///
/// Twisted: `twisted.internet.defer.DeferredQueue`.
public final class DeferredQueue<T> {
    /// The most items held for getters; `nil` for no limit.
    public let size: Int?
    /// The most getters waiting for items; `nil` for no limit.
    public let backlog: Int?
    private var items = WaitQueue<T>()
    private var getters = WaitQueue<Deferred<T>>()
    private var cancelledGetters = 0

    /// Creates an empty queue.
    ///
    /// - Parameters:
    ///   - size: the most items held for getters; `nil` for no limit. Negative is a programmer error.
    ///   - backlog: the most getters waiting for items; `nil` for no limit. Negative is a programmer
    ///     error.
    public init(size: Int? = nil, backlog: Int? = nil) {
        precondition(size.map { $0 >= 0 } ?? true, "DeferredQueue(size:) must not be negative")
        precondition(backlog.map { $0 >= 0 } ?? true, "DeferredQueue(backlog:) must not be negative")
        self.size = size
        self.backlog = backlog
    }

    /// Items put and not yet taken.
    public var pendingCount: Int { items.count }
    /// Getters waiting for an item (cancelled ones not counted).
    public var waitingCount: Int { getters.count - cancelledGetters }

    /// Gives `item` to the longest-waiting getter, or keeps it for the next `get()`.
    /// - Throws: `QueueOverflow` when `size` items are already held.
    public func put(_ item: T) throws {
        while let getter = getters.pop() {
            if getter.called {
                cancelledGetters -= 1
                continue
            }
            getter.callback(item)
            return
        }
        if let size, items.count >= size { throw QueueOverflow() }
        items.push(item)
    }

    /// A deferred that fires with the next item: at once when one is held.
    /// - Throws: `QueueUnderflow` when `backlog` getters are already waiting.
    public func get() throws -> Deferred<T> {
        if let item = items.pop() { return Deferred.succeed(item) }
        if let backlog, waitingCount >= backlog { throw QueueUnderflow() }
        let getter = Deferred<T>(canceller: { [weak self] _ in self?.cancelledGetters += 1 })
        getters.push(getter)
        return getter
    }
}
