import Testing

/// The DocC tutorial's programs (Examples/Tutorial: the last listing of chapters 1 to 5) print
/// what the tutorial's text says they print.
@Suite struct TutorialTests {
    @Test func chapterOneShowsBothPathsAndTheCrossings() throws {
        // When chapter 1 runs, the callbacks, the errback's recovery and the throw's crossing print in order.
        let run = try RunningTool("tutorial-chapter1", []).finish()
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == """
            callback: a page of 1900 bytes
            page fired: true; the chain has run to its end: true
            errback: no page at /page/404
            recovered from: a page of only 12 bytes

            """)
    }

    @Test func chapterTwoPausesOnTheBodyAndPassesItsFailureOn() throws {
        // When chapter 2 runs, the page's chain is called but paused after the headers, fires with the
        // body's size, and a cut body reaches the outer errback.
        let run = try RunningTool("tutorial-chapter2", []).finish()
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains(
            "page done: true, paused: true\nbody of /page/1 complete\npage done with 1895 bytes\n"))
        #expect(run.stdout.hasSuffix("page failed: the connection closed before the end of the body\n"))
    }

    @Test func chapterThreeHoldsEachTokenUntilTheBodyEnds() throws {
        // When chapter 3 runs, never more than two pages hold a token, a token moves only when a body
        // ends, and the headers-only mistake leaves five bodies downloading.
        let run = try RunningTool("tutorial-chapter3", []).finish()
        #expect(run.status == 0, "\(run.stderr)")
        let (correct, mistaken) = try #require(split(run.stdout, at: "-- headers only --\n"))
        #expect(correct.hasPrefix("requesting /page/1\nrequesting /page/2\n  in flight: 2, waiting for a token: 3\n"))
        #expect(!correct.contains("in flight: 3"))
        #expect(correct.contains("body of /page/1 complete\nrequesting /page/3\n"))
        #expect(correct.hasSuffix("  in flight: 0, waiting for a token: 0\n"))
        #expect(mistaken.contains("headers of /page/1 arrive\n/page/1: 200 OK\nrequesting /page/3\n"))
        #expect(mistaken.hasSuffix("bodies still downloading: 5, with a limit of 2\n"))
    }

    @Test func chapterFourDownloadsOnePageOffline() throws {
        // When chapter 4 runs with no URL, it fetches its own server's first page and its whole body.
        let run = try RunningTool("tutorial-chapter4", []).finish()
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.hasPrefix("Requesting http://127.0.0.1:"))
        #expect(run.stdout.contains("code=200\nphrase='OK'\n"))
        #expect(run.stdout.contains("<h1>Demo page 1</h1>"))
        #expect(run.stdout.hasSuffix("Finished: Response body fully received\n"))
    }

    @Test func chapterFiveReportsTheStalledPagesTimeout() throws {
        // When chapter 5 runs with no URL, three pages arrive and the stalled one, once its attempts
        // are spent, ends in handleError with the request's timeout.
        let run = try RunningTool("tutorial-chapter5", []).finish()
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.filter { $0 == "Finished: Response body fully received" }.count == 3)
        #expect(lines.filter { $0.hasPrefix("Requesting ") }.count == 4)
        #expect(run.stdout.hasSuffix("Error: Deferred timed out after 0.5 seconds\n"))
    }

    /// The text before and after the first `separator`, or nil without one.
    private func split(_ text: String, at separator: String) -> (String, String)? {
        guard let range = text.range(of: separator) else { return nil }
        return (String(text[..<range.lowerBound]), String(text[range.upperBound...]))
    }
}
