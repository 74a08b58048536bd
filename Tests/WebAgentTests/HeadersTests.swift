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

    @Test func eightThousandDistinctNamesStayCaseInsensitiveAndInOrder() {
        // When a response head carries 8,000 distinct names (past the point where names are indexed),
        // each is found in any case with its values, in first-added order, through removals and re-adds.
        var head = ResponseHead()
        let count = 8_000
        for index in 0..<count {
            let name = Array("x-name-\(index)".utf8)
            let value = Array("v\(index)".utf8)
            name.withUnsafeBytes { n in value.withUnsafeBytes { v in head.addField(name: n, value: v) } }
        }
        let request = Request(method: "GET", absoluteURI: "http://x.test/", headers: Headers())
        let response = head.makeResponse(request: request, body: ResponseBody())
        var headers = response.headers
        #expect(headers.getAllRawHeaders().count == count)
        #expect(headers.getAllRawHeaders().prefix(3).map(\.0) == ["X-Name-0", "X-Name-1", "X-Name-2"])
        var allFound = true
        for index in stride(from: 0, to: count, by: 7) {
            allFound = allFound && headers.getRawHeaders("X-NAME-\(index)") == ["v\(index)"]
                && headers.hasHeader("x-Name-\(index)")
        }
        #expect(allFound)
        #expect(headers.getRawHeaders("x-name-8000") == nil)
        headers.addRawHeader("X-NAME-5", "again")
        #expect(headers.getRawHeaders("x-name-5") == ["v5", "again"])
        headers.removeHeader("x-name-3")
        headers.setRawHeaders("x-name-4", [])
        #expect(!headers.hasHeader("X-Name-3") && !headers.hasHeader("X-Name-4"))
        #expect(headers.getRawHeaders("x-name-7999") == ["v7999"])
        headers.addRawHeader("x-name-3", "back")
        #expect(headers.getAllRawHeaders().last.map { [$0.0] + $0.1 } == ["X-Name-3", "back"])
        #expect(headers.getAllRawHeaders().prefix(5).map(\.0)
            == ["X-Name-0", "X-Name-1", "X-Name-2", "X-Name-5", "X-Name-6"])
        // Equality does not depend on whether either side is indexed, nor on name case.
        var small = Headers()
        var big = Headers()
        for index in 0..<40 {
            big.addRawHeader("n\(index)", "\(index)")
            if index < 10 { small.addRawHeader("N\(index)", "\(index)") }
        }
        for index in 10..<40 { big.removeHeader("N\(index)") }
        #expect(big == small)
        #expect(big.getAllRawHeaders().map(\.0) == small.getAllRawHeaders().map(\.0))
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
