#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Called once, from the deinit of a deferred whose chain ends holding a failure nobody handled.
///
/// The message contains "Unhandled error in Deferred". A failure counts as handled when an errback
/// (or `addBoth`) received it, when it was passed on to another deferred (returned from a callback,
/// or through `chainDeferred`), or when a `DeferredList` with `consumeErrors` consumed it.
/// The default writes the message and the failure's traceback to standard error.
///
/// Set it once, at start-up, before deferreds are in use on other threads; it is read from whatever
/// thread releases the last reference to a deferred.
///
/// Twisted: the "Unhandled error in Deferred" log entry made when a `Deferred` is garbage-collected.
nonisolated(unsafe) public var unhandledErrorHook: (_ message: String, _ failure: Failure) -> Void = {
    message, failure in
    let text = "\(message)\n\(failure.getTraceback())"
    _ = text.withCString { write(2, $0, strlen($0)) }
}

func reportUnhandled(_ failure: Failure) {
    unhandledErrorHook("Unhandled error in Deferred:", failure)
}
