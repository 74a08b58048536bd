import Foundation
import Testing

/// End-to-end tests of the tutorial's program: `blog-example` (callbacks) and `blog-async` (the same
/// in async/await style), which must behave alike.
@Suite struct BlogExampleTests {
    @Test(arguments: ["blog-example", "blog-async"])
    func withoutURLsItFetchesThreeDemoPagesOffline(_ tool: String) throws {
        // When run with no argument, it starts its own server and prints the tutorial's output for 3 pages.
        let run = try RunningTool(tool, []).finish()
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.filter { $0.hasPrefix("Requesting http://127.0.0.1:") }.count == 3)
        #expect(lines.filter { $0 == "Finished: Response body fully received" }.count == 3)
        #expect(lines.filter { $0 == "code=200" }.count == 3)
        #expect(run.stdout.contains("version=(\"HTTP\", 1, 1)\ncode=200\nphrase='OK'\n"))
        for page in 1...3 { #expect(run.stdout.contains("<h1>Demo page \(page)</h1>")) }
    }

    @Test(arguments: ["blog-example", "blog-async"])
    func itFetchesTheURLsItIsGivenAndReportsErrors(_ tool: String) throws {
        // When given URLs, it fetches them, sending User-Agent twisted, and prints "Error:" for a refused one.
        try withTestServer { server in
            let run = try RunningTool(tool, [server.url("/headers"), "http://127.0.0.1:1/"]).finish()
            #expect(run.status == 0)
            #expect(run.stdout.contains("Requesting \(server.url("/headers"))\n"))
            #expect(run.stdout.contains("##### Received #####\n"))
            #expect(run.stdout.contains("User-Agent: twisted\n"))
            #expect(run.stdout.contains("Error: Connection was refused"))
        }
    }

    @Test(arguments: ["blog-example", "blog-async"])
    func itKeepsAtMostTwoRequestsInFlight(_ tool: String) throws {
        // When given 6 slow URLs, the DeferredSemaphore(tokens: 2) — in blog-async, the task group of
        // two — lets the server see at most 2 at once.
        try withTestServer { server in
            let run = try RunningTool(tool, (1...6).map { server.url("/slow?n=\($0)") }).finish()
            #expect(run.status == 0)
            #expect(server.counters.requests == 6)
            #expect(server.counters.maxConcurrent == 2)
        }
    }
}
