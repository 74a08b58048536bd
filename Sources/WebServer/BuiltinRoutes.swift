/// The built-in routes every `WebServer` starts with (besides the fault routes of `Faults.swift`),
/// in the spirit of httpbin. A route added with the same path replaces one of these.
///
/// | path | response |
/// | --- | --- |
/// | `/` | an HTML index of these routes |
/// | `/status/{code}` | that status (200–599), body `"{code} {reason}\n"` (none for 204/304) |
/// | `/echo` | text: the request line, the header fields (one per line), a blank line, the body |
/// | `/headers` | text: the request's header fields, `Name: value` per line |
/// | `/bytes/{n}` | n bytes of `WebServer.patternBytes`, streamed with flow control when large |
/// | `/gzip?size=N` | a text body of N bytes (4,096), gzip-encoded when `Accept-Encoding` allows it |
/// | `/redirect-to?url=U&status=S` | a redirect (S: 301, 302 (default), 303, 307, 308) to U |
/// | `/chunked?chunks=K&size=S` | K chunks (3) of S bytes (100) of pattern bytes, chunked |
/// | `/delay?seconds=S` | text `delayed\n`, sent after S seconds (1) |
extension WebServer {
    func installBuiltinRoutes() {
        route("/") { _ in
            let items = [
                "/status/418", "/echo", "/headers", "/bytes/1024", "/gzip", "/redirect-to?url=/echo",
                "/chunked?chunks=3&size=100", "/delay?seconds=1", "/fault/stall-headers", "/fault/slow-drip",
            ]
            let links = items.map { "<li><a href=\"\($0)\">\($0)</a></li>" }.joined(separator: "\n")
            return .html(
                "<!DOCTYPE html>\n<html><head><title>WebServer</title></head>\n"
                    + "<body><ul>\n\(links)\n</ul></body></html>\n"
            )
        }
        routePrefix("/status/") { _, rest in
            guard let code = Int(rest), (200...599).contains(code) else {
                return .text("/status/{code} needs a code from 200 to 599\n", status: 400)
            }
            return .status(code)
        }
        route("/echo") { request in
            var text = "\(request.method) \(request.target) \(request.versionString)\n"
            for (name, value) in request.headers { text += "\(name): \(value)\n" }
            text += "\n"
            return HTTPResponse(
                headers: ["Content-Type": "text/plain; charset=utf-8"], body: .bytes(Array(text.utf8) + request.body))
        }
        route("/headers") { request in
            .text(request.headers.map { "\($0.name): \($0.value)\n" }.joined())
        }
        routePrefix("/bytes/") { _, rest in
            guard let count = Int(rest), count >= 0 else { return .text("/bytes/{n} needs a number\n", status: 400) }
            return HTTPResponse(
                headers: ["Content-Type": "application/octet-stream"], body: WebServer.patternBody(count: count))
        }
        route("/gzip") { request in
            let size = max(0, min(request.queryInt("size", default: 4096), 64 << 20))
            let line = Array("The quick brown fox jumps over the lazy dog. 0123456789\n".utf8)
            let text = (0..<size).map { line[$0 % line.count] }
            var response = HTTPResponse(headers: ["Content-Type": "text/plain; charset=utf-8"], body: .bytes(text))
            response.compressible = true
            return response
        }
        route("/redirect-to") { request in
            guard let url = request.queryValue("url") else { return .text("/redirect-to needs ?url=\n", status: 400) }
            let status = request.queryInt("status", default: 302)
            return .redirect(to: url, status: [301, 302, 303, 307, 308].contains(status) ? status : 302)
        }
        route("/chunked") { request in
            let count = max(0, min(request.queryInt("chunks", default: 3), 100_000))
            let size = max(1, min(request.queryInt("size", default: 100), 1 << 20))
            let chunks = (0..<count).map { WebServer.patternBytes(count: size, offset: $0 * size) }
            return HTTPResponse(headers: ["Content-Type": "application/octet-stream"], body: .chunked(chunks))
        }
        route("/delay") { request in
            var response = HTTPResponse.text("delayed\n")
            response.delay = max(0, request.queryValue("seconds").flatMap { Double($0) } ?? 1)
            return response
        }
    }

    // MARK: - Pattern bytes

    /// `count` bytes of the server's deterministic pattern, starting at position `offset`: the
    /// byte at position i is `i % 251` (251 is prime, so a shifted or dropped byte shows).
    public static func patternBytes(count: Int, offset: Int = 0) -> [UInt8] {
        let start = offset % 251
        if count <= patternTable.count - start {
            return Array(patternTable[start..<(start + count)])
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        var position = offset
        while bytes.count < count {
            let piece = min(count - bytes.count, patternTable.count - 251)
            bytes += patternTable[(position % 251)..<(position % 251 + piece)]
            position += piece
        }
        return bytes
    }

    /// The pattern from 0 to 251 + 64 KiB, sliced for any piece up to 64 KiB.
    private static let patternTable: [UInt8] = (0..<(251 + 65_536)).map { UInt8($0 % 251) }

    /// `count` pattern bytes: in memory up to 64 KiB, streamed beyond.
    static func patternBody(count: Int) -> HTTPResponse.Body {
        guard count > 65_536 else { return .bytes(patternBytes(count: count)) }
        var sent = 0
        return .stream(
            BodyStream(length: count) { maxBytes in
                let piece = min(maxBytes, count - sent, 65_536)
                guard piece > 0 else { return nil }
                defer { sent += piece }
                return patternBytes(count: piece, offset: sent)
            })
    }
}
