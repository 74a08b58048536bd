import Reactor

/// Runs a fresh reactor for one test: `body` starts the test's work (which calls `stop()` when
/// done); after `limit` seconds the reactor is stopped anyway so a broken test cannot hang the
/// suite. The reactor is closed afterwards.
///
/// - Returns: true when the time limit, not the test, stopped the reactor.
public func runReactor(limit: Double, _ body: (EPollReactor) throws -> Void) throws -> Bool {
    let reactor = try EPollReactor()
    defer { reactor.close() }
    var timedOut = false
    let guardCall = reactor.callLater(limit) {
        timedOut = true
        reactor.stop()
    }
    try body(reactor)
    reactor.run(installSignalHandlers: false)
    guardCall.cancel()
    return timedOut
}
