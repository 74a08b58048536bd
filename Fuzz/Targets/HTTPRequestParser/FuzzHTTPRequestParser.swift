/// Fuzz target: WebServer's `HTTPRequestParser`, fed any bytes.
///
/// Invariants, for each input under three sets of limits:
/// - the same requests and the same error kind whether the bytes come at once, one at a time, or
///   in pseudo-random pieces (the parser is incremental, so the split must not matter);
/// - an error is sticky: once `next()` has thrown, it throws the same error again, even after more
///   bytes;
/// - every request is well formed: a token method, a visible-ASCII target, HTTP/1.0 or 1.1, token
///   field names, field values without CR, LF, NUL or other controls (tab aside) and without
///   surrounding blanks, exactly one Host in HTTP/1.1, a body within the limit;
/// - a request written back out (its fields, a Content-Length for its body) parses to the same
///   request.
import FuzzSupport
import WebServer

private let limitSets = [
    HTTPRequestParser.Limits(),
    HTTPRequestParser.Limits(maxHeaderBytes: 256, maxBodyBytes: 64),
    HTTPRequestParser.Limits(maxHeaderBytes: 64, maxBodyBytes: 8),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPRequestParser(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = fuzzBytes(data, count)
    let seed = fnv1a(bytes)
    for limits in limitSets {
        let whole = parse([bytes], limits: limits)
        for cut in [pieces(of: bytes, seed: 0), pieces(of: bytes, seed: seed)] {
            let split = parse(cut, limits: limits)
            invariant(split.requests.count == whole.requests.count
                          && zip(split.requests, whole.requests).allSatisfy(same),
                      "split input gave other requests: \(split.requests.map(describe)) "
                          + "vs \(whole.requests.map(describe))")
            invariant(split.error?.kind == whole.error?.kind,
                      "split input gave another error: \(String(describing: split.error)) "
                          + "vs \(String(describing: whole.error))")
        }
        for request in whole.requests {
            checkWellFormed(request, limits)
            checkRoundTrip(request)
        }
    }
    return 0
}

/// Feeds `pieces` in order, taking every event; stops at the first error.
private func parse(_ pieces: [[UInt8]], limits: HTTPRequestParser.Limits)
    -> (requests: [HTTPRequest], error: HTTPParseError?)
{
    var parser = HTTPRequestParser(limits: limits)
    var requests: [HTTPRequest] = []
    for piece in pieces {
        parser.feed(piece)
        do {
            while let event = try parser.next() {
                if case .request(let request) = event { requests.append(request) }
            }
        } catch {
            checkSticky(&parser, error)
            return (requests, error)
        }
    }
    return (requests, nil)
}

private func checkSticky(_ parser: inout HTTPRequestParser, _ error: HTTPParseError) {
    for more in [[UInt8](), Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)] {
        parser.feed(more)
        do {
            let event = try parser.next()
            invariant(false, "next() after \(error) returned \(String(describing: event))")
        } catch let again {
            invariant(again == error, "a later next() threw \(again) after \(error)")
        }
    }
}

private func checkWellFormed(_ request: HTTPRequest, _ limits: HTTPRequestParser.Limits) {
    invariant(!request.method.isEmpty && request.method.utf8.allSatisfy(isTokenByte),
              "method \(request.method.debugDescription)")
    invariant(!request.target.isEmpty && request.target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F },
              "target \(request.target.debugDescription)")
    invariant(request.version.major == 1 && (request.version.minor == 0 || request.version.minor == 1),
              "version \(request.version)")
    invariant(request.path.hasPrefix("/"), "path \(request.path.debugDescription)")
    for (name, value) in request.headers {
        invariant(!name.isEmpty && name.utf8.allSatisfy(isTokenByte), "field name \(name.debugDescription)")
        invariant(value.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) },
                  "field value with a control byte: \(value.debugDescription)")
        invariant(value.utf8.first.map { $0 != 0x20 && $0 != 0x09 } ?? true
                  && value.utf8.last.map { $0 != 0x20 && $0 != 0x09 } ?? true,
                  "field value not trimmed: \(value.debugDescription)")
    }
    if request.version.minor == 1 {
        invariant(request.headers.values(for: "Host").count == 1, "HTTP/1.1 request without exactly one Host")
    }
    invariant(request.body.count <= limits.maxBodyBytes, "body of \(request.body.count) bytes past the limit")
    // The query helpers must cope with whatever the target holds.
    _ = request.queryItems
    _ = request.decodedPath
}

/// Writes `request` back out with Content-Length framing and parses it again.
private func checkRoundTrip(_ request: HTTPRequest) {
    var headers = HTTPHeaders()
    for (name, value) in request.headers where !["content-length", "transfer-encoding"].contains(name.lowercased()) {
        headers.add(name, value)
    }
    if !request.body.isEmpty { headers.add("Content-Length", String(request.body.count)) }
    var text = "\(request.method) \(request.target) HTTP/1.\(request.version.minor)\r\n"
    for (name, value) in headers { text += "\(name): \(value)\r\n" }
    text += "\r\n"
    let again = parse([Array(text.utf8) + request.body], limits: HTTPRequestParser.Limits())
    invariant(again.error == nil, "a parsed request written back out fails: \(String(describing: again.error))")
    invariant(again.requests.count == 1, "a parsed request written back out gives \(again.requests.count) requests")
    var expected = request
    expected.headers = headers
    invariant(again.requests.first.map { same($0, expected) } ?? false,
              "round trip changed the request: \(describe(expected)) -> \(again.requests.map(describe))")
}

private func same(_ a: HTTPRequest, _ b: HTTPRequest) -> Bool {
    a.method == b.method && a.target == b.target && a.version == b.version && a.headers == b.headers
        && a.body == b.body && a.path == b.path && a.query == b.query
}

private func describe(_ request: HTTPRequest) -> String {
    "\(request.method) \(request.target) \(request.versionString) \(request.headers.fields) body \(request.body.count)"
}
