import Foundation
import Testing

/// What a download refuses to do (`Download.swift`): follow redirects off the web.
@Suite struct DownloadTests {
    @Test func aRedirectToFileOrFTPIsNotFollowed() throws {
        // When a page redirects to file:///etc/passwd or to ftp://, getpage's redirect following
        // refuses it: the URL fails with "Unsupported scheme", and nothing of the target is read.
        try withTestServer { server in
            for (target, scheme) in [("file:///etc/passwd", "file"), ("ftp://127.0.0.1/pub/file", "ftp")] {
                let url = server.url("/redirect-to?url=\(target)")
                let run = try getpage(["--format", "jsonl", url])
                #expect(run.status == 1)
                let object = try #require(try run.jsonLines().first)
                #expect(object["error"] as? String == "Unsupported scheme: \(scheme)", "\(object)")
                #expect(object["bytes"] as? Int == 0)
                #expect(!run.stdout.contains("root:"))
            }
            #expect(server.counters.paths.filter { $0.hasPrefix("/redirect-to") }.count == 2)
        }
    }
}
