/// The default reactor, for executables, examples and scripts — as Twisted's
/// `from twisted.internet import reactor`.
///
/// Created on first use (thread-safely). Library code never uses it implicitly: it takes a reactor
/// (or a `ReactorTime`) as a parameter, so tests can run their own.
///
/// Why `nonisolated(unsafe)`: `EPollReactor` is not `Sendable` (it is bound to the thread that runs
/// it), so Swift 6 refuses a global of its type. The global is a `let` (the reference never
/// changes, and its lazy initialisation is thread-safe), so the only unsafety left is calling the
/// reactor from another thread, which is the rule for every reactor, global or not: only
/// `callFromThread` (or `threadQueue`) may be used off the loop thread. Debug builds check that
/// rule (`assertInLoop` in every other entry point, and on the deferreds the reactor fires); a
/// wrapper that made the global `Sendable` would only hide it, as the reactor itself is not.
nonisolated(unsafe) public let reactor: EPollReactor = {
    do {
        return try EPollReactor()
    } catch {
        fatalError("Could not create the default reactor: \(error)")
    }
}()
