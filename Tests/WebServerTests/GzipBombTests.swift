import Testing

@testable import WebServer

@Suite struct GzipBombTests {
    @Test func theMemberIsGzipOfOneMebibyteOfZeros() {
        // When the member's header and trailer are read, it is a deflate gzip member whose CRC-32 and
        // length are those of 1 MiB of zeros, in 1,051 bytes (the ratio is about 1,000 to 1).
        let member = GzipBomb.member
        #expect(member.count == 1051)
        #expect(Array(member.prefix(3)) == [0x1F, 0x8B, 0x08])
        let trailer = Array(member.suffix(8))
        let crc = trailer[0..<4].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let size = trailer[4..<8].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        #expect(crc == Gzip.crc32([UInt8](repeating: 0, count: GzipBomb.memberInflatedSize)))
        #expect(Int(size) == GzipBomb.memberInflatedSize)
    }

    @Test func theRouteStreamsMembersWithContentEncodingGzip() throws {
        // When a client asks /fault/gzip-bomb?mib=3, the body is the member three times, with
        // Content-Encoding: gzip and its exact Content-Length.
        var response: TestResponse?
        try withServer { server, reactor, finish in
            let request = "GET /fault/gzip-bomb?mib=3 HTTP/1.1\r\nHost: t\r\n\r\n"
            _ = exchange(reactor, server, request).addCallback { result, _ in
                response = result.first
                finish()
            }
        }
        #expect(response?.status == 200)
        #expect(response?.headers["Content-Encoding"] == "gzip")
        #expect(response?.headers["Content-Length"] == String(3 * 1051))
        #expect(response?.body == GzipBomb.member + GzipBomb.member + GzipBomb.member)
    }
}
