import Deferreds
import Testing
import TestSupport

/// The error the time tests fire and throw; `code` tells instances apart.
struct Boom: Error, Equatable, CustomStringConvertible {
    var code = 0
    var description: String { "Boom #\(code)" }
}

/// The outcome a chain reached (from the TestSupport module, visible to every file here).
typealias Recorded<V> = TestSupport.Recorded<V>

/// A deterministic random source for `Backoff`: hands out `values` in turn, then repeats the last.
final class ScriptedRandom {
    private var values: [Double]
    private(set) var draws = 0

    init(_ values: [Double]) { self.values = values }

    func next() -> Double {
        draws += 1
        return values.count > 1 ? values.removeFirst() : values[0]
    }
}

/// A small seedable generator (SplitMix64), so random-looking tests repeat exactly.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
