import Deferreds
import Reactor

/// The first stage of an https connection through an HTTP proxy: on the TCP connection to the
/// proxy, asks for a tunnel (`CONNECT host:port HTTP/1.1`, with `Proxy-Authorization` when the
/// proxy has credentials), reads the proxy's answer, and on a 2xx hands the connection to `tls`
/// (`makeConnection` with the TCP transport, then every later event), which runs the handshake with
/// the server through the tunnel.
///
/// It fails `tls`'s handshake (`abandonHandshake`) with `ProxyTunnelError` when the proxy answers
/// anything but 2xx, with `ProxyTunnelError` (code 0) when its answer is not HTTP or passes 64 KiB
/// before its end, and with a `ConnectionLost` when the proxy closes before answering.
///
/// States: `.requesting` (the CONNECT is out, the answer is being read) → `.tunnelled` (events go
/// to `tls`) or `.failed` (nothing more is read).
///
/// Twisted: none in `twisted.web.client` (its `ProxyAgent` speaks plain http only); the
/// counterpart of `twisted.web.proxy`'s CONNECT on the client side.
final class ProxyTunnelProtocol: Protocol {
    private enum State {
        case requesting(answer: [UInt8])
        case tunnelled
        case failed
    }

    let tls: TLSMemoryBIOProtocol
    let proxy: HTTPProxy
    /// The server, as the CONNECT's target names it (`host:port`, an IPv6 address in brackets).
    let target: String
    private var state = State.requesting(answer: [])

    /// The most an answer's head may take.
    static let maxAnswerBytes = 64 * 1024

    init(tls: TLSMemoryBIOProtocol, proxy: HTTPProxy, host: String, port: Int) {
        self.tls = tls
        self.proxy = proxy
        self.target = (host.containsByte(UInt8(ascii: ":")) ? "[\(host)]" : host) + ":\(port)"
    }

    override func connectionMade() {
        var head = "CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n"
        if let authorization = proxy.authorization { head += "Proxy-Authorization: \(authorization)\r\n" }
        head += "\r\n"
        transport?.write(Array(head.utf8))
    }

    override func dataReceived(_ bytes: [UInt8]) {
        switch state {
        case .tunnelled:
            tls.dataReceived(bytes)
        case .failed:
            break
        case .requesting(var answer):
            // The state lets go of the bytes first, so they grow in place, not copied each time.
            state = .failed
            let searched = answer.count
            answer += bytes
            guard let end = ProxyTunnelProtocol.headEnd(answer, from: searched) else {
                if answer.count > ProxyTunnelProtocol.maxAnswerBytes {
                    fail(ProxyTunnelError(proxy: proxy.description, code: 0))
                } else {
                    state = .requesting(answer: answer)
                }
                return
            }
            let code = ProxyTunnelProtocol.statusCode(answer[..<end])
            guard let code, (200...299).contains(code) else {
                fail(ProxyTunnelError(proxy: proxy.description, code: code ?? 0))
                return
            }
            state = .tunnelled
            guard let transport else { return }
            tls.makeConnection(transport)
            if end < answer.count { tls.dataReceived(Array(answer[end...])) }
        }
    }

    override func connectionLost(_ reason: Failure) {
        switch state {
        case .tunnelled:
            tls.connectionLost(reason)
        case .requesting:
            state = .failed
            tls.abandonHandshake(Failure(ConnectionLost(
                "the proxy \(proxy.description) closed the connection before answering CONNECT")))
        case .failed:
            break
        }
    }

    /// The tunnel was refused: the handshake fails with `error`, the connection is closed.
    private func fail(_ error: any Error) {
        state = .failed
        tls.abandonHandshake(Failure(error))
        transport?.loseConnection()
    }

    /// The index just past the head's blank line, if the head is complete; the bytes before
    /// `searched` were looked through before (an answer trickling in is not scanned again).
    private static func headEnd(_ bytes: [UInt8], from searched: Int) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in max(3, searched)..<bytes.count where bytes[index] == 10 {
            if bytes[index - 1] == 10 { return index + 1 }
            if bytes[index - 1] == 13 && bytes[index - 2] == 10 { return index + 1 }
        }
        return nil
    }

    /// The status code of `HTTP/1.x CODE …`, or nil when the head does not start so.
    private static func statusCode(_ head: ArraySlice<UInt8>) -> Int? {
        let line = head.prefix { $0 != 13 && $0 != 10 }
        let parts = line.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].starts(with: Array("HTTP/1.".utf8)), parts[1].count == 3,
            parts[1].allSatisfy({ (0x30...0x39).contains($0) })
        else { return nil }
        return parts[1].reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }
}
