/// The default reactor, for executables, examples and scripts — as Twisted's
/// `from twisted.internet import reactor`.
///
/// Created on first use (thread-safely). Library code never uses it implicitly: it takes a reactor
/// (or a `ReactorTime`) as a parameter, so tests can run their own.
nonisolated(unsafe) public let reactor: EPollReactor = {
    do {
        return try EPollReactor()
    } catch {
        fatalError("Could not create the default reactor: \(error)")
    }
}()
