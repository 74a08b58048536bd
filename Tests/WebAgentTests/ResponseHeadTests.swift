import Testing

@testable import WebAgent

/// Feeds `lines` (each with its CR LF, as libcurl hands them over) to a fresh head.
private func head(_ lines: [String]) -> (ResponseHead, [ResponseHead.Line]) {
    var head = ResponseHead()
    var kinds: [ResponseHead.Line] = []
    for line in lines {
        let bytes = Array((line + "\r\n").utf8)
        kinds.append(bytes.withUnsafeBytes { head.take($0) })
    }
    return (head, kinds)
}

@Suite struct ResponseHeadTests {
    @Test func theStatusLineGivesVersionCodeAndPhrase() {
        // When the status line is HTTP/1.0 with a phrase of several words, each part is kept.
        let (parsed, kinds) = head(["HTTP/1.0 404 Not Found Here"])
        #expect(kinds == [.statusLine])
        #expect(parsed.major == 1 && parsed.minor == 0)
        #expect(parsed.code == 404)
        #expect(parsed.phrase == "Not Found Here")
    }

    @Test func http2StatusLinesHaveNoMinorVersionAndNoPhrase() {
        // When libcurl reports an HTTP/2 response ("HTTP/2 200"), the version is 2.0 and the phrase empty.
        let (parsed, _) = head(["HTTP/2 200"])
        #expect(parsed.major == 2 && parsed.minor == 0)
        #expect(parsed.code == 200)
        #expect(parsed.phrase == "")
    }

    @Test func fieldsKeepTheirOrderSpellingAndTrimmedValues() {
        // When fields arrive, names stay as sent and values lose surrounding spaces and tabs, and the
        // blank line ends the block.
        let (parsed, kinds) = head(["HTTP/1.1 200 OK", "X-One:  a b \t", "x-two:b", ""])
        #expect(kinds == [.statusLine, .field, .field, .end])
        #expect(parsed.fields.map(\.0) == ["X-One", "x-two"])
        #expect(parsed.fields.map(\.1) == ["a b", "b"])
    }

    @Test func contentLengthAndTransferEncodingAreNoticedWhateverTheirCase() {
        // When the framing fields come in any case, the head knows the length and that a transfer
        // encoding was used; a length that is not a number is no length.
        let (parsed, _) = head(["HTTP/1.1 200 OK", "CONTENT-length: 1234", "transfer-Encoding: chunked"])
        #expect(parsed.hasContentLength && parsed.contentLength == 1234)
        #expect(parsed.hasTransferEncoding)
        let (bad, _) = head(["HTTP/1.1 200 OK", "Content-Length: 12x"])
        #expect(bad.hasContentLength && bad.contentLength == nil)
        let (none, _) = head(["HTTP/1.1 200 OK", "Server: x"])
        #expect(!none.hasContentLength && !none.hasTransferEncoding)
    }

    @Test func aFoldedLineContinuesThePreviousValue() {
        // When an obsolete folded line follows a field, it is joined to that field's value with a space.
        let (parsed, kinds) = head(["HTTP/1.1 200 OK", "X-Long: first", " \tsecond  "])
        #expect(kinds == [.statusLine, .field, .field])
        #expect(parsed.fields.count == 1)
        #expect(parsed.fields[0].1 == "first second")
    }

    @Test func aFoldedLineKeepsTheValueTrimmed() {
        // When a folded line continues an empty value, or is itself blank, no space is added at either end
        // (the value used to become " 5" and "first "), and a folded Content-Length is that length.
        let (parsed, _) = head(["HTTP/1.1 200 OK", "Content-Length:", " 5", "X-Long: first", " \t "])
        #expect(parsed.fields.map(\.1) == ["5", "first"])
        #expect(parsed.contentLength == 5)
    }

    @Test func aNewStatusLineStartsOver() {
        // When an interim response (100 Continue) is followed by the final one, only the final one's
        // status and fields remain.
        let (parsed, _) = head(["HTTP/1.1 100 Continue", "X-Interim: 1", "", "HTTP/1.1 201 Created", "X-Final: 2"])
        #expect(parsed.code == 201)
        #expect(parsed.fields.map(\.0) == ["X-Final"])
    }

    @Test func garbageLinesAreIgnoredAndAMissingCodeIsZero() {
        // When a line is neither a field nor a continuation, it is ignored; a status line without a
        // number gives code 0.
        let (parsed, kinds) = head(["HTTP/1.1 abc", "no colon here"])
        #expect(kinds == [.statusLine, .ignored])
        #expect(parsed.code == 0)
    }
}

@Suite struct HeaderNameComparisonTests {
    @Test func namesAreTheSameWhenOnlyASCIICaseDiffers() {
        #expect(Headers.sameName("Content-Type", "content-TYPE"))
        #expect(!Headers.sameName("Content-Type", "Content-Typo"))
        #expect(!Headers.sameName("X-A", "X-AB"))
        // '@' and '`' differ from each other only in the bit that case folding ignores: not letters.
        #expect(!Headers.sameName("X@", "X`"))
    }

    @Test func canonicalSpellingReusesAnAlreadyCanonicalName() {
        #expect(Headers.canonicalName("Content-Type") == "Content-Type")
        #expect(Headers.canonicalName("content-type") == "Content-Type")
        #expect(Headers.canonicalName("CONTENT-TYPE") == "Content-Type")
        #expect(Headers.canonicalName("etag") == "ETag")
        #expect(Headers.canonicalName("x-xss-PROTECTION") == "X-XSS-Protection")
        #expect(Headers.canonicalName("a--b") == "A--B")
    }
}
