import Testing

@testable import WebAgent

// MARK: - A recording delegate

/// A parsed head, as plain values that compare.
private struct Head: Equatable, CustomStringConvertible {
    var major = 1
    var minor = 1
    var code = 0
    var phrase = ""
    var fields: [[String]] = []

    init(_ head: ResponseHead) {
        major = head.major
        minor = head.minor
        code = head.code
        phrase = head.phrase
        fields = head.fields.map { [$0.0, $0.1] }
    }

    var description: String { "HTTP/\(major).\(minor) \(code) \(phrase.debugDescription) \(fields)" }
}

/// What the parser told its delegate, in order (adjacent body pieces joined, so that how the input
/// was split does not show).
private enum Event: Equatable {
    case head(Head, BodyFraming)
    case body([UInt8])
    case finished(reusable: Bool)
}

/// An error the parser threw.
private enum Rejection: Equatable {
    case parseError(String)
    case headersTooLarge(limit: Int)
    case transferEncodingNotSupported([String])
}

private enum Stop {
    case atHead
    case atBody
}

private final class Recorder: ResponseParserDelegate {
    var events: [Event] = []
    /// The delegate method that returns false.
    var stop: Stop?

    init(stop: Stop?) { self.stop = stop }

    func parserReceivedHead(_ head: ResponseHead, framing: BodyFraming) -> Bool {
        events.append(.head(Head(head), framing))
        return stop != .atHead
    }

    func parserReceivedBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if case .body(let earlier) = events.last {
            events[events.count - 1] = .body(earlier + bytes)
        } else {
            events.append(.body(Array(bytes)))
        }
        return stop != .atBody
    }

    func parserFinishedResponse(reusable: Bool) {
        events.append(.finished(reusable: reusable))
    }
}

/// Everything one parse of a response showed.
private struct Outcome: Equatable {
    var events: [Event] = []
    var rejection: Rejection?
    var isDone = false
    var isCloseDelimited = false
    /// Bytes fed up to and including the piece that was rejected.
    var fed = 0

    var heads: [Head] {
        events.compactMap { if case .head(let head, _) = $0 { head } else { nil } }
    }
    var head: Head? { heads.count == 1 ? heads[0] : nil }
    var framing: BodyFraming? {
        let all = events.compactMap { if case .head(_, let framing) = $0 { framing } else { nil } }
        return all.count == 1 ? all[0] : nil
    }
    var body: String {
        let bytes = events.flatMap { event -> [UInt8] in if case .body(let bytes) = event { bytes } else { [] } }
        return String(decoding: bytes, as: UTF8.self)
    }
    var finished: [Bool] {
        events.compactMap { if case .finished(let reusable) = $0 { reusable } else { nil } }
    }
    var isParseError: Bool {
        if case .parseError = rejection { true } else { false }
    }
    func parseErrorMentions(_ words: String) -> Bool {
        if case .parseError(let message) = rejection { message.contains(words) } else { false }
    }

    /// Equal when the parser reported the same (how many bytes were fed does not count).
    static func == (a: Outcome, b: Outcome) -> Bool {
        a.events == b.events && a.rejection == b.rejection && a.isDone == b.isDone
            && a.isCloseDelimited == b.isCloseDelimited
    }
}

/// Feeds `pieces` in order to a fresh parser, stopping at the first error.
private func parse(_ pieces: [[UInt8]], head: Bool = false, maxHeaderBytes: Int = 8192, stop: Stop? = nil)
    -> Outcome
{
    var parser = ResponseParser(isHeadRequest: head, maxHeaderBytes: maxHeaderBytes)
    let recorder = Recorder(stop: stop)
    var outcome = Outcome()
    for piece in pieces {
        outcome.fed += piece.count
        do {
            try piece.withUnsafeBytes { try parser.parse($0, recorder) }
        } catch let error as ParseError {
            outcome.rejection = .parseError(error.message)
            break
        } catch let error as HeadersTooLarge {
            outcome.rejection = .headersTooLarge(limit: error.limit)
            break
        } catch let error as TransferEncodingNotSupported {
            outcome.rejection = .transferEncodingNotSupported(error.codings)
            break
        } catch {
            Issue.record("unexpected error \(error)")
            break
        }
    }
    outcome.events = recorder.events
    outcome.isDone = parser.isDone
    outcome.isCloseDelimited = parser.isCloseDelimited
    return outcome
}

/// Feeds `text` at once.
private func parse(_ text: String, head: Bool = false, maxHeaderBytes: Int = 8192, stop: Stop? = nil) -> Outcome {
    parse([Array(text.utf8)], head: head, maxHeaderBytes: maxHeaderBytes, stop: stop)
}

private func fields(_ pairs: [(String, String)]) -> [[String]] { pairs.map { [$0.0, $0.1] } }

/// A response fed whole, in every split in two and one byte at a time.
struct SplitSample: Sendable, CustomTestStringConvertible {
    var text: String
    var head = false
    var maxHeaderBytes = 8192
    var testDescription: String { text.debugDescription }
}

// MARK: - Specification

@Suite struct ResponseParserTests {
    // MARK: Status line

    @Test func theStatusLineGivesVersionCodeAndPhrase() {
        // When the status line is "HTTP/1.1 200 OK", the head holds 1.1, 200 and "OK"; a phrase of several
        // words is kept whole.
        let ok = parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        #expect(ok.head.map { [$0.major, $0.minor, $0.code] } == [1, 1, 200])
        #expect(ok.head?.phrase == "OK")
        #expect(parse("HTTP/1.1 404 Not Found Here\r\n\r\n").head?.phrase == "Not Found Here")
    }

    @Test(arguments: ["HTTP/1.1 204\r\n\r\n", "HTTP/1.1 204 \r\n\r\n"])
    func theReasonPhraseMayBeMissing(_ response: String) {
        // When the status line has no phrase (with or without the space before it), the phrase is empty.
        let outcome = parse(response)
        #expect(outcome.rejection == nil)
        #expect(outcome.head?.code == 204)
        #expect(outcome.head?.phrase == "")
    }

    @Test func http10IsVersionOneZero() {
        // When the status line says HTTP/1.0, the head's version is 1.0.
        let outcome = parse("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        #expect(outcome.head.map { [$0.major, $0.minor, $0.code] } == [1, 0, 200])
        #expect(outcome.body == "hi")
    }

    @Test(arguments: [
        "HTTP/2 200", "HTTP/2.0 200 OK", "HTTP/1 200 OK", "HTTP/1. 200 OK", "HTTP/1.10 200 OK", "ICY 200 OK",
        "http/1.1 200 OK", "HTTP/1.1", "HTTPS/1.1 200 OK", " HTTP/1.1 200 OK", "",
    ])
    func versionsOtherThanHTTP1xAreRejected(_ statusLine: String) {
        // When the status line does not start with "HTTP/1.<digit> ", the response is a ParseError and
        // no head is handed over.
        let outcome = parse(statusLine + "\r\nContent-Length: 0\r\n\r\n")
        #expect(outcome.parseErrorMentions("bad status line"))
        #expect(outcome.events.isEmpty)
    }

    @Test(arguments: [
        "HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 2x0 OK", "HTTP/1.1 099 Low", "HTTP/1.1 -20 OK",
        "HTTP/1.1 200OK", "HTTP/1.1  200 OK", "HTTP/1.1 OK", "HTTP/1.1 \t200 OK",
    ])
    func codesThatAreNotThreeDigitsFrom100AreRejected(_ statusLine: String) {
        // When the status code is not three digits starting 1-9 between single spaces, the response is
        // a ParseError.
        let outcome = parse(statusLine + "\r\n\r\n")
        #expect(outcome.parseErrorMentions("bad status line"))
        #expect(outcome.events.isEmpty)
    }

    // MARK: Fields

    @Test func fieldsKeepTheirOrderSpellingAndTrimmedValues() {
        // When fields arrive, names stay as sent, values lose surrounding spaces and tabs (inner ones stay),
        // and an empty value is kept.
        let outcome = parse("HTTP/1.1 204 No Content\r\nX-One:  a \t b \t\r\nx-two:b\r\nEmpty:\r\nX-One: again\r\n\r\n")
        #expect(outcome.head?.fields
                    == fields([("X-One", "a \t b"), ("x-two", "b"), ("Empty", ""), ("X-One", "again")]))
    }

    @Test func aFoldedLineContinuesThePreviousValue() {
        // When an obsolete folded line (starting with a space or tab) follows a field, it is joined to that
        // field's value with one space (RFC 9112 §5.2).
        let outcome = parse("HTTP/1.1 204 No Content\r\nX-Long: first\r\n \t second  \r\n\tthird\r\nX-Next: n\r\n\r\n")
        #expect(outcome.head?.fields == fields([("X-Long", "first second third"), ("X-Next", "n")]))
    }

    @Test func aFoldedLineBeforeAnyFieldIsRejected() {
        // When the line after the status line starts with a space, there is no field to continue: ParseError.
        #expect(parse("HTTP/1.1 204 No Content\r\n folded\r\n\r\n").parseErrorMentions("folded"))
    }

    @Test func foldedFramingFieldsAreReadWhole() {
        // When Content-Length, Transfer-Encoding or Connection is continued on a folded line, the framing
        // follows the whole value, as RFC 9112 §5.2 requires (the parser used to read only the first line:
        // an empty Content-Length was an error, "gzip," + "chunked" read as gzip alone, "keep-alive," +
        // "close" was reusable).
        let length = parse("HTTP/1.1 200 OK\r\nContent-Length:\r\n 5\r\n\r\nhello")
        #expect(length.framing == .length(5))
        #expect(length.head?.fields == fields([("Content-Length", "5")]))
        #expect(length.finished == [true])
        let chunked = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
        #expect(chunked.rejection == .transferEncodingNotSupported(["gzip", "chunked"]))
        let folded = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
        #expect(folded.framing == .chunked)
        #expect(folded.body == "hi")
        let close = parse("HTTP/1.1 200 OK\r\nConnection: keep-alive,\r\n close\r\nContent-Length: 0\r\n\r\n")
        #expect(close.finished == [false])
    }

    @Test(arguments: ["NoColon", "Bad Name: v", "Name : v", ": v", "Bad\u{7F}: v", "Sp\u{E9}cial: v", "[x]: v"])
    func linesThatAreNotTokenNameColonValueAreRejected(_ line: String) {
        // When a field line has no colon, an empty name, or a name that is not a token (a space, even
        // before the colon, a control or non-ASCII byte, brackets), the response is a ParseError.
        let outcome = parse("HTTP/1.1 200 OK\r\n\(line)\r\nContent-Length: 0\r\n\r\n")
        #expect(outcome.isParseError)
        #expect(outcome.events.isEmpty)
    }

    @Test(arguments: ["X: a\rb", "X: nul\u{0}here", "X: ok\r\n \r folded", "X: end\r\r"])
    func crOrNulInAFieldValueIsRejected(_ lines: String) {
        // When a field value holds a bare CR or a NUL, the response is a ParseError (RFC 9110 §5.5, RFC 9112
        // §2.2: a recipient must reject it or replace them; the parser used to keep them in the value).
        let outcome = parse("HTTP/1.1 204 No Content\r\n\(lines)\r\n\r\n")
        #expect(outcome.parseErrorMentions("CR or NUL"))
        #expect(outcome.events.isEmpty)
    }

    @Test func crOrNulInTheReasonPhraseIsRejected() {
        // When the reason phrase holds a bare CR or a NUL, the response is a ParseError.
        #expect(parse("HTTP/1.1 200 O\rK\r\n\r\n").isParseError)
        #expect(parse("HTTP/1.1 200 OK\u{0}\r\n\r\n").isParseError)
    }

    // MARK: Line ends and splits

    @Test func bareLFEndsLinesLikeCRLF() {
        // When lines end in a bare LF, or in a mix of LF and CR LF, the result is that of CR LF throughout.
        let crlf = parse("HTTP/1.1 200 OK\r\nX: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n")
        let lf = parse("HTTP/1.1 200 OK\nX: a\nTransfer-Encoding: chunked\n\n3\nabc\n0\nT: 1\n\n")
        let mixed = parse("HTTP/1.1 200 OK\nX: a\r\nTransfer-Encoding: chunked\n\r\n3\r\nabc\n0\nT: 1\r\n\n")
        #expect(crlf.rejection == nil)
        #expect(crlf.body == "abc")
        #expect(crlf.finished == [true])
        #expect(lf == crlf)
        #expect(mixed == crlf)
    }

    @Test(arguments: [
        SplitSample(text: "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A:  b \r\n\r\nhello world"),
        SplitSample(text: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\nA\r\n0123456789\r\n"
            + "0\r\nTrailer: t\r\n\r\n"),
        SplitSample(text: "HTTP/1.0 200 OK\nServer: s\n folded\n\nuntil close"),
        SplitSample(text: "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"),
        SplitSample(text: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", head: true),
        SplitSample(text: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n"),
        SplitSample(text: "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello"),
        SplitSample(text: "HTTP/1.1 200 OK\r\nX-Long: 0123456789012345678901234567890123456789\r\n\r\n",
                    maxHeaderBytes: 40),
        SplitSample(text: "HTTP/1.1 200 OK\r\nX-Exact: 12\r\n\r\n", maxHeaderBytes: 32),
    ])
    func howTheInputIsSplitDoesNotMatter(_ sample: SplitSample) {
        // When a response (complete, or one the parser rejects) arrives whole, in two pieces split at any
        // byte, or one byte at a time, the parser reports the same heads, body, end and error.
        let bytes = Array(sample.text.utf8)
        let whole = parse([bytes], head: sample.head, maxHeaderBytes: sample.maxHeaderBytes)
        #expect(!whole.events.isEmpty || whole.rejection != nil)
        let byteByByte = parse(bytes.map { [$0] }, head: sample.head, maxHeaderBytes: sample.maxHeaderBytes)
        #expect(byteByByte == whole)
        for cut in 0...bytes.count {
            let split = parse([Array(bytes[..<cut]), Array(bytes[cut...])], head: sample.head,
                              maxHeaderBytes: sample.maxHeaderBytes)
            #expect(split == whole, "split at \(cut)")
        }
    }

    // MARK: Content-Length

    @Test func contentLengthDelimitsTheBody() {
        // When Content-Length is 11, exactly those bytes are the body, even in pieces, and the response then
        // finishes, reusable.
        let outcome = parse([Array("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello".utf8), Array(" world".utf8)])
        #expect(outcome.framing == .length(11))
        #expect(outcome.body == "hello world")
        #expect(outcome.finished == [true])
        #expect(outcome.isDone)
    }

    @Test func aZeroContentLengthFinishesAtTheHead() {
        // When Content-Length is 0, the framing is .none and the response finishes right after the head,
        // with no body call.
        let outcome = parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        guard case .head(_, let framing) = outcome.events.first else {
            Issue.record("no head: \(outcome.events)")
            return
        }
        #expect(framing == .none)
        #expect(outcome.events.dropFirst() == [.finished(reusable: true)])
        #expect(outcome.isDone)
    }

    @Test func anIncompleteBodyDoesNotFinish() {
        // When fewer bytes than the Content-Length have arrived, they are delivered but the response is not
        // finished.
        let outcome = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        #expect(outcome.body == "half")
        #expect(outcome.finished == [])
        #expect(!outcome.isDone)
    }

    @Test(arguments: [
        "Content-Length: 5\r\nContent-Length: 5", "Content-Length: 5, 5",
        "Content-Length: 5 ,5,\r\ncontent-length: 005",
    ])
    func repeatedEqualContentLengthsAreOneLength(_ lines: String) {
        // When Content-Length is repeated with equal values, in several fields or as a list, it is that one
        // length (RFC 9110 §8.6).
        let outcome = parse("HTTP/1.1 200 OK\r\n\(lines)\r\n\r\nhello")
        #expect(outcome.framing == .length(5))
        #expect(outcome.body == "hello")
        #expect(outcome.finished == [true])
    }

    @Test(arguments: ["Content-Length: 5\r\nContent-Length: 6", "Content-Length: 5, 6", "Content-Length: 0, 5"])
    func conflictingContentLengthsAreRejected(_ lines: String) {
        // When Content-Length values disagree and there is no Transfer-Encoding, the response is a
        // ParseError (RFC 9112 §6.3: the framing is invalid).
        let outcome = parse("HTTP/1.1 200 OK\r\n\(lines)\r\n\r\nhello")
        #expect(outcome.parseErrorMentions("conflicting Content-Length"))
        #expect(outcome.events.isEmpty)
    }

    @Test(arguments: [
        "abc", "5x", "-1", "+5", "0x10", "5.0", "1234567890123456789", "", "5,x", ",",
    ])
    func contentLengthsThatAreNotNumbersAreRejected(_ value: String) {
        // When a Content-Length value is not a decimal number of at most 18 digits, or is empty, the response
        // is a ParseError.
        let outcome = parse("HTTP/1.1 200 OK\r\nContent-Length: \(value)\r\n\r\nhello")
        #expect(outcome.parseErrorMentions("Content-Length"))
        #expect(outcome.events.isEmpty)
    }

    @Test func anEmptyContentLengthAfterAValidOneIsRejected() {
        // When a second Content-Length field is empty, the response is a ParseError like a lone empty one (the
        // parser used to take the first field's length).
        let outcome = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: \r\n\r\nhello")
        #expect(outcome.parseErrorMentions("bad Content-Length"))
    }

    // MARK: Chunked

    @Test func chunkedBodiesAreDecoded() {
        // When the body is chunked, the chunks' data is the body, without sizes or line ends, and the
        // response finishes reusable after the last chunk and the blank line.
        let outcome = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        #expect(outcome.framing == .chunked)
        #expect(outcome.body == "hello world")
        #expect(outcome.finished == [true])
        #expect(outcome.isDone)
    }

    @Test func chunkSizesAreHexInEitherCase() {
        // When chunk sizes are hex in upper or lower case (with leading zeros), each chunk is that many bytes.
        let ten = "0123456789"
        let thirtyOne = String(repeating: "x", count: 31)
        let outcome = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "A\r\n\(ten)\r\na\r\n\(ten)\r\n1F\r\n\(thirtyOne)\r\n001f\r\n\(thirtyOne)\r\n0\r\n\r\n")
        #expect(outcome.rejection == nil)
        #expect(outcome.body == ten + ten + thirtyOne + thirtyOne)
        #expect(outcome.finished == [true])
    }

    @Test func chunkExtensionsAndTrailersAreSkipped() {
        // When chunk-size lines carry extensions and the last chunk has trailer fields, they are read past:
        // the body is the data and the head keeps only the header fields.
        let outcome = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: 1\r\n\r\n"
            + "3;name=value\r\nabc\r\n2 ; quoted=\"a b\"\r\nde\r\n0;last\r\nX-Trailer: t\r\nX-Other: o\r\n\r\n")
        #expect(outcome.body == "abcde")
        #expect(outcome.head?.fields == fields([("Transfer-Encoding", "chunked"), ("X", "1")]))
        #expect(outcome.finished == [true])
    }

    @Test(arguments: ["x", "", ";ext", " 5", "-5", "0x5", "5_", "1000000000000000", "5 junk", "5 5"])
    func badChunkSizesAreRejected(_ sizeLine: String) {
        // When a chunk-size line does not start with hex digits, has more than 15 of them, or has
        // anything but blanks between them and a `;` extension, the response is a ParseError after its head.
        let outcome = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\(sizeLine)\r\nhello\r\n0\r\n\r\n")
        #expect(outcome.parseErrorMentions("chunk size"))
        #expect(outcome.events.count == 1)
    }

    @Test func aChunkSizeLineHasALimit() {
        // When a chunk-size line (extensions and line end included) is 4096 bytes it is read, and at 4097
        // bytes the response is a ParseError, even before the line ends.
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        let longest = "1;" + String(repeating: "e", count: ResponseParser.maxChunkSizeLine - 4) + "\r\n"
        #expect(longest.utf8.count == ResponseParser.maxChunkSizeLine)
        let fits = parse(head + longest + "x\r\n0\r\n\r\n")
        #expect(fits.body == "x")
        #expect(fits.finished == [true])
        let tooLong = parse(head + "1;" + String(repeating: "e", count: ResponseParser.maxChunkSizeLine - 3) + "\r\n")
        #expect(tooLong.parseErrorMentions("chunk-size line too long"))
        let neverEnds = parse(head + "1" + String(repeating: " ", count: 5000))
        #expect(neverEnds.parseErrorMentions("chunk-size line too long"))
    }

    @Test func chunkDataLongerThanItsSizeIsRejected() {
        // When a chunk's data runs past its size (no line end where it should stop), the bytes within the
        // size are delivered and the response is a ParseError.
        let outcome = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n")
        #expect(outcome.body == "abc")
        #expect(outcome.parseErrorMentions("chunk data longer than its size"))
        #expect(outcome.finished == [])
    }

    @Test func trailersHaveTheHeaderLimit() {
        // When the trailer section (line ends included) is exactly maxHeaderBytes it is read; one byte more
        // is a ParseError.
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        let trailers = "X-T: " + String(repeating: "a", count: 55) + "\r\n\r\n"
        #expect(trailers.utf8.count == 64)
        #expect(parse(head + trailers, maxHeaderBytes: 64).finished == [true])
        #expect(parse(head + "X" + trailers, maxHeaderBytes: 64).parseErrorMentions("trailer section too large"))
    }

    @Test(arguments: [
        ("gzip, chunked", ["gzip", "chunked"]), ("gzip", ["gzip"]), ("chunked, gzip", ["chunked", "gzip"]),
        ("identity", ["identity"]), ("chunked\r\nTransfer-Encoding: gzip", ["chunked", "gzip"]),
        ("gzip\r\nTransfer-Encoding: CHUNKED", ["gzip", "CHUNKED"]), ("chunked, chunked", ["chunked", "chunked"]),
        (",", []),
    ])
    func transferCodingsOtherThanALoneChunkedAreRefused(_ codings: String, _ listed: [String]) {
        // When Transfer-Encoding lists anything but chunked alone (gzip, chunked: a body that would be
        // handed on still gzip-coded), the response is refused with TransferEncodingNotSupported before
        // its head is handed over, as Twisted refuses it.
        let outcome = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: \(codings)\r\nContent-Length: 2\r\n\r\n"
            + "2\r\nhi\r\n0\r\n\r\n")
        #expect(outcome.rejection == .transferEncodingNotSupported(listed))
        #expect(outcome.events.isEmpty)
        // Responses without a body are not refused for it.
        let head = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: \(codings)\r\n\r\n", head: true)
        #expect(head.rejection == nil)
        #expect(head.finished == [true])
    }

    @Test(arguments: ["chunked", "Chunked", "CHUNKED", "chunked\r\nTransfer-Encoding: ", ", chunked ,"])
    func aLoneChunkedIsChunked(_ codings: String) {
        // When chunked is the only coding (in any case; empty fields and elements add none), the body is chunked.
        let outcome = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: \(codings)\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
        #expect(outcome.framing == .chunked)
        #expect(outcome.body == "hi")
        #expect(outcome.finished == [true])
    }

    @Test func anHTTP10ResponseWithTransferEncodingIsNotReused() {
        // When an HTTP/1.0 response has Transfer-Encoding, even with keep-alive, the connection is not
        // reused (RFC 9112 §6.1); the same response with Content-Length is.
        let chunked = parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "2\r\nhi\r\n0\r\n\r\n")
        #expect(chunked.body == "hi")
        #expect(chunked.finished == [false])
        let length = parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi")
        #expect(length.finished == [true])
    }

    @Test func transferEncodingWinsOverContentLengthButTheConnectionIsNotReused() {
        // When a response has both Transfer-Encoding: chunked and Content-Length (even conflicting ones), the
        // chunked framing wins and the connection is not reused (RFC 9112 §6.1, §6.3).
        let outcome = parse("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "2\r\nhi\r\n0\r\n\r\n")
        #expect(outcome.framing == .chunked)
        #expect(outcome.body == "hi")
        #expect(outcome.finished == [false])
    }

    // MARK: Responses without a body

    @Test func aHeadRequestsResponseHasNoBody() {
        // When the request was HEAD, the response finishes at its head even with a Content-Length or chunked
        // framing, and stays reusable.
        for framing in ["Content-Length: 10", "Transfer-Encoding: chunked"] {
            let outcome = parse("HTTP/1.1 200 OK\r\n\(framing)\r\n\r\n", head: true)
            #expect(outcome.framing == BodyFraming.none)
            #expect(outcome.finished == [true])
            #expect(outcome.isDone)
        }
    }

    @Test(arguments: [204, 304])
    func noContentAndNotModifiedHaveNoBody(_ code: Int) {
        // When the code is 204 or 304, the response finishes at its head even with a Content-Length.
        let outcome = parse("HTTP/1.1 \(code) X\r\nContent-Length: 10\r\n\r\n")
        #expect(outcome.framing == BodyFraming.none)
        #expect(outcome.finished == [true])
        #expect(outcome.isDone)
    }

    // MARK: Interim responses

    @Test(arguments: [100, 102, 103])
    func interimResponsesAreSkipped(_ code: Int) {
        // When 1xx responses (other than 101) come before the final one, only the final head is handed over,
        // without the interim fields.
        let outcome = parse("HTTP/1.1 \(code) Interim\r\nLink: </style.css>\r\n\r\nHTTP/1.1 \(code) Again\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        #expect(outcome.heads.map(\.code) == [200])
        #expect(outcome.head?.fields == fields([("Content-Length", "2")]))
        #expect(outcome.body == "hi")
        #expect(outcome.finished == [true])
    }

    @Test func interimResponsesCountTowardTheHeaderLimit() {
        // When a 103 comes first, its bytes count toward maxHeaderBytes: the whole at the limit passes, one
        // byte less is HeadersTooLarge although the final head alone would fit.
        let interim = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
        let final = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        let limit = interim.utf8.count + final.utf8.count
        #expect(parse(interim + final, maxHeaderBytes: limit).finished == [true])
        #expect(final.utf8.count < limit - 1)
        let over = parse(interim + final, maxHeaderBytes: limit - 1)
        #expect(over.rejection == .headersTooLarge(limit: limit - 1))
        #expect(over.events.isEmpty)
    }

    @Test func switchingProtocolsIsFinalAndNotReusable() {
        // When the response is 101, it is the final head, with no body, and the connection is not reused
        // (it now speaks another protocol).
        let outcome = parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nContent-Length: 4\r\n\r\n")
        #expect(outcome.heads.map(\.code) == [101])
        #expect(outcome.framing == BodyFraming.none)
        #expect(outcome.finished == [false])
    }

    // MARK: Header limit

    @Test func theHeaderLimitIsInclusive() {
        // When the head (line ends included) is exactly maxHeaderBytes it is read; one byte over is
        // HeadersTooLarge with that limit.
        let head = "HTTP/1.1 200 OK\r\nX-Field: value\r\nContent-Length: 2\r\n\r\n"
        let limit = head.utf8.count
        let fits = parse(head + "hi", maxHeaderBytes: limit)
        #expect(fits.body == "hi")
        #expect(fits.finished == [true])
        let over = parse(head + "hi", maxHeaderBytes: limit - 1)
        #expect(over.rejection == .headersTooLarge(limit: limit - 1))
        #expect(over.events.isEmpty)
    }

    @Test func aLineThatNeverEndsFailsOnceItPassesTheLimit() {
        // When a field line keeps coming without a line end, one byte at a time, the parser fails with
        // HeadersTooLarge at the first byte past the limit instead of holding it all.
        let bytes = Array(("HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 1000)).utf8)
        let outcome = parse(bytes.map { [$0] }, maxHeaderBytes: 64)
        #expect(outcome.rejection == .headersTooLarge(limit: 64))
        #expect(outcome.fed == 65)
        let status = Array(("HTTP/1.1 200 " + String(repeating: "a", count: 100)).utf8)
        let statusLine = parse(status.map { [$0] }, maxHeaderBytes: 16)
        #expect(statusLine.rejection == .headersTooLarge(limit: 16))
        #expect(statusLine.fed == 17)
    }

    // MARK: Reuse

    @Test(arguments: [
        ("HTTP/1.1 200 OK", "", true),
        ("HTTP/1.1 200 OK", "Connection: close\r\n", false),
        ("HTTP/1.1 200 OK", "Connection: Keep-Alive, CLOSE\r\n", false),
        ("HTTP/1.1 200 OK", "Connection: upgrade\r\n", true),
        ("HTTP/1.0 200 OK", "", false),
        ("HTTP/1.0 200 OK", "Connection: keep-alive\r\n", true),
        ("HTTP/1.0 200 OK", "Connection: keep-alive\r\nConnection: close\r\n", false),
    ])
    func reuseFollowsTheVersionAndConnection(_ statusLine: String, _ connection: String, _ reusable: Bool) {
        // When a response is complete, the connection is reusable for HTTP/1.1 unless Connection: close,
        // and for HTTP/1.0 only with Connection: keep-alive (and no close).
        let outcome = parse("\(statusLine)\r\n\(connection)Content-Length: 2\r\n\r\nhi")
        #expect(outcome.finished == [reusable])
    }

    @Test func aCloseDelimitedBodyNeverFinishes() {
        // When there is no Content-Length nor Transfer-Encoding, every byte is body until the connection
        // closes: the parser never reports the end (the connection does, by closing), even for keep-alive.
        let outcome = parse(["HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nsome", " more"].map { Array($0.utf8) })
        #expect(outcome.framing == .untilClose)
        #expect(outcome.body == "some more")
        #expect(outcome.finished == [])
        #expect(outcome.isCloseDelimited)
        #expect(!outcome.isDone)
    }

    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
        "HTTP/1.1 204 No Content\r\n\r\n",
    ])
    func bytesAfterTheResponseMakeItNotReusable(_ response: String) {
        // When bytes follow the end of a response in the same input, the response finishes as usual but not
        // reusable, and the extra bytes are not delivered; fed later, they are a ParseError.
        let alone = parse(response)
        #expect(alone.finished == [true])
        let withMore = parse(response + "HTTP/1.1 200 OK\r\n")
        #expect(withMore.finished == [false])
        #expect(withMore.body == alone.body)
        #expect(withMore.rejection == nil)
        let later = parse([Array(response.utf8), Array("X".utf8)])
        #expect(later.finished == [true])
        #expect(later.parseErrorMentions("data after the end of the response"))
    }

    // MARK: Stopping

    @Test func aDelegateThatStopsAtTheHeadGetsNothingMore() {
        // When the delegate returns false for the head, the parser stops: no body and no end, though both
        // were in the input.
        let outcome = parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", stop: .atHead)
        #expect(outcome.events.count == 1)
        #expect(outcome.heads.map(\.code) == [200])
        let noBody = parse("HTTP/1.1 204 No Content\r\n\r\n", stop: .atHead)
        #expect(noBody.finished == [])
    }

    @Test func aDelegateThatStopsAtTheBodyGetsNoMoreBody() {
        // When the delegate returns false for body bytes, the parser stops there: the next chunk and the end
        // are not reported.
        let chunked = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n3\r\nyou\r\n0\r\n\r\n",
                            stop: .atBody)
        #expect(chunked.body == "hi")
        #expect(chunked.finished == [])
        let length = parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", stop: .atBody)
        #expect(length.body == "hi")
        #expect(length.finished == [])
    }
}
