import Foundation
import Testing

/// End-to-end tests of the `blog-async` binary: the tutorial's program in async/await style, which
/// must print what `blog-example` prints. (What both must do is in `BlogExampleTests`, run on each.)
@Suite struct BlogAsyncTests {
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
