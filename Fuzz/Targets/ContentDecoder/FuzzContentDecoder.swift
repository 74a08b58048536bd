/// Fuzz target: `ContentDecoderAgent`'s decoding of a response body through a chain of codings.
///
/// Input: the first byte is how many `Content-Encoding` names follow (mod 9); each of the next bytes
/// picks one (`gzip`, `deflate`, `x-gzip`, `identity`, `br`, ` GZIP `, an empty one, `Deflate`);
/// the byte after them says where the body is cut in two (0: before it, 255: after it); the rest
/// is the body as received. Seeds are in Fuzz/corpus/content-decoder (real stacks of 1 to 6 gzip
/// and deflate layers, a bomb, corrupt and truncated data).
///
/// Invariants, for the body fed whole and in two pieces:
/// - more than `ContentDecoderAgent.maxCodings` codings to undo fail at once with `ResponseFailed`
///   holding a `ContentDecodingError`, and the original body is never started; otherwise decoding
///   never throws, and what is left of `Content-Encoding` is the names not undone, joined by `,`;
/// - the body protocol gets `makeConnection` first, then data, then exactly one `connectionLost`:
///   `ResponseDone`, or `ResponseFailed` holding `ContentDecodingError` or `BodyTooLarge`;
/// - no decoded piece is empty or over 64 KiB, and the decoded bytes never pass `maxBodyBytes`;
/// - the same ending and decoded bytes whole or cut; but when the body fails both ways, the bytes
///   decoded before the failure may stop at another piece (one is the start of the other), and
///   the fault seen first may differ (corrupt data further on, or the limit reached before it).
import FuzzSupport
import Deferreds
import Reactor

@testable import WebAgent

private let names = ["gzip", "deflate", "x-gzip", "identity", "br", " GZIP ", "", "Deflate"]
private let maxBodyBytes = 1 << 20

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzContentDecoder(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = fuzzBytes(data, count)
    guard let first = input.first else { return 0 }
    let listed = Int(first) % 9
    guard input.count >= 2 + listed else { return 0 }
    let codings = input[1..<(1 + listed)].map { names[Int($0) % names.count] }
    let body = Array(input[(2 + listed)...])
    let cut = body.count * Int(input[1 + listed]) / 255

    let whole = decode(codings, [body])
    let split = decode(codings, [Array(body[..<cut]), Array(body[cut...])])
    if whole.ending == "done" || whole.ending == "too many codings" || split.ending == "done"
        || split.ending == "too many codings" {
        invariant(whole.ending == split.ending, "cut at \(cut): ended \(split.ending) vs \(whole.ending), \(codings)")
        invariant(whole.bytes == split.bytes,
                  "cut at \(cut): \(split.bytes.count) decoded bytes vs \(whole.bytes.count) whole, \(codings)")
    } else {
        // Both failed. A failure stops at the piece that fails, and pieces follow the input's cuts:
        // one outcome's bytes are the start of the other's, and which fault shows first (bad data
        // further on, or the limit reached by what came before it) may differ.
        let shorter = min(whole.bytes.count, split.bytes.count)
        invariant(whole.bytes.prefix(shorter) == split.bytes.prefix(shorter),
                  "cut at \(cut): decoded bytes differ before \(whole.ending), \(codings)")
    }
    return 0
}

/// What one decoding showed: the decoded bytes and how the body ended (a type name).
private struct Outcome {
    var bytes: [UInt8] = []
    var ending = "none"
}

/// The expected split of `codings`: how many would be undone (from the end, until one that is not
/// gzip or deflate; identity and empty names skipped), and the names left, trimmed.
private func expected(_ codings: [String]) -> (undo: Int, left: [String]) {
    var left = codings.map { $0.trimmingCharacters(in: " ") }.filter { !$0.isEmpty }
    var undo = 0
    while let last = left.last {
        let name = asciiLowercased(last)
        if name != "identity" {
            guard ["gzip", "x-gzip", "deflate"].contains(name) else { break }
            undo += 1
        }
        left.removeLast()
    }
    return (undo, left)
}

private func decode(_ codings: [String], _ pieces: [[UInt8]]) -> Outcome {
    let source = PiecesBody(pieces)
    var headers = Headers()
    if !codings.isEmpty { headers.setRawHeaders("Content-Encoding", [codings.joined(separator: ",")]) }
    let request = Request(method: "GET", absoluteURI: "http://fuzz.test/", headers: Headers())
    var outcome = Outcome()
    let (undo, left) = expected(codings)
    let decoded: Response
    do {
        let original = Response(version: ("HTTP", 1, 1), code: 200, phrase: "OK", headers: headers,
                                length: nil, request: request, body: source)
        decoded = try ContentDecoderAgent.decoding(original, [.gzip, .deflate], maxBodyBytes: maxBodyBytes)
    } catch {
        invariant(undo > ContentDecoderAgent.maxCodings, "\(undo) codings to undo failed: \(error)")
        let failed = error as? ResponseFailed
        invariant(failed?.reasons.first?.check(ContentDecodingError.self) != nil, "failed with \(error)")
        invariant(!source.started, "the original body was started before failing")
        outcome.ending = "too many codings"
        return outcome
    }
    invariant(undo <= ContentDecoderAgent.maxCodings, "\(undo) codings to undo were accepted")
    if undo == 0 {
        invariant(decoded.bodySource === source, "a response with nothing to undo was wrapped")
    } else {
        let header = decoded.headers.getRawHeaders("Content-Encoding")
        invariant(header == (left.isEmpty ? nil : [left.joined(separator: ",")]),
                  "Content-Encoding \(String(describing: header)) for \(codings)")
        invariant(decoded.length == nil, "a decoded response with a length")
    }
    let recorder = Recorder()
    decoded.deliverBody(recorder)
    invariant(recorder.endings.count == 1, "\(recorder.endings.count) endings")
    invariant(recorder.connected, "no makeConnection")
    invariant(recorder.bytes.count <= maxBodyBytes || undo == 0, "\(recorder.bytes.count) bytes past the limit")
    outcome.bytes = recorder.bytes
    let reason = recorder.endings[0]
    if reason.check(ResponseDone.self) != nil {
        outcome.ending = "done"
    } else if let failed = reason.value as? ResponseFailed, let inner = failed.reasons.first {
        invariant(undo > 0, "an undecoded body failed: \(reason)")
        invariant(inner.check(ContentDecodingError.self, BodyTooLarge.self) != nil, "failed with \(inner)")
        outcome.ending = String(describing: type(of: inner.value))
    } else {
        invariant(false, "ended with \(reason)")
    }
    return outcome
}

/// A body that hands its pieces over at once, then `ResponseDone`; stopping it ends it with
/// `CancelledError`, as a transfer does.
private final class PiecesBody: ResponseBody {
    private let pieces: [[UInt8]]
    private(set) var started = false
    private var ended = false
    private weak var receiver: Protocol?

    init(_ pieces: [[UInt8]]) { self.pieces = pieces }

    override func start(_ protocolHandler: Protocol) {
        started = true
        receiver = protocolHandler
        let nowhere = Address(family: .ipv4, host: "", port: 0)
        protocolHandler.makeConnection(BodyTransport(
            pause: {}, resume: {}, stop: { [weak self] in self?.end(Failure(CancelledError())) },
            peer: { nowhere }, host: { nowhere }))
        for piece in pieces where !piece.isEmpty {
            guard !ended else { return }
            protocolHandler.dataReceived(piece)
        }
        end(Failure(ResponseDone()))
    }

    private func end(_ reason: Failure) {
        guard !ended else { return }
        ended = true
        receiver?.connectionLost(reason)
    }
}

private final class Recorder: Protocol {
    var connected = false
    var bytes: [UInt8] = []
    var endings: [Failure] = []

    override func makeConnection(_ transport: any Transport) {
        super.makeConnection(transport)
        connected = true
    }

    override func dataReceived(_ data: [UInt8]) {
        invariant(connected && endings.isEmpty, "data outside makeConnection..connectionLost")
        invariant(!data.isEmpty && data.count <= 65_536, "a decoded piece of \(data.count) bytes")
        bytes += data
    }

    override func connectionLost(_ reason: Failure) {
        endings.append(reason)
    }
}

extension String {
    fileprivate func trimmingCharacters(in blank: Character) -> String {
        var text = Substring(self)
        while text.first == blank { text.removeFirst() }
        while text.last == blank { text.removeLast() }
        return String(text)
    }
}
