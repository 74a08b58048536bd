import Deferreds
import Reactor

/// The body of a response has been received completely. Twisted: `twisted.web.client.ResponseDone`.
public struct ResponseDone: Error, CustomStringConvertible {
    /// The reason a complete body gives `connectionLost`.
    public init() {}
    public var description: String { "Response body fully received" }
}

/// The body ended when the connection closed, which is how it was delimited, but a truncation
/// cannot be told from a complete body. Twisted: `twisted.web.http.PotentialDataLoss`.
public struct PotentialDataLoss: Error, CustomStringConvertible {
    /// The reason a close-delimited body gives `connectionLost`.
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
    /// What went wrong: one or more failures, the first the cause.
    public let reasons: [Failure]
    /// The response whose body failed, when there was one.
    public let response: Response?
    /// A failure after the response began, for `reasons`.
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
    /// Why no response came: the connection's failure, a `ParseError` or `HeadersTooLarge`.
    public let reasons: [Failure]
    /// A response that never came, for `reasons`.
    public init(reasons: [Failure]) { self.reasons = reasons }
    public var description: String {
        "ResponseNeverReceived: " + reasons.map { $0.getErrorMessage() }.joined(separator: "; ")
    }
}

/// The request could not be sent completely. Twisted: `twisted.web._newclient.RequestTransmissionFailed`.
public struct RequestTransmissionFailed: Error, CustomStringConvertible {
    /// Why the request could not be sent: the body producer's or the connection's failure.
    public let reasons: [Failure]
    /// A request that could not be sent, for `reasons`.
    public init(reasons: [Failure]) { self.reasons = reasons }
    public var description: String {
        "RequestTransmissionFailed: " + reasons.map { $0.getErrorMessage() }.joined(separator: "; ")
    }
}

/// `readBody` saw the body end without a proof of completeness; `response` holds what arrived.
/// Twisted: `twisted.web.client.PartialDownloadError`.
public struct PartialDownloadError: Error, CustomStringConvertible {
    /// The response's status code.
    public let status: Int
    /// The response's reason phrase.
    public let message: String
    /// The body bytes that did arrive.
    public let response: [UInt8]
    /// A body of `status` and `message` that ended without proof of completeness after `response`.
    public init(status: Int, message: String, response: [UInt8]) {
        self.status = status
        self.message = message
        self.response = response
    }
    public var description: String { "\(status) \(message) (\(response.count) bytes received)" }
}

/// The URI's scheme is not http or https. Twisted: `twisted.web.error.SchemeNotSupported`.
public struct SchemeNotSupported: Error, CustomStringConvertible {
    /// The URI's scheme, as given.
    public let scheme: String
    /// A URI whose `scheme` is not http or https.
    public init(scheme: String) { self.scheme = scheme }
    public var description: String { "Unsupported scheme: \(scheme)" }
}

/// The URI could not be parsed (or has characters that cannot be sent).
public struct InvalidURI: Error, CustomStringConvertible {
    /// The URI, as given.
    public let uri: String
    /// What is wrong with it.
    public let reason: String
    /// A `uri` refused because of `reason`.
    public init(uri: String, reason: String) {
        self.uri = uri
        self.reason = reason
    }
    public var description: String { "Invalid URI \(uri.debugDescription): \(reason)" }
}

/// The method is not an HTTP token.
public struct InvalidMethod: Error, CustomStringConvertible {
    /// The method, as given.
    public let method: String
    /// A `method` that is not an HTTP token.
    public init(method: String) { self.method = method }
    public var description: String { "Invalid HTTP method \(method.debugDescription)" }
}

/// A request header cannot be sent (its name is not a token, or its value holds CR, LF or NUL).
public struct InvalidHeader: Error, CustomStringConvertible {
    /// The header's name, as given.
    public let name: String
    /// What is wrong with its name or value.
    public let reason: String
    /// A header `name` refused because of `reason`.
    public init(name: String, reason: String) {
        self.name = name
        self.reason = reason
    }
    public var description: String { "Invalid header \(name.debugDescription): \(reason)" }
}

/// The TLS handshake or certificate check failed.
///
/// A request whose connection failed its handshake fails with it as it is (not inside
/// `ResponseNeverReceived`): the connection was never made. (A TLS connection that breaks later —
/// a bad record, a close without close_notify — ends its exchange as a lost connection does, a
/// `ConnectionLost` carrying this error's message.)
///
/// Twisted: `OpenSSL.SSL.Error` (as `twisted.protocols.tls` raises it), and the verification
/// failures of `twisted.internet._sslverify`.
public struct TLSError: Error, CustomStringConvertible {
    /// Why, as curl's command line says it: the verifier's reason ("SSL certificate problem:
    /// certificate has expired", "SSL: no alternative certificate subject name matches target host
    /// name 'h1.test'"), else OpenSSL's ("…:wrong version number"); libcurl's where it carries https.
    public let message: String
    /// A TLS failure saying `message`.
    public init(message: String) { self.message = message }
    public var description: String { "TLS error: \(message)" }
}

/// The response broke the HTTP protocol (a bad status line, oversized headers, …).
/// Twisted: `twisted.web._newclient.ParseError` / `BadResponseVersion`.
public struct ParseError: Error, CustomStringConvertible {
    /// What the response got wrong.
    public let message: String
    /// A protocol error saying `message`.
    public init(message: String) { self.message = message }
    public var description: String { "Bad HTTP response: \(message)" }
}

/// The body grew past the limit the request set.
public struct BodyTooLarge: Error, CustomStringConvertible {
    /// The limit that was passed, in bytes.
    public let limit: Int
    /// A body that passed `limit` bytes.
    public init(limit: Int) { self.limit = limit }
    public var description: String { "Response body exceeds the limit of \(limit) bytes" }
}

/// The response's status line and header fields passed the limit the agent set
/// (`Agent(maxHeaderBytes:)`); the request fails with it inside `ResponseFailed`.
public struct HeadersTooLarge: Error, CustomStringConvertible {
    /// The limit that was passed, in bytes.
    public let limit: Int
    /// A response head that passed `limit` bytes.
    public init(limit: Int) { self.limit = limit }
    public var description: String { "Response headers exceed the limit of \(limit) bytes" }
}

/// A transfer error without a more specific type: libcurl's message and code (-1 when libcurl
/// could not be loaded or could not start the transfer).
public struct TransferError: Error, CustomStringConvertible {
    /// libcurl's result code; -1 when libcurl could not be loaded or could not start the transfer.
    public let code: Int
    /// libcurl's message, or why it could not be used.
    public let message: String
    /// A transfer error with libcurl's `code` and `message`.
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
    /// The connection's error, about the proxy's address (`ConnectionRefusedError`, …).
    public let reason: Failure
    /// A failure to connect to `proxy`, for `reason`.
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
    /// The proxy, `http://host:port` (without credentials).
    public let proxy: String
    /// The proxy's status code.
    public let code: Int
    /// A tunnel that `proxy` refused with `code`.
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
    /// The transfer codings the response listed, in order, as sent.
    public let codings: [String]
    /// A response refused for listing `codings`.
    public init(codings: [String]) { self.codings = codings }
    public var description: String {
        "Unsupported Transfer-Encoding \(codings.joined(separator: ", ").debugDescription): only chunked is"
            + " undone"
    }
}
