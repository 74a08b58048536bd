/// Fuzz target: WebAgent's `ResponseParser` (the plain-HTTP/1.1 client's), fed any bytes.
///
/// Input: the first byte picks where the rest is cut in two (0: before it, 255: after it); the
/// rest is what the server sent. Seeds are in Fuzz/corpus/http-response-parser.
///
/// Invariants, for each input under three sets of options (GET with a large and a tiny header
/// limit, HEAD):
/// - the parser never crashes, and the same bytes fed whole or in two pieces give the same head,
///   body, end and error (but for bytes after the end: whole, they make the response not
///   reusable; in a second piece, they are a ParseError after a reusable end);
/// - the events come in order: at most one head, body only after it and before the end, at most
///   one end; the parser's `headReceived`, `isDone` and `isCloseDelimited` agree with them;
/// - body bytes delivered never exceed the bytes fed; a response that ends with framing
///   `.length(n)` delivered exactly n; `.none` delivered none and ended at the head; a response
///   that ends reusable was not close-delimited nor a 101, nor HTTP/1.0 with Transfer-Encoding;
/// - a body with Transfer-Encoding is chunked and lists chunked alone (anything else is refused
///   with `TransferEncodingNotSupported`);
/// - the head is well formed: HTTP/1.x, a final code (not 1xx but 101), token field names, values
///   trimmed and without CR, LF or NUL; `HeadersTooLarge` only before the head.
import FuzzSupport

@testable import WebAgent

private let optionSets: [(isHead: Bool, maxHeaderBytes: Int)] = [(false, 16384), (false, 64), (true, 256)]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPResponseParser(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = fuzzBytes(data, count)
    guard let first = input.first else { return 0 }
    let bytes = Array(input.dropFirst())
    let cut = bytes.count * Int(first) / 255
    for options in optionSets {
        let whole = parse([bytes], options)
        let split = parse([Array(bytes[..<cut]), Array(bytes[cut...])], options)
        check(whole, fed: bytes.count, options)
        check(split, fed: bytes.count, options)
        compare(whole, split, cut: cut)
    }
    return 0
}

private enum Event: Equatable {
    case head(code: Int, minor: Int, phrase: String, fields: [String], BodyFraming)
    case body([UInt8])
    case finished(reusable: Bool)
}

private final class Recorder: ResponseParserDelegate {
    var events: [Event] = []
    var heads: [ResponseHead] = []

    func parserReceivedHead(_ head: ResponseHead, framing: BodyFraming) -> Bool {
        heads.append(head)
        events.append(.head(code: head.code, minor: head.minor, phrase: head.phrase,
                            fields: head.fields.flatMap { [$0.0, $0.1] }, framing))
        return true
    }

    func parserReceivedBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        // Adjacent pieces are joined, so that how the input was cut does not show.
        if case .body(let earlier) = events.last {
            events[events.count - 1] = .body(earlier + bytes)
        } else {
            events.append(.body(Array(bytes)))
        }
        return true
    }

    func parserFinishedResponse(reusable: Bool) {
        events.append(.finished(reusable: reusable))
    }
}

private struct Outcome {
    var events: [Event]
    var heads: [ResponseHead]
    var error: (any Error)?
    var headReceived: Bool
    var isDone: Bool
    var isCloseDelimited: Bool

    var errorText: String { error.map { "\($0)" } ?? "none" }
}

private func parse(_ pieces: [[UInt8]], _ options: (isHead: Bool, maxHeaderBytes: Int)) -> Outcome {
    var parser = ResponseParser(isHeadRequest: options.isHead, maxHeaderBytes: options.maxHeaderBytes)
    let recorder = Recorder()
    var error: (any Error)?
    for piece in pieces {
        do {
            try piece.withUnsafeBytes { try parser.parse($0, recorder) }
        } catch let thrown {
            invariant(thrown is ParseError || thrown is HeadersTooLarge || thrown is TransferEncodingNotSupported,
                      "unexpected error \(thrown)")
            error = thrown
            break
        }
    }
    return Outcome(events: recorder.events, heads: recorder.heads, error: error, headReceived: parser.headReceived,
                   isDone: parser.isDone, isCloseDelimited: parser.isCloseDelimited)
}

private func check(_ outcome: Outcome, fed: Int, _ options: (isHead: Bool, maxHeaderBytes: Int)) {
    let events = outcome.events
    var framing: BodyFraming?
    var bodyBytes = 0
    var finished: Bool?
    for (index, event) in events.enumerated() {
        switch event {
        case .head(_, _, _, _, let headFraming):
            invariant(index == 0, "a head after other events: \(events)")
            framing = headFraming
        case .body(let bytes):
            invariant(framing != nil && finished == nil, "body outside head..end: \(events)")
            invariant(!bytes.isEmpty, "an empty body piece")
            bodyBytes += bytes.count
        case .finished(let reusable):
            invariant(framing != nil && finished == nil, "an end without a head, or twice: \(events)")
            finished = reusable
        }
    }
    invariant(bodyBytes <= fed, "\(bodyBytes) body bytes from \(fed) bytes fed")
    invariant(outcome.headReceived == (framing != nil), "headReceived \(outcome.headReceived) after \(events)")
    invariant(outcome.isDone == (finished != nil), "isDone \(outcome.isDone) after \(events)")
    invariant(outcome.isCloseDelimited == (framing == .untilClose && outcome.error == nil),
              "isCloseDelimited \(outcome.isCloseDelimited) with framing \(String(describing: framing))")
    if outcome.error is HeadersTooLarge {
        invariant(framing == nil, "HeadersTooLarge after the head")
    }
    if let framing, let head = outcome.heads.first {
        checkHead(head, framing, options)
        switch framing {
        case .length(let length):
            invariant(length > 0, "framing .length(0)")
            if finished != nil { invariant(bodyBytes == length, "ended with \(bodyBytes) of \(length) bytes") }
            invariant(bodyBytes <= length, "\(bodyBytes) body bytes for a length of \(length)")
        case .none:
            invariant(bodyBytes == 0, "\(bodyBytes) body bytes without a body")
            invariant(finished != nil, "no body, but no end")
        case .untilClose:
            invariant(finished == nil, "a close-delimited body ended")
        case .chunked:
            break
        }
        if finished == true {
            invariant(framing != .untilClose && head.code != 101, "reusable after \(head.code), \(framing)")
            let connection = connectionTokens(head)
            invariant(!connection.contains("close"), "reusable with Connection: close")
            invariant(head.minor >= 1 || connection.contains("keep-alive"), "reusable HTTP/1.0 without keep-alive")
            invariant(head.minor >= 1 || transferCodings(head) == nil, "reusable HTTP/1.0 with Transfer-Encoding")
        }
        // A body with Transfer-Encoding is chunked, and only chunked: anything else is refused.
        if framing != .none, let codings = transferCodings(head) {
            invariant(framing == .chunked && codings == ["chunked"],
                      "framing \(framing) with Transfer-Encoding \(codings)")
        }
    }
}

/// The Transfer-Encoding fields' codings, lower-cased (empty elements skipped), or nil without one.
private func transferCodings(_ head: ResponseHead) -> [String]? {
    let fields = head.fields.filter { asciiLowercased($0.0) == "transfer-encoding" }
    guard !fields.isEmpty else { return nil }
    return fields.flatMap { field in
        field.1.split(separator: ",").map { asciiLowercased(String($0).trimmingBlanks) }.filter { !$0.isEmpty }
    }
}

/// The Connection field's elements, lower-cased.
private func connectionTokens(_ head: ResponseHead) -> [String] {
    head.fields.filter { asciiLowercased($0.0) == "connection" }.flatMap { field in
        field.1.split(separator: ",").map { asciiLowercased(String($0).trimmingBlanks) }
    }
}

extension String {
    fileprivate var trimmingBlanks: String {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return String(text)
    }
}

private func checkHead(_ head: ResponseHead, _ framing: BodyFraming, _ options: (isHead: Bool, maxHeaderBytes: Int)) {
    invariant(head.major == 1 && (0...9).contains(head.minor), "version \(head.major).\(head.minor)")
    invariant((100...999).contains(head.code) && (head.code >= 200 || head.code == 101), "code \(head.code)")
    invariant(!head.phrase.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 },
              "phrase \(head.phrase.debugDescription)")
    for (name, value) in head.fields {
        invariant(!name.isEmpty && name.utf8.allSatisfy(isTokenByte), "field name \(name.debugDescription)")
        invariant(!value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 },
                  "field value with CR, LF or NUL: \(value.debugDescription)")
        invariant(value.utf8.first.map { $0 != 0x20 && $0 != 0x09 } ?? true
                      && value.utf8.last.map { $0 != 0x20 && $0 != 0x09 } ?? true,
                  "field value not trimmed: \(value.debugDescription)")
    }
    if options.isHead || head.code == 204 || head.code == 304 || head.code == 101 {
        invariant(framing == .none, "a \(head.code) response (HEAD: \(options.isHead)) with framing \(framing)")
    }
}

/// The same bytes whole and in two pieces: the same events and error, but for bytes after the end.
private func compare(_ whole: Outcome, _ split: Outcome, cut: Int) {
    if let error = split.error as? ParseError, error.message == "data after the end of the response" {
        // The response ended before the cut: whole, what followed only made it not reusable.
        invariant(whole.error == nil, "whole: \(whole.errorText) after the end")
        invariant(whole.events.last == .finished(reusable: false), "whole: \(whole.events) with bytes after the end")
        invariant(Array(whole.events.dropLast()) == Array(split.events.dropLast()),
                  "cut at \(cut) after the end: \(split.events) vs \(whole.events)")
        return
    }
    invariant(whole.events == split.events, "cut at \(cut): \(split.events) vs \(whole.events)")
    invariant(whole.errorText == split.errorText, "cut at \(cut): error \(split.errorText) vs \(whole.errorText)")
}
