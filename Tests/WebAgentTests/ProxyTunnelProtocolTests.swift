import Deferreds
import Foundation
import Reactor
import ReactorTesting
import TestSupport
import Testing

@testable import WebAgent

/// A tunnel over a StringTransport, with a TLS layer for h1.test behind it, and how the TLS
/// handshake ended.
private final class Tunnel {
    let ca: TestCA
    let tunnel: ProxyTunnelProtocol
    let tls: TLSMemoryBIOProtocol
    let tcp = StringTransport()
    var handshake: Failure?

    init(proxy: String = "http://127.0.0.1:3128") throws {
        ca = try TestCA()
        let context = try TLSContext(caFile: ca.certificate)
        tls = TLSMemoryBIOProtocol(wrapping: Protocol(), engine: try #require(context.clientEngine(host: "h1.test", port: 443)))
        tunnel = ProxyTunnelProtocol(tls: tls, proxy: try HTTPProxy(proxy), host: "h1.test", port: 443)
        _ = tls.handshakeDone.addErrback { [weak self] in self?.handshake = $0 }
        tunnel.makeConnection(tcp)
    }

    deinit {
        if tls.state != .closed { tls.connectionLost(Failure(ConnectionDone())) }
        ca.remove()
    }
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct ProxyTunnelProtocolTests {
    @Test func itAsksForTheTunnelWithTheProxysCredentials() throws {
        // When the TCP connection to the proxy is made, the CONNECT request names the server and
        // carries Proxy-Authorization (Basic) when the proxy has credentials; nothing of TLS yet.
        let tunnel = try Tunnel(proxy: "http://user:secret@127.0.0.1:3128")
        #expect(tunnel.tcp.text() == "CONNECT h1.test:443 HTTP/1.1\r\nHost: h1.test:443\r\n"
            + "Proxy-Authorization: Basic dXNlcjpzZWNyZXQ=\r\n\r\n")
        #expect(tunnel.tls.state == .idle)
    }

    @Test func a2xxAnswerHandsTheConnectionToTLSWithTheBytesAfterIt() throws {
        // When the proxy answers 200 (in pieces, with bytes after the head), TLS starts on the same
        // connection (its hello follows the CONNECT) and gets the bytes after the head.
        let tunnel = try Tunnel()
        tunnel.tcp.clear()
        tunnel.tunnel.dataReceived(Array("HTTP/1.1 200 Connection established\r\n".utf8))
        #expect(tunnel.tls.state == .idle)
        tunnel.tunnel.dataReceived(Array("\r\n".utf8) + Array("HTTP/1.1 400 Bad\r\n\r\n".utf8))
        #expect(tunnel.tcp.value().first == 0x16, "no TLS hello after the tunnel was made")
        // The bytes after the head went to TLS: not TLS, so its handshake failed.
        let failure = try #require(tunnel.handshake)
        #expect((failure.value as? TLSError)?.message.contains("wrong version number") == true, "\(failure)")
    }

    @Test func anAnswerThatComesAByteAtATimeMakesTheTunnelAtItsLastByte() throws {
        // When the proxy's 200 arrives one byte at a time, the tunnel is made at the head's last
        // byte and not before (the head's end is found across the pieces).
        let tunnel = try Tunnel()
        let answer = Array("HTTP/1.1 200 OK\r\nVia: 1.1 proxy\r\n\r\n".utf8)
        for byte in answer.dropLast() {
            tunnel.tunnel.dataReceived([byte])
            #expect(tunnel.tls.state == .idle)
        }
        tunnel.tunnel.dataReceived([answer.last!])
        #expect(tunnel.tls.state == .handshaking)
    }

    @Test func anAnswerWhoseHeadPassesItsLimitIsRefused() throws {
        // When the proxy's answer passes 64 KiB without its head ending, the handshake fails with
        // ProxyTunnelError (code 0) and the connection is closed.
        let tunnel = try Tunnel()
        tunnel.tunnel.dataReceived(Array("HTTP/1.1 200 OK\r\n".utf8))
        let field = Array("X-Filler: \(String(repeating: "a", count: 1000))\r\n".utf8)
        for _ in 0..<(ProxyTunnelProtocol.maxAnswerBytes / field.count + 1) where tunnel.handshake == nil {
            tunnel.tunnel.dataReceived(field)
        }
        let error = try #require(tunnel.handshake?.value as? ProxyTunnelError)
        #expect(error.code == 0)
        #expect(tunnel.tcp.connection == .losing)
    }

    @Test func aRefusedTunnelIsAProxyTunnelErrorWithTheProxysCode() throws {
        // When the proxy answers 407 (or something that is not HTTP), the handshake fails with
        // ProxyTunnelError naming the proxy and its code (0 for no code), and the connection is closed.
        for (answer, code) in [("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", 407), ("SSH-2.0-x\n\n", 0)] {
            let tunnel = try Tunnel()
            tunnel.tunnel.dataReceived(Array(answer.utf8))
            let error = try #require(tunnel.handshake?.value as? ProxyTunnelError, "\(String(describing: tunnel.handshake))")
            #expect(error.code == code && error.proxy == "http://127.0.0.1:3128")
            #expect(tunnel.tcp.connection == .losing)
        }
    }

    @Test func aProxyThatClosesBeforeAnsweringIsAConnectionLost() throws {
        // When the proxy closes the connection before its answer is complete, the handshake fails
        // with ConnectionLost naming the proxy.
        let tunnel = try Tunnel()
        tunnel.tunnel.dataReceived(Array("HTTP/1.1 200 OK\r\n".utf8))
        tunnel.tunnel.connectionLost(Failure(ConnectionDone()))
        let lost = try #require(tunnel.handshake?.value as? ConnectionLost, "\(String(describing: tunnel.handshake))")
        #expect("\(lost)".contains("127.0.0.1:3128"), "\(lost)")
    }
}
