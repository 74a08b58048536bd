import Synchronization
import Testing
import TestSupport
@testable import Deferreds

/// The error tests fire through chains; `code` tells instances apart.
struct TestError: Error, Equatable, CustomStringConvertible {
    var code: Int = 0
    var description: String { "TestError #\(code)" }
}

/// A second error type, for `check`/`trap` and for failures that must not match `TestError`.
struct OtherError: Error, Equatable {}

/// A class instance whose lifetime tests watch through a `weak` reference.
final class Token {}

/// The outcome a chain reached (see `Recorded` in the TestSupport module).
typealias Outcome<V> = Recorded<V>

/// A unique error to fire into a deferred whose unhandled-failure report a test looks for.
struct Marker: Error, Equatable, CustomStringConvertible {
    let id: Int
    var description: String { "Marker #\(id)" }
}

/// Records every "Unhandled error in Deferred" report, so tests can look for their own.
///
/// `unhandledErrorHook` is a global and tests run in parallel, so one recording hook is installed
/// once, and each test identifies its reports by a `Marker` with a unique id rather than by counting.
enum UnhandledReports {
    private struct State {
        var nextID = 1
        /// The reports whose failure carried a marker.
        var reports: [(message: String, markerID: Int)] = []
    }

    private static let state = Mutex(State())

    /// Installs the recording hook; reports without a marker still go on to the hook it replaced.
    private static let installed: Void = {
        let previous = unhandledErrorHook
        unhandledErrorHook = { message, failure in
            guard let id = UnhandledReports.markerID(in: failure) else {
                previous(message, failure)
                return
            }
            UnhandledReports.state.withLock { $0.reports.append((message, id)) }
        }
    }()

    /// A marker no other test uses; installs the recording hook on first use.
    static func newMarker() -> Marker {
        _ = installed
        return Marker(id: state.withLock { s in
            defer { s.nextID += 1 }
            return s.nextID
        })
    }

    /// The messages of the reports whose failure carries `marker` (directly or inside `FirstError`).
    static func messages(for marker: Marker) -> [String] {
        state.withLock { s in s.reports.filter { $0.markerID == marker.id }.map(\.message) }
    }

    private static func markerID(in failure: Failure) -> Int? {
        if let marker = failure.value as? Marker { return marker.id }
        if let first = failure.value as? FirstError { return markerID(in: first.subFailure) }
        if let group = failure.value as? FailureGroup {
            return group.failures.lazy.compactMap(markerID(in:)).first
        }
        return nil
    }
}
