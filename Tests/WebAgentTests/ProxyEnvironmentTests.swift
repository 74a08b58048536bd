import Testing

@testable import WebAgent

/// Curl's proxy environment rules (`ProxyEnvironment`) and proxy URLs (`HTTPProxy`).
@Suite struct ProxyEnvironmentTests {
    @Test func eachSchemeTakesItsVariableAndUpperCaseHTTPProxyIsIgnored() throws {
        // When http_proxy, HTTP_PROXY and HTTPS_PROXY are set, http URLs use http_proxy, https URLs
        // HTTPS_PROXY, and HTTP_PROXY alone is ignored (curl's httpoxy rule).
        let both = try ProxyEnvironment(environment: [
            "http_proxy": "http://lower:1", "HTTP_PROXY": "http://upper:2", "HTTPS_PROXY": "upper-s:3",
        ])
        #expect(both.proxy(for: "http://example.com/")?.host == "lower")
        #expect(both.proxy(for: "https://example.com/") == (try HTTPProxy("http://upper-s:3")))
        let upperOnly = try ProxyEnvironment(environment: ["HTTP_PROXY": "http://upper:2"])
        #expect(upperOnly.proxy(for: "http://example.com/") == nil)
        let lowerFirst = try ProxyEnvironment(environment: ["https_proxy": "a:1", "HTTPS_PROXY": "b:2"])
        #expect(lowerFirst.proxy(for: "https://example.com/")?.host == "a")
    }

    @Test func allProxyServesBothUnlessASchemeVariableIsSetEvenEmpty() throws {
        // When only all_proxy is set both schemes use it; an empty https_proxy means no proxy for
        // https (ALL_PROXY is not consulted then).
        let all = try ProxyEnvironment(environment: ["ALL_PROXY": "all:8080"])
        #expect(all.proxy(for: "http://x.test/")?.port == 8080)
        #expect(all.proxy(for: "https://x.test/")?.port == 8080)
        let emptied = try ProxyEnvironment(environment: ["all_proxy": "all:8080", "https_proxy": ""])
        #expect(emptied.proxy(for: "https://x.test/") == nil)
        #expect(emptied.proxy(for: "http://x.test/")?.host == "all")
    }

    @Test func noProxyMatchesNamesTheirSubdomainsAddressesAndNetworks() throws {
        // When no_proxy lists names, addresses and a network, a host matching one (case and a
        // trailing dot aside; subdomains included; a leading dot changing nothing) is reached
        // directly and any other through the proxy.
        let proxies = try ProxyEnvironment(environment: [
            "http_proxy": "proxy:3128", "NO_PROXY": " example.com, .local.test ,10.0.0.0/8,::1,192.168.1.5",
        ])
        for direct in ["http://example.com/", "http://WWW.Example.COM./a", "http://local.test/",
                       "http://a.b.local.test/", "http://10.2.3.4/", "http://[::1]:8080/", "http://192.168.1.5/"] {
            #expect(proxies.proxy(for: direct) == nil, "\(direct)")
        }
        for proxied in ["http://notexample.com/", "http://example.com.evil.test/", "http://11.0.0.1/",
                        "http://192.168.1.6/", "http://[::2]/", "http://local.test.evil/"] {
            #expect(proxies.proxy(for: proxied)?.host == "proxy", "\(proxied)")
        }
        let everything = try ProxyEnvironment(environment: ["http_proxy": "proxy:3128", "no_proxy": "*"])
        #expect(everything.proxy(for: "http://anything.test/") == nil)
    }

    @Test func theOverridesReplaceTheVariables() throws {
        // When --proxy and --noproxy are given they replace the variables: "" for no proxy at all,
        // a URL for every scheme, and the exemption list in place of no_proxy.
        let environment = ["http_proxy": "env:1", "https_proxy": "env:2", "no_proxy": "example.com"]
        let none = try ProxyEnvironment(environment: environment, proxy: "")
        #expect(none.proxy(for: "http://x.test/") == nil && none.proxy(for: "https://x.test/") == nil)
        let given = try ProxyEnvironment(environment: environment, proxy: "http://flag:9", noProxy: "x.test")
        #expect(given.proxy(for: "https://example.com/")?.host == "flag")
        #expect(given.proxy(for: "http://x.test/") == nil)
    }

    @Test func proxyURLsParseAsCurlDoes() throws {
        // When a proxy URL has no scheme it is http, without a port 1080, with credentials
        // percent-decoded (and sent as Basic); another scheme or a bad URL is a typed error.
        let bare = try HTTPProxy("proxy.test")
        #expect(bare.host == "proxy.test" && bare.port == 1080 && bare.user == nil)
        #expect(bare.authorization == nil)
        let full = try HTTPProxy("HTTP://alice:s%40cret@[::1]:3128/ignored")
        #expect(full.host == "::1" && full.port == 3128)
        #expect(full.user == "alice" && full.password == "s@cret")
        #expect(full.authorization == "Basic YWxpY2U6c0BjcmV0")
        #expect(full.description == "http://[::1]:3128")
        #expect(full.curlURL == "http://alice:s%40cret@[::1]:3128")
        #expect(throws: SchemeNotSupported.self) { try HTTPProxy("socks5://proxy.test:1080") }
        #expect(throws: InvalidURI.self) { try HTTPProxy("http://proxy test:80") }
        // An error does not show the password.
        let error = #expect(throws: InvalidURI.self) { try HTTPProxy("http://alice:hunter2@bad host:1/") }
        #expect(error?.uri == "http://alice:***@bad host:1")
        #expect(throws: InvalidURI.self) { try HTTPProxy("http://proxy.test:99999") }
        #expect(HTTPProxy.base64(Array("a".utf8)) == "YQ==" && HTTPProxy.base64(Array("ab".utf8)) == "YWI=")
    }
}
