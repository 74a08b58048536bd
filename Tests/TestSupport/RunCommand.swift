/// Runs `path` with `arguments` to the end, its output discarded; returns its exit status (the
/// code, or 128 + the signal), nil when it cannot be started.
@discardableResult
public func runCommand(_ path: String, _ arguments: [String]) -> Int32? {
    guard let child = try? ChildProcess(path, arguments) else { return nil }
    return child.wait()
}
