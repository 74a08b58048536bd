/// A reactor whose host-name lookups go through a resolver that can be replaced: its TCP
/// connections (`connectTCP`) and the WebAgent's https requests look names up with
/// `nameResolver`, so both share one cache.
///
/// `EPollReactor` provides it (a `CachingResolver` over an `AresResolver` by default). A reactor
/// without it still connects: the WebAgent then lets libcurl look https hosts up itself.
///
/// Twisted: `twisted.internet.interfaces.IReactorPluggableNameResolver`.
public protocol ReactorPluggableNameResolver: AnyObject {
    /// The resolver names are looked up with; settable (before connecting) to swap it.
    ///
    /// Twisted: `IReactorPluggableNameResolver.nameResolver` (and `installNameResolver`).
    var nameResolver: any NameResolver { get set }
}
