import Testing
import URLList

/// Every event of `splitter` until it needs more input or ends.
func drain(_ splitter: inout LineSplitter) -> [LineSplitter.Event] {
    var events: [LineSplitter.Event] = []
    while true {
        let event = splitter.next()
        events.append(event)
        if event == .needMore || event == .end { return events }
    }
}

func line(_ number: Int, _ text: String) -> LineSplitter.Event {
    .line(number: number, bytes: ArraySlice(text.utf8))
}

@Suite struct LineSplitterTests {
    @Test func linesEndAtLFWithAnOptionalCRAndTheLastNeedsNone() {
        // When bytes hold LF and CR LF line ends and a last line without one, each line comes out
        // without its line end, numbered from 1, blank lines counted.
        var splitter = LineSplitter()
        splitter.feed(Array("a\r\n\nb\nc".utf8))
        #expect(drain(&splitter) == [line(1, "a"), line(2, ""), line(3, "b"), .needMore])
        splitter.finish()
        #expect(drain(&splitter) == [line(4, "c"), .end])
        #expect(splitter.next() == .end)
    }

    @Test func aLineSplitAcrossFeedsComesOutWhole() {
        // When a line arrives in pieces, nothing comes out until its LF.
        var splitter = LineSplitter()
        splitter.feed(Array("http://a.".utf8))
        #expect(splitter.next() == .needMore)
        splitter.feed(Array("test/\r".utf8))
        #expect(splitter.next() == .needMore)
        splitter.feed(Array("\n".utf8))
        #expect(splitter.next() == line(1, "http://a.test/"))
    }

    @Test func aLineOverTheLimitIsReportedByNumberAndDropped() {
        // When a line passes maxLineBytes, it is reported as tooLong, its bytes are not kept, and the
        // next line is read as usual.
        var splitter = LineSplitter(maxLineBytes: 8)
        splitter.feed(Array("short\n".utf8))
        for _ in 0..<100 { splitter.feed(Array("0123456789".utf8)) }
        #expect(splitter.next() == line(1, "short"))
        #expect(splitter.next() == .needMore)
        #expect(splitter.bufferedByteCount <= 8 + 10)
        splitter.feed(Array("\nnext\n".utf8))
        #expect(drain(&splitter) == [.tooLong(number: 2), line(3, "next"), .needMore])
    }

    @Test func anEmptyInputHasNoLines() {
        // When the input is empty, the first event after finish is the end.
        var splitter = LineSplitter()
        #expect(splitter.next() == .needMore)
        splitter.finish()
        #expect(splitter.next() == .end)
        #expect(splitter.lineNumber == 0)
    }

    @Test func theLimitHoldsWhetherALongLineArrivesInOnePieceOrMany() {
        // When a line over the limit arrives whole with its LF (found by fuzz-url-list: it came out
        // as a line), it is tooLong, exactly as when it arrives in pieces; a line of exactly the
        // limit followed by CR LF is a line either way.
        let input = Array("http://a.test/\n0123\r\n01234\n".utf8)
        var whole = LineSplitter(maxLineBytes: 4)
        whole.feed(input)
        whole.finish()
        var byteByByte = LineSplitter(maxLineBytes: 4)
        var events: [LineSplitter.Event] = []
        for byte in input {
            byteByByte.feed([byte])
            events += drain(&byteByByte)
        }
        byteByByte.finish()
        events += drain(&byteByByte)
        let expected: [LineSplitter.Event] = [.tooLong(number: 1), line(2, "0123"), .tooLong(number: 3), .end]
        #expect(drain(&whole) == expected)
        #expect(events.filter { $0 != .needMore } == expected)
    }
}
