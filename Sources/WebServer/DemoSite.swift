/// Small linked HTML pages for the `getpage` demo and benchmarks.
extension WebServer {
    /// Serves `/page/1` … `/page/{count}`: HTML pages of about 2 KiB, each linking to its
    /// neighbours and to a few other pages (gzip-encoded when asked). Other numbers are 404.
    ///
    /// ```swift
    /// server.serveDemoPages(count: 20)
    /// // http://127.0.0.1:PORT/page/7
    /// ```
    public func serveDemoPages(count: Int) {
        routePrefix("/page/") { request, rest in
            guard let number = Int(rest), (1...max(count, 1)).contains(number), count > 0 else { return .status(404) }
            var response = HTTPResponse.html(WebServer.demoPage(number, of: count))
            response.compressible = true
            return response
        }
    }

    /// The HTML of demo page `number` of `count`: the same bytes every time.
    public static func demoPage(_ number: Int, of count: Int) -> String {
        let count = max(count, 1)
        var links: [Int] = []
        for candidate in [number - 1, number + 1, (number * 7) % count + 1, (number * 13) % count + 1]
        where (1...count).contains(candidate) && candidate != number && !links.contains(candidate) {
            links.append(candidate)
        }
        let linkItems = links.map { "    <li><a href=\"/page/\($0)\">Page \($0)</a></li>" }.joined(separator: "\n")
        let sentences = [
            "A deferred is a promise to call you back with a result that is not there yet.",
            "The reactor waits on every socket at once and calls whoever has work to do.",
            "Callbacks run in order; an errback that returns a value recovers the chain.",
            "A semaphore keeps the number of pages fetched at the same time within bounds.",
            "Each page links to a few others, so a crawler has something to follow.",
        ]
        var paragraphs: [String] = []
        var index = number
        while paragraphs.joined().utf8.count < 1500 {
            paragraphs.append(
                "  <p>\(sentences[index % sentences.count]) (page \(number), paragraph \(paragraphs.count + 1))</p>")
            index += 1
        }
        return """
            <!DOCTYPE html>
            <html>
            <head>
              <meta charset="utf-8">
              <title>Demo page \(number) of \(count)</title>
            </head>
            <body>
              <h1>Demo page \(number)</h1>
            \(paragraphs.joined(separator: "\n"))
              <ul>
            \(linkItems)
              </ul>
            </body>
            </html>

            """
    }
}
