import Deferreds
import Reactor

/// A response whose headers have arrived; its body is delivered to a protocol on request.
///
/// `deliverBody(_:)` may be called once. Until then, body bytes are held back (the transfer is
/// paused, so nothing piles up). The protocol then gets `makeConnection` with a transport that can
/// pause, resume and stop the transfer, `dataReceived` for each chunk, and `connectionLost` once:
/// with `ResponseDone` when the body is complete, `PotentialDataLoss` when it was delimited by the
/// connection closing, `Deferreds.TimeoutError` when the request's timeout expired, or
/// `ResponseFailed` for any other failure — among them the protocol's own `stopProducing()` or
/// `abortConnection()` on that transport, which ends the body with `ResponseFailed` holding
/// `ConnectionAborted` (as in Twisted, where the aborted connection fails the body).
/// `connectionLost` may come during that call.
///
/// A response that is dropped without `deliverBody` aborts its transfer and frees the connection.
///
/// Twisted: `twisted.web._newclient.Response`.
public final class Response {
    /// ("HTTP", 1, 1); ("HTTP", 2, 0) over HTTP/2.
    public let version: (String, Int, Int)
    /// The status code, such as 200.
    public let code: Int
    /// The reason phrase; "" when the status line has none (always over HTTP/2).
    public let phrase: String
    /// The headers, without Connection, Transfer-Encoding and Content-Length (kept for HEAD).
    public let headers: Headers
    /// The body's length when known: nil for chunked, close-delimited or decoded bodies; 0 for
    /// HEAD, 204 and 304.
    public let length: Int?
    /// The request this response answers.
    public let request: Request
    /// The response this one follows, when a redirect agent followed a redirect.
    public internal(set) var previousResponse: Response?

    /// Where the body comes from (`body` is the public sequence of its chunks).
    let bodySource: ResponseBody

    init(version: (String, Int, Int), code: Int, phrase: String, headers: Headers, length: Int?,
         request: Request, body: ResponseBody) {
        self.version = version
        self.code = code
        self.phrase = phrase
        self.headers = headers
        self.length = length
        self.request = request
        self.bodySource = body
    }

    deinit {
        bodySource.responseReleased()
    }

    /// Delivers the body to `protocol` (see the type's description). Calling it twice is a
    /// programmer error.
    public func deliverBody(_ protocol: Protocol) {
        bodySource.deliver(to: `protocol`)
    }
}

/// The source of a response's body: an HTTP/1.1 exchange, a libcurl transfer, or a wrapper that
/// transforms another body (as `ContentDecoderAgent` does).
class ResponseBody {
    private var delivered = false

    /// Hands the body to `protocol`; traps on a second call.
    final func deliver(to protocol: Protocol) {
        precondition(!delivered, "Response.deliverBody(_:) was already called; a body is delivered once")
        delivered = true
        start(`protocol`)
    }

    /// Subclasses start delivering to `protocol`.
    func start(_ protocol: Protocol) {}

    /// The response was deallocated; if the body was never asked for, give up the transfer.
    func responseReleased() {}

    var wasDelivered: Bool { delivered }

    /// The reason every complete body ends with, made once: it carries nothing of its exchange.
    static let responseDone = Failure(ResponseDone())

    /// How a request that ends before its response fails: connection-level errors and a failed
    /// request body (`RequestTransmissionFailed`) stay themselves, as the API promises, and so does
    /// `ResponseFailed` (part of the response had arrived); the rest say no response was received.
    static func neverReceived(_ reason: Failure) -> Failure {
        if reason.check(TimeoutError.self, CancelledError.self, ConnectionRefusedError.self, DNSLookupError.self,
                        ConnectTimeoutError.self, ConnectError.self, TLSError.self, SchemeNotSupported.self,
                        RequestTransmissionFailed.self, ProxyConnectError.self, ProxyTunnelError.self,
                        ResponseFailed.self) != nil {
            return reason
        }
        return Failure(ResponseNeverReceived(reasons: [reason]))
    }

    /// Why a body ends when its protocol stops or aborts the transfer through its transport:
    /// `bodyEnding` wraps it in `ResponseFailed`, as Twisted's parser does with the aborted
    /// connection's reason.
    static func stoppedByProtocol() -> Failure { Failure(ConnectionAborted()) }

    /// How a body protocol is told its body ended: `ResponseDone`, `PotentialDataLoss`, a timeout
    /// and a cancellation (a response dropped unread, a request cancelled) stay themselves; anything
    /// else, `stoppedByProtocol()` among them, is wrapped in `ResponseFailed`.
    static func bodyEnding(_ reason: Failure, response: Response?) -> Failure {
        if reason.check(ResponseDone.self, PotentialDataLoss.self, TimeoutError.self, CancelledError.self) != nil {
            return reason
        }
        return Failure(ResponseFailed(reasons: [reason], response: response))
    }
}

/// The transport a body protocol sees: pause, resume and stop apply to the transfer; writing and
/// closing the write side do nothing.
final class BodyTransport: Transport {
    private let pause: () -> Void
    private let resume: () -> Void
    private let stop: () -> Void
    private let peer: () -> Address
    private let host: () -> Address

    /// `peer` and `host` are called only when the protocol asks (a lookup may cost a system call).
    init(pause: @escaping () -> Void, resume: @escaping () -> Void, stop: @escaping () -> Void,
         peer: @escaping () -> Address, host: @escaping () -> Address) {
        self.pause = pause
        self.resume = resume
        self.stop = stop
        self.peer = peer
        self.host = host
    }

    func pauseProducing() { pause() }
    func resumeProducing() { resume() }
    func stopProducing() { stop() }
    func abortConnection() { stop() }
    func loseConnection() { stop() }
    func write(_ bytes: [UInt8]) {}
    func loseWriteConnection() {}
    func getPeer() -> Address { peer() }
    func getHost() -> Address { host() }
    func registerProducer(_ producer: any PushProducer, streaming: Bool) {}
    func unregisterProducer() {}
}
