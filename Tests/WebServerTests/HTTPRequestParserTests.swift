import TestSupport
import Testing

@testable import WebServer

/// Feeds `input` in the given pieces and takes every event out, stopping at the first error.
private func parse(
    _ pieces: [[UInt8]], limits: HTTPRequestParser.Limits = .init()
) -> (requests: [HTTPRequest], continues: Int, error: HTTPParseError?) {
    var parser = HTTPRequestParser(limits: limits)
    var requests: [HTTPRequest] = []
    var continues = 0
    for piece in pieces {
        parser.feed(piece)
        do {
            while let event = try parser.next() {
                switch event {
                case .request(let request): requests.append(request)
                case .continueExpected: continues += 1
                }
            }
        } catch {
            return (requests, continues, error)
        }
    }
    return (requests, continues, nil)
}

private func parse(_ text: String, limits: HTTPRequestParser.Limits = .init()) -> (
    requests: [HTTPRequest], continues: Int, error: HTTPParseError?
) {
    parse([Array(text.utf8)], limits: limits)
}

/// A comparable summary of a request.
private func summary(_ request: HTTPRequest) -> String {
    "\(request.method)|\(request.target)|\(request.versionString)|"
        + request.headers.map { "\($0.name)=\($0.value)" }.joined(separator: ",") + "|"
        + String(decoding: request.body, as: UTF8.self)
}

@Suite struct HTTPRequestParserTests {
    @Test func parsesTheRequestLineHeadersAndQuery() throws {
        // When a GET with a query and several fields arrives, every part is parsed, fields keep
        // their order and spelling, and lookups ignore case.
        let result = parse(
            "GET /a/b%20c?x=1&y=two+words&z=%41 HTTP/1.1\r\nHost: example\r\nX-One: 1\r\nx-two:  2 \r\n\r\n")
        let request = try #require(result.requests.first)
        #expect(result.error == nil)
        #expect(request.method == "GET")
        #expect(request.target == "/a/b%20c?x=1&y=two+words&z=%41")
        #expect(request.path == "/a/b%20c")
        #expect(request.decodedPath == "/a/b c")
        #expect(request.query == "x=1&y=two+words&z=%41")
        #expect(request.queryValue("y") == "two words")
        #expect(request.queryValue("z") == "A")
        #expect(request.version == (1, 1))
        #expect(request.headers.fields.map(\.name) == ["Host", "X-One", "x-two"])
        #expect(request.headers["X-TWO"] == "2")
        #expect(request.headers["host"] == "example")
        #expect(request.body.isEmpty)
        #expect(request.keepAlive)
    }

    @Test func absoluteFormTargetsKeepOnlyPathAndQuery() throws {
        // When the target is an absolute URI, path and query come from it.
        let request = try #require(parse("GET http://h:8/p/q?r=1 HTTP/1.1\r\nHost: h\r\n\r\n").requests.first)
        #expect(request.path == "/p/q")
        #expect(request.query == "r=1")
    }

    @Test func aContentLengthBodyIsRead() throws {
        // When a POST has Content-Length 11, exactly 11 bytes form its body.
        let result = parse("POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world")
        #expect(result.requests.count == 1)
        #expect(result.requests.first?.body == Array("hello world".utf8))
    }

    @Test func aChunkedBodyWithExtensionsAndTrailersIsDecoded() throws {
        // When a body is chunked with extensions and a trailer, the chunks are joined and the
        // trailer is dropped from the headers.
        let text =
            "POST /e HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
        let result = parse(text)
        let request = try #require(result.requests.first)
        #expect(request.body == Array("hello world".utf8))
        #expect(request.headers["X-Trailer"] == nil)
    }

    @Test(arguments: [
        "GET /x HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n",
        "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789",
        "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "3\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: 1\r\n\r\n",
        "GET /x HTTP/1.0\nA: b\n\n",
    ])
    func everySplitPointGivesTheSameRequest(text: String) throws {
        // When a request arrives split in two at any byte, or one byte at a time, the parser
        // produces the same request as from one piece.
        let bytes = Array(text.utf8)
        let whole = parse([bytes])
        #expect(whole.error == nil)
        let expected = try #require(whole.requests.first).body
        let expectedSummary = summary(whole.requests[0])
        for split in 0...bytes.count {
            let result = parse([Array(bytes[..<split]), Array(bytes[split...])])
            #expect(result.error == nil, "split at \(split)")
            #expect(result.requests.count == 1, "split at \(split)")
            #expect(result.requests.first.map(summary) == expectedSummary, "split at \(split)")
        }
        let byteByByte = parse(bytes.map { [$0] })
        #expect(byteByByte.requests.first?.body == expected)
        #expect(byteByByte.requests.first.map(summary) == expectedSummary)
    }

    @Test func pipelinedRequestsComeOutInOrder() throws {
        // When three requests arrive in one piece, they come out one by one, in order.
        let text =
            "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
            + "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n"
        let result = parse(text)
        #expect(result.requests.map(\.path) == ["/1", "/2", "/3"])
        #expect(result.requests[1].body == Array("abc".utf8))
    }

    @Test func emptyLinesBeforeARequestAndBareLineFeedsAreAccepted() throws {
        // When a request is preceded by empty lines and uses bare LF line ends, it is accepted.
        let result = parse("\r\n\n\r\nGET /x HTTP/1.1\nHost: h\n\n")
        #expect(result.error == nil)
        #expect(result.requests.map(\.path) == ["/x"])
    }

    @Test func expectContinueIsAnnouncedBeforeTheBody() throws {
        // When a request expects 100-continue and its body has not arrived, the parser announces
        // it, then delivers the request once the body is in.
        var parser = HTTPRequestParser()
        parser.feed(Array("PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n".utf8))
        guard case .continueExpected(let head)? = try parser.next() else {
            Issue.record("expected .continueExpected")
            return
        }
        #expect(head.path == "/u")
        #expect(try parser.next() == nil)
        parser.feed(Array("data".utf8))
        guard case .request(let request)? = try parser.next() else {
            Issue.record("expected the request")
            return
        }
        #expect(request.body == Array("data".utf8))
    }

    @Test func keepAliveFollowsTheVersionRules() throws {
        // When a request says Connection: close, or is HTTP/1.0 without keep-alive, the
        // connection is not to be kept; otherwise it is.
        let cases: [(String, Bool)] = [
            ("GET / HTTP/1.1\r\nHost: h\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, Close\r\n\r\n", false),
            ("GET / HTTP/1.0\r\n\r\n", false),
            ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
            ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", false),
        ]
        for (text, keepAlive) in cases {
            let request = try #require(parse(text).requests.first, "\(text)")
            #expect(request.keepAlive == keepAlive, "\(text)")
        }
    }

    @Test(arguments: [
        ("GARBAGE\r\n\r\n", HTTPParseError.Kind.badRequestLine),
        ("GET /x\r\n\r\n", .badRequestLine),
        ("GET  /x HTTP/1.1\r\nHost: h\r\n\r\n", .badRequestLine),
        ("GET /x HTTP/1.1 \r\nHost: h\r\n\r\n", .badRequestLine),
        ("G(T /x HTTP/1.1\r\nHost: h\r\n\r\n", .badRequestLine),
        ("GET /x HTTX/1.1\r\nHost: h\r\n\r\n", .badRequestLine),
        ("GET /x HTTP/2.0\r\nHost: h\r\n\r\n", .unsupportedVersion),
        ("GET /x HTTP/1.1\r\n\r\n", .missingHost),
        ("GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", .missingHost),
        ("GET /x HTTP/1.1\r\nHost: h\r\nNo colon\r\n\r\n", .badHeader),
        ("GET /x HTTP/1.1\r\nHost: h\r\nName : v\r\n\r\n", .badHeader),
        ("GET /x HTTP/1.1\r\nHost: h\r\nA: b\r\n folded\r\n\r\n", .badHeader),
        ("GET /x HTTP/1.1\r\nHost: h\r\nA: b\u{1}c\r\n\r\n", .badHeader),
        ("GET /x HTTP/1.1\r\nHost: h\r\nA: b\rc\r\n\r\n", .badHeader),
        ("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", .badContentLength),
        ("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n", .badContentLength),
        ("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", .badContentLength),
        ("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", .badContentLength),
        ("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", .badTransferEncoding),
        ("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .unsupportedTransferEncoding),
        ("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", .badChunk),
        ("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", .badChunk),
        ("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n", .badChunk),
    ])
    func malformedRequestsFailWithTypedErrors(text: String, kind: HTTPParseError.Kind) {
        // When a request is malformed, the parser throws the matching typed error (with its status).
        let result = parse(text)
        #expect(result.requests.isEmpty)
        #expect(result.error?.kind == kind, "\(text.debugDescription): got \(String(describing: result.error))")
    }

    @Test func errorStatusesMatchTheirKinds() {
        // When the server answers a parse error, the status matches the kind of error.
        #expect(HTTPParseError(.badRequestLine, "").status == 400)
        #expect(HTTPParseError(.headerTooLarge, "").status == 431)
        #expect(HTTPParseError(.bodyTooLarge, "").status == 413)
        #expect(HTTPParseError(.unsupportedTransferEncoding, "").status == 501)
        #expect(HTTPParseError(.unsupportedVersion, "").status == 505)
    }

    @Test func aHeaderBlockOverTheLimitFailsEvenBeforeItEnds() throws {
        // When more than maxHeaderBytes arrive without the blank line, the parser fails with
        // headerTooLarge at once instead of buffering more; a block just under the limit passes.
        let limits = HTTPRequestParser.Limits(maxHeaderBytes: 1024)
        var parser = HTTPRequestParser(limits: limits)
        parser.feed(Array("GET / HTTP/1.1\r\nHost: h\r\nX-Big: ".utf8))
        #expect(try parser.next() == nil)
        parser.feed([UInt8](repeating: UInt8(ascii: "a"), count: 1024))
        var failure: HTTPParseError?
        do { _ = try parser.next() } catch { failure = error }
        #expect(failure?.kind == .headerTooLarge)
        #expect(parser.bufferedByteCount < 2048)

        let prefix = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: "
        let fitting = prefix + String(repeating: "a", count: 1024 - prefix.utf8.count - 4) + "\r\n\r\n"
        #expect(fitting.utf8.count == 1024)
        #expect(parse(fitting, limits: limits).requests.count == 1)
        #expect(
            parse(fitting.replacingOccurrences("X-Big: ", "X-Big: a"), limits: limits).error?.kind == .headerTooLarge)
    }

    @Test func aBodyOverTheLimitFails() {
        // When Content-Length or the chunks pass maxBodyBytes, the parser fails with bodyTooLarge.
        let limits = HTTPRequestParser.Limits(maxBodyBytes: 10)
        #expect(
            parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", limits: limits).error?.kind
                == .bodyTooLarge)
        let chunked = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\n"
        #expect(parse(chunked, limits: limits).error?.kind == .bodyTooLarge)
        #expect(
            parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", limits: limits).requests.count
                == 1)
    }

    @Test func afterAnErrorEveryCallThrowsTheSameError() throws {
        // When the parser has failed, more bytes change nothing: next() throws the same error.
        var parser = HTTPRequestParser()
        parser.feed(Array("BAD\r\n\r\n".utf8))
        var first: HTTPParseError?
        do { _ = try parser.next() } catch { first = error }
        parser.feed(Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
        var second: HTTPParseError?
        do { _ = try parser.next() } catch { second = error }
        #expect(first != nil)
        #expect(first == second)
    }

    @Test func randomGarbageNeverCrashesAndEndsInATypedOutcome() {
        // When tens of thousands of random inputs (made of HTTP-ish fragments and random bytes) are
        // fed in random pieces, the parser never traps, never returns more requests than request
        // lines fed, and after an error keeps throwing that error.
        var random = SplitMix64(seed: 0x5EED)
        let fragments = [
            "GET ", "POST ", "HEAD ", "/", "/x?y=1", " HTTP/1.1", " HTTP/1.0", " HTTP/9.9", "\r\n", "\n", "\r",
            "Host: h", "Content-Length: ", "Transfer-Encoding: chunked", "Expect: 100-continue", "0", "5", "ff",
            "FFFFFFFFFFFFFFFFFFFF", ":", " ", "\t", ";ext", "\u{0}", "\u{7f}", "é", "abcde",
        ].map { Array($0.utf8) }
        var outcomes = (requests: 0, errors: 0, waiting: 0)
        for round in 0..<20_000 {
            var input: [UInt8] = []
            let parts = Int.random(in: 1...24, using: &random)
            for _ in 0..<parts {
                if Bool.random(using: &random) {
                    input += fragments.randomElement(using: &random)!
                } else {
                    input += (0..<Int.random(in: 1...8, using: &random)).map { _ in
                        UInt8.random(in: 0...255, using: &random)
                    }
                }
            }
            var pieces: [[UInt8]] = []
            var rest = input[...]
            while !rest.isEmpty {
                let size = Int.random(in: 1...max(1, rest.count), using: &random)
                pieces.append(Array(rest.prefix(size)))
                rest = rest.dropFirst(size)
            }
            let limits = HTTPRequestParser.Limits(maxHeaderBytes: 256, maxBodyBytes: 64)
            var parser = HTTPRequestParser(limits: limits)
            var requests = 0
            var failure: HTTPParseError?
            for piece in pieces where failure == nil {
                parser.feed(piece)
                do {
                    while let event = try parser.next() {
                        if case .request(let request) = event {
                            requests += 1
                            #expect(request.body.count <= 64)
                            #expect(!request.method.isEmpty)
                        }
                    }
                } catch {
                    failure = error
                }
            }
            if let failure {
                outcomes.errors += 1
                do {
                    _ = try parser.next()
                    Issue.record("round \(round): no error after \(failure)")
                } catch {
                    #expect(error == failure)
                }
            } else if requests > 0 {
                outcomes.requests += 1
            } else {
                outcomes.waiting += 1
            }
            let lines = input.split(separator: UInt8(ascii: "\n")).count
            #expect(requests <= lines)
        }
        #expect(outcomes.errors > 0)
        #expect(outcomes.errors + outcomes.requests + outcomes.waiting == 20_000)
    }

    @Test func mutatedValidRequestsNeverCrash() {
        // When bytes of valid requests are flipped, dropped or duplicated at random, the parser still
        // ends every input in requests, a wait for more, or a typed error.
        var random = SplitMix64(seed: 42)
        let seeds = [
            "GET /x HTTP/1.1\r\nHost: h\r\n\r\n",
            "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
            "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ].map { Array($0.utf8) }
        var parsed = 0
        for _ in 0..<20_000 {
            var bytes = seeds.randomElement(using: &random)!
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[index] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.remove(at: index)
                default: bytes.insert(bytes[index], at: index)
                }
                if bytes.isEmpty { bytes = [0] }
            }
            let result = parse([bytes], limits: HTTPRequestParser.Limits(maxHeaderBytes: 128, maxBodyBytes: 16))
            parsed += result.requests.count
            for request in result.requests { #expect(request.body.count <= 16) }
        }
        #expect(parsed > 0)
    }
}

extension String {
    fileprivate func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        guard let range = firstRange(of: target) else { return self }
        return self[..<range.lowerBound] + replacement + self[range.upperBound...]
    }
}
