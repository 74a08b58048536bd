import Deferreds
import Glibc

/// Runs the default reactor around `main` and exits the process when its deferred fires.
///
/// `main` is called once the reactor is running; when the deferred it returns succeeds, the
/// reactor stops and the process exits with status 0. If it fails, the failure's traceback is
/// written to standard error and the status is 1. If the reactor is stopped before that (Ctrl-C),
/// the status is 1 as well (130 for SIGINT is left to programs that want it).
///
/// ```swift
/// react { reactor in
///     deferLater(reactor, 1) { print("one second later") }
/// }
/// ```
///
/// Twisted: `twisted.internet.task.react`.
public func react(_ main: @escaping (EPollReactor) -> Deferred<Void>) -> Never {
    let theReactor = reactor
    var status: Int32 = 1
    theReactor.callWhenRunning {
        _ = maybeDeferred { main(theReactor) }.addCallbacks(
            { (_: Void) -> Void in status = 0 },
            { (failure: Failure) -> Void in
                let text = "main function encountered error\n\(failure.getTraceback())"
                _ = text.withCString { write(2, $0, strlen($0)) }
                status = 1
            }
        ).addBoth { (_: Result<Void, Failure>) -> Void in theReactor.stop() }
    }
    theReactor.run()
    exit(status)
}
