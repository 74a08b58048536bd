import Deferreds

/// What every agent does: send a request, and fire with the response once its headers are in.
///
/// Wrappers (`RedirectAgent`, `ContentDecoderAgent`, `RetryAgent`) take any `AgentProtocol` and are
/// one themselves, so they compose.
///
/// Twisted: `twisted.web.iweb.IAgent`.
public protocol AgentProtocol: AnyObject {
    /// Sends a request; the deferred fires with the `Response` once its headers are in.
    ///
    /// - Parameters:
    ///   - method: the HTTP method, an HTTP token such as `"GET"`.
    ///   - uri: the absolute http or https URI to request.
    ///   - headers: the request's headers; nil for none.
    ///   - bodyProducer: the request's body; nil for none.
    ///   - timeout: seconds for the whole exchange — connecting, the headers and the body;
    ///     nil for none. When it expires the request (or the body) fails with `Deferreds.TimeoutError`.
    func request(_ method: String, _ uri: String, _ headers: Headers?, _ bodyProducer: (any BodyProducer)?,
                 timeout: Double?) -> Deferred<Response>
}

extension AgentProtocol {
    /// `request` with no headers, no body and no timeout.
    public func request(_ method: String, _ uri: String) -> Deferred<Response> {
        request(method, uri, nil, nil, timeout: nil)
    }

    /// `request` with `headers`, no body and no timeout.
    public func request(_ method: String, _ uri: String, _ headers: Headers?) -> Deferred<Response> {
        request(method, uri, headers, nil, timeout: nil)
    }

    /// `request` with `headers` and `bodyProducer`, and no timeout: Twisted's
    /// `agent.request(method, uri, headers, bodyProducer)`.
    public func request(_ method: String, _ uri: String, _ headers: Headers?, _ bodyProducer: (any BodyProducer)?)
        -> Deferred<Response>
    {
        request(method, uri, headers, bodyProducer, timeout: nil)
    }

    /// `request` with no headers and no body, and a `timeout` for the whole exchange.
    public func request(_ method: String, _ uri: String, timeout: Double?) -> Deferred<Response> {
        request(method, uri, nil, nil, timeout: timeout)
    }
}
