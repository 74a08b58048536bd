import Reactor

/// Lets work through per host: at most `perHost` items of one host at once, and (with a `rate`) at
/// most `rate` started per second per host, without holding up other hosts: `getpage --per-host`
/// and `--rate`.
///
/// Each host has its own first-in-first-out wait queue. `add` admits the item at once (calls
/// `admit`) when its host has room, else queues it; an item of a host with room is never kept
/// behind one of a saturated host, whatever their order in the list. The caller says when an
/// admitted item really starts (`started`) and when it is over (`finished`); each `finished` admits
/// the host's next item, if any.
///
/// With a rate, the host's starts take slots `1 / rate` seconds apart, timed on `time` (the
/// reactor, or a test `Clock`): no item starts before its slot, and the next slot follows the
/// previous one, so a start that a late timer let through a little after its slot does not push
/// every later one back. Over any stretch of time a host gets at most `rate` starts per second
/// (plus one), and no two starts are closer than 3/4 of `1 / rate` (a start late by more than a
/// quarter of the interval is counted from its own time, so no burst makes up for a long wait).
/// Only one admitted item per host may be waiting to start, so this holds at the real start even
/// when admitted items wait for something else (getpage's concurrency limit) before starting.
///
/// Memory: the queued items, plus a small record per host with items admitted, queued, or (with a
/// rate) a slot still ahead. The caller bounds the queued items (getpage
/// stops reading its list while too many wait).
///
/// `admit` may call `started` and `finished` at once (an item that needs no work): that is
/// handled by a loop, not by recursion.
///
/// ```swift
/// let queues = HostQueues<String>(time: reactor, perHost: 2, rate: nil) { url in fetch(url) }
/// queues.add(url, host: "example.com:80")
/// // later, from fetch's completion: queues.finished(host: "example.com:80")
/// ```
public final class HostQueues<Item> {
    private struct Host {
        var queue: [Item] = []
        var head = 0
        /// Admitted and not finished.
        var active = 0
        /// An admitted item has not started yet (rate only).
        var awaitingStart = false
        /// With a rate: the earliest time the next item may start (its slot).
        var nextStart: Double?
        var wake: DelayedCall?
        var queuedCount: Int { queue.count - head }
    }

    private let time: any ReactorTime
    /// The most items of one host admitted at once; nil for no limit.
    public let perHost: Int?
    /// Starts per second per host; nil for no limit.
    public let rate: Double?
    private let admit: (Item) -> Void
    private var hosts: [String: Host] = [:]
    private var ready: [String] = []
    private var draining = false
    /// Items queued, in all hosts.
    public private(set) var waitingCount = 0

    /// - Parameters:
    ///   - perHost: at least 1, or nil.
    ///   - rate: > 0 and finite, or nil.
    ///   - admit: called (on the caller's thread) for each item let through, in each host's order.
    public init(time: any ReactorTime, perHost: Int?, rate: Double?, admit: @escaping (Item) -> Void) {
        precondition(perHost.map { $0 >= 1 } ?? true, "HostQueues: perHost must be at least 1")
        precondition(rate.map { $0 > 0 && $0.isFinite } ?? true, "HostQueues: rate must be > 0 and finite")
        self.time = time
        self.perHost = perHost
        self.rate = rate
        self.admit = admit
    }

    deinit {
        for host in hosts.values { host.wake?.cancel() }
    }

    /// Admits `item` now if `host` has room, else queues it behind the host's other items.
    public func add(_ item: Item, host key: String) {
        hosts[key, default: Host()].queue.append(item)
        waitingCount += 1
        schedule(key)
    }

    /// An admitted item of `host` has started (with a rate, the next start is timed from now).
    public func started(host key: String) {
        guard rate != nil, var host = hosts[key] else { return }
        host.awaitingStart = false
        // The next slot follows this start's slot (see the type's description).
        let now = time.seconds()
        let interval = 1 / (rate ?? 1)
        host.nextStart = max(host.nextStart ?? now, now - interval / 4) + interval
        hosts[key] = host
        schedule(key)
    }

    /// An admitted item of `host` is over: the host's next item may be admitted.
    public func finished(host key: String) {
        guard var host = hosts[key] else { return }
        precondition(host.active > 0, "HostQueues.finished(host:) called more often than items were admitted")
        host.active -= 1
        // An item that finished without starting (cancelled while waiting) no longer awaits its start.
        if host.active == 0 { host.awaitingStart = false }
        hosts[key] = host
        schedule(key)
    }

    /// Drops every queued item (admitted ones are the caller's) and returns them, hosts in no
    /// particular order, each host's in its order.
    @discardableResult
    public func removeAll() -> [Item] {
        var dropped: [Item] = []
        for (key, var host) in hosts {
            dropped += host.queue[host.head...]
            host.queue = []
            host.head = 0
            host.wake?.cancel()
            host.wake = nil
            hosts[key] = host
        }
        waitingCount = 0
        return dropped
    }

    // MARK: - Admitting

    /// Looks at `key` again, now or (when called from inside `admit`) once the current pass is over.
    private func schedule(_ key: String) {
        ready.append(key)
        guard !draining else { return }
        draining = true
        while let next = ready.popLast() { drain(next) }
        draining = false
    }

    /// Admits what `key` has room for, arms its wake-up when only the rate holds it back, and
    /// forgets a host with nothing left to remember.
    private func drain(_ key: String) {
        guard var host = hosts[key] else { return }
        while host.queuedCount > 0 && perHost.map({ host.active < $0 }) ?? true {
            if rate != nil {
                if host.awaitingStart { break }
                if let due = host.nextStart {
                    let now = time.seconds()
                    if now < due - HostQueues.slack {
                        armWake(&host, key, after: due - now)
                        break
                    }
                }
                host.awaitingStart = true
            }
            let item = host.queue[host.head]
            host.head += 1
            if host.head == host.queue.count {
                host.queue.removeAll(keepingCapacity: false)
                host.head = 0
            } else if host.head > 32 && host.head * 2 > host.queue.count {
                host.queue.removeFirst(host.head)
                host.head = 0
            }
            host.active += 1
            waitingCount -= 1
            // `admit` may come back (started, finished, add): those calls see the host as stored.
            hosts[key] = host
            admit(item)
            guard let current = hosts[key] else { return }
            host = current
        }
        if host.queuedCount == 0 && host.active == 0 && host.wake == nil {
            // Idle: forget it, unless its next slot is still ahead (the record times the next
            // start); then forget it once that time has passed.
            guard rate != nil, let due = host.nextStart, time.seconds() < due - HostQueues.slack else {
                hosts[key] = nil
                return
            }
            armWake(&host, key, after: due - time.seconds())
        }
        hosts[key] = host
    }

    /// Times this close to a due time count as due (a timer set for it may fire a rounding error early).
    private static var slack: Double { 1e-9 }

    private func armWake(_ host: inout Host, _ key: String, after delay: Double) {
        guard host.wake == nil else { return }
        host.wake = time.callLater(delay) { [weak self] in
            self?.hosts[key]?.wake = nil
            self?.schedule(key)
        }
    }

    /// Hosts with a record now (for tests of the memory bound).
    public var hostCount: Int { hosts.count }
}
