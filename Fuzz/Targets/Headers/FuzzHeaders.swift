/// Fuzz target: WebAgent's `Headers` (names, values, canonical spelling, validity), driven by a
/// list of operations.
///
/// Input: operations separated by 0xFF. An operation's first byte picks it (`+` add, `=` set,
/// `-` remove, anything else: look up); the rest is a name, then values, separated by 0xFE (bytes
/// that are not UTF-8 become U+FFFD). Seeds are in Fuzz/corpus/headers.
///
/// Invariants, checked against a plain model (names folded by ASCII case only, values in order,
/// names in the order first added) after every operation:
/// - lookups find exactly the model's values, whatever the ASCII case of the name asked;
/// - `getAllRawHeaders()` lists the model's names, canonically spelled, with their values;
/// - `canonicalName` changes only the ASCII case of letters and is idempotent;
/// - `Agent.request`'s check (`firstInvalid()`) passes exactly when every name is a token and no
///   value holds a control character; then every line handed to libcurl is one field line
///   (no CR, LF or NUL) that reads back as the same name and value;
/// - headers rebuilt from their pairs are equal to them.
import FuzzSupport

@testable import WebAgent

private struct Model {
    var entries: [(key: String, values: [String])] = []

    func values(_ name: String) -> [String]? {
        let key = asciiLowercased(name)
        return entries.first { $0.key == key }?.values
    }

    mutating func set(_ name: String, _ values: [String]) {
        let key = asciiLowercased(name)
        if let index = entries.firstIndex(where: { $0.key == key }) {
            if values.isEmpty { entries.remove(at: index) } else { entries[index].values = values }
        } else if !values.isEmpty {
            entries.append((key, values))
        }
    }

    mutating func add(_ name: String, _ value: String) {
        let key = asciiLowercased(name)
        if let index = entries.firstIndex(where: { $0.key == key }) {
            entries[index].values.append(value)
        } else {
            entries.append((key, [value]))
        }
    }

    mutating func remove(_ name: String) {
        let key = asciiLowercased(name)
        entries.removeAll { $0.key == key }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHeaders(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var headers = Headers()
    var model = Model()
    for operation in split(fuzzBytes(data, count), at: 0xFF) where !operation.isEmpty {
        let parts = split(Array(operation.dropFirst()), at: 0xFE).map { String(decoding: $0, as: UTF8.self) }
        let name = parts[0]
        let values = Array(parts.dropFirst())
        switch operation[0] {
        case UInt8(ascii: "+"):
            for value in values {
                headers.addRawHeader(name, value)
                model.add(name, value)
            }
        case UInt8(ascii: "="):
            headers.setRawHeaders(name, values)
            model.set(name, values)
        case UInt8(ascii: "-"):
            headers.removeHeader(name)
            model.remove(name)
        default:
            break
        }
        check(headers, model, probe: name)
    }
    return 0
}

private func check(_ headers: Headers, _ model: Model, probe: String) {
    for name in [probe, asciiLowercased(probe), asciiUppercased(probe)] {
        invariant(headers.getRawHeaders(name) == model.values(name),
                  "getRawHeaders(\(name.debugDescription)) is \(String(describing: headers.getRawHeaders(name))), "
                      + "expected \(String(describing: model.values(name)))")
        invariant(headers.hasHeader(name) == (model.values(name) != nil), "hasHeader(\(name.debugDescription))")
    }
    checkCanonical(probe)

    let all = headers.getAllRawHeaders()
    invariant(all.count == model.entries.count,
              "getAllRawHeaders has \(all.count) names, the model \(model.entries.count)")
    for ((name, values), entry) in zip(all, model.entries) {
        invariant(asciiLowercased(name) == entry.key, "name \(name.debugDescription) for \(entry.key.debugDescription)")
        invariant(name == Headers.canonicalName(entry.key),
                  "getAllRawHeaders spells \(name.debugDescription) otherwise")
        invariant(values == entry.values, "values of \(name.debugDescription)")
        checkCanonical(name)
    }

    let sendable = model.entries.allSatisfy { entry in
        !entry.key.isEmpty && entry.key.utf8.allSatisfy(isTokenByte)
            && entry.values.allSatisfy { $0.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) } }
    }
    let invalid = headers.firstInvalid()
    invariant((invalid == nil) == sendable,
              "firstInvalid() is \(String(describing: invalid)) for \(model.entries.map { ($0.key, $0.values) })")
    if invalid == nil {
        checkFieldLines(headers, all)
    }

    let rebuilt = Headers(pairs: all.flatMap { name, values in values.map { (name, $0) } })
    invariant(rebuilt == headers && headers == rebuilt, "headers rebuilt from their pairs differ")
}

private func checkCanonical(_ name: String) {
    let canonical = Headers.canonicalName(name)
    invariant(asciiLowercased(canonical) == asciiLowercased(name),
              "canonicalName(\(name.debugDescription)) is \(canonical.debugDescription): more than ASCII case changed")
    invariant(Headers.canonicalName(canonical) == canonical,
              "canonicalName is not idempotent on \(name.debugDescription): \(canonical.debugDescription) → "
                  + Headers.canonicalName(canonical).debugDescription)
    invariant(Headers.isValidName(canonical) == Headers.isValidName(name), "canonical spelling changed validity")
}

/// Every line handed to libcurl is one field line that reads back as what was set.
private func checkFieldLines(_ headers: Headers, _ all: [(String, [String])]) {
    var lines: [String] = []
    headers.forEachFieldLine { lines.append(String(cString: $0)) }
    let expected = all.flatMap { name, values in values.map { (name, $0) } }
    invariant(lines.count == expected.count, "\(lines.count) field lines for \(expected.count) values")
    for (line, (name, value)) in zip(lines, expected) {
        invariant(!line.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 }, "field line \(line.debugDescription)")
        if value.isEmpty {
            invariant(line == name + ";", "empty value line \(line.debugDescription)")
        } else {
            guard let colon = line.firstIndex(of: ":") else {
                invariant(false, "field line without a colon: \(line.debugDescription)")
                return
            }
            invariant(line[..<colon] == name, "field line \(line.debugDescription) names another field")
            invariant(line[line.index(after: colon)...] == " " + value, "field line \(line.debugDescription) value")
        }
    }
}
