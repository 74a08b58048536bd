import CLinux
import Glibc

/// The reactor's epoll instance: the only code that calls `epoll_*`.
///
/// Interest changes tolerate the kernel's view drifting from ours, as it does when a descriptor is
/// closed (which silently leaves the epoll set) and its number reused: a modify of an unknown
/// descriptor becomes an add, an add of a known one becomes a modify, and a delete of a closed or
/// unknown one is ignored.
final class Poller {
    let epollFD: Int32
    /// Only touched by `poll`.
    private var events: [epoll_event]

    init(capacity: Int = 256) throws {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw SystemCallError(call: "epoll_create1", errno: errno) }
        events = Array(repeating: epoll_event(), count: capacity)
    }

    deinit {
        Glibc.close(epollFD)
    }

    /// Sets the interest for `fd` (none removes it from the set).
    ///
    /// - Returns: 0, or the errno when epoll refuses the descriptor (EPERM for a regular file,
    ///   EBADF for a closed one).
    @discardableResult
    func setInterest(_ fd: Int32, reading: Bool, writing: Bool, wasRegistered: Bool) -> Int32 {
        guard reading || writing else {
            if wasRegistered { _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil) }
            return 0
        }
        var event = epoll_event()
        event.events = (reading ? EPOLLIN.rawValue : 0) | (writing ? EPOLLOUT.rawValue : 0)
        event.data.fd = fd
        let first = wasRegistered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD
        if epoll_ctl(epollFD, first, fd, &event) == 0 { return 0 }
        switch errno {
        case ENOENT where first == EPOLL_CTL_MOD:
            return epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 ? 0 : errno
        case EEXIST where first == EPOLL_CTL_ADD:
            return epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event) == 0 ? 0 : errno
        default:
            return errno
        }
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever) and calls `ready` for each ready descriptor.
    func poll(timeoutMilliseconds: Int32, _ ready: (_ fd: Int32, _ events: UInt32) -> Void) {
        let count = events.withUnsafeMutableBufferPointer {
            epoll_wait(epollFD, $0.baseAddress, Int32($0.count), timeoutMilliseconds)
        }
        guard count > 0 else { return }
        for index in 0..<Int(count) {
            let event = events[index]
            ready(event.data.fd, event.events)
        }
        if Int(count) == events.count { events.append(contentsOf: repeatElement(epoll_event(), count: Int(count))) }
    }
}

/// Decides whether a reactor pass calls `epoll_wait` (see `EPollReactor`'s description).
///
/// A pass whose poll would wait (a timeout other than 0) always polls. One whose poll would return
/// at once skips it if the last poll was made by a pass that started less than `interval` before
/// this one, unless `maxSkipsInARow` passes in a row have skipped already: the first pass that
/// starts `interval` or more after the last polling pass, or the `maxSkipsInARow + 1`-th after it,
/// polls. The interval is short enough not to matter for I/O latency and long enough to spread one
/// `epoll_wait` (about 0.2 µs here) over a hundred-odd chained passes.
struct PollThrottle {
    /// In seconds, between the starts of two passes.
    static let interval = 50e-6
    static let maxSkipsInARow = 127

    /// When the pass that last polled started.
    private(set) var lastPollStart = -Double.infinity
    private(set) var skipsInARow = 0
    /// Every pass that skipped its poll, for tests.
    private(set) var skipped = 0

    /// Whether the pass that started at `passStart` polls, with `timeout` (in milliseconds; -1 for
    /// none); records the decision.
    @inline(__always)
    mutating func shouldPoll(timeout: Int32, passStart: Double) -> Bool {
        if timeout == 0 && skipsInARow < PollThrottle.maxSkipsInARow
            && passStart - lastPollStart < PollThrottle.interval
        {
            skipsInARow += 1
            skipped &+= 1
            return false
        }
        skipsInARow = 0
        lastPollStart = passStart
        return true
    }
}
