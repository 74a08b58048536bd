import Foundation
import Testing

/// `--shard K/N` (URLSource's filter): N machines, one list, disjoint parts that cover it.
@Suite struct URLSourceTests {
    @Test func theShardsOfAnInputFileCoverItOnceWithTheirLineNumbers() throws {
        // When one list of 30 URLs is fetched as shards 0/3, 1/3 and 2/3, each URL is fetched by
        // exactly one shard, under its line number in the whole file.
        try withTestServer { server in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let urls = (1...30).map { server.url("/page/\(($0 - 1) % 20 + 1)?copy=\($0)") }
            try directory.write("urls.txt", urls.joined(separator: "\n") + "\n")
            var seen: [String: Int] = [:]
            for shard in 0..<3 {
                let run = try getpage(["--format", "jsonl", "--shard", "\(shard)/3",
                                       "--input", directory.file("urls.txt")])
                #expect(run.status == 0, "\(run.stderr)")
                for object in try run.jsonLines() {
                    let url = try #require(object["url"] as? String)
                    #expect(seen[url] == nil, "\(url) fetched twice")
                    seen[url] = shard
                    #expect(object["line"] as? Int == urls.firstIndex(of: url).map { $0 + 1 }, "\(object)")
                }
            }
            #expect(Set(seen.keys) == Set(urls))
            #expect(Set(seen.values) == [0, 1, 2])
            #expect(server.counters.requests == 30)
        }
    }

    @Test func aShardIsRestartableWithResume() throws {
        // When a shard is run again with --output-dir and --resume, the URLs it saved are skipped and
        // no other shard's URL is touched.
        try withTestServer { server in
            let directory = try TemporaryDirectory()
            defer { directory.cleanUp() }
            let urls = (1...12).map { server.url("/page/\($0)") }
            try directory.write("urls.txt", urls.joined(separator: "\n") + "\n")
            let arguments = ["--format", "jsonl", "--shard", "1/2", "--input", directory.file("urls.txt"),
                             "--output-dir", directory.file("out"), "--resume"]
            let first = try getpage(arguments)
            #expect(first.status == 0, "\(first.stderr)")
            let fetched = try first.jsonLines().compactMap { $0["url"] as? String }
            #expect(!fetched.isEmpty && fetched.count < 12)
            let again = try getpage(arguments)
            #expect(again.status == 0, "\(again.stderr)")
            let objects = try again.jsonLines()
            // The first run lists its URLs as they finished, the second (all skipped) in input order.
            #expect(objects.compactMap { $0["url"] as? String }.sorted() == fetched.sorted())
            #expect(objects.allSatisfy { $0["skipped"] as? Bool == true }, "\(objects)")
            #expect(server.counters.requests == fetched.count)
        }
    }

    @Test func badShardsAreUsageErrors() throws {
        // When --shard is not K/N with 0 <= K < N, getpage exits with 2 and says why.
        for (shard, reason) in [("3/3", "K must be from 0 to N-1"), ("0/0", "N must be at least 1"),
                                ("1", "expected K/N"), ("a/b", "expected K/N")] {
            let run = try getpage(["--shard", shard, "http://127.0.0.1:1/"])
            #expect(run.status == 2, "\(shard)")
            #expect(run.stderr.contains("bad --shard \"\(shard)\": \(reason)"), "\(shard): \(run.stderr)")
        }
    }
}
