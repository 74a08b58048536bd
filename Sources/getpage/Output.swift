import Glibc

/// Standard output and standard error, with a one-line progress display on a terminal.
///
/// Standard output is buffered (flushed at each newline on a terminal, else when 64 KiB have
/// piled up, and by `flush()`); standard error is written at once. Before anything is written to
/// the terminal that shows the progress line, the line is erased; the next `showProgress` draws it
/// again. Writes use `write(2)`, not the C `stdout` stream, so no global C state is shared.
final class Output {
    private var buffer: [UInt8] = []
    private let stdoutIsTerminal: Bool
    private let stderrIsTerminal: Bool
    /// Whether the progress line is on screen now.
    private var progressShown = false
    /// Called once when standard output is gone (a closed pipe) or fails.
    var onBrokenOutput: (String) -> Void = { _ in }
    private var broken = false

    init() {
        stdoutIsTerminal = isatty(1) == 1
        stderrIsTerminal = isatty(2) == 1
    }

    var isErrorTerminal: Bool { stderrIsTerminal }

    // MARK: - Standard output

    /// Writes `text` and a newline to standard output.
    func line(_ text: String) {
        guard !broken else { return }
        if stdoutIsTerminal { clearProgress() }
        buffer.append(contentsOf: text.utf8)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= 64 * 1024 || stdoutIsTerminal { flush() }
    }

    /// Writes a line built in place (by `build`, which appends its bytes) and a newline to
    /// standard output: the per-URL lines take this path, so they cost no `String`.
    func line(_ build: (inout [UInt8]) -> Void) {
        guard !broken else { return }
        if stdoutIsTerminal { clearProgress() }
        build(&buffer)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= 64 * 1024 || stdoutIsTerminal { flush() }
    }

    /// Writes `bytes` to standard output.
    func write(_ bytes: [UInt8]) {
        guard !broken else { return }
        if stdoutIsTerminal { clearProgress() }
        buffer += bytes
        if buffer.count >= 64 * 1024 || (stdoutIsTerminal && bytes.contains(UInt8(ascii: "\n"))) { flush() }
    }

    /// Writes out what standard output has buffered.
    func flush() {
        guard !buffer.isEmpty, !broken else { return }
        if let error = Output.writeAll(1, buffer) {
            broken = true
            onBrokenOutput("standard output: \(error)")
        }
        buffer.removeAll(keepingCapacity: true)
    }

    // MARK: - Standard error

    /// Writes `text` and a newline to standard error.
    func error(_ text: String) {
        flushIfSameTerminal()
        clearProgress()
        _ = Output.writeAll(2, Array((text + "\n").utf8))
    }

    /// Draws `text` as the progress line on standard error (a terminal), replacing the last one.
    func showProgress(_ text: String) {
        flushIfSameTerminal()
        _ = Output.writeAll(2, Array(("\r\u{1B}[K" + text).utf8))
        progressShown = true
    }

    /// Erases the progress line, if shown.
    func clearProgress() {
        guard progressShown else { return }
        progressShown = false
        _ = Output.writeAll(2, Array("\r\u{1B}[K".utf8))
    }

    private func flushIfSameTerminal() {
        if stdoutIsTerminal && stderrIsTerminal { flush() }
    }

    /// Writes all of `bytes` to `fd`; returns an error message on failure.
    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> String? {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if count < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
            }
            offset += count
        }
        return nil
    }
}

// MARK: - Formatting without Foundation

/// `value` with `digits` decimals (`fixed(3.14159, 2)` is "3.14").
func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    let fraction = Int(scaled - Double(whole) * scale)
    let sign = value < 0 && scaled != 0 ? "-" : ""
    guard digits > 0 else { return "\(sign)\(whole)" }
    let fractionText = String(fraction)
    return "\(sign)\(whole)." + String(repeating: "0", count: digits - fractionText.count) + fractionText
}

/// A byte count for people: "512 B", "2.1 KiB", "3.4 MiB".
func formatBytes(_ count: Int) -> String {
    var bytes: [UInt8] = []
    bytes.appendByteCount(count)
    return String(decoding: bytes, as: UTF8.self)
}

/// `text` padded with spaces on the right to `width` characters.
func padRight(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

/// One JSON object, written field by field, with strings escaped as RFC 8259 requires.
struct JSONObject {
    private var fields: [String] = []

    mutating func add(_ key: String, _ value: String?) {
        fields.append(JSONObject.quote(key) + ":" + (value.map(JSONObject.quote) ?? "null"))
    }

    mutating func add(_ key: String, _ value: Int?) {
        fields.append(JSONObject.quote(key) + ":" + (value.map { String($0) } ?? "null"))
    }

    mutating func add(_ key: String, _ value: Bool) {
        fields.append(JSONObject.quote(key) + ":" + (value ? "true" : "false"))
    }

    var text: String { "{" + fields.joined(separator: ",") + "}" }

    /// `string` as a JSON string literal: quotes, backslashes and control characters escaped;
    /// everything else, non-ASCII included, as UTF-8.
    static func quote(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

// MARK: - Building lines as bytes

extension Array where Element == UInt8 {
    mutating func append(_ text: String) {
        append(contentsOf: text.utf8)
    }

    /// `value` in decimal.
    mutating func appendDecimal(_ value: Int) {
        if value < 0 {
            append(UInt8(ascii: "-"))
            // Int.min has no positive counterpart: go through its magnitude.
            appendDecimal(value.magnitude)
        } else {
            appendDecimal(UInt(value))
        }
    }

    mutating func appendDecimal(_ value: UInt) {
        let start = count
        var rest = value
        repeat {
            append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        self[start...].reverse()
    }

    /// A byte count for people, as `formatBytes` gives it: "512 B", "2.1 KiB" (one decimal,
    /// rounded half away from zero), "3.4 MiB", up to TiB.
    mutating func appendByteCount(_ count: Int) {
        if count < 1024 {
            appendDecimal(count)
            append(" B")
            return
        }
        var unit = 0
        var divisor = 1024
        while unit < 3, count / divisor >= 1024 {
            divisor *= 1024
            unit += 1
        }
        let tenths: Int
        if count <= Int.max / 20 {
            tenths = (count * 20 + divisor) / (2 * divisor)
        } else {
            tenths = Int((Double(count) / Double(divisor) * 10).rounded())
        }
        appendDecimal(tenths / 10)
        append(UInt8(ascii: "."))
        appendDecimal(tenths % 10)
        append(UInt8(ascii: " "))
        append(["KiB", "MiB", "GiB", "TiB"][unit])
    }

    /// What `build` appends, padded with spaces on the left to `width` bytes.
    mutating func appendPaddedLeft(_ width: Int, _ build: (inout [UInt8]) -> Void) {
        let start = count
        build(&self)
        let written = count - start
        if written < width {
            insert(contentsOf: repeatElement(UInt8(ascii: " "), count: width - written), at: start)
        }
    }
}
