import Glibc

/// The file descriptors the process has open, read from `/proc/self/fd`: for the soak test's
/// check that a long run leaks none.
///
/// With the environment variable `GETPAGE_DEBUG_FDS` set, getpage takes a snapshot before the
/// downloads start and another once the reactor has stopped — when every connection, the
/// connection pool (and libcurl's multi handle, after https) have been closed — and reports both on standard
/// error, with what each descriptor left over points to:
///
/// ```
/// getpage: descriptors: 6 open before the downloads, 6 after the reactor stopped
/// ```
struct OpenDescriptors {
    /// Descriptor number → what `/proc/self/fd/N` links to (`socket:[1234]`, `anon_inode:[eventpoll]`…).
    let targets: [Int32: String]

    /// The descriptors open now (not counting the one used to list them).
    static func snapshot() -> OpenDescriptors {
        guard let directory = opendir("/proc/self/fd") else { return OpenDescriptors(targets: [:]) }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var targets: [Int32: String] = [:]
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                // Up to the NUL only: glibc packs entries, so the 256 bytes d_name declares can
                // run past the end of the directory buffer.
                $0.withMemoryRebound(to: CChar.self, capacity: 1) { String(cString: $0) }
            }
            guard let fd = Int32(name), fd != own else { continue }
            var link = [CChar](repeating: 0, count: 4096)
            let count = readlink("/proc/self/fd/\(name)", &link, link.count)
            targets[fd] = count > 0 ? String(decoding: link[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
        }
        return OpenDescriptors(targets: targets)
    }

    /// Whether `GETPAGE_DEBUG_FDS` asks for the report.
    static var requested: Bool { getenv("GETPAGE_DEBUG_FDS") != nil }

    /// The report line(s) comparing `self` (taken at the start) with `end`.
    func report(end: OpenDescriptors) -> String {
        var text = "getpage: descriptors: \(targets.count) open before the downloads, "
            + "\(end.targets.count) after the reactor stopped"
        let added = end.targets.filter { targets[$0.key] != $0.value }.sorted { $0.key < $1.key }
        if !added.isEmpty {
            text += "\ngetpage: descriptors left open: "
                + added.prefix(20).map { "\($0.key) -> \($0.value)" }.joined(separator: ", ")
                + (added.count > 20 ? ", …" : "")
        }
        return text
    }
}
