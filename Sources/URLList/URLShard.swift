/// One part of a URL list split N ways by a stable hash of each entry: `getpage --shard K/N`.
///
/// An entry belongs to shard `K` of `N` when the 64-bit FNV-1a hash of its text's UTF-8 bytes,
/// run through SplitMix64's finaliser (so that the low bits used below depend on every byte), is
/// `K` modulo `N`. The hash has no seed: the split is the same on every machine, in every run and
/// every build, so N machines each given the same list and their own K fetch disjoint parts that
/// together cover it. (Swift's `Hasher` is seeded at random per process and would not do.)
/// Shards are numbered from 0, as Kubernetes' `JOB_COMPLETION_INDEX` is.
///
/// ```swift
/// let shard = try URLShard(parsing: "1/4")
/// shard.contains("http://example.com/")   // the same answer everywhere, always
/// ```
public struct URLShard: Equatable, Sendable, CustomStringConvertible {
    /// This shard's number, 0 ..< count.
    public let index: Int
    /// How many shards the list is split into (at least 1).
    public let count: Int

    /// - Throws: `URLShardError` unless `count >= 1` and `0 <= index < count`.
    public init(index: Int, count: Int) throws(URLShardError) {
        guard count >= 1 else { throw URLShardError(text: "\(index)/\(count)", reason: "N must be at least 1") }
        guard index >= 0 && index < count else {
            throw URLShardError(text: "\(index)/\(count)", reason: "K must be from 0 to N-1 (shards count from 0)")
        }
        self.index = index
        self.count = count
    }

    /// Parses `K/N`: two decimal numbers with a slash between them.
    /// - Throws: `URLShardError` for any other text, or numbers out of range.
    public init(parsing text: String) throws(URLShardError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        func number(_ part: Substring) -> Int? {
            guard !part.isEmpty, part.count <= 9, part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return Int(part)
        }
        guard parts.count == 2, let index = number(parts[0]), let count = number(parts[1]) else {
            throw URLShardError(text: text, reason: "expected K/N, such as 0/4")
        }
        try self.init(index: index, count: count)
    }

    /// Whether the entry with this text (a URL, as written in the list) is in this shard.
    public func contains(_ text: String) -> Bool {
        URLShard.shard(of: text, count: count) == index
    }

    /// The shard, 0 ..< `count`, that `text` falls in.
    public static func shard(of text: String, count: Int) -> Int {
        precondition(count >= 1, "URLShard.shard(of:count:): count must be at least 1")
        return Int(stableHash(text) % UInt64(count))
    }

    /// FNV-1a (64-bit) of the UTF-8 bytes, then SplitMix64's finaliser. Fixed forever: changing it
    /// would move URLs between shards of jobs already under way.
    public static func stableHash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        hash ^= hash >> 30
        hash = hash &* 0xbf58_476d_1ce4_e5b9
        hash ^= hash >> 27
        hash = hash &* 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        return hash
    }

    public var description: String { "\(index)/\(count)" }
}

/// `--shard` was not `K/N` with `0 <= K < N`.
public struct URLShardError: Error, Equatable, CustomStringConvertible {
    /// The `--shard` argument as given.
    public let text: String
    /// What is wrong with it.
    public let reason: String
    public var description: String { "bad shard \(text): \(reason)" }
}
