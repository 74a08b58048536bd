import Deferreds
import Reactor

/// An agent wrapper that asks for compressed responses and decompresses their bodies on the fly.
///
/// Each request is sent with `Accept-Encoding: gzip, deflate` (the supported `codings`, added to
/// any value the caller set). When a response's `Content-Encoding` names supported codings
/// (`gzip`, its alias `x-gzip`, `deflate`), the deferred fires with a response that looks as if
/// the body had been sent plain: those codings are removed from `Content-Encoding` (the header is
/// gone when none is left), `length` is nil, and the body protocol gets decoded bytes. Codings are
/// undone from the last applied to the first; the first unsupported one stops that, and it and the
/// codings before it stay in the header, undecoded (joined by `,`, as Twisted writes them). A
/// response with an unknown coding, and the bodiless responses to HEAD and 204/304, are passed
/// through untouched. At most `maxCodings` (5, as curl) codings are undone: a response that lists
/// more fails the request with `ResponseFailed` holding a `ContentDecodingError`.
///
/// Decoding streams with bounded memory: each compressed chunk is inflated into pieces of at most
/// 64 KiB, each handed to `dataReceived` before the next is made, so a small body that inflates to
/// gigabytes never sits in memory; stacked codings are undone in one loop, each with one buffer.
/// A body protocol that pauses its transport stops the inflating (and the transfer) until it
/// resumes; stopping it stops the transfer, and the protocol gets `ResponseFailed` holding
/// `ConnectionAborted`, as from an undecoded body (`CancelledError` if the transfer had already
/// ended and only decoded bytes were left to deliver). With `maxBodyBytes`, a decoded body that
/// would pass that many bytes is cut there: the piece that would cross the limit is not delivered, the
/// transfer stops, and the body ends with `ResponseFailed` holding `BodyTooLarge` (a decompression
/// bomb costs at most the limit's worth of inflating, not its full size).
///
/// A body that cannot be decoded (corrupt data, or compressed data that ends before its end
/// marker) ends with `ResponseFailed` holding a `ContentDecodingError`; the transfer is stopped.
/// `deflate` accepts the zlib format (RFC 1950) and, as browsers do, raw deflate data (RFC 1951)
/// from servers that send that instead. A gzip body may hold several members, one after another.
///
/// ```swift
/// _ = ContentDecoderAgent(Agent(reactor)).request("GET", "http://example.com/")
///     .addCallback { response in readBody(response) }    // the decompressed body
/// ```
///
/// Twisted: `twisted.web.client.ContentDecoderAgent` with `GzipDecoder`. Differences: the decoders
/// are chosen from `Coding` instead of given as factories; `deflate` is supported; a body that
/// ends inside the compressed stream fails instead of ending quietly; the number of codings is capped.
public final class ContentDecoderAgent: AgentProtocol {
    /// A content coding this agent can undo.
    public enum Coding: String, CaseIterable, Sendable {
        /// RFC 1952 gzip (`x-gzip` is taken as this too).
        case gzip
        /// RFC 1950 zlib-wrapped deflate, or raw RFC 1951 deflate.
        case deflate
    }

    /// The codings offered in `Accept-Encoding` and decoded, in the order offered.
    public let codings: [Coding]
    /// The most decoded body bytes delivered; nil for no limit.
    public let maxBodyBytes: Int?
    private let agent: any AgentProtocol

    /// - Parameters:
    ///   - agent: the agent that sends the requests.
    ///   - codings: the codings to offer and decode; both by default.
    ///   - maxBodyBytes: fail a decoded body with `BodyTooLarge` once it would pass this many bytes
    ///     (`Agent(maxBodyBytes:)` counts the bytes on the wire, before decoding).
    public init(_ agent: any AgentProtocol, codings: [Coding] = [.gzip, .deflate], maxBodyBytes: Int? = nil) {
        precondition((maxBodyBytes ?? 0) >= 0, "ContentDecoderAgent: maxBodyBytes must be >= 0")
        self.agent = agent
        self.codings = codings
        self.maxBodyBytes = maxBodyBytes
    }

    public func request(_ method: String, _ uri: String, _ headers: Headers? = nil,
                        _ bodyProducer: (any BodyProducer)? = nil, timeout: Double? = nil) -> Deferred<Response> {
        var headers = headers ?? Headers()
        if !codings.isEmpty {
            headers.addRawHeader("Accept-Encoding", codings.map(\.rawValue).joined(separator: ", "))
        }
        return agent.request(method, uri, headers, bodyProducer, timeout: timeout)
            .addCallback { [codings, maxBodyBytes] (response: Response) throws -> Response in
                try ContentDecoderAgent.decoding(response, codings, maxBodyBytes: maxBodyBytes)
            }
    }

    /// The most codings one response may have undone: 5, curl's limit since CVE-2022-32206.
    ///
    /// Each coding to undo costs a zlib stream (its state and a window of up to 32 KiB) and a
    /// 64 KiB buffer, so a server that lists thousands of `gzip`s in `Content-Encoding` could make a
    /// client hold gigabytes (curl's CVE-2022-32206; here, 12,000 listed codings took 1.19 GB).
    /// A response that lists more codings to undo fails with `ContentDecodingError` before any
    /// decoder is set up. `identity` undoes nothing and is not counted.
    public static let maxCodings = 5

    /// `response`, or a response that decodes it (whose decoded body is cut at `maxBodyBytes`).
    ///
    /// - Throws: `ResponseFailed` holding a `ContentDecodingError` when more than `maxCodings`
    ///   codings are to be undone; `response` is then dropped, which aborts its transfer.
    static func decoding(_ response: Response, _ codings: [Coding], maxBodyBytes: Int? = nil) throws -> Response {
        guard response.request.method != "HEAD", response.code != 204, response.code != 304,
              let values = response.headers.getRawHeaders("Content-Encoding")
        else { return response }
        // Names as listed (trimmed), the first applied first; undone from the last.
        var names = values.joined(separator: ",").split(separator: ",")
            .map { String($0).trimmingSpaces() }
            .filter { !$0.isEmpty }
        var toUndo: [Coding] = []
        while let last = names.last {
            let name = last.lowercased()
            if name != "identity" {
                guard let coding = Coding(rawValue: name == "x-gzip" ? "gzip" : name), codings.contains(coding)
                else { break }
                guard toUndo.count < maxCodings else {
                    throw ResponseFailed(reasons: [Failure(ContentDecodingError(
                        coding: name, message: "more than \(maxCodings) content codings to undo"))])
                }
                toUndo.append(coding)
            }
            names.removeLast()
        }
        guard !toUndo.isEmpty else { return response }
        var headers = response.headers
        if names.isEmpty {
            headers.removeHeader("Content-Encoding")
        } else {
            // As Twisted writes what it leaves: the names joined by a bare comma.
            headers.setRawHeaders("Content-Encoding", [names.joined(separator: ",")])
        }
        let body = DecodingBody(original: response, codings: toUndo, maxBodyBytes: maxBodyBytes)
        let decoded = Response(version: response.version, code: response.code, phrase: response.phrase,
                               headers: headers, length: nil, request: response.request, body: body)
        body.decoded = decoded
        decoded.previousResponse = response.previousResponse
        return decoded
    }
}

/// A compressed body could not be decoded: `coding` says which coding, `message` what was wrong.
/// It reaches the body protocol inside `ResponseFailed`; when a response lists more codings than
/// `ContentDecoderAgent.maxCodings`, it fails the request itself (inside `ResponseFailed`).
///
/// Twisted: none of its own; `twisted.web.client`'s `_GzipProtocol` fails the body with
/// `ResponseFailed` holding zlib's error.
public struct ContentDecodingError: Error, CustomStringConvertible {
    /// The content coding that failed, such as "gzip".
    public let coding: String
    /// What was wrong with the coded body.
    public let message: String
    /// A failure to decode `coding`, saying why in `message`.
    public init(coding: String, message: String) {
        self.coding = coding
        self.message = message
    }
    public var description: String { "Could not decode the \(coding) response body: \(message)" }
}
