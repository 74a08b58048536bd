import Glibc
import Testing

@testable import WebServer

@Suite struct GzipTests {
    @Test func crc32MatchesKnownValues() {
        // When the CRC-32 of the standard check string is computed, it is 0xCBF43926 (and 0 for
        // no bytes), and it agrees with a bit-by-bit computation.
        #expect(Gzip.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(Gzip.crc32([UInt8]()) == 0)
        let bytes = WebServer.patternBytes(count: 100_000)
        #expect(Gzip.crc32(bytes) == bitwiseCRC32(bytes))
        #expect(Gzip.crc32(bytes[50_000...], continuing: Gzip.crc32(bytes[..<50_000])) == bitwiseCRC32(bytes))
    }

    @Test(arguments: [0, 1, 100, 65_535, 65_536, 200_000])
    func compressOutputDecodesToTheInput(size: Int) throws {
        // When bytes are gzip-compressed, the output has the gzip header, valid stored blocks, a
        // trailer with the right CRC-32 and length, and the size compressedSize predicts.
        let input = WebServer.patternBytes(count: size, offset: 7)
        let output = Gzip.compress(input)
        #expect(Array(output.prefix(3)) == [0x1F, 0x8B, 8])
        #expect(output.count == Gzip.compressedSize(ofLength: size))
        #expect(try gunzipStored(output) == input)
    }

    @Test func streamingEncoderOutputDecodesToTheConcatenatedParts() throws {
        // When parts of many sizes (some empty) are encoded one by one and finished, the joined
        // output is one valid gzip member holding all parts in order.
        var encoder = GzipEncoder()
        var output: [UInt8] = []
        var input: [UInt8] = []
        for (index, size) in [0, 5, 70_000, 0, 1, 65_535, 3].enumerated() {
            let part = WebServer.patternBytes(count: size, offset: index)
            input += part
            output += encoder.encode(part)
        }
        output += encoder.finish()
        #expect(try gunzipStored(output) == input)
    }

    @Test func corruptingTheOutputIsDetected() throws {
        // When one body byte of a gzip member is changed, the independent decoder reports a CRC
        // mismatch (so the checks above can fail).
        var output = Gzip.compress(Array("hello, gzip".utf8))
        output[16] ^= 0x01
        #expect(throws: GunzipError.self) { try gunzipStored(output) }
    }

    @Test(.enabled(if: access("/bin/gzip", X_OK) == 0, "needs /bin/gzip"))
    func systemGzipAcceptsTheOutput() throws {
        // When /bin/gzip tests a member written by the encoder, it exits 0; for a corrupted one it
        // exits non-zero.
        let good = Gzip.compress(WebServer.patternBytes(count: 150_000))
        var bad = good
        bad[bad.count - 9] ^= 0xFF
        #expect(try gzipTest(good) == 0)
        #expect(try gzipTest(bad) != 0)
    }
}

/// Writes `bytes` to a temporary file and runs `/bin/gzip -t` on it; returns the exit status.
private func gzipTest(_ bytes: [UInt8]) throws -> Int32 {
    var template = Array("/tmp/webserver-gzip-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else { throw GunzipError("mkstemp failed") }
    let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    defer { unlink(path) }
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    guard written == bytes.count else { throw GunzipError("short write") }

    let devNull = open("/dev/null", O_WRONLY)
    defer { close(devNull) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, devNull, 1)
    posix_spawn_file_actions_adddup2(&actions, devNull, 2)
    let arguments: [UnsafeMutablePointer<CChar>?] = ["gzip", "-t", path].map { (text: String) in strdup(text) } + [nil]
    defer { for pointer in arguments { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, "/bin/gzip", &actions, nil, arguments, environ)
    guard spawned == 0 else { throw GunzipError("posix_spawn failed: \(spawned)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    // WIFEXITED / WEXITSTATUS
    return status & 0x7F == 0 ? (status >> 8) & 0xFF : -1
}
