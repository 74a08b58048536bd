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
