import Deferreds

/// Something that tells the time and runs functions later: the real reactor, or a test `Clock`.
///
/// Library code takes a `ReactorTime` instead of reaching for a global, so tests drive time by hand.
///
/// Twisted: `twisted.internet.interfaces.IReactorTime`.
public protocol ReactorTime: AnyObject {
    /// The current time in seconds, on this clock's own scale (monotonic for the reactor).
    func seconds() -> Double

    /// Runs `f` once, `delay` seconds from now (a negative delay counts as 0).
    ///
    /// - Returns: a handle to cancel, reset or delay the call.
    @discardableResult
    func callLater(_ delay: Double, _ f: @escaping () -> Void) -> DelayedCall
}
