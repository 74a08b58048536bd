import COpenSSL
import Glibc

/// The TLS settings shared by every https connection that trusts the same certificate authorities:
/// one OpenSSL `SSL_CTX`, and the sessions servers gave, kept per (host, port) for resumption.
///
/// A client context verifies the peer (its chain to a trusted authority, then its name: the host
/// of the URI, an IP literal checked as an IP address), offers ALPN "http/1.1" and, for a name,
/// sends it as SNI. `caFile` (a PEM file) *replaces* the system's store, as libcurl's path does
/// (it clears `CURLOPT_CAPATH`); without it, OpenSSL's default paths (Debian's /etc/ssl/certs).
///
/// Sessions: each connection offers the latest session given by its server (a TLS 1.3 ticket,
/// or a TLS 1.2 session), and each new one a server gives replaces it, so a second connection to
/// a host resumes without a full handshake. Sessions are kept per context, so a session made
/// while trusting one set of authorities is never resumed under another. At most
/// `maxSessions` servers are remembered; beyond that the one first stored is dropped.
///
/// Reactor-bound, like the connections using it.
///
/// Twisted: `twisted.internet.ssl.optionsForClientTLS` (a `ClientTLSOptions`, whose
/// `_ctx` is the shared context).
final class TLSContext {
    /// What makes two https connections interchangeable besides their server: the authorities
    /// they trust. Part of the pool's key, so http and https connections, and https ones verified
    /// against different authorities, never mix.
    struct Trust: Hashable {
        /// The PEM file of authorities trusted instead of the system's; nil for the system's.
        var caFile: String?
    }

    /// The trusted authorities' PEM file, or nil for the system's.
    let caFile: String?
    let context: OpaquePointer
    /// Where its connections decrypt (one TLS record at most, 16 KiB), then copy out what came:
    /// one buffer for all, since they all run on one thread and none keeps it between calls.
    /// (Allocated once the context is made: a failed init runs no deinit to free it.)
    let readBuffer: UnsafeMutableBufferPointer<UInt8>
    private var sessions: [String: OpaquePointer] = [:]
    private var sessionOrder: [String] = []
    /// Servers whose sessions are kept at most. Each session holds the server's certificate
    /// (about 5 KiB in all): `make bench-tls`'s 5,000-name run peaks at 31.4 MiB keeping 512,
    /// 30.0 keeping 256 (curl --http1.1: 30.6) and 29.7 keeping 128, whose 500-name run then makes
    /// 2.4× the full handshakes (30 % more CPU); 256 costs that run 12 %.
    static let maxSessions = 256

    /// A client context trusting `caFile` (replacing the system's store) or the system's.
    ///
    /// - Throws: `TLSError` when the authorities cannot be loaded (a missing or unreadable file).
    init(caFile: String?) throws(TLSError) {
        var error = [CChar](repeating: 0, count: 512)
        guard let made = copenssl_client_context(caFile, &error, error.count) else {
            throw TLSError(message: TLSEngine.text(error))
        }
        self.caFile = caFile
        self.context = made
        self.readBuffer = .allocate(capacity: 16 * 1024)
    }

    /// A server context presenting `certificate` with `key` (PEM files): for tests and fuzzing.
    /// With `selectHTTP11`, it selects ALPN "http/1.1" when the client offers it.
    init(serverCertificate certificate: String, key: String, selectHTTP11: Bool = true) throws(TLSError) {
        var error = [CChar](repeating: 0, count: 512)
        guard let made = copenssl_server_context(certificate, key, selectHTTP11 ? 1 : 0, &error, error.count) else {
            throw TLSError(message: TLSEngine.text(error))
        }
        self.caFile = nil
        self.context = made
        self.readBuffer = .allocate(capacity: 16 * 1024)
    }

    deinit {
        for session in sessions.values { copenssl_session_free(session) }
        readBuffer.deallocate()
        copenssl_context_free(context)
    }

    /// A client end for `host`:`port`, offering the session kept for it (if any).
    func clientEngine(host: String, port: Int) -> TLSEngine? {
        let isIP = TLSContext.isIPLiteral(host)
        let name = isIP ? TLSContext.withoutZone(host) : host
        guard let ssl = copenssl_client_new(context, name, isIP ? 1 : 0, sessions[TLSContext.key(host, port)])
        else { return nil }
        return TLSEngine(ssl, host: host, port: port, context: self)
    }

    /// A server end (tests, fuzzing).
    func serverEngine() -> TLSEngine? {
        guard let ssl = copenssl_server_new(context) else { return nil }
        return TLSEngine(ssl, host: "", port: 0, context: self)
    }

    /// Keeps `session` (owned) as the one to offer to `host`:`port` next.
    func store(_ session: OpaquePointer, host: String, port: Int) {
        let key = TLSContext.key(host, port)
        if let old = sessions.updateValue(session, forKey: key) {
            copenssl_session_free(old)
            return
        }
        sessionOrder.append(key)
        if sessionOrder.count > TLSContext.maxSessions {
            let oldest = sessionOrder.removeFirst()
            if let dropped = sessions.removeValue(forKey: oldest) { copenssl_session_free(dropped) }
        }
    }

    /// Servers with a kept session.
    var sessionCount: Int { sessions.count }

    // MARK: - The first handshake to a server

    /// Per server without a kept session whose first handshake is under way: the connections
    /// waiting for it (to resume its session instead of a full handshake each).
    private var waitingForFirst: [String: [(Bool) -> Void]] = [:]

    /// Calls `start` when a new connection to `host`:`port` should begin its handshake: at once
    /// when a session is kept for it or no handshake to it is under way (`start(true)` when this
    /// one is then the first, which must `settleFirst` when it has a session or gave up), else
    /// once the first has settled (`start(false)`), so that it can offer the first one's session.
    ///
    /// Requests started together to a new server thus make one full handshake, not one each (as
    /// curl --parallel, which waits for its first connection to a server, does): each full one
    /// costs the client a certificate verification and the server a signature.
    func whenReadyToHandshake(host: String, port: Int, _ start: @escaping (_ first: Bool) -> Void) {
        let key = TLSContext.key(host, port)
        if sessions[key] != nil {
            start(false)
        } else if waitingForFirst[key] != nil {
            waitingForFirst[key]!.append(start)
        } else {
            waitingForFirst[key] = []
            start(true)
        }
    }

    /// The first handshake to `host`:`port` has settled (a session is kept, its connection got a
    /// response without one, or it failed): the connections waiting for it begin theirs; the next
    /// one after them, if there is still no session, becomes the first.
    func settleFirst(host: String, port: Int) {
        guard let waiting = waitingForFirst.removeValue(forKey: TLSContext.key(host, port)) else { return }
        for start in waiting { start(false) }
    }

    private static func withoutZone(_ host: String) -> String {
        host.split(separator: "%", maxSplits: 1).first.map(String.init) ?? host
    }

    private static func key(_ host: String, _ port: Int) -> String { "\(host):\(port)" }

    /// Whether `host` is an IPv4 or IPv6 address (an IPv6 zone, "%25…", is ignored).
    static func isIPLiteral(_ host: String) -> Bool {
        let address = withoutZone(host)
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, address, &v4) == 1 || inet_pton(AF_INET6, address, &v6) == 1
    }
}
