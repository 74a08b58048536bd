/// A request as the agent sends it. Twisted: `twisted.web._newclient.Request`.
public final class Request {
    /// The HTTP method, as given to `request`.
    public let method: String
    /// The URI as given, fragment included (the fragment is not sent).
    public let absoluteURI: String
    /// The request's headers, as given (the agent adds Host when missing, and the body's framing).
    public let headers: Headers
    /// The request's body, if any.
    public let bodyProducer: (any BodyProducer)?

    /// A request of `method` for `absoluteURI` with `headers` and an optional body.
    public init(method: String, absoluteURI: String, headers: Headers, bodyProducer: (any BodyProducer)? = nil) {
        self.method = method
        self.absoluteURI = absoluteURI
        self.headers = headers
        self.bodyProducer = bodyProducer
    }
}
