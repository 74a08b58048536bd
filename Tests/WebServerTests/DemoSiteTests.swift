import Deferreds
import Reactor
import Testing

@testable import WebServer

@Suite struct DemoSiteTests {
    @Test func demoPagesAreSmallLinkedHTML() throws {
        // When /page/1, /page/20 and /page/21 of a 20-page demo are asked, the first two are HTML
        // pages of about 2 KiB that link to other pages, and the last is 404.
        var responses: [TestResponse] = []
        try withServer { server, reactor, finish in
            server.serveDemoPages(count: 20)
            let requests = ["/page/1", "/page/20", "/page/21"].map { "GET \($0) HTTP/1.1\r\nHost: t\r\n\r\n" }.joined()
            _ = exchange(reactor, server, requests, methods: ["GET", "GET", "GET"]).addCallback { result, _ in
                responses = result
                finish()
            }
        }
        #expect(responses.map(\.status) == [200, 200, 404])
        for page in responses.prefix(2) {
            #expect(page.headers["Content-Type"] == "text/html; charset=utf-8")
            #expect((1500...3000).contains(page.body.count), "page of \(page.body.count) bytes")
            #expect(page.text.contains("<a href=\"/page/"))
        }
        #expect(responses.first?.text == WebServer.demoPage(1, of: 20))
        #expect(responses.first?.text.contains("href=\"/page/2\"") == true)
    }

    @Test func everyDemoLinkLeadsToAnExistingPage() {
        // When every link of every page of a 20-page demo is followed, it names a page from 1 to 20.
        for number in 1...20 {
            let html = WebServer.demoPage(number, of: 20)
            let links = html.split(separator: "href=\"/page/").dropFirst().compactMap { Int($0.prefix { $0 != "\"" }) }
            #expect(!links.isEmpty)
            #expect(links.allSatisfy { (1...20).contains($0) && $0 != number })
        }
    }
}
