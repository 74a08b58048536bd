import Testing
import URLList

@Suite struct URLSyntaxTests {
    @Test func absoluteHTTPAndHTTPSURLsWithAHostPass() {
        // When a URL is http(s) with a host (a name, an address or a bracketed IPv6 address) and an
        // optional valid port, nothing is wrong with it.
        for url in ["http://a.test", "HTTPS://a.test:443/p?q#f", "http://127.0.0.1:8080/", "http://[::1]:81/x",
                    "http://user@a.test/", "http://[fe80::1%25eth0]/"] {
            #expect(URLSyntax.problem(in: url) == nil, "\(url)")
        }
    }

    @Test func everyOtherURLHasItsReason() {
        // When a URL cannot be fetched, the reason says why.
        let cases: [(String, String)] = [
            ("", "empty URL"),
            ("http://a b/", "space or control character"),
            ("http://é.test/", "non-ASCII character (percent-encode it)"),
            ("a.test/page", "not an absolute URL (no scheme://)"),
            ("file:///etc/passwd", "unsupported scheme 'file' (http or https only)"),
            ("mailto:a@example.com", "unsupported scheme 'mailto' (http or https only)"),
            ("javascript:alert(1)", "unsupported scheme 'javascript' (http or https only)"),
            ("a.test:8080/page", "not an absolute URL (no scheme://)"),
            ("http:///path", "no host"),
            ("http://[::1/", "unclosed IPv6 address"),
            ("http://[::1]x/", "junk after the IPv6 address"),
            ("http://a.test:0/", "bad port '0'"),
            ("http://a.test:65536/", "bad port '65536'"),
            ("http://a.test:+80/", "bad port '+80'"),
            ("https://ClosedRan[:://[::1]:8443//", "bad host 'ClosedRan[:'"),
            ("http://a:b:80/", "bad host 'a:b'"),
            ("http://[zz::1]/", "bad IPv6 address 'zz::1'"),
        ]
        for (url, reason) in cases {
            #expect(URLSyntax.problem(in: url) == reason, "\(url)")
        }
    }
}
