import Testing
import URLList

/// `URLShard`: the stable split behind `getpage --shard K/N`.
@Suite struct URLShardTests {
    @Test func theShardsOfAListAreDisjointAndCoverIt() throws {
        // When a list of 10,000 URLs is split 7 ways, every URL is in exactly one shard, and no shard
        // is far from a seventh of the list.
        let urls = (0..<10_000).map { "http://host\($0 % 97).test/page/\($0)" }
        let shards = try (0..<7).map { try URLShard(index: $0, count: 7) }
        var sizes = [Int](repeating: 0, count: 7)
        for url in urls {
            let owners = shards.filter { $0.contains(url) }
            #expect(owners.count == 1, "\(url) is in \(owners)")
            if let owner = owners.first { sizes[owner.index] += 1 }
        }
        #expect(sizes.reduce(0, +) == urls.count)
        #expect(sizes.allSatisfy { abs($0 - urls.count / 7) < urls.count / 70 }, "\(sizes)")
    }

    @Test func theSplitIsFixed() throws {
        // When a few URLs are hashed, they land where they always have (the split must not change
        // between runs, machines or builds: it is not Swift's seeded Hasher).
        #expect(URLShard.stableHash("http://example.com/") == 0x7193_bf4c_41ae_0ad3)
        #expect(URLShard.stableHash("") == 0xf52a_15e9_a9b5_e89b)
        let expected: [(String, Int, Int)] = [
            ("http://example.com/", 3, 7), ("https://example.org/a?b=c", 3, 1),
            ("http://127.0.0.1:8080/page/1", 2, 0), ("http://a.test/", 1, 1),
        ]
        for (url, ofFour, ofTen) in expected {
            #expect(URLShard.shard(of: url, count: 4) == ofFour, "\(url)")
            #expect(URLShard.shard(of: url, count: 10) == ofTen, "\(url)")
            #expect(try URLShard(parsing: "\(ofFour)/4").contains(url))
        }
    }

    @Test func badShardsAreTypedErrors() throws {
        // When K/N is malformed, N is 0, or K is not below N, parsing fails with URLShardError.
        let bad = ["", "1", "1/", "/4", "a/4", "1/b", "-1/4", "4/4", "0/0", "1/2/3", " 1/4", "+1/4", "1/99999999999"]
        for text in bad {
            #expect(throws: URLShardError.self, "\(text)") { try URLShard(parsing: text) }
        }
        #expect(try URLShard(parsing: "0/1") == URLShard(index: 0, count: 1))
        #expect(try URLShard(parsing: "3/4").description == "3/4")
    }
}
