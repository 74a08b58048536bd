import Deferreds

/// Calls `f` after `delay` seconds on `clock`, and fires the returned deferred with what it returns.
///
/// The deferred fires when `clock` runs the delayed call: with `f`'s value, or with a failure if
/// `f` throws. Cancelling the deferred before then cancels the delayed call: the deferred fails with
/// `CancelledError` and `f` is never called. Cancelling it afterwards does what cancelling any fired
/// deferred does (nothing; or, for the overload where `f` returns a deferred, cancels that one).
///
/// ```swift
/// let clock = Clock()
/// let d = deferLater(clock, 5) { "done" }
/// clock.advance(5)          // d fires with "done"
/// ```
///
/// - Parameters:
///   - clock: the clock that schedules the call (a reactor, or a test `Clock`).
///   - delay: seconds from now; a negative delay counts as 0.
///   - file: where a failure `f` throws says it was created (the caller, by default).
///   - line: the line of `file` (the caller's, by default).
///   - f: the function to call. A failure it throws is located at the caller of `deferLater`.
/// - Returns: a deferred that fires with `f`'s result.
///
/// Twisted: `twisted.internet.task.deferLater` (`f` is required here; pass `{}` for a plain wait).
public func deferLater<V>(
    _ clock: any ReactorTime, _ delay: Double, file: StaticString = #fileID, line: UInt = #line,
    _ f: @escaping () throws -> V
) -> Deferred<V> {
    timerDeferred(clock, delay).addCallback({ (_: Void) throws -> V in try f() }, file: file, line: line)
}

/// `deferLater` with a function that returns a deferred: the returned deferred fires with its result.
///
/// Cancelling the returned deferred before the delay has passed cancels the delayed call (`f` is
/// never called); cancelling it while it waits for `f`'s deferred cancels that deferred.
///
/// ```swift
/// let page = deferLater(clock, 1) { agent.request("GET", url) }   // a request, a second from now
/// ```
///
/// Twisted: `twisted.internet.task.deferLater` with a callable that returns a `Deferred`.
public func deferLater<V>(
    _ clock: any ReactorTime, _ delay: Double, file: StaticString = #fileID, line: UInt = #line,
    _ f: @escaping () throws -> Deferred<V>
) -> Deferred<V> {
    timerDeferred(clock, delay).addCallback(
        { (_: Void) throws -> Deferred<V> in try f() }, file: file, line: line)
}

/// A deferred that fires with `()` after `delay` seconds; cancelling it cancels the delayed call.
///
/// The deferred and its delayed call refer to each other only until one of them is done: a fired
/// deferred drops its canceller, and a run or cancelled call drops its function.
func timerDeferred(_ clock: any ReactorTime, _ delay: Double) -> Deferred<Void> {
    var call: DelayedCall?
    let wait = Deferred<Void>(canceller: { _ in call?.cancel() })
    bindToLoop(wait, of: clock)
    call = clock.callLater(delay) { wait.callback(()) }
    return wait
}
