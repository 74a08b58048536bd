/// Why a request could not be parsed, and the status the server answers it with.
///
/// The parser stops at the first error: the connection answers with `status` and closes.
/// Compare `kind`s (`error.kind == .headerTooLarge`); `detail` is for people.
///
/// Twisted: the `400`/`431`/`501` paths of `twisted.web.http.HTTPChannel`.
public struct HTTPParseError: Error, Equatable, CustomStringConvertible {
    /// The kind of error; new kinds may be added without breaking callers.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        enum Code: Hashable, Sendable {
            case badRequestLine, unsupportedVersion, badHeader, missingHost, headerTooLarge
            case badContentLength, badTransferEncoding, unsupportedTransferEncoding, badChunk, bodyTooLarge
        }
        let code: Code

        /// The request line is not `METHOD SP target SP HTTP/x.y`. Status 400.
        public static let badRequestLine = Kind(code: .badRequestLine)
        /// The version is not HTTP/1.x. Status 505.
        public static let unsupportedVersion = Kind(code: .unsupportedVersion)
        /// A header line is malformed (no colon, bad name, control bytes, obsolete folding). Status 400.
        public static let badHeader = Kind(code: .badHeader)
        /// An HTTP/1.1 request without exactly one Host field. Status 400.
        public static let missingHost = Kind(code: .missingHost)
        /// The request line and header fields (or a chunked body's trailer) pass the limit. Status 431.
        public static let headerTooLarge = Kind(code: .headerTooLarge)
        /// Content-Length is not a number, or several disagree. Status 400.
        public static let badContentLength = Kind(code: .badContentLength)
        /// Transfer-Encoding does not end in `chunked`. Status 400.
        public static let badTransferEncoding = Kind(code: .badTransferEncoding)
        /// Transfer-Encoding uses a coding other than `chunked`. Status 501.
        public static let unsupportedTransferEncoding = Kind(code: .unsupportedTransferEncoding)
        /// A chunk size line or a chunk's end is malformed. Status 400.
        public static let badChunk = Kind(code: .badChunk)
        /// The body passes the limit. Status 413.
        public static let bodyTooLarge = Kind(code: .bodyTooLarge)

        /// The status code the server answers with.
        public var status: Int {
            switch code {
            case .badRequestLine, .badHeader, .missingHost, .badContentLength, .badTransferEncoding, .badChunk:
                return 400
            case .unsupportedVersion: return 505
            case .headerTooLarge: return 431
            case .unsupportedTransferEncoding: return 501
            case .bodyTooLarge: return 413
            }
        }

        public var description: String {
            switch code {
            case .badRequestLine: return "badRequestLine"
            case .unsupportedVersion: return "unsupportedVersion"
            case .badHeader: return "badHeader"
            case .missingHost: return "missingHost"
            case .headerTooLarge: return "headerTooLarge"
            case .badContentLength: return "badContentLength"
            case .badTransferEncoding: return "badTransferEncoding"
            case .unsupportedTransferEncoding: return "unsupportedTransferEncoding"
            case .badChunk: return "badChunk"
            case .bodyTooLarge: return "bodyTooLarge"
            }
        }
    }

    /// Which rule the request broke; it decides the response's status.
    public let kind: Kind
    /// What was wrong, for logs and the error page.
    public let detail: String

    /// A parse error of `kind`, described by `detail`.
    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// The status code the server answers with (400, 413, 431, 501 or 505).
    public var status: Int { kind.status }

    public var description: String { "\(kind) (\(status)): \(detail)" }
}
