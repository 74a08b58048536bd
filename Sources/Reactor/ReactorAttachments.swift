/// Per-reactor state for library code, without globals: one object of each type per reactor.
///
/// The WebAgent keeps its shared connection pool and libcurl multi handle this way, so every
/// `Agent` made on one reactor shares them and a reactor's `close()` releases them.
///
/// Called on the reactor's thread. No Twisted counterpart (Twisted keeps such state in module
/// globals keyed by reactor, or on the reactor object itself).
public protocol ReactorAttachments: AnyObject {
    /// The one object of type `T` attached to this reactor, made by `make` on first use.
    func attachment<T: AnyObject>(_ type: T.Type, orMake make: () -> T) -> T
}
