import Testing

@testable import WebAgent

@Suite struct URITests {
    @Test func parsesHostPortPathQueryAndFragment() throws {
        // When a full URI is parsed, each part lands in its place and the default port is filled in.
        let uri = try URI.parse("HTTP://example.test:8080/a/b?x=1#frag")
        #expect(uri.scheme == "http")
        #expect(uri.host == "example.test")
        #expect(uri.port == 8080)
        #expect(uri.pathAndQuery == "/a/b?x=1")
        #expect(uri.fragment == "frag")
        #expect(try URI.parse("https://h").port == 443)
        #expect(try URI.parse("http://h?q").pathAndQuery == "/?q")
        #expect(try URI.parse("http://[::1]:81/").host == "::1")
    }

    @Test(arguments: [
        // RFC 3986 §5.2.4's own examples.
        ("/a/b/c/./../../g", "/a/g"), ("mid/content=5/../6", "mid/6"),
        // Above the root, and each rule of the algorithm at the end of the path.
        ("/a/../../etc/passwd", "/etc/passwd"), ("/../a", "/a"), ("/./a", "/a"), ("/a/.", "/a/"), ("/a/..", "/"),
        ("/..", "/"), ("/.", "/"), ("/a/b/..", "/a/"), ("../a", "a"), ("./a", "a"), (".", ""), ("..", ""),
        ("/a//../b", "/a/b"), ("/a/./b/./", "/a/b/"),
        // Not dot segments: dots inside names, three dots, percent-encoded dots (as libcurl 7.88 sends them).
        ("/a/.b/..c/", "/a/.b/..c/"), ("/a/.../b", "/a/.../b"), ("/a/%2e%2e/b", "/a/%2e%2e/b"),
        ("/a/%2E/b", "/a/%2E/b"), ("/index.html", "/index.html"),
    ])
    func removeDotSegmentsFollowsRFC3986(_ path: String, _ expected: String) {
        // When a path is stripped of dot segments, the result is RFC 3986's remove_dot_segments.
        #expect(URI.removeDotSegments(path) == expected)
        // The quick check the request target makes first agrees: a dot segment iff the path changes.
        #expect(URI.hasDotSegment(path[...].utf8) == (expected != path))
    }

    @Test func theRequestTargetHasNoDotSegmentsAndAnUntouchedQuery() throws {
        // When a request target is built, the path loses its dot segments (as curl sends it) and the
        // query is kept as written, dots and all.
        #expect(try URI.parse("http://h/a/../../etc/passwd?x=/../y#f").requestTarget == "/etc/passwd?x=/../y")
        #expect(try URI.parse("http://h/..").requestTarget == "/")
        #expect(try URI.parse("http://h?a/../b").requestTarget == "/?a/../b")
        #expect(try URI.parse("http://h/a/./b.txt").requestTarget == "/a/b.txt")
        #expect(try URI.parse("http://h/plain?q").requestTarget == "/plain?q")
        #expect(try URI.parse("http://h/p/00000.html?a=./").requestTarget == "/p/00000.html?a=./")
        #expect(try URI.parse("http://h/a/.b/..c/...?/..").requestTarget == "/a/.b/..c/...?/..")
        #expect(try URI.parse("http://h/a/b/..?x").requestTarget == "/a/?x")
    }

    @Test func withoutFragmentIsWhatLibcurlIsGiven() throws {
        // When a URI is handed to libcurl, its scheme is lower-cased, a default port dropped, any
        // other kept, an IPv6 host bracketed, userinfo and fragment left out, and the path at least "/".
        let cases = [
            ("HTTP://example.test:8080/a/b?x=1#frag", "http://example.test:8080/a/b?x=1"),
            ("http://example.test:80/", "http://example.test/"),
            ("https://example.test:443", "https://example.test/"),
            ("https://example.test:80/x", "https://example.test:80/x"),
            ("http://user:pw@[::1]:81/p?q#f", "http://[::1]:81/p?q"),
            ("http://[fe80::1%25eth0]/", "http://[fe80::1%25eth0]/"),
            ("http://h?q", "http://h/?q"),
        ]
        for (text, expected) in cases {
            #expect(try URI.parse(text).withoutFragment == expected, "\(text)")
        }
    }

    @Test func refusesWhitespaceControlsEmptyHostsAndBadPorts() {
        // When a URI has spaces, control or non-ASCII bytes, no host or a bad port, parsing throws.
        for bad in ["", "http://", "http://a b/", "http://h/\r\n", "http://h:0/", "http://h:70000/", "http://h:x/",
                    "no-scheme", "http://é.test/", "http://[::1/", "http://h:+80/", "http://h:-1/"] {
            #expect(throws: InvalidURI.self, "\(bad.debugDescription)") { try URI.parse(bad) }
        }
    }

    @Test func refusesHostsLibcurlCannotTake() throws {
        // When a host holds brackets or colons outside an IPv6 address (found by fuzz-uri:
        // "https://ClosedRan[:://…" passed with the host "ClosedRan[:"), or a bracketed host is not an
        // IPv6 address, parsing throws; IPv6 addresses, with or without a zone, parse.
        for bad in ["https://ClosedRan[:://[::1]:8443//", "http://a:b:80/", "http://a]b/", "http://[zz::1]/",
                    "http://[1.2.3.4]/", "http://[::1%eth0]/", "http://[::1%25]/"] {
            #expect(throws: InvalidURI.self, "\(bad)") { try URI.parse(bad) }
        }
        #expect(try URI.parse("http://[fe80::1%25eth0]:8080/").host == "fe80::1%25eth0")
        #expect(try URI.parse("http://[::ffff:127.0.0.1]/").host == "::ffff:127.0.0.1")
        #expect(try URI.parse("http://user:pw@h:81/").host == "h")
    }

    @Test func resolvesLocationsAgainstTheRequest() throws {
        // When a Location is relative, absolute-path, scheme-relative or absolute, it resolves as RFC 3986 says,
        // keeping the request's fragment when it has none.
        let base = try URI.parse("http://h:1/dir/page?q=1#top")
        #expect(try base.resolve("other").string == "http://h:1/dir/other#top")
        #expect(try base.resolve("../up").string == "http://h:1/up#top")
        #expect(try base.resolve("/abs?x").string == "http://h:1/abs?x#top")
        #expect(try base.resolve("?only").string == "http://h:1/dir/page?only#top")
        #expect(try base.resolve("//elsewhere/p").string == "http://elsewhere/p#top")
        #expect(try base.resolve("https://s/p#f").string == "https://s/p#f")
        #expect(try base.resolve("/login?next=http://x/").string == "http://h:1/login?next=http://x/#top")
    }

    @Test func refusesLocationsWithInvisibleOrNonASCIICharactersAnywhere() throws {
        // When a relative Location has a non-ASCII byte in its fragment (found by fuzz-uri: it resolved
        // to a URI that no longer parsed), resolving throws InvalidURI; so does a space in its query.
        let base = try URI.parse("http://example.test:8080/a/b?x=2#frag")
        for location in [".~/c?d#eE\u{FFFD}", "c?d e", "#\u{7F}"] {
            #expect(throws: InvalidURI.self, "\(location.debugDescription)") { try base.resolve(location) }
        }
    }

    @Test func refusesLocationsWithOtherSchemes() throws {
        // When a Location names another scheme (file, ftp, mailto, javascript), resolving throws SchemeNotSupported.
        let base = try URI.parse("http://h/")
        for location in ["file:///etc/passwd", "ftp://h/x", "mailto:a@b", "javascript:alert(1)"] {
            #expect(throws: SchemeNotSupported.self, "\(location)") { try base.resolve(location) }
        }
    }
}
