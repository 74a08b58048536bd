import Deferreds
import Reactor
import Testing
import TestSupport
import WebServer

@testable import WebAgent

/// The agent in async style: `try await agent.request(...).value`, `try await readBody(r).value`
/// and `for try await chunk in response.body`, on each test's own reactor (a `ReactorHarness`).
@Suite struct ResponseAsyncTests {
    @Test func requestAndReadBodyAreAwaited() throws {
        // When a request and its body are awaited, the response and the whole body come back.
        try withReactorTask { h in
            let server = WebServer(h.reactor)
            try server.listen()
            let response = try await Agent(h.reactor).request("GET", server.url("/bytes/1000")).value
            #expect(response.code == 200)
            let bytes = try await readBody(response).value
            #expect(bytes == WebServer.patternBytes(count: 1000))
            try await server.stop().value
        }
    }

    @Test func aRefusedConnectionIsThrownAsItsFailure() throws {
        // When the connection is refused, awaiting the request throws a Failure holding ConnectionRefusedError.
        try withReactorTask { h in
            do {
                _ = try await Agent(h.reactor).request("GET", "http://127.0.0.1:1/").value
                Issue.record("the request succeeded")
            } catch let failure as Failure {
                #expect(failure.check(ConnectionRefusedError.self) != nil)
            }
        }
    }

    @Test func bodyChunksComeInOrderAndTheLoopEndsAfterTheLast() throws {
        // When a body is iterated, its chunks arrive in order, several of them, and the loop ends when the body is complete.
        try withReactorTask { h in
            let server = WebServer(h.reactor)
            try server.listen()
            let response = try await Agent(h.reactor).request("GET", server.url("/bytes/300000")).value
            var received: [UInt8] = []
            var chunks = 0
            for try await chunk in response.body {
                received += chunk
                chunks += 1
            }
            #expect(received == WebServer.patternBytes(count: 300_000))
            #expect(chunks > 1)
            #expect(h.onLoopThread)
            try await server.stop().value
        }
    }

    @Test func aSlowReaderPausesTheTransferAtTheHighWaterMarkAndResumesIt() throws {
        // When the loop stops taking chunks, the transfer pauses once 64 KiB are held, and resumes when the loop has taken them all.
        try withReactorTask { h in
            let server = WebServer(h.reactor)
            try server.listen()
            let size = 4_000_000
            let response = try await Agent(h.reactor).request("GET", server.url("/bytes/\(size)")).value
            var iterator = response.body.makeAsyncIterator()
            let reader = iterator.reading.reader
            let firstPause = Deferred<Int>()
            var pauses = 0
            var resumes = 0
            // Unowned: the reader keeps this closure, so a strong capture would be a cycle (LeakSanitizer).
            reader.onBackPressure = { [unowned reader] paused in
                if paused {
                    pauses += 1
                    if !firstPause.called { firstPause.callback(reader.heldBytes) }
                } else {
                    resumes += 1
                }
            }
            var received = try await iterator.next() ?? []
            let heldWhenPaused = try await firstPause.value  // the loop takes nothing meanwhile
            #expect(heldWhenPaused >= ResponseBodyStream.defaultHighWaterMark)
            #expect(heldWhenPaused < ResponseBodyStream.defaultHighWaterMark + 64 * 1024)
            #expect(reader.pausedTransfer)
            while let chunk = try await iterator.next() { received += chunk }
            #expect(received.count == size)
            #expect(received == WebServer.patternBytes(count: size))
            #expect(pauses >= 1)
            #expect(resumes == pauses)
            try await server.stop().value
        }
    }

    @Test func aBodyCutShortThrowsResponseFailedAfterItsChunks() throws {
        // When the server closes in the middle of a body, the loop gets the bytes that came, then throws ResponseFailed.
        try withReactorTask { h in
            let server = WebServer(h.reactor)
            try server.listen()
            let response = try await Agent(h.reactor).request("GET", server.url("/fault/truncate-length?length=20000")).value
            var received: [UInt8] = []
            do {
                for try await chunk in response.body { received += chunk }
                Issue.record("the loop ended without an error")
            } catch let failure as Failure {
                #expect(failure.check(ResponseFailed.self) != nil)
            }
            #expect(received == WebServer.patternBytes(count: 10_000))
            try await server.stop().value
        }
    }

    @Test func aCloseDelimitedBodyThrowsPotentialDataLossAfterAllOfIt() throws {
        // When a body is delimited by the connection closing, the loop gets all of it, then throws PotentialDataLoss.
        try withReactorTask { h in
            let server = WebServer(h.reactor)
            try server.listen()
            let response = try await Agent(h.reactor).request("GET", server.url("/fault/close-delimited?length=5000")).value
            var received: [UInt8] = []
            do {
                for try await chunk in response.body { received += chunk }
                Issue.record("the loop ended without an error")
            } catch let failure as Failure {
                #expect(failure.check(PotentialDataLoss.self) != nil)
            }
            #expect(received == WebServer.patternBytes(count: 5000))
            try await server.stop().value
        }
    }

    @Test func cancellingTheReadingTaskAbortsTheTransfer() throws {
        // When the task waiting for the next chunk of a stalled body is cancelled, the loop throws CancellationError and the transfer ends.
        try withReactorTask { h in
            let server = WebServer(h.reactor)
            try server.listen()
            let response = try await Agent(h.reactor).request("GET", server.url("/fault/stall-body?length=20000")).value
            let body = response.body
            let halfway = Deferred<Void>()
            let outcome = Deferred<String>()
            var reader: BodyReader?
            let readingTask = Task {
                _ = h
                var iterator = body.makeAsyncIterator()
                reader = iterator.reading.reader
                var count = 0
                do {
                    while let chunk = try await iterator.next() {
                        count += chunk.count
                        if count == 10_000 { halfway.callback(()) }
                    }
                    outcome.callback("ended")
                } catch {
                    outcome.callback("\(type(of: error)) after \(count) bytes")
                }
            }
            try await halfway.value  // the task now waits for bytes that will not come
            readingTask.cancel()
            let seen = try await outcome.value
            #expect(seen == "CancellationError after 10000 bytes")
            try await #require(reader).ended.value  // the transfer was stopped
            try await server.stop().value
        }
    }

    @Test func leavingTheLoopEarlyAbortsTheTransfer() throws {
        // When the iterator is dropped after one chunk of a large body, the transfer is stopped.
        try withReactorTask { h in
            let server = WebServer(h.reactor)
            try server.listen()
            let response = try await Agent(h.reactor).request("GET", server.url("/bytes/4000000")).value
            var iterator: ResponseBodyStream.Iterator? = response.body.makeAsyncIterator()
            let reader = try #require(iterator?.reading.reader)
            let first = try await iterator?.next()
            #expect(first?.isEmpty == false)
            iterator = nil
            try await reader.ended.value
            #expect(reader.heldBytes == 0)
            try await server.stop().value
        }
    }
}
