import Reactor
import Testing
import URLList

/// `HostQueues`: the per-host limit and rate behind `getpage --per-host` and `--rate`.
@Suite struct HostQueuesTests {
    /// Items admitted, in order; finishing one is the test's move.
    final class Recorder {
        var admitted: [String] = []
    }

    @Test func aSaturatedHostDoesNotHoldUpOtherHosts() {
        // When host a has its limit of 2 in progress, a's later items wait while b's and c's, added
        // after them, are admitted at once; finishing one of a's admits a's next, in a's order.
        let recorder = Recorder()
        let queues = HostQueues<String>(time: Clock(), perHost: 2, rate: nil) { recorder.admitted.append($0) }
        for item in ["a1", "a2", "a3", "a4", "b1", "c1", "b2", "b3"] {
            queues.add(item, host: String(item.first!))
        }
        #expect(recorder.admitted == ["a1", "a2", "b1", "c1", "b2"])
        #expect(queues.waitingCount == 3)
        queues.finished(host: "a")
        #expect(recorder.admitted.suffix(1) == ["a3"])
        queues.finished(host: "b")
        queues.finished(host: "a")
        #expect(recorder.admitted.suffix(2) == ["b3", "a4"])
        #expect(queues.waitingCount == 0)
    }

    @Test func itemsThatFinishAtOnceDoNotNest() {
        // When every admitted item starts and finishes inside `admit` (nothing to do), 20,000 items
        // of one host all go through in order, one at a time, without the stack growing per item.
        var admitted = 0
        var depth = 0
        var deepest = 0
        var queues: HostQueues<Int>?
        queues = HostQueues<Int>(time: Clock(), perHost: 1, rate: nil) { item in
            depth += 1
            deepest = max(deepest, depth)
            #expect(item == admitted)
            admitted += 1
            queues?.started(host: "h")
            queues?.finished(host: "h")
            depth -= 1
        }
        for item in 0..<20_000 { queues?.add(item, host: "h") }
        #expect(admitted == 20_000)
        #expect(deepest == 1)
        #expect(queues?.hostCount == 0)
        queues = nil  // its closure holds the variable: break the cycle (LeakSanitizer)
    }

    @Test func theRateSpacesAHostsStartsOnTheClock() {
        // When the rate is 2 per second, a host's items start 0.5 s apart on the Clock (the next is
        // admitted only once the previous one has started and half a second has passed), while
        // another host's first item is admitted at once.
        let clock = Clock()
        let recorder = Recorder()
        var queues: HostQueues<String>?
        queues = HostQueues<String>(time: clock, perHost: nil, rate: 2) { item in
            recorder.admitted.append("\(item)@\(clock.seconds())")
            queues?.started(host: String(item.first!))
        }
        for item in ["a1", "a2", "a3", "b1"] { queues?.add(item, host: String(item.first!)) }
        #expect(recorder.admitted == ["a1@0.0", "b1@0.0"])
        clock.advance(0.25)
        #expect(recorder.admitted.count == 2)
        clock.advance(0.25)
        #expect(recorder.admitted == ["a1@0.0", "b1@0.0", "a2@0.5"])
        clock.advance(0.5)
        #expect(recorder.admitted.last == "a3@1.0")
        // Host records are dropped once their last start is 1 / rate old.
        for host in ["a", "a", "a", "b"] { queues?.finished(host: host) }
        clock.advance(1)
        #expect(queues?.hostCount == 0)
        queues = nil  // its closure holds the variable: break the cycle (LeakSanitizer)
    }

    @Test func aLateTimerDoesNotPushLaterSlotsBack() {
        // When the clock reaches a host's slot 0.1 s late (as a reactor's timer may), the next item
        // still gets the slot after it (1.0 s at a rate of 2, not 1.1 s); after a start later than
        // a quarter of the interval, the next slot counts from 1/8 s before it (no burst).
        let clock = Clock()
        let recorder = Recorder()
        var queues: HostQueues<String>?
        queues = HostQueues<String>(time: clock, perHost: nil, rate: 2) { item in
            recorder.admitted.append("\(item)@\(clock.seconds())")
            queues?.started(host: "a")
        }
        for item in ["a1", "a2", "a3", "a4", "a5"] { queues?.add(item, host: "a") }
        clock.advance(0.6)
        clock.advance(0.4)
        #expect(recorder.admitted == ["a1@0.0", "a2@0.6", "a3@1.0"])
        // a4's slot is 1.5; the clock comes by only at 2.0, half a second late.
        clock.advance(1.0)
        #expect(recorder.admitted.last == "a4@2.0")
        clock.advance(0.25)
        #expect(recorder.admitted.count == 4)
        clock.advance(0.125)
        #expect(recorder.admitted.last == "a5@2.375")
        queues = nil  // its closure holds the variable: break the cycle (LeakSanitizer)
    }

    @Test func withARateAnAdmittedItemMustStartBeforeTheNext() {
        // When an admitted item waits (for a concurrency token, in getpage) longer than 1 / rate,
        // the host's next item is not admitted until it has started, then 1 / rate after that.
        let clock = Clock()
        let recorder = Recorder()
        let queues = HostQueues<String>(time: clock, perHost: nil, rate: 1) { recorder.admitted.append($0) }
        for item in ["a1", "a2"] { queues.add(item, host: "a") }
        clock.advance(5)
        #expect(recorder.admitted == ["a1"])
        queues.started(host: "a")
        clock.advance(0.9)
        #expect(recorder.admitted == ["a1"])
        clock.advance(0.1)
        #expect(recorder.admitted == ["a1", "a2"])
    }

    @Test func removeAllDropsTheWaitingItems() {
        // When the run is stopped, removeAll returns the queued items and nothing more is admitted.
        let recorder = Recorder()
        let queues = HostQueues<String>(time: Clock(), perHost: 1, rate: nil) { recorder.admitted.append($0) }
        for item in ["a1", "a2", "a3"] { queues.add(item, host: "a") }
        #expect(queues.removeAll() == ["a2", "a3"])
        queues.finished(host: "a")
        #expect(recorder.admitted == ["a1"])
        #expect(queues.waitingCount == 0 && queues.hostCount == 0)
    }

    @Test func hostKeysCountTheServer() {
        // When URLs name one server in different spellings (case, default port, credentials), they
        // have one key; another port or scheme is another server.
        #expect(URLSyntax.hostKey(of: "http://Example.COM/a") == "example.com:80")
        #expect(URLSyntax.hostKey(of: "http://user:pw@example.com:80?q") == "example.com:80")
        #expect(URLSyntax.hostKey(of: "HTTPS://example.com#f") == "example.com:443")
        #expect(URLSyntax.hostKey(of: "http://example.com:8080/") == "example.com:8080")
        #expect(URLSyntax.hostKey(of: "http://[::1]/") == "[::1]:80")
        #expect(URLSyntax.hostKey(of: "http://[::1]:81/") == "[::1]:81")
        #expect(URLSyntax.hostKey(of: "ftp://example.com/") == nil)
    }
}
