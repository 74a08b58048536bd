import CCurl
import Deferreds
import Glibc
import Reactor

/// libcurl result codes mapped to the typed errors of the API.
enum CurlErrors {
    /// libcurl's own limit on one header line (CURL_MAX_HTTP_HEADER).
    static let curlMaxHeaderLine = 100 * 1024

    /// The typed error for `code`. Its message says why as curl's command line does: libcurl's
    /// detailed message for this transfer (its error buffer, e.g. "SSL: no alternative certificate
    /// subject name matches target host name 'h1.test'"), or the code's generic text when libcurl
    /// left none.
    /// - Parameters:
    ///   - osErrno: the transfer's CURLINFO_OS_ERRNO; `connectSeconds`: its CURLINFO_CONNECT_TIME_T.
    ///   - detail: the transfer's CURLOPT_ERRORBUFFER text ("" when empty).
    ///   - proxy: the transfer's proxy; `connectCode`: its answer to CONNECT (CURLINFO_HTTP_CONNECTCODE).
    static func error(for code: CURLcode, osErrno: Int, connectSeconds: Double, uri: URI, receivedHeaders: Bool,
                      maxHeaderBytes: Int, detail: String = "", proxy: HTTPProxy? = nil,
                      connectCode: Int = 0) -> any Error {
        if let proxy, code != CURLE_OK, code != CURLE_ABORTED_BY_CALLBACK {
            if connectCode != 0 && !(200...299).contains(connectCode) {
                return ProxyTunnelError(proxy: proxy.description, code: connectCode)
            }
            // With a proxy, libcurl connects only to the proxy (the server is behind the tunnel).
            if code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_PROXY
                || (code == CURLE_OPERATION_TIMEDOUT && connectCode == 0)
            {
                let direct = error(for: code == CURLE_COULDNT_RESOLVE_PROXY ? CURLE_COULDNT_RESOLVE_HOST : code,
                                   osErrno: osErrno, connectSeconds: connectSeconds,
                                   uri: URI(scheme: "http", host: proxy.host, port: proxy.port, pathAndQuery: "/"),
                                   receivedHeaders: false, maxHeaderBytes: maxHeaderBytes, detail: detail)
                return ProxyConnectError(proxy: proxy.description, reason: Failure(direct))
            }
        }
        let message = detail.isEmpty ? String(cString: ccurl_easy_strerror(code)) : detail
        switch code {
        case CURLE_UNSUPPORTED_PROTOCOL:
            // The agent only hands libcurl http and https URIs; for those this code means the
            // server's status line named no HTTP version libcurl knows.
            if uri.scheme == "http" || uri.scheme == "https" { return ParseError(message: message) }
            return SchemeNotSupported(scheme: uri.scheme)
        case CURLE_URL_MALFORMAT:
            return InvalidURI(uri: uri.string, reason: message)
        case CURLE_COULDNT_RESOLVE_HOST:
            return DNSLookupError(host: uri.host, message: message)
        case CURLE_COULDNT_CONNECT:
            if osErrno == Int(ECONNREFUSED) { return ConnectionRefusedError(host: uri.host, port: uri.port) }
            return ConnectError(host: uri.host, port: uri.port, errno: Int32(osErrno == 0 ? Int(ECONNREFUSED) : osErrno))
        case CURLE_OPERATION_TIMEDOUT:
            // The agent keeps its own request timer, so libcurl only times out connecting.
            return ConnectTimeoutError(host: uri.host, port: uri.port, seconds: connectSeconds)
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
            CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
            CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_SHUTDOWN_FAILED:
            return TLSError(message: message)
        case CURLE_GOT_NOTHING:
            return ConnectionLost("the server closed the connection without sending a response")
        case CURLE_WEIRD_SERVER_REPLY, CURLE_HTTP2, CURLE_HTTP2_STREAM, CURLE_BAD_CONTENT_ENCODING:
            return ParseError(message: message)
        case CURLE_PARTIAL_FILE:
            return ConnectionLost("the connection closed before the body was complete")
        case CURLE_OUT_OF_MEMORY where !receivedHeaders:
            // libcurl's answer to a header line over its 100 KiB limit (the line never reached us).
            return HeadersTooLarge(limit: min(maxHeaderBytes, curlMaxHeaderLine))
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR:
            if osErrno == Int(ECONNRESET) { return ConnectionLost("Connection reset by peer") }
            if osErrno == 0 && !receivedHeaders { return ParseError(message: message) }
            return ConnectionLost(osErrno != 0 ? String(cString: strerror(Int32(osErrno))) : message)
        case CURLE_ABORTED_BY_CALLBACK:
            return CancelledError()
        default:
            return TransferError(code: Int(code.rawValue), message: message)
        }
    }
}
