import Testing

@testable import WebAgent

@Suite struct HeadersTests {
    @Test func tokenBytesAreExactlyRFC9110Tchar() {
        // When each of the 256 byte values is checked, exactly the letters, digits and
        // !#$%&'*+-.^_`|~ are token characters (what a header name may hold).
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for byte in 0...255 {
            #expect(Headers.isTokenByte(UInt8(byte)) == tchar.contains(UInt8(byte)), "byte \(byte)")
        }
    }

    @Test func namesAreCaseInsensitiveAndValuesKeepTheirOrder() {
        // When values are added under differently cased names, they collect under one name, in order.
        var headers = Headers(["User-Agent": ["twisted"]])
        headers.addRawHeader("accept", "text/html")
        headers.addRawHeader("ACCEPT", "text/plain")
        #expect(headers.getRawHeaders("Accept") == ["text/html", "text/plain"])
        #expect(headers.getRawHeaders("user-agent") == ["twisted"])
        #expect(headers.hasHeader("uSeR-aGeNt"))
        #expect(headers.getRawHeaders("missing") == nil)
    }

    @Test func getAllRawHeadersSpellsNamesCanonicallyInFirstAddedOrder() {
        // When headers are listed, names come canonically spelled (with Twisted's exceptions), in the
        // order they were first added.
        var headers = Headers()
        for name in ["content-md5", "x-custom-thing", "dnt", "etag", "www-authenticate", "te", "x-xss-protection", "p3p"] {
            headers.addRawHeader(name, "v")
        }
        #expect(headers.getAllRawHeaders().map(\.0) == [
            "Content-MD5", "X-Custom-Thing", "DNT", "ETag", "WWW-Authenticate", "TE", "X-XSS-Protection", "P3P",
        ])
    }

    @Test func setRemoveAndEquality() {
        // When values are replaced or removed, lookups follow; equality ignores name case and order of names.
        var headers: Headers = ["A": ["1"], "B": ["2"]]
        headers.setRawHeaders("a", ["3", "4"])
        #expect(headers.getRawHeaders("A") == ["3", "4"])
        headers.removeHeader("b")
        #expect(!headers.hasHeader("B"))
        headers.setRawHeaders("A", [])
        #expect(headers.isEmpty)
        #expect(Headers(["X": ["1"], "Y": ["2"]]) == Headers(pairs: [("y", "2"), ("x", "1")]))
        #expect(Headers(["X": ["1", "2"]]) != Headers(["X": ["2", "1"]]))
    }

    @Test func onlyTokenNamesAndValuesWithoutControlCharactersCanBeSent() {
        // When a name is not a token or a value holds CR, LF or NUL, the headers report it as invalid.
        #expect(Headers(["Good-Name": ["fine value\twith tab"]]).firstInvalid() == nil)
        #expect(Headers(["Bad Name": ["v"]]).firstInvalid() != nil)
        #expect(Headers(["Bad:Name": ["v"]]).firstInvalid() != nil)
        #expect(Headers(["X": ["a\r\nInjected: yes"]]).firstInvalid() != nil)
        #expect(Headers(["X": ["nul\u{0}"]]).firstInvalid() != nil)
        #expect(Headers(["Ünïcode": ["v"]]).firstInvalid() != nil)
    }

    @Test func namesFoldByASCIICaseOnly() {
        // When names differ in non-ASCII letters (found by fuzz-headers: "Ϗ" and "ϗ" were one name), they
        // stay apart; a name with the Kelvin sign, which Unicode lower-cases to "k", is not taken for "k…"
        // and cannot be sent.
        var headers = Headers()
        headers.addRawHeader("X-É", "upper")
        headers.addRawHeader("x-é", "lower")
        #expect(headers.getRawHeaders("X-É") == ["upper"])
        #expect(headers.getRawHeaders("x-é") == ["lower"])
        let kelvin = Headers(["\u{212A}eep-Alive": ["1"]])
        #expect(kelvin.getRawHeaders("keep-alive") == nil)
        #expect(kelvin.firstInvalid()?.name == "\u{212A}eep-Alive")  // reported as spelled
    }

    @Test func canonicalSpellingChangesOnlyASCIICaseAndIsIdempotent() {
        // When a name is spelled canonically (found by fuzz-headers: "ß" became "SS", then "Ss"), only
        // ASCII letters change, and spelling the result again changes nothing.
        for name in ["ß-name", "x-ϗ", "content-TYPE", "a--b", "-x", "1abc-def", "etag", "Www-Authenticate"] {
            let canonical = Headers.canonicalName(name)
            #expect(Headers.canonicalName(canonical) == canonical, "\(name)")
            #expect(Headers.fold(canonical) == Headers.fold(name), "\(name)")
        }
        #expect(Headers.canonicalName("ß-name") == "ß-Name")
        #expect(Headers.canonicalName("content-TYPE") == "Content-Type")
        #expect(Headers.canonicalName("a--b") == "A--B")
        #expect(Headers.canonicalName("Www-Authenticate") == "WWW-Authenticate")
    }

    @Test func fieldLinesAreOneLinePerValue() {
        // When headers are handed to libcurl, each value is one "Name: value" line, an empty one "Name;".
        let headers = Headers(pairs: [("accept", "a"), ("x-empty", ""), ("ACCEPT", "b")])
        var lines: [String] = []
        headers.forEachFieldLine { lines.append(String(cString: $0)) }
        #expect(lines == ["Accept: a", "Accept: b", "X-Empty;"])
    }
}
