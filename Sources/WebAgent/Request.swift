/// A request as the agent sends it. Twisted: `twisted.web._newclient.Request`.
public final class Request {
    public let method: String
    /// The URI as given, fragment included (the fragment is not sent).
    public let absoluteURI: String
    public let headers: Headers
    public let bodyProducer: (any BodyProducer)?

    public init(method: String, absoluteURI: String, headers: Headers, bodyProducer: (any BodyProducer)? = nil) {
        self.method = method
        self.absoluteURI = absoluteURI
        self.headers = headers
        self.bodyProducer = bodyProducer
    }
}
