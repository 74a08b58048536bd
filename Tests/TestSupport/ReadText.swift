import Glibc

/// The text of the file at `path` ("" if it cannot be read). Plain reads: Foundation's
/// `String(contentsOfFile:)` leaks a 4 KiB buffer for an empty file (swift-foundation 6.3.1),
/// which the AddressSanitizer run of the suite would report.
public func readText(_ path: String) -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = read(fd, &chunk, chunk.count)
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }
        bytes += chunk[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}
