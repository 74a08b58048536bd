import Foundation
import Testing

/// End-to-end tests of the `blog-async` binary: the tutorial's program in async/await style, which
/// must print what `blog-example` prints.
@Suite struct BlogAsyncTests {
    @Test func withoutURLsItFetchesThreeDemoPagesOffline() throws {
        // When run with no argument, it starts its own server and prints the tutorial's output for 3 pages.
        let run = try RunningTool("blog-async", []).finish()
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.filter { $0.hasPrefix("Requesting http://127.0.0.1:") }.count == 3)
        #expect(lines.filter { $0 == "Finished: Response body fully received" }.count == 3)
        #expect(lines.filter { $0 == "code=200" }.count == 3)
        #expect(run.stdout.contains("version=(\"HTTP\", 1, 1)\ncode=200\nphrase='OK'\n"))
        for page in 1...3 { #expect(run.stdout.contains("<h1>Demo page \(page)</h1>")) }
    }

    @Test func itFetchesTheURLsItIsGivenAndReportsErrors() throws {
        // When given URLs, it fetches them, sending User-Agent twisted, and prints "Error:" for a refused one.
        try withTestServer { server in
            let run = try RunningTool("blog-async", [server.url("/headers"), "http://127.0.0.1:1/"]).finish()
            #expect(run.status == 0)
            #expect(run.stdout.contains("Requesting \(server.url("/headers"))\n"))
            #expect(run.stdout.contains("##### Received #####\n"))
            #expect(run.stdout.contains("User-Agent: twisted\n"))
            #expect(run.stdout.contains("Error: Connection was refused"))
        }
    }

    @Test func itKeepsAtMostTwoRequestsInFlight() throws {
        // When given 6 slow URLs, the task group of two lets the server see at most 2 at once.
        try withTestServer { server in
            let run = try RunningTool("blog-async", (1...6).map { server.url("/slow?n=\($0)") }).finish()
            #expect(run.status == 0)
            #expect(server.counters.requests == 6)
            #expect(server.counters.maxConcurrent == 2)
        }
    }

    @Test func itPrintsWhatTheCallbackVersionPrints() throws {
        // When both programs fetch the same pages, they print the same status, header and ending lines, and every body.
        try withTestServer { server in
            let urls = (1...4).map { server.url("/page/\($0)") } + [server.url("/fault/truncate-length?length=4000")]
            let callbacks = try RunningTool("blog-example", urls).finish()
            let async = try RunningTool("blog-async", urls).finish()
            #expect(callbacks.status == 0)
            #expect(async.status == 0)
            #expect(summary(of: async.stdout) == summary(of: callbacks.stdout))
            for page in 1...4 {
                #expect(async.stdout.contains("<h1>Demo page \(page)</h1>"))
                #expect(callbacks.stdout.contains("<h1>Demo page \(page)</h1>"))
            }
        }
    }

    /// The lines that do not depend on how bodies were cut into chunks or on the clock, sorted.
    private func summary(of output: String) -> [String] {
        let kept = ["Requesting ", "version=", "code=", "phrase=", "Content-Type:", "Server:", "Finished:", "Error:"]
        return output.split(separator: "\n").map(String.init)
            .filter { line in kept.contains { line.hasPrefix($0) } }
            .sorted()
    }
}
