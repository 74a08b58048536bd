import Foundation
import TestSupport
import Testing

/// getpage and proxies: curl's environment variables and the --proxy / --noproxy overrides, with a
/// real tinyproxy.
@Suite struct ProxySelectingAgentTests {
    /// Runs getpage on the test server's /echo (tutorial format: the body, which shows the request's
    /// headers, is printed) with `environment` exported; returns whether the request came through
    /// the proxy (the proxy's Via header), and the run.
    private func viaProxy(_ server: TestServer, _ proxy: TinyProxy, environment: [String: String],
                          _ arguments: [String] = []) throws -> (Bool, ToolRun) {
        let exports = environment.map { "export \($0.key)='\($0.value)'" }.joined(separator: "; ")
        let run = try getpage(arguments + [server.url("/echo")], shell: exports.isEmpty ? ":" : exports)
        #expect(run.status == 0, "\(environment) \(arguments): \(run.stderr)")
        return (run.stdout.contains("Via: 1.1 \(proxy.viaName)"), run)
    }

    @Test func theEnvironmentAndTheOverridesChooseTheProxyAsCurlDoes() throws {
        // When http_proxy names tinyproxy the request goes through it; a no_proxy match, an empty
        // --proxy, or HTTP_PROXY (upper case, ignored) alone sends it directly; --noproxy "" and
        // --proxy put it back through the proxy.
        let proxy = try TinyProxy()
        defer { proxy.stop() }
        try withTestServer { server in
            let url = proxy.url()
            let cases: [([String: String], [String], Bool)] = [
                (["http_proxy": url], [], true),
                (["http_proxy": url, "no_proxy": "localhost,127.0.0.1"], [], false),
                (["http_proxy": url, "NO_PROXY": "127.0.0.0/8"], [], false),
                (["http_proxy": url], ["--proxy", ""], false),
                (["HTTP_PROXY": url], [], false),
                (["http_proxy": url, "no_proxy": "127.0.0.1"], ["--noproxy", ""], true),
                ([:], ["--proxy", url], true),
                (["all_proxy": url], [], true),
            ]
            for (environment, arguments, throughProxy) in cases {
                let (via, run) = try viaProxy(server, proxy, environment: environment, arguments)
                #expect(via == throughProxy, "\(environment) \(arguments): \(run.stdout)")
            }
        }
    }

    @Test func httpsURLsTakeHTTPSProxyThroughATunnel() throws {
        // When https_proxy names tinyproxy, an https URL is fetched through a CONNECT tunnel (the
        // proxy's log shows it) with the certificate still checked; with the host in no_proxy, the
        // proxy sees no second tunnel.
        let proxy = try TinyProxy()
        defer { proxy.stop() }
        let server = try TLSServer()
        defer { server.stop() }
        let url = "https://127.0.0.1:\(server.port)/"
        let tunnel = "CONNECT 127.0.0.1:\(server.port) HTTP/1.1"
        let through = try getpage(["--format", "jsonl", "--cacert", server.certificate, url],
                                  shell: "export https_proxy='\(proxy.url())'")
        #expect(through.status == 0, "\(through.stdout) \(through.stderr)")
        #expect(try through.jsonLines().first?["status"] as? Int == 200)
        #expect(proxy.log.components(separatedBy: tunnel).count == 2, "\(proxy.log)")
        let direct = try getpage(["--format", "jsonl", "--cacert", server.certificate, url],
                                 shell: "export HTTPS_PROXY='\(proxy.url())' no_proxy=127.0.0.1")
        #expect(direct.status == 0, "\(direct.stdout) \(direct.stderr)")
        #expect(proxy.log.components(separatedBy: tunnel).count == 2, "\(proxy.log)")
    }

    @Test func aRefusingProxyIsAFailedURLNamingIt() throws {
        // When the proxy's port has no listener, the URL fails with the proxy's refusal (exit 1),
        // and an https URL fails the same way.
        let port = freeLoopbackPort()
        let run = try getpage(["--format", "jsonl", "--proxy", "127.0.0.1:\(port)",
                               "http://127.0.0.1:1/a", "https://127.0.0.1:1/b"])
        #expect(run.status == 1)
        let errors = try run.jsonLines().compactMap { $0["error"] as? String }
        #expect(errors.count == 2)
        for error in errors {
            #expect(error.hasPrefix("Cannot connect to the proxy http://127.0.0.1:\(port): "), "\(error)")
        }
    }

    @Test func aBadProxyIsAUsageError() throws {
        // When --proxy or https_proxy is not an http proxy URL, getpage exits with 2 and says which.
        let flag = try getpage(["--proxy", "socks5://127.0.0.1:1080", "http://127.0.0.1:1/"])
        #expect(flag.status == 2)
        #expect(flag.stderr.contains("bad proxy in --proxy: Unsupported scheme: socks5"), "\(flag.stderr)")
        let variable = try getpage(["http://127.0.0.1:1/"], shell: "export https_proxy='http://bad host'")
        #expect(variable.status == 2)
        #expect(variable.stderr.contains("bad proxy in the proxy environment variables"), "\(variable.stderr)")
    }
}
