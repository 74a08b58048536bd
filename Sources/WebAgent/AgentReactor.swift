import Reactor

/// The faces of a reactor the WebAgent uses: time (timeouts, idle sweeps), the core (closing the
/// pool at shutdown), TCP (HTTP/1.1 connections), descriptors (libcurl's sockets for https) and
/// attachments (one shared pool per reactor).
///
/// `EPollReactor` has them all; so does `MemoryReactor` (in `ReactorTesting`), on which a test
/// drives an `Agent` over `StringTransport`s without a socket (https needs real descriptors:
/// libcurl opens its own sockets).
///
/// Twisted: `twisted.web.client.Agent` takes a reactor providing `IReactorTime` and
/// `IReactorTCP` (and `IReactorPluggableNameResolver`).
public typealias AgentReactor = ReactorTime & ReactorCore & ReactorTCP & ReactorFDSet & ReactorAttachments
