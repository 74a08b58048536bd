import Deferreds
import Reactor

/// The body of a response has been received completely. Twisted: `twisted.web.client.ResponseDone`.
public struct ResponseDone: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "Response body fully received" }
}

/// The body ended when the connection closed, which is how it was delimited, but a truncation
/// cannot be told from a complete body. Twisted: `twisted.web.http.PotentialDataLoss`.
public struct PotentialDataLoss: Error, CustomStringConvertible {
    public init() {}
    public var description: String {
        "Response body was delimited by the connection closing; it may be incomplete"
    }
}

/// Something went wrong after the response began to arrive.
///
/// Twisted: `twisted.web._newclient.ResponseFailed`.
public struct ResponseFailed: Error, @unchecked Sendable, CustomStringConvertible {
    // @unchecked: the Response is only ever used on the reactor's thread.
    public let reasons: [Failure]
    public let response: Response?
    public init(reasons: [Failure], response: Response? = nil) {
        self.reasons = reasons
        self.response = response
    }
    public var description: String {
        "ResponseFailed: " + reasons.map { $0.getErrorMessage() }.joined(separator: "; ")
    }
}

/// The connection ended before any byte of the response arrived. Once one has (a bad status line,
/// a header block cut short or over its limit, a bad Content-Length), the request fails with
/// `ResponseFailed` instead, as in Twisted.
/// Twisted: `twisted.web._newclient.ResponseNeverReceived`.
public struct ResponseNeverReceived: Error, CustomStringConvertible {
    public let reasons: [Failure]
    public init(reasons: [Failure]) { self.reasons = reasons }
    public var description: String {
        "ResponseNeverReceived: " + reasons.map { $0.getErrorMessage() }.joined(separator: "; ")
    }
}

/// The request could not be sent completely. Twisted: `twisted.web._newclient.RequestTransmissionFailed`.
public struct RequestTransmissionFailed: Error, CustomStringConvertible {
    public let reasons: [Failure]
    public init(reasons: [Failure]) { self.reasons = reasons }
    public var description: String {
        "RequestTransmissionFailed: " + reasons.map { $0.getErrorMessage() }.joined(separator: "; ")
    }
}

/// `readBody` saw the body end without a proof of completeness; `response` holds what arrived.
/// Twisted: `twisted.web.client.PartialDownloadError`.
public struct PartialDownloadError: Error, CustomStringConvertible {
    public let status: Int
    public let message: String
    public let response: [UInt8]
    public init(status: Int, message: String, response: [UInt8]) {
        self.status = status
        self.message = message
        self.response = response
    }
    public var description: String { "\(status) \(message) (\(response.count) bytes received)" }
}

/// The URI's scheme is not http or https. Twisted: `twisted.web.error.SchemeNotSupported`.
public struct SchemeNotSupported: Error, CustomStringConvertible {
    public let scheme: String
    public init(scheme: String) { self.scheme = scheme }
    public var description: String { "Unsupported scheme: \(scheme)" }
}

/// The URI could not be parsed (or has characters that cannot be sent).
public struct InvalidURI: Error, CustomStringConvertible {
    public let uri: String
    public let reason: String
    public init(uri: String, reason: String) {
        self.uri = uri
        self.reason = reason
    }
    public var description: String { "Invalid URI \(uri.debugDescription): \(reason)" }
}

/// The method is not an HTTP token.
public struct InvalidMethod: Error, CustomStringConvertible {
    public let method: String
    public init(method: String) { self.method = method }
    public var description: String { "Invalid HTTP method \(method.debugDescription)" }
}

/// A request header cannot be sent (its name is not a token, or its value holds CR, LF or NUL).
public struct InvalidHeader: Error, CustomStringConvertible {
    public let name: String
    public let reason: String
    public init(name: String, reason: String) {
        self.name = name
        self.reason = reason
    }
    public var description: String { "Invalid header \(name.debugDescription): \(reason)" }
}

/// The TLS handshake or certificate check failed.
public struct TLSError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { "TLS error: \(message)" }
}

/// The response broke the HTTP protocol (a bad status line, oversized headers, …).
/// Twisted: `twisted.web._newclient.ParseError` / `BadResponseVersion`.
public struct ParseError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { "Bad HTTP response: \(message)" }
}

/// The body grew past the limit the request set.
public struct BodyTooLarge: Error, CustomStringConvertible {
    public let limit: Int
    public init(limit: Int) { self.limit = limit }
    public var description: String { "Response body exceeds the limit of \(limit) bytes" }
}

/// The response's status line and header fields passed the limit the agent set
/// (`Agent(maxHeaderBytes:)`); the request fails with it inside `ResponseFailed`.
public struct HeadersTooLarge: Error, CustomStringConvertible {
    public let limit: Int
    public init(limit: Int) { self.limit = limit }
    public var description: String { "Response headers exceed the limit of \(limit) bytes" }
}

/// A transfer error without a more specific type: libcurl's message and code (-1 when libcurl
/// could not be loaded or could not start the transfer).
public struct TransferError: Error, CustomStringConvertible {
    public let code: Int
    public let message: String
    public init(code: Int, message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(message) (curl error \(code))" }
}

/// `ProxyAgent` could not connect to its proxy (refused, timed out, no such host): the request was
/// never sent. `reason` is the connection's own error (`ConnectionRefusedError`, …), about the
/// proxy's address.
public struct ProxyConnectError: Error, CustomStringConvertible {
    /// The proxy, `http://host:port` (without credentials).
    public let proxy: String
    public let reason: Failure
    public init(proxy: String, reason: Failure) {
        self.proxy = proxy
        self.reason = reason
    }
    public var description: String { "Cannot connect to the proxy \(proxy): \(reason.getErrorMessage())" }
}

/// The proxy answered `ProxyAgent`'s `CONNECT` (the tunnel for an https request) with a status
/// other than 2xx: 407 for missing or wrong credentials, 403 for a refused port, 502 when it could
/// not reach the server, … The request was never sent to the server.
public struct ProxyTunnelError: Error, CustomStringConvertible {
    public let proxy: String
    /// The proxy's status code.
    public let code: Int
    public init(proxy: String, code: Int) {
        self.proxy = proxy
        self.code = code
    }
    public var description: String { "The proxy \(proxy) refused the tunnel: CONNECT answered \(code)" }
}

/// The response's body was sent with a transfer coding this client does not undo: anything but a
/// lone `chunked` (`Transfer-Encoding: gzip, chunked`, `gzip`, `identity`, `chunked, chunked`).
/// Rather than hand on a body that is still coded, the request fails with it inside
/// `ResponseFailed`, and the connection is closed. `codings` are the codings listed, as sent.
///
/// Twisted: `twisted.web._newclient.HTTPClientParser` fails such a response as well (the lookup of
/// its transfer decoder raises `KeyError`, which reaches the caller inside `ResponseFailed`).
public struct TransferEncodingNotSupported: Error, CustomStringConvertible {
    public let codings: [String]
    public init(codings: [String]) { self.codings = codings }
    public var description: String {
        "Unsupported Transfer-Encoding \(codings.joined(separator: ", ").debugDescription): only chunked is"
            + " undone"
    }
}
