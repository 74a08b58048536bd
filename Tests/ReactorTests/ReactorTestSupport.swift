import Deferreds
import Glibc
import Testing
import TestSupport

@testable import Reactor

/// A reactor for one test: runs until `body`'s work calls `stop()`, or fails the test and stops
/// after `limit` seconds so that a broken test cannot hang the suite.
func withReactor(limit: Double = 20, _ body: (EPollReactor) throws -> Void) throws {
    let timedOut = try runReactor(limit: limit, body)
    #expect(!timedOut, "the reactor was stopped by the test's time limit")
}

/// A pipe whose ends are non-blocking.
func makePipe() -> (read: Int32, write: Int32) {
    var fds: [Int32] = [0, 0]
    precondition(pipe(&fds) == 0)
    for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    return (fds[0], fds[1])
}

/// Collects what a protocol receives and how it ends.
class RecordingProtocol: Protocol {
    var received: [UInt8] = []
    var made = false
    var lostReason: Failure?
    var onData: ((RecordingProtocol) -> Void)?
    var onLost: ((RecordingProtocol) -> Void)?

    override func connectionMade() { made = true }

    override func dataReceived(_ bytes: [UInt8]) {
        received += bytes
        onData?(self)
    }

    override func connectionLost(_ reason: Failure) {
        lostReason = reason
        onLost?(self)
    }
}

/// Echoes everything back.
final class EchoProtocol: Protocol {
    override func dataReceived(_ bytes: [UInt8]) { transport?.write(bytes) }
}

/// A client factory that records how the connection attempt ended.
final class RecordingClientFactory: ClientFactory {
    let handler: Protocol
    var failure: Failure?
    var lost: Failure?
    var onFailed: ((Failure) -> Void)?

    init(_ handler: Protocol) {
        self.handler = handler
        super.init()
    }

    override func buildProtocol(_ address: Address) -> Protocol? { handler }

    override func clientConnectionFailed(_ connector: Connector, _ reason: Failure) {
        failure = reason
        onFailed?(reason)
    }

    override func clientConnectionLost(_ connector: Connector, _ reason: Failure) {
        lost = reason
    }
}

/// Runs `body` as a task isolated to a fresh reactor (a `ReactorHarness`), until it returns; fails
/// the test if `limit` seconds pass first. Errors the body throws fail the test.
func withReactorTask(
    limit: Double = 20, _ body: @escaping @Sendable (isolated ReactorHarness) async throws -> Void
) throws {
    let timedOut = try runReactorTask(limit: limit, body)
    #expect(!timedOut, "the reactor was stopped by the test's time limit")
}

/// Returns after the jobs queued so far (tasks just created) have run: the timer fires later in
/// this pass, and the awaiting code resumes on the next one, after the jobs queued before it.
/// Tests use it instead of `Task.yield()`, which goes through the global thread pool.
func nextTurn(_ h: isolated ReactorHarness) async throws {
    let turned = Deferred<Void>()
    h.reactor.callLater(0) { turned.callback(()) }
    try await turned.value
}

/// An error for tests to fire through deferreds and throw from tasks.
struct AsyncTestError: Error, Equatable {
    var code = 0
}

/// Runs `body` on a new thread and waits for that thread to end.
func runThreadAndJoin(_ body: @escaping @Sendable () -> Void) {
    final class ThreadBody: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let created = pthread_create(&thread, nil, { raw in
        Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, context)
    precondition(created == 0)
    pthread_join(thread, nil)
}
