import Testing
import URLList

/// Every item of `text` read as a URL list.
func items(_ text: String, maxLineBytes: Int = 1024) -> [URLListItem] {
    var parser = URLListParser(maxLineBytes: maxLineBytes)
    parser.feed(Array(text.utf8))
    parser.finish()
    var items: [URLListItem] = []
    while case .item(let item) = parser.next() { items.append(item) }
    return items
}

@Suite struct URLListParserTests {
    @Test func blankLinesAndCommentsAreSkippedAndURLsTrimmed() {
        // When the list has comments, blank lines and URLs with spaces around them, only the URLs
        // come out, trimmed, with their own line numbers.
        let list = "# mirrors\n\n  http://a.test/  \r\n\t# off\nhttps://b.test/x?y#z"
        #expect(items(list) == [
            .url(URLEntry(line: 3, url: "http://a.test/")),
            .url(URLEntry(line: 5, url: "https://b.test/x?y#z")),
        ])
    }

    @Test func aNonASCIILineIsTrimmedByCharactersNotBytes() {
        // When a line starts with a space followed by a combining accent, the two are one
        // character, which is kept (as Swift's characters see it); blanks around are still trimmed.
        let line = " \u{301}http://a.test/\t"
        guard case .invalid(let entry, _)? = items(line).first else {
            Issue.record("expected an invalid item")
            return
        }
        #expect(entry.url == " \u{301}http://a.test/")
        #expect(entry.url.unicodeScalars.first == " ")
    }

    @Test func linesThatAreNotURLsAreInvalidItemsWithAReason() {
        // When a line is not an http(s) URL, it is an invalid item with its line number.
        let list = "ftp://a.test/\nhttp://\nhttp://b.test/\n"
        #expect(items(list) == [
            .invalid(URLEntry(line: 1, url: "ftp://a.test/"), reason: "unsupported scheme 'ftp' (http or https only)"),
            .invalid(URLEntry(line: 2, url: "http://"), reason: "no host"),
            .url(URLEntry(line: 3, url: "http://b.test/")),
        ])
    }

    @Test func bytesThatAreNotUTF8MakeTheLineInvalid() {
        // When a line has bytes that are not UTF-8, it is reported, not sent.
        var parser = URLListParser()
        parser.feed(Array("http://a.test/".utf8) + [0xFF] + Array("\n".utf8))
        parser.finish()
        guard case .item(.invalid(let entry, let reason)) = parser.next() else {
            Issue.record("expected an invalid item")
            return
        }
        #expect(entry.line == 1)
        #expect(reason == "non-ASCII character (percent-encode it)")
    }

    @Test func aLineOverTheLimitIsAnInvalidItem() {
        // When a line passes maxLineBytes, even arriving whole, it is reported by number, not read as a URL.
        let list = "http://a.test/\n" + String(repeating: "x", count: 40) + "\nhttp://b.test/\n"
        #expect(items(list, maxLineBytes: 32) == [
            .url(URLEntry(line: 1, url: "http://a.test/")),
            .invalid(URLEntry(line: 2, url: ""), reason: "line longer than 32 bytes"),
            .url(URLEntry(line: 3, url: "http://b.test/")),
        ])
    }
}
