import CCurl
import Deferreds
import Foundation
import Reactor
import TestSupport
import Testing

@testable import WebAgent

/// How an https request for `url` through a new agent trusting `caFile` failed (nil: it did not).
private func failure(_ url: String, caFile: String?, in reactor: EPollReactor) -> Deferred<Failure?> {
    Agent(reactor, caFile: caFile).request("GET", url)
        .addCallback { response -> Deferred<Failure?> in
            readBody(response).addBoth { _ -> Failure? in nil }
        }
        .addErrback { failure -> Failure? in failure }
}

/// Runs one failing https request on a fresh reactor and returns its failure's TLSError message.
private func tlsErrorMessage(_ url: @escaping (EPollReactor) throws -> String, caFile: String?,
                             sourceLocation: SourceLocation = #_sourceLocation) throws -> String? {
    var result: Failure??
    try withReactor { reactor in
        _ = failure(try url(reactor), caFile: caFile, in: reactor).addCallback { found -> Void in
            result = found
            reactor.stop()
        }
    }
    guard case .some(.some(let failure)) = result else {
        Issue.record("the request did not fail: \(String(describing: result))", sourceLocation: sourceLocation)
        return nil
    }
    let tls = try #require(failure.value as? TLSError, "\(failure)", sourceLocation: sourceLocation)
    return tls.message
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct TLSFailureTests {
    @Test func anExpiredCertificateSaysItHasExpired() throws {
        // When the server's certificate (from a trusted CA, for the right name) has expired, the
        // request fails with TLSError whose message is libcurl's reason, as curl's CLI prints it.
        let ca = try TestCA()
        defer { ca.remove() }
        let server = try TLSServer(certificate: try ca.issue(for: ["127.0.0.1"], expired: true))
        defer { server.stop() }
        let message = try tlsErrorMessage({ _ in "https://127.0.0.1:\(server.port)/" }, caFile: ca.certificate)
        #expect(message == "SSL certificate problem: certificate has expired")
    }

    @Test func aCertificateForAnotherNameNamesTheHostItWasAskedFor() throws {
        // When the certificate (from a trusted CA, current) is for h1.test and the URL names
        // localhost, the message names the mismatch and the host, as curl's CLI does.
        let ca = try TestCA()
        defer { ca.remove() }
        let server = try TLSServer(certificate: try ca.issue(for: ["h1.test"]))
        defer { server.stop() }
        let message = try tlsErrorMessage({ _ in "https://localhost:\(server.port)/" }, caFile: ca.certificate)
        #expect(message == "SSL: no alternative certificate subject name matches target host name 'localhost'")
    }

    @Test func aCertificateFromAnUnknownCASaysItsIssuerIsUnknown() throws {
        // When the certificate comes from a CA other than the one trusted, the message says the
        // issuer could not be found; the same certificate is accepted with its own CA (so the
        // failure is the issuer, not the server).
        let ca = try TestCA()
        defer { ca.remove() }
        let other = try TestCA()
        defer { other.remove() }
        let server = try TLSServer(certificate: try ca.issue(for: ["127.0.0.1"]))
        defer { server.stop() }
        let url = "https://127.0.0.1:\(server.port)/"
        let message = try tlsErrorMessage({ _ in url }, caFile: other.certificate)
        #expect(message == "SSL certificate problem: unable to get local issuer certificate")
        var accepted: Failure??
        try withReactor { reactor in
            _ = failure(url, caFile: ca.certificate, in: reactor).addCallback { found -> Void in
                accepted = found
                reactor.stop()
            }
        }
        #expect(accepted.map { $0 == nil } == true, "\(String(describing: accepted))")
    }

    @Test func aServerSpeakingPlainHTTPOnTheTLSPortIsATLSErrorSayingSo() throws {
        // When the server answers the TLS hello with an HTTP/1.1 response, the request fails with
        // TLSError whose message is OpenSSL's ("wrong version number"), not libcurl's generic text.
        let message = try tlsErrorMessage({ reactor in
            let server = try RawServer.start(reactor) { connection in
                connection.answer("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", close: true)
            }
            return "https://127.0.0.1:\(server.port)/"
        }, caFile: nil)
        #expect(message?.contains("wrong version number") == true, "\(String(describing: message))")
    }

    @Test func aHandshakeCutShortIsATLSErrorSayingHow() throws {
        // When the server closes the connection on the TLS hello, without answering, the request
        // fails with TLSError whose message says what libcurl saw (not its generic "SSL connect
        // error").
        let message = try tlsErrorMessage({ reactor in
            let server = try RawServer.start(reactor) { connection in connection.transport?.loseConnection() }
            return "https://127.0.0.1:\(server.port)/"
        }, caFile: nil)
        let said = try #require(message)
        // (libcurl's generic text for CURLE_SSL_CONNECT_ERROR; libcurl may not be loaded.)
        #expect(said != "SSL connect error")
        // OpenSSL saw the end of the stream (or, if the close raced the hello, a reset).
        #expect(said.hasPrefix("OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to 127.0.0.1:")
            || said.contains("Connection reset by peer"), "\(said)")
        #expect(said.last?.isWhitespace == false, "\(said.debugDescription)")
    }
}

@Suite struct CurlErrorsTests {
    @Test func theMessageIsLibcurlsDetailWhenThereIsOneAndItsGenericTextOtherwise() throws {
        // When libcurl left a detailed message, every typed error with a message carries it (its
        // trailing white space removed by the transfer); without one, the code's generic text.
        #expect(curlLoadError == nil)
        let uri = try URI.parse("https://example.test/")
        func message(_ code: CURLcode, _ detail: String) -> String {
            let error = CurlErrors.error(for: code, osErrno: 0, connectSeconds: 0, uri: uri, receivedHeaders: false,
                                         maxHeaderBytes: 1 << 16, detail: detail)
            switch error {
            case let error as TLSError: return "TLS \(error.message)"
            case let error as ParseError: return "parse \(error.message)"
            case let error as DNSLookupError: return "DNS \(error.message)"
            case let error as TransferError: return "transfer \(error.code) \(error.message)"
            default: return "other \(error)"
            }
        }
        #expect(message(CURLE_PEER_FAILED_VERIFICATION, "SSL: no alternative certificate subject name matches")
            == "TLS SSL: no alternative certificate subject name matches")
        #expect(message(CURLE_PEER_FAILED_VERIFICATION, "")
            == "TLS " + String(cString: ccurl_easy_strerror(CURLE_PEER_FAILED_VERIFICATION)))
        #expect(message(CURLE_WEIRD_SERVER_REPLY, "Unsupported HTTP version in response")
            == "parse Unsupported HTTP version in response")
        #expect(message(CURLE_COULDNT_RESOLVE_HOST, "Could not resolve host: example.test")
            == "DNS Could not resolve host: example.test")
        #expect(message(CURLE_FILESIZE_EXCEEDED, "Maximum file size exceeded")
            == "transfer \(CURLE_FILESIZE_EXCEEDED.rawValue) Maximum file size exceeded")
    }
}
