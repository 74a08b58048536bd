import Deferreds
import Foundation
import Reactor
import TestSupport
import Testing

@testable import WebAgent

/// The response code, or the failure, of a request.
private func outcome(of deferred: Deferred<Response>) -> Deferred<Result<Int, Failure>> {
    deferred.addBoth { result in result.map(\.code) }
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct CurlNameResolutionTests {
    /// A caching resolver over c-ares asking only `server`.
    func resolver(_ reactor: EPollReactor, _ server: TestDNSServer) throws -> CachingResolver {
        var configuration = ResolverConfiguration()
        configuration.servers = [server.address]
        configuration.searchDomains = []
        configuration.useHostsFile = false
        configuration.resolvConfPath = "/dev/null"
        configuration.tries = 1
        return CachingResolver(resolver: try AresResolver(reactor: reactor, configuration: configuration),
                               clock: reactor)
    }

    @Test func httpsUsesTheReactorsResolverOncePerName() throws {
        // When two https requests go to a name only the test's DNS server knows, both succeed and
        // the server is asked once per record type: libcurl got the reactor resolver's answer.
        let tls = try TLSServer(dnsName: "secure.test")
        defer { tls.stop() }
        var codes: [Int] = []
        var queries: [TestDNSServer.Query] = []
        try withReactor { reactor in
            let dns = try TestDNSServer(reactor: reactor)
            dns.answers = ["secure.test": .addresses(v4: ["127.0.0.1"], v6: [], ttl: 60)]
            reactor.nameResolver = try resolver(reactor, dns)
            let agent = Agent(reactor, caFile: tls.certificate)
            let url = "https://secure.test:\(tls.port)/"
            _ = outcome(of: agent.request("GET", url)).addCallback { first -> Deferred<Void> in
                if case .success(let code) = first { codes.append(code) }
                return outcome(of: agent.request("GET", url)).addCallback { second -> Void in
                    if case .success(let code) = second { codes.append(code) }
                }
            }.addBoth { _ in
                queries = dns.queries
                reactor.stop()
            }
        }
        #expect(codes == [200, 200])
        #expect(queries.map(\.type).sorted() == [1, 28])
    }

    @Test func anHttpsNameThatDoesNotExistFailsWithDNSLookupError() throws {
        // When an https URL's host does not exist, the request fails with DNSLookupError
        // (.nameNotFound) from the reactor's resolver, before libcurl is involved.
        var failure: Failure?
        try withReactor { reactor in
            let dns = try TestDNSServer(reactor: reactor)
            reactor.nameResolver = try resolver(reactor, dns)
            _ = outcome(of: Agent(reactor).request("GET", "https://nowhere.test/")).addCallback { result in
                if case .failure(let reason) = result { failure = reason }
                _ = dns
                reactor.stop()
            }
        }
        #expect((failure?.value as? DNSLookupError)?.reason == .nameNotFound)
    }
}
