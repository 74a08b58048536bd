import Foundation

/// A certificate authority made for one test with openssl (an ECDSA P-256 key, valid for two
/// days), in its own temporary folder; it issues server certificates, current or expired.
public final class TestCA {
    public let directory: String
    /// The CA's certificate (PEM): the file to trust (`caFile`) to reach its servers.
    public let certificate: String
    private let key: String
    private var issued = 0

    public init() throws {
        directory = NSTemporaryDirectory() + "ca-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory + "/issued", withIntermediateDirectories: true)
        certificate = directory + "/ca.pem"
        key = directory + "/ca-key.pem"
        try TestCA.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", certificate, "-days", "2", "-subj", "/CN=swift-deferreds test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        try "".write(toFile: directory + "/index.txt", atomically: true, encoding: .utf8)
        try "01\n".write(toFile: directory + "/serial", atomically: true, encoding: .utf8)
        // `openssl ca` (not `x509 -req`) because only it takes explicit start and end dates,
        // which an expired certificate needs (OpenSSL 3.0).
        try """
            [ca]
            default_ca = test
            [test]
            database = \(directory)/index.txt
            new_certs_dir = \(directory)/issued
            serial = \(directory)/serial
            default_md = sha256
            policy = any
            unique_subject = no
            [any]
            commonName = supplied
            """.write(toFile: directory + "/ca.cnf", atomically: true, encoding: .utf8)
    }

    /// A server certificate and its key (PEM files) signed by this CA, for `names` (DNS names, or
    /// IP addresses written as such), valid from yesterday to tomorrow, or — `expired` — for a day
    /// in 2020.
    public func issue(for names: [String], expired: Bool = false) throws -> (certificate: String, key: String) {
        issued += 1
        let stem = "\(directory)/server-\(issued)"
        try TestCA.openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", stem + "-key.pem", "-out", stem + ".csr", "-subj", "/CN=\(names.first ?? "server")",
        ])
        let alternatives = names.map { name in
            name.allSatisfy({ $0.isNumber || $0 == "." || $0 == ":" }) ? "IP:\(name)" : "DNS:\(name)"
        }.joined(separator: ",")
        try """
            [server]
            subjectAltName = \(alternatives)
            basicConstraints = CA:FALSE
            extendedKeyUsage = serverAuth
            """.write(toFile: stem + ".ext", atomically: true, encoding: .utf8)
        let dates = expired ? ["-startdate", "20200101000000Z", "-enddate", "20200102000000Z"] : ["-days", "1"]
        try TestCA.openssl([
            "ca", "-batch", "-notext", "-config", directory + "/ca.cnf", "-cert", certificate, "-keyfile", key,
            "-in", stem + ".csr", "-out", stem + ".pem", "-extfile", stem + ".ext", "-extensions", "server",
        ] + dates)
        return (stem + ".pem", stem + "-key.pem")
    }

    /// Removes the CA's folder (its certificates and keys).
    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func openssl(_ arguments: [String]) throws {
        guard runCommand("/usr/bin/openssl", arguments) == 0 else {
            throw TLSServerError(message: "openssl \(arguments.prefix(1).joined()) failed: \(arguments)")
        }
    }
}
