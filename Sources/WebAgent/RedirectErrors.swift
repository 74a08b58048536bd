import Deferreds

/// A redirect that the agent will not follow for this method (a 301, 302, 307 or 308 to a request
/// other than GET or HEAD).
///
/// `location` is the `Location` resolved against the request URI (the raw value when it cannot be
/// resolved), nil when there is none. The response's body has not been read. The redirect agents
/// fail with it inside a `ResponseFailed` that holds the same response.
///
/// Twisted: `twisted.web.error.PageRedirect`, raised as `ResponseFailed([Failure(PageRedirect)],
/// response)` by `RedirectAgent._handleResponse`. Difference: `location` is the redirect's target,
/// where Twisted puts the request URI.
public struct PageRedirect: Error, @unchecked Sendable, CustomStringConvertible {
    // @unchecked: the Response is only ever used on the reactor's thread.
    /// The redirect's status code.
    public let status: Int
    /// Where it pointed, resolved against the request URI; nil without a `Location`.
    public let location: String?
    /// The redirect response (its body not read).
    public let response: Response
    /// A redirect with `status` to `location`, not followed.
    public init(status: Int, location: String?, response: Response) {
        self.status = status
        self.location = location
        self.response = response
    }
    public var description: String {
        "\(status) redirect to \(location ?? "(no location)") not followed for \(response.request.method)"
    }
}

/// More redirects than the agent's `redirectLimit`; `response` is the redirect that was not
/// followed, `location` where it pointed.
///
/// Twisted: `twisted.web.error.InfiniteRedirection` (there wrapped in `ResponseFailed`).
public struct InfiniteRedirection: Error, @unchecked Sendable, CustomStringConvertible {
    // @unchecked: the Response is only ever used on the reactor's thread.
    /// The status of the redirect that was not followed.
    public let status: Int
    /// Where it pointed, resolved against its request's URI.
    public let location: String?
    /// The agent's limit on redirects followed.
    public let redirectLimit: Int
    /// The redirect that was not followed (its body not read).
    public let response: Response
    /// The redirect `response` with `status` to `location`, past `redirectLimit`.
    public init(status: Int, location: String?, redirectLimit: Int, response: Response) {
        self.status = status
        self.location = location
        self.redirectLimit = redirectLimit
        self.response = response
    }
    public var description: String {
        "Infinite redirection detected: more than \(redirectLimit) redirects (last \(status) to "
            + "\(location ?? "(no location)"))"
    }
}

/// A redirect status without a `Location` header; `uri` is the request that got it.
///
/// Twisted: `twisted.web.error.RedirectWithNoLocation` (there wrapped in `ResponseFailed`).
public struct RedirectWithNoLocation: Error, @unchecked Sendable, CustomStringConvertible {
    // @unchecked: the Response is only ever used on the reactor's thread.
    /// The redirect's status code.
    public let status: Int
    /// The URI of the request that got it.
    public let uri: String
    /// The redirect response.
    public let response: Response
    /// A redirect `response` with `status` and no `Location`, to a request for `uri`.
    public init(status: Int, uri: String, response: Response) {
        self.status = status
        self.uri = uri
        self.response = response
    }
    public var description: String { "\(status) redirect without a Location header field from \(uri)" }
}
