import Foundation
import Testing

/// getpage's output directory when the disk is full or cannot be written (`OutputFile.swift`); the
/// filesystems are small tmpfs mounts made by the tests, so they need root.
@Suite(.enabled(if: SmallFilesystem.available, "mounting a tmpfs needs root; skipped"))
struct OutputFileTests {
    @Test func aDiskThatFillsMidBodyFailsThatURLLeavesNoFileAndTheRunGoesOn() throws {
        // When the output filesystem (1 MiB) fills up in the middle of a 3 MB body, that URL fails with
        // "No space left on device" and leaves no file, partial or temporary; the URLs before and after
        // it are saved, and the summary counts one failure.
        try withTestServer { server in
            let disk = try #require(SmallFilesystem(bytes: 1 << 20))
            defer { disk.unmount() }
            let big = server.url("/bytes/3000000")
            let run = try getpage(["--format", "jsonl", "--concurrency", "1", "--output-dir", disk.path,
                                   server.url("/page/1"), big, server.url("/page/2")])
            #expect(run.status == 1)
            let objects = try run.jsonLines()
            #expect(objects.count == 3)
            let failed = try #require(objects.first { $0["url"] as? String == big })
            let error = try #require(failed["error"] as? String)
            #expect(error.contains("No space left on device"), "\(error)")
            #expect(failed["file"] is NSNull)
            #expect(objects.filter { $0["status"] as? Int == 200 && $0["error"] is NSNull }.count == 2)
            let files = try FileManager.default.contentsOfDirectory(atPath: disk.path)
            #expect(files.count == 2, "\(files)")
            #expect(files.allSatisfy { $0.contains("page_") && !$0.hasSuffix(".part") }, "\(files)")
            #expect(run.stderr.contains("2 ok, 1 failed"), "\(run.stderr)")
        }
    }

    @Test func aReadOnlyOutputDirectoryIsAUsageErrorBeforeAnyRequest() throws {
        // When --output-dir exists but its filesystem is read-only (root may write anywhere else), or
        // it is a file, getpage exits 2 with the reason and sends nothing.
        try withTestServer { server in
            let readOnly = try #require(SmallFilesystem(bytes: 64 * 1024, readOnly: true))
            defer { readOnly.unmount() }
            let run = try getpage(["--output-dir", readOnly.path, server.url("/page/1")])
            #expect(run.status == 2)
            #expect(run.stderr.contains("output directory \(readOnly.path) is not writable: Read-only file system"),
                    "\(run.stderr)")
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            try directory.write("file", "not a directory")
            let notDirectory = try getpage(["--output-dir", directory.file("file"), server.url("/page/1")])
            #expect(notDirectory.status == 2)
            #expect(notDirectory.stderr.contains("is not a directory"), "\(notDirectory.stderr)")
            #expect(server.counters.requests == 0)
        }
    }
}
