import Foundation
import Testing

/// What a download refuses to do (`Download.swift`): follow redirects off the web, or inflate a
/// body past --max-body.
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

    @Test func aDecompressionBombIsStoppedByMaxBodyInBoundedMemory() throws {
        // When 10 MB of gzip would inflate to 10 GiB and --max-body is 50 MB, getpage inflates no more
        // than 50 MB of it: that URL fails with the limit, the next one is fetched, and the process's
        // peak memory (VmHWM) stays under 64 MiB.
        try withTestServer { server in
            let bomb = server.url("/fault/gzip-bomb")
            let started = Date()
            let measured = try getpageMeasured(["--format", "jsonl", "--compressed", "--concurrency", "1",
                                                "--max-body", "50000000", bomb, server.url("/page/1")])
            let seconds = Date().timeIntervalSince(started)
            print("decompression bomb: getpage peak RSS \(measured.peakResidentKiB) KiB "
                + "(\(measured.samples) readings), \(seconds) s")
            #expect(measured.run.status == 1, "\(measured.run.stderr)")
            let objects = try measured.run.jsonLines()
            let stopped = try #require(objects.first { $0["url"] as? String == bomb })
            #expect(stopped["error"] as? String == "Response body exceeds the limit of 50000000 bytes", "\(stopped)")
            let delivered = try #require(stopped["bytes"] as? Int)
            #expect(delivered > 40_000_000 && delivered <= 50_000_000)
            let page = server.url("/page/1")
            #expect(objects.contains { $0["url"] as? String == page && $0["status"] as? Int == 200 })
            #expect(measured.samples >= 10, "VmHWM was read \(measured.samples) times")
            // Under AddressSanitizer freed memory stays resident in its quarantine, so the bound
            // is checked in the plain and ThreadSanitizer runs only.
            if !runningUnderAddressSanitizer {
                #expect(measured.peakResidentKiB > 0 && measured.peakResidentKiB < 64 * 1024,
                        "peak RSS \(measured.peakResidentKiB) KiB")
            }
            #expect(seconds < 20)
        }
    }
}
