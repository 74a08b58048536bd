/// Watching file descriptors: the reactor calls a reader's `doRead()` when its descriptor is
/// readable and a writer's `doWrite()` when it is writable, on the reactor's thread, until removed.
///
/// A descriptor has at most one reader and one writer; adding another replaces it. Removing a
/// reader or writer that is not the descriptor's current one does nothing. If `doRead()` or
/// `doWrite()` throws, the descriptor is removed and its `connectionLost(_:)` told.
///
/// Twisted: `twisted.internet.interfaces.IReactorFDSet`.
public protocol ReactorFDSet: AnyObject {
    /// Watches `reader`'s descriptor for readability.
    func addReader(_ reader: any ReadDescriptor)
    /// Watches `writer`'s descriptor for writability.
    func addWriter(_ writer: any WriteDescriptor)
    /// Stops watching `reader` (if it is its descriptor's reader).
    func removeReader(_ reader: any ReadDescriptor)
    /// Stops watching `writer` (if it is its descriptor's writer).
    func removeWriter(_ writer: any WriteDescriptor)
}
