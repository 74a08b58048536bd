#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Called once, from the deinit of a deferred whose chain ends holding a failure nobody handled.
///
/// The message contains "Unhandled error in Deferred". A failure counts as handled when an errback
/// (or `addBoth`) received it, when it was passed on to another deferred (returned from a callback,
/// or through `chainDeferred`), or when a `DeferredList` with `consumeErrors` consumed it.
/// With debugging on (`setDebugging(_:)`), the message goes on with "(debug:" and the lines
/// naming where the deferred was created (" C: ") and first fired (" I: ").
/// The default writes the message and the failure's traceback to standard error.
///
/// Setting and reading it are thread-safe (it is read from whatever thread releases the last
/// reference to a deferred); set it at start-up, before deferreds that may fail are in use.
///
/// Twisted: the "Unhandled error in Deferred" log entry made when a `Deferred` is garbage-collected.
public var unhandledErrorHook: (_ message: String, _ failure: Failure) -> Void {
    get { unhandledErrorHookStorage.withLock { $0.hook } }
    set { unhandledErrorHookStorage.withLock { $0.hook = newValue } }
}

/// The hook, behind a lock: tests (which run in parallel) set it while other threads release deferreds.
private let unhandledErrorHookStorage = Mutex(HookBox { message, failure in
    let text = "\(message)\n\(failure.getTraceback())"
    _ = text.withCString { write(2, $0, strlen($0)) }
})

/// @unchecked: only touched under `unhandledErrorHookStorage`'s lock; the closure is called
/// outside it, on the caller's thread, as the hook always was.
private struct HookBox: @unchecked Sendable {
    var hook: (_ message: String, _ failure: Failure) -> Void
    init(_ hook: @escaping (_ message: String, _ failure: Failure) -> Void) { self.hook = hook }
}

/// Reports `failure`, with where its deferred was created and first fired when debugging recorded it.
func reportUnhandled(_ failure: Failure, debug: DebugInfo?) {
    guard let trail = debug?.trail, !trail.isEmpty else {
        unhandledErrorHook("Unhandled error in Deferred:", failure)
        return
    }
    unhandledErrorHook("Unhandled error in Deferred:\n(debug:\n\(trail))", failure)
}
