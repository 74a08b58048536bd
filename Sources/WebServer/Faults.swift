import Reactor

/// A way for a response to go wrong on the wire, on purpose: for testing clients.
///
/// Set `HTTPResponse.fault`; the server prepares the response as usual (framing, gzip, HEAD
/// rules), then breaks it as said. "Body bytes" are counted on the wire, after content and
/// transfer codings (for a `Content-Length` body they are the body's bytes).
///
/// ```swift
/// var response = HTTPResponse(body: .bytes(payload))
/// response.fault = .interrupt(at: .afterBodyBytes(payload.count / 2), then: .reset)
/// ```
public enum Fault: Sendable {
    /// Where a response is cut short.
    public enum Cut: Sendable {
        /// Nothing is sent.
        case beforeHead
        /// The head and the first `n` body bytes are sent.
        case afterBodyBytes(Int)
        /// A chunked body is sent whole but without its last (zero-size) chunk.
        case beforeLastChunk
    }

    /// What the server does at the cut.
    public enum Ending: Sendable {
        /// Nothing more: the connection stays open, silent, until the client closes it or the
        /// server stops.
        case stall
        /// A clean close (FIN) once what was written is sent.
        case close
        /// A reset (RST, `abortConnection`) once what was written is sent.
        case reset
    }

    /// Send the response up to `cut`, then end as `ending` says.
    case interrupt(at: Cut, then: Ending)
    /// Send the head at once, then the body one byte at a time, `interval` seconds apart (the
    /// first byte after one interval), on the reactor's timers; then go on as usual.
    case drip(interval: Double)
    /// Send `bytes` verbatim instead of the response, then end as `ending` says.
    case raw([UInt8], then: Ending)
}

// MARK: - The fault routes

/// The built-in fault routes, each for testing how a client copes. Sizes and counts come from the
/// query; N is `length` (default 10,000) unless said otherwise; body bytes are
/// `WebServer.patternBytes`. Defaults are in parentheses.
///
/// | path | behaviour |
/// | --- | --- |
/// | `/fault/stall-headers` | reads the request, never answers; the connection stays open |
/// | `/fault/stall-body?length=N` | 200, `Content-Length: N`, the first N/2 body bytes, then silence |
/// | `/fault/truncate-length?length=N` | 200, `Content-Length: N`, the first N/2 bytes, then a clean close |
/// | `/fault/truncate-chunked?chunks=K&size=S` | 200 chunked, K (4) chunks of S (1,000) bytes, then a |
/// |   | clean close without the last `0` chunk |
/// | `/fault/reset-body?length=N` | 200, `Content-Length: N`, the first N/2 bytes, then a reset (RST) |
/// | `/fault/bad-status` | `HTTP/1.1 two hundred OK`, `Content-Length: 2`, `ok`, then a clean close |
/// | `/fault/huge-header?size=N` | 200 with an `X-Huge` field of N (204,800) bytes of "a"; body `ok\n` |
/// | `/fault/redirect-chain?n=K` | 302 to the same query with `n=K-1` while K (3) > 0, then 200 `done\n`; |
/// |   | `status=` 301/303/307/308 changes the status, `absolute=1` makes `Location` absolute (from `Host`) |
/// | `/fault/redirect-loop` | 302 to `/fault/redirect-loop` itself, forever (`status=` as above) |
/// | `/fault/close-delimited?length=N` | 200 with neither `Content-Length` nor chunking, |
/// |   | `Connection: close`, N bytes, then a clean close |
/// | `/fault/slow-drip?bytes=N&interval=S` | 200, `Content-Length: N` (10), then one byte every S (0.1) |
/// |   | seconds on the reactor's timers, the first after S; keeps the connection |
/// | `/fault/retry-after?fails=K&key=X` | 503 with `Retry-After: 1` for the first K (1) requests with key X |
/// |   | (default ""), then 200 `ok\n`; each key counts apart, so parallel tests do not interfere |
/// | `/fault/gzip-bomb?mib=M` | 200, `Content-Encoding: gzip`, M (10,240) MiB of zeros in about M KiB of gzip |
/// |   | (`GzipBomb`): 10 GiB once inflated by default, whatever the request's `Accept-Encoding` |
extension WebServer {
    func installFaultRoutes() {
        route("/fault/stall-headers") { _ in
            var response = HTTPResponse.status(200)
            response.fault = .interrupt(at: .beforeHead, then: .stall)
            return response
        }
        route("/fault/stall-body") { request in
            WebServer.halfBody(request, then: .stall)
        }
        route("/fault/truncate-length") { request in
            WebServer.halfBody(request, then: .close)
        }
        route("/fault/reset-body") { request in
            WebServer.halfBody(request, then: .reset)
        }
        route("/fault/truncate-chunked") { request in
            let count = max(0, min(request.queryInt("chunks", default: 4), 100_000))
            let size = max(1, min(request.queryInt("size", default: 1000), 1 << 20))
            let chunks = (0..<count).map { WebServer.patternBytes(count: size, offset: $0 * size) }
            var response = HTTPResponse(headers: ["Content-Type": "application/octet-stream"], body: .chunked(chunks))
            response.fault = .interrupt(at: .beforeLastChunk, then: .close)
            return response
        }
        route("/fault/bad-status") { _ in
            var response = HTTPResponse.status(200)
            response.fault = .raw(Array("HTTP/1.1 two hundred OK\r\nContent-Length: 2\r\n\r\nok".utf8), then: .close)
            return response
        }
        route("/fault/huge-header") { request in
            let size = max(0, min(request.queryInt("size", default: 200 * 1024), 64 << 20))
            var response = HTTPResponse.text("ok\n")
            response.headers.add("X-Huge", String(repeating: "a", count: size))
            return response
        }
        route("/fault/redirect-chain") { request in
            let remaining = max(0, request.queryInt("n", default: 3))
            guard remaining > 0 else { return .text("done\n") }
            let others = (request.query ?? "").split(separator: "&").filter { !$0.hasPrefix("n=") && $0 != "n" }
            let query = (["n=\(remaining - 1)"] + others.map(String.init)).joined(separator: "&")
            var location = "/fault/redirect-chain?\(query)"
            if request.queryValue("absolute") == "1", let host = request.headers["Host"] {
                location = "http://\(host)\(location)"
            }
            return .redirect(to: location, status: WebServer.redirectStatus(request))
        }
        route("/fault/redirect-loop") { request in
            .redirect(to: "/fault/redirect-loop", status: WebServer.redirectStatus(request))
        }
        route("/fault/close-delimited") { request in
            let length = WebServer.lengthParameter(request)
            var response = HTTPResponse(
                headers: ["Content-Type": "application/octet-stream"],
                body: .bytes(WebServer.patternBytes(count: length)))
            response.framing = .closeDelimited
            return response
        }
        route("/fault/slow-drip") { request in
            let count = max(0, min(request.queryInt("bytes", default: 10), 1 << 20))
            let interval = max(0, request.queryValue("interval").flatMap { Double($0) } ?? 0.1)
            var response = HTTPResponse(
                headers: ["Content-Type": "application/octet-stream"],
                body: .bytes(WebServer.patternBytes(count: count)))
            response.fault = .drip(interval: interval)
            return response
        }
        route("/fault/gzip-bomb") { request in
            let mebibytes = max(0, min(request.queryInt("mib", default: 10_240), 1 << 20))
            return HTTPResponse(
                headers: ["Content-Type": "application/octet-stream", "Content-Encoding": "gzip"],
                body: GzipBomb.body(mebibytes: mebibytes))
        }
        route("/fault/retry-after") { [unowned self] request in
            let fails = request.queryInt("fails", default: 1)
            let key = request.queryValue("key") ?? ""
            let seen = retryCounts[key, default: 0]
            retryCounts[key] = seen + 1
            guard seen < fails else { return .text("ok\n") }
            var response = HTTPResponse.text(
                "503 Service Unavailable (attempt \(seen + 1) of \(fails) failing)\n", status: 503)
            response.headers.add("Retry-After", "1")
            return response
        }
    }

    /// N bytes announced, N/2 sent, then `ending`.
    private static func halfBody(_ request: HTTPRequest, then ending: Fault.Ending) -> HTTPResponse {
        let length = lengthParameter(request)
        var response = HTTPResponse(
            headers: ["Content-Type": "application/octet-stream"], body: .bytes(patternBytes(count: length)))
        response.fault = .interrupt(at: .afterBodyBytes(length / 2), then: ending)
        return response
    }

    private static func lengthParameter(_ request: HTTPRequest) -> Int {
        max(0, min(request.queryInt("length", default: 10_000), 256 << 20))
    }

    private static func redirectStatus(_ request: HTTPRequest) -> Int {
        let status = request.queryInt("status", default: 302)
        return [301, 302, 303, 307, 308].contains(status) ? status : 302
    }
}
