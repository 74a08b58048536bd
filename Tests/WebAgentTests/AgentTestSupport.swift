import Deferreds
import Glibc
import Reactor
import Testing
import TestSupport

@testable import WebAgent

/// A reactor for one test, stopped by the test or, failing the test, after `limit` seconds.
func withReactor(limit: Double = 20, _ body: (EPollReactor) throws -> Void) throws {
    let timedOut = try runReactor(limit: limit, body)
    #expect(!timedOut, "the reactor was stopped by the test's time limit")
}

/// How a request ended once its body was read: its status, version and body, or its failure.
typealias ReadOutcome = Result<(code: Int, version: (String, Int, Int), body: String), Failure>

/// `deferred`'s response with its body read, as a `ReadOutcome`. A body the server ends by closing
/// (as s_server -www ends its HTTP/1.0 answers) counts as read: readBody's `PartialDownloadError`
/// holds it.
func readOutcome(of deferred: Deferred<Response>) -> Deferred<ReadOutcome> {
    deferred.addCallback { response -> Deferred<ReadOutcome> in
        readBody(response).addBoth { result -> ReadOutcome in
            switch result {
            case .success(let bytes):
                return .success((response.code, response.version, String(decoding: bytes, as: UTF8.self)))
            case .failure(let failure):
                if let partial = failure.value as? PartialDownloadError {
                    let body = String(decoding: partial.response, as: UTF8.self)
                    return .success((response.code, response.version, body))
                }
                return .failure(failure)
            }
        }
    }.addErrback { failure in .failure(failure) }
}

/// A scripted HTTP server: each connection's request bytes are collected until the blank line
/// (plus any Content-Length body), then `respond` says what raw bytes to send and whether to close.
final class ScriptedServer {
    struct Reply {
        var bytes: [UInt8]
        var close: Bool = true
    }

    private(set) var requests: [String] = []
    let respond: (String) -> Reply?
    private(set) var portNumber = 0

    /// The listening port owns the server (through its factory), so it lives as long as the reactor
    /// keeps the port.
    @discardableResult
    static func start(_ reactor: EPollReactor, respond: @escaping (String) -> Reply?) throws -> ScriptedServer {
        let server = ScriptedServer(respond: respond)
        let port = try reactor.listenTCP(0, Factory { _ in Connection(server: server) })
        server.portNumber = port.getHost().port
        return server
    }

    private init(respond: @escaping (String) -> Reply?) {
        self.respond = respond
    }

    var url: String { "http://127.0.0.1:\(portNumber)" }

    fileprivate func record(_ request: String) { requests.append(request) }

    private final class Connection: Protocol {
        unowned let server: ScriptedServer
        var buffer: [UInt8] = []
        init(server: ScriptedServer) { self.server = server }

        override func dataReceived(_ bytes: [UInt8]) {
            buffer += bytes
            while let end = headerEnd() {
                let head = String(decoding: buffer[..<end], as: UTF8.self)
                var length = 0
                for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                    length = Int(String(line.split(separator: ":")[1]).trimmingSpaces()) ?? 0
                }
                guard buffer.count >= end + 4 + length else { return }
                let request = String(decoding: buffer[..<(end + 4 + length)], as: UTF8.self)
                buffer.removeFirst(end + 4 + length)
                server.record(request)
                guard let reply = server.respond(request) else { continue }
                transport?.write(reply.bytes)
                if reply.close { transport?.loseConnection() }
            }
        }

        private func headerEnd() -> Int? {
            guard buffer.count >= 4 else { return nil }
            for index in 0...(buffer.count - 4)
            where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
                return index
            }
            return nil
        }
    }
}

func httpResponse(_ status: String = "200 OK", headers: [String] = [], body: String) -> [UInt8] {
    var head = "HTTP/1.1 \(status)\r\n"
    for header in headers { head += header + "\r\n" }
    head += "Content-Length: \(body.utf8.count)\r\n\r\n"
    return Array((head + body).utf8)
}

/// Runs `body` as a task isolated to a fresh reactor (a `ReactorHarness`), until it returns; fails
/// the test if `limit` seconds pass first. Errors the body throws fail the test.
func withReactorTask(
    limit: Double = 20, _ body: @escaping @Sendable (isolated ReactorHarness) async throws -> Void
) throws {
    let timedOut = try runReactorTask(limit: limit, body)
    #expect(!timedOut, "the reactor was stopped by the test's time limit")
}
