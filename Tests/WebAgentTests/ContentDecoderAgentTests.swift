import Deferreds
import Reactor
import Testing
import WebServer

@testable import WebAgent

@Suite struct ContentDecoderAgentTests {
    /// Serves `body` with `headers` to every request; returns the response, its read body and the server.
    private func fetch(_ headers: [String], _ body: [UInt8], chunkSize: Int? = nil, method: String = "GET",
                       agent makeAgent: (EPollReactor) -> any AgentProtocol = { ContentDecoderAgent(Agent($0)) })
        throws -> (response: Response?, body: Result<[UInt8], Failure>?, server: ScriptedServer?)
    {
        var response: Response?
        var outcome: Result<[UInt8], Failure>?
        var server: ScriptedServer?
        try withReactor { reactor in
            server = try ScriptedServer.start(reactor) { _ in
                .init(bytes: rawResponse(headers: headers, body: body, chunkSize: chunkSize))
            }
            let d = makeAgent(reactor).request(method, server!.url + "/")
                .addCallback { r -> Deferred<[UInt8]> in
                    response = r
                    return readBody(r)
                }
            stopAfter(d, reactor) { outcome = $0 }
        }
        return (response, outcome, server)
    }

    /// Serves `body` with `headers` through a ContentDecoderAgent to a `BodyRecorder` that pauses
    /// after each piece; returns the response and the recorder once the body has ended.
    private func fetchPausing(_ headers: [String], _ body: [UInt8], chunkSize: Int? = nil)
        throws -> (response: Response?, recorder: BodyRecorder?)
    {
        var response: Response?
        var recorder: BodyRecorder?
        try withReactor { reactor in
            let server = try ScriptedServer.start(reactor) { _ in
                .init(bytes: rawResponse(headers: headers, body: body, chunkSize: chunkSize))
            }
            _ = ContentDecoderAgent(Agent(reactor)).request("GET", server.url).addCallback { r -> Deferred<Void> in
                response = r
                recorder = BodyRecorder(pausingOn: reactor)
                r.deliverBody(recorder!)
                return recorder!.done
            }.addBoth { _ in reactor.stop() }
        }
        return (response, recorder)
    }

    @Test func decodesGzipWithContentLength() throws {
        // When a response is gzip-encoded with a Content-Length, the body is decoded and the headers say so.
        let (response, body, server) = try fetch(["Content-Encoding: gzip", "Content-Type: text/plain"],
                                                 CompressedFixtures.textGzip)
        #expect(body?.successValue == CompressedFixtures.text)
        #expect(response?.headers.hasHeader("Content-Encoding") == false)
        #expect(response?.headers.getRawHeaders("Content-Type") == ["text/plain"])
        #expect(response?.length == nil)
        #expect(response?.code == 200)
        #expect(requestHeader(try #require(server?.requests.first), "Accept-Encoding") == "gzip, deflate")
    }

    @Test func decodesChunkedGzipAcrossManyChunks() throws {
        // When a large gzip body arrives chunked to a protocol that pauses after each piece, it is decoded
        // in order, in pieces of at most 64 KiB, none while paused.
        let plain = patternBytes(700_000)
        let (response, recorder) = try fetchPausing(["Content-Encoding: gzip"], StoredDeflate.gzip(plain),
                                                    chunkSize: 10_000)
        let decodedAll = recorder?.bytes == plain
        #expect(decodedAll)
        #expect(recorder?.chunks.allSatisfy { $0.count <= 65_536 } == true)
        #expect(recorder?.receivedWhilePaused == 0)
        #expect(recorder?.reason?.check(ResponseDone.self) != nil)
        #expect(response?.length == nil)
    }

    @Test func decodesDeflateInZlibAndRawForms() throws {
        // When a response is deflate-encoded, both the zlib format and raw deflate are decoded.
        for encoded in [CompressedFixtures.textZlib, CompressedFixtures.textRawDeflate, StoredDeflate.zlib(CompressedFixtures.text)] {
            let (response, body, _) = try fetch(["Content-Encoding: deflate"], encoded, chunkSize: 17)
            #expect(body?.successValue == CompressedFixtures.text)
            #expect(response?.headers.hasHeader("Content-Encoding") == false)
        }
    }

    @Test func decodesXGzipAndStackedCodings() throws {
        // When Content-Encoding is x-gzip, or deflate then gzip, every coding is undone.
        let (_, alias, _) = try fetch(["Content-Encoding: x-gzip"], CompressedFixtures.textGzip)
        #expect(alias?.successValue == CompressedFixtures.text)
        let (stackedResponse, stacked, _) = try fetch(["Content-Encoding: deflate, gzip"],
                                                      StoredDeflate.gzip(CompressedFixtures.textZlib), chunkSize: 50)
        #expect(stacked?.successValue == CompressedFixtures.text)
        #expect(stackedResponse?.headers.hasHeader("Content-Encoding") == false)
    }

    @Test func unknownCodingStopsDecodingAndStaysInTheHeader() throws {
        // When the outermost coding is unknown the body passes untouched; when an inner one is, it stays.
        let raw: [UInt8] = [1, 2, 3, 4]
        let (response, body, _) = try fetch(["Content-Encoding: br"], raw)
        #expect(body?.successValue == raw)
        #expect(response?.headers.getRawHeaders("Content-Encoding") == ["br"])
        #expect(response?.length == 4)
        let (inner, innerBody, _) = try fetch(["Content-Encoding: br, gzip"], StoredDeflate.gzip(raw))
        #expect(innerBody?.successValue == raw)
        #expect(inner?.headers.getRawHeaders("Content-Encoding") == ["br"])
    }

    @Test func leftoverCodingsAreJoinedByABareComma() throws {
        // When codings are left undecoded, Content-Encoding lists them joined by "," as Twisted does.
        let raw: [UInt8] = [5, 6, 7]
        let (response, body, _) = try fetch(["Content-Encoding: br, x-custom, gzip"], StoredDeflate.gzip(raw))
        #expect(body?.successValue == raw)
        #expect(response?.headers.getRawHeaders("Content-Encoding") == ["br,x-custom"])
    }

    @Test func fiveStackedGzipLayersAreDecoded() throws {
        // When a body is gzip-coded five times (curl's limit), every layer is undone, whether it comes
        // in small chunks or is one that inflates 1 KiB to 1 MiB at the innermost layer.
        let five = Array(repeating: "gzip", count: 5).joined(separator: ", ")
        var text = CompressedFixtures.text
        for _ in 0..<5 { text = StoredDeflate.gzip(text) }
        let (response, body, _) = try fetch(["Content-Encoding: \(five)"], text, chunkSize: 7)
        #expect(body?.successValue == CompressedFixtures.text)
        #expect(response?.headers.hasHeader("Content-Encoding") == false)

        var bomb = CompressedFixtures.megabyteOfZerosGzip
        for _ in 0..<4 { bomb = StoredDeflate.gzip(bomb) }
        let recorder = try fetchPausing(["Content-Encoding: \(five)"], bomb, chunkSize: 13).recorder
        let chunks = try #require(recorder?.chunks)
        #expect(chunks.reduce(0) { $0 + $1.count } == 1 << 20)
        #expect(chunks.allSatisfy { $0.count <= 65_536 && $0.allSatisfy { $0 == 0 } })
        #expect(recorder?.receivedWhilePaused == 0)
        #expect(recorder?.reason?.check(ResponseDone.self) != nil)
    }

    @Test func sixStackedCodingsFailWithContentDecodingError() throws {
        // When Content-Encoding lists six codings to undo, the request fails with ResponseFailed
        // holding a ContentDecodingError instead of decoding them.
        var text = CompressedFixtures.text
        for _ in 0..<6 { text = StoredDeflate.gzip(text) }
        let six = Array(repeating: "gzip", count: 6).joined(separator: ", ")
        let (response, body, _) = try fetch(["Content-Encoding: \(six)"], text)
        #expect(response == nil)
        let failed = try #require(body?.failureValue?.value as? ResponseFailed)
        let error = try #require(failed.reasons.first?.value as? ContentDecodingError)
        #expect(error.coding == "gzip")
        // identity adds no layer: five gzips among identities are still decoded.
        var five = CompressedFixtures.text
        for _ in 0..<5 { five = StoredDeflate.gzip(five) }
        let (_, identities, _) = try fetch(["Content-Encoding: gzip, identity, gzip, gzip, identity, gzip, gzip"], five)
        #expect(identities?.successValue == CompressedFixtures.text)
    }

    @Test func twelveThousandListedCodingsFailBeforeAnyDecoderIsMade() throws {
        // When a response lists 12,000 gzips, decoding fails at the sixth name: the original body is
        // never started and is released (aborting its transfer), so no decoder or buffer was made.
        final class Probe: ResponseBody {
            var started = false
            var released = false
            override func start(_ protocolHandler: Protocol) { started = true }
            override func responseReleased() { released = true }
        }
        let probe = Probe()
        let listed = Array(repeating: "gzip", count: 12_000).joined(separator: ",")
        var original: Response? = Response(
            version: ("HTTP", 1, 1), code: 200, phrase: "OK", headers: Headers(["Content-Encoding": [listed]]),
            length: 3, request: Request(method: "GET", absoluteURI: "http://x.test/", headers: Headers()), body: probe)
        var thrown: (any Error)?
        do {
            _ = try ContentDecoderAgent.decoding(original!, [.gzip])
        } catch {
            thrown = error
        }
        original = nil
        let failed = try #require(thrown as? ResponseFailed)
        #expect(failed.reasons.first?.check(ContentDecodingError.self) != nil)
        #expect(failed.response == nil)
        #expect(!probe.started)
        #expect(probe.released)
        // And through the agent, from a server.
        let (response, body, _) = try fetch(["Content-Encoding: \(listed)"], CompressedFixtures.textGzip)
        #expect(response == nil)
        let agentFailed = try #require(body?.failureValue?.value as? ResponseFailed)
        #expect(agentFailed.reasons.first?.check(ContentDecodingError.self) != nil)
    }

    @Test func bytesAfterTheEndAreIgnoredWhateverTheCuts() throws {
        // When junk follows a gzip member, what follows it is ignored even if it arrives in a later
        // chunk and looks like another member (found by fuzz-content-decoder: cut after the junk, a
        // corrupt "member" after it failed the body that arrived whole had ended fine).
        var corruptMember = StoredDeflate.gzip(Array("second".utf8))
        corruptMember[12] ^= 0xFF
        let body = CompressedFixtures.textGzip + [0x4C, 0xCE] + corruptMember
        for chunkSize in [nil, CompressedFixtures.textGzip.count + 2, 1] {
            let (_, decoded, _) = try fetch(["Content-Encoding: gzip"], body, chunkSize: chunkSize)
            #expect(decoded?.successValue == CompressedFixtures.text, "chunks of \(String(describing: chunkSize))")
        }
    }

    @Test func corruptGzipFailsWithResponseFailed() throws {
        // When gzip data is corrupt, the body ends with ResponseFailed holding a ContentDecodingError.
        var corrupt = CompressedFixtures.textGzip
        corrupt[20] ^= 0xFF
        corrupt[21] ^= 0x55
        let (_, body, _) = try fetch(["Content-Encoding: gzip"], corrupt)
        let failed = try #require(body?.failureValue?.value as? ResponseFailed)
        #expect(failed.reasons.first?.check(ContentDecodingError.self) != nil)
        #expect(failed.response?.code == 200)
        let (_, notGzip, _) = try fetch(["Content-Encoding: gzip"], Array("plain text".utf8))
        let notGzipFailed = try #require(notGzip?.failureValue?.value as? ResponseFailed)
        #expect(notGzipFailed.reasons.first?.check(ContentDecodingError.self) != nil)
    }

    @Test func truncatedGzipFailsWithResponseFailed() throws {
        // When the body ends inside the gzip stream, it fails instead of ending quietly.
        let truncated = Array(StoredDeflate.gzip(patternBytes(5_000)).dropLast(100))
        let (_, body, _) = try fetch(["Content-Encoding: gzip"], truncated, chunkSize: 1_000)
        let failed = try #require(body?.failureValue?.value as? ResponseFailed)
        let error = try #require(failed.reasons.first?.value as? ContentDecodingError)
        #expect(error.coding == "gzip")
    }

    @Test func decompressionBombIsDeliveredInBoundedPiecesHonouringPauses() throws {
        // When 1 KiB of gzip inflates to 1 MiB and the protocol pauses after each piece, it gets every
        // byte in pieces of at most 64 KiB, one per resume.
        let recorder = try fetchPausing(["Content-Encoding: gzip"], CompressedFixtures.megabyteOfZerosGzip).recorder
        let chunks = try #require(recorder?.chunks)
        #expect(chunks.reduce(0) { $0 + $1.count } == 1 << 20)
        #expect(chunks.allSatisfy { $0.count <= 65_536 && $0.allSatisfy { $0 == 0 } })
        #expect(chunks.count >= 16)
        #expect(recorder?.receivedWhilePaused == 0)
        #expect(recorder?.reason?.check(ResponseDone.self) != nil)
    }

    @Test func maxBodyBytesCutsADecompressionBombShort() throws {
        // When a gzip body would inflate past maxBodyBytes (64 MiB of zeros from the server's gzip
        // bomb, a limit of 1 MiB), the protocol gets no more than the limit, then ResponseFailed
        // holding BodyTooLarge; the bytes on the wire (66 KiB) were nowhere near the limit.
        var recorder: BodyRecorder?
        try withServer { reactor, server in
            _ = ContentDecoderAgent(Agent(reactor), maxBodyBytes: 1 << 20)
                .request("GET", server.url("/fault/gzip-bomb?mib=64"))
                .addCallback { response -> Deferred<Void> in
                    recorder = BodyRecorder()
                    response.deliverBody(recorder!)
                    return recorder!.done
                }.addBoth { _ in reactor.stop() }
        }
        let received = recorder?.chunks.reduce(0) { $0 + $1.count } ?? -1
        #expect(received <= 1 << 20 && received > (1 << 20) - 65_536, "\(received)")
        #expect(recorder?.chunks.allSatisfy { $0.allSatisfy { $0 == 0 } } == true)
        let failed = try #require(recorder?.reason?.value as? ResponseFailed, "\(String(describing: recorder?.reason))")
        #expect((failed.reasons.first?.value as? BodyTooLarge)?.limit == 1 << 20)
    }

    @Test func withoutALimitTheBombInflatesWhole() throws {
        // When no maxBodyBytes is set, the same body inflates whole (here 16 MiB of zeros), in pieces
        // of at most 64 KiB: the limit above is what stopped it.
        final class Counter: Protocol {
            var count = 0
            var largest = 0
            var reason: Failure?
            let done = Deferred<Void>()
            override func dataReceived(_ bytes: [UInt8]) {
                count += bytes.count
                largest = max(largest, bytes.count)
            }
            override func connectionLost(_ reason: Failure) {
                self.reason = reason
                done.callback(())
            }
        }
        let counter = Counter()
        try withServer { reactor, server in
            _ = ContentDecoderAgent(Agent(reactor)).request("GET", server.url("/fault/gzip-bomb?mib=16"))
                .addCallback { response -> Deferred<Void> in
                    response.deliverBody(counter)
                    return counter.done
                }.addBoth { _ in reactor.stop() }
        }
        #expect(counter.count == 16 << 20)
        #expect(counter.largest <= 65_536)
        #expect(counter.reason?.check(ResponseDone.self) != nil)
    }

    @Test func stoppingTheTransportStopsTheTransfer() throws {
        // When the body protocol stops producing, it gets ResponseFailed (holding ConnectionAborted,
        // as without the decoder) and no more data.
        final class Stopper: Protocol {
            var received = 0
            var reason: Failure?
            let done = Deferred<Void>()
            override func dataReceived(_ bytes: [UInt8]) {
                received += bytes.count
                transport?.stopProducing()
            }
            override func connectionLost(_ reason: Failure) {
                self.reason = reason
                done.callback(())
            }
        }
        var stopper: Stopper?
        try withReactor { reactor in
            let server = try ScriptedServer.start(reactor) { _ in
                .init(bytes: rawResponse(headers: ["Content-Encoding: gzip"], body: CompressedFixtures.megabyteOfZerosGzip))
            }
            _ = ContentDecoderAgent(Agent(reactor)).request("GET", server.url).addCallback { r -> Deferred<Void> in
                stopper = Stopper()
                r.deliverBody(stopper!)
                return stopper!.done
            }.addBoth { _ in reactor.stop() }
        }
        #expect(stopper?.received == 65_536)
        #expect((stopper?.reason?.value as? ResponseFailed)?.reasons.first?.value is ConnectionAborted)
    }

    @Test func headAndUnencodedResponsesPassThrough() throws {
        // When the request is a HEAD, or the response has no Content-Encoding, the response is not wrapped.
        let (head, _, _) = try fetch(["Content-Encoding: gzip"], [], method: "HEAD")
        #expect(head?.headers.getRawHeaders("Content-Encoding") == ["gzip"])
        let (plain, body, _) = try fetch([], Array("plain".utf8))
        #expect(body?.successValue == Array("plain".utf8))
        #expect(plain?.length == 5)
    }

    @Test func addsToTheCallersAcceptEncodingAndHonoursTheCodingsChosen() throws {
        // When only gzip is chosen, only gzip is offered, after the caller's own Accept-Encoding, and
        // a deflate body is left alone.
        var server: ScriptedServer?
        var response: Response?
        try withReactor { reactor in
            server = try ScriptedServer.start(reactor) { _ in
                .init(bytes: rawResponse(headers: ["Content-Encoding: deflate"], body: CompressedFixtures.textZlib))
            }
            let agent = ContentDecoderAgent(Agent(reactor), codings: [.gzip])
            stopAfter(agent.request("GET", server!.url, Headers(["Accept-Encoding": ["br"]])), reactor) {
                response = $0.successValue
            }
        }
        let request = try #require(server?.requests.first)
        #expect(request.contains("Accept-Encoding: br\r\nAccept-Encoding: gzip\r\n"))
        #expect(response?.headers.getRawHeaders("Content-Encoding") == ["deflate"])
    }

    @Test func droppingTheDecodedResponseUnreadReleasesTheOriginal() throws {
        // When the decoded response is dropped without deliverBody, the original body is released too.
        final class Probe: ResponseBody {
            var released = false
            override func responseReleased() { released = true }
        }
        let probe = Probe()
        var original: Response? = Response(
            version: ("HTTP", 1, 1), code: 200, phrase: "OK", headers: Headers(["Content-Encoding": ["gzip"]]),
            length: 3, request: Request(method: "GET", absoluteURI: "http://x.test/", headers: Headers()), body: probe)
        var decoded: Response? = try ContentDecoderAgent.decoding(original!, [.gzip])
        original = nil
        #expect(!probe.released)
        #expect(decoded !== nil)
        decoded = nil
        #expect(probe.released)
    }
}
