// countdown: timed calls on the reactor — callLater, a LoopingCall, and stop.
//
//   swift run countdown [SECONDS]       (default 3)
//
// A LoopingCall prints once a second; a callLater stops the loop and the reactor when time is up.

import Deferreds
import Glibc
import Reactor

func main() {
    let seconds = Int(CommandLine.arguments.dropFirst().first ?? "3") ?? 3
    var remaining = seconds
    let tick = LoopingCall(clock: reactor) {
        print("\(remaining)…")
        remaining -= 1
    }
    _ = tick.start(1.0).addCallback { _ in print("the loop stopped") }
    reactor.callLater(Double(seconds) + 0.5) {
        tick.stop()
        print("lift-off")
        reactor.stop()
    }
    reactor.run()
}

main()
