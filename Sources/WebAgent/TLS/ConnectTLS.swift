import Deferreds
import Reactor

/// Connects `protocol` to `host`:`port` over TLS: TCP, then the handshake with a client end of
/// `context` for `host`. While the first handshake to a server without a kept session is under
/// way, other connections to it wait for it (`TLSContext.whenReadyToHandshake`) and resume its
/// session.
///
/// The client end is for `host` (its certificate verified for that name or address, SNI for a name, the
/// session kept for it offered), the protocol layered on it by `TLSMemoryBIOProtocol`.
///
/// The deferred fires with `protocol`, connected (its transport the TLS layer), once the
/// handshake is done. It fails with what `connectProtocol` fails with while TCP connects
/// (`ConnectionRefusedError`, `ConnectTimeoutError`, …), with a `TLSError` saying why when the
/// handshake fails, and with `ConnectTimeoutError` when TCP and the handshake together take more
/// than `timeout` seconds (0: no limit), as libcurl's connect timeout counts both. Cancelling it
/// stops the attempt (and closes TCP if it was up).
///
/// Through `proxy`: TCP goes to the proxy, which is asked for a tunnel to `host`:`port`
/// (`ProxyTunnelProtocol`) before the handshake; a failure to reach the proxy is a
/// `ProxyConnectError`, a refused tunnel a `ProxyTunnelError`.
///
/// Twisted: `twisted.internet.endpoints.wrapClientTLS` over a TCP endpoint (whose connection is
/// made before the handshake; see `TLSMemoryBIOProtocol`).
func connectTLS<P: Protocol>(
    _ reactor: any ReactorTCP & ReactorTime, host: String, port: Int, _ protocol: P, context: TLSContext,
    timeout: Double, through proxy: HTTPProxy? = nil
) -> Deferred<P> {
    var tls: TLSMemoryBIOProtocol?
    var attempt: Deferred<Void>?
    var timer: DelayedCall?
    var abandoned = false
    let result = Deferred<P> { _ in
        abandoned = true
        timer?.cancel()
        timer = nil
        tls?.abandonHandshake(Failure(CancelledError()))
        attempt?.cancel()
    }
    let started = reactor.seconds()
    if timeout > 0 {
        // Covers the wait for the server's first handshake, TCP and the handshake.
        timer = reactor.callLater(timeout) {
            timer = nil
            let reason = Failure(ConnectTimeoutError(host: host, port: port, seconds: timeout))
            if let tls {
                tls.abandonHandshake(reason)
            } else if !result.called {
                abandoned = true
                result.errback(reason)
            }
        }
    }
    context.whenReadyToHandshake(host: host, port: port) { first in
        guard !abandoned, !result.called else {
            if first { context.settleFirst(host: host, port: port) }
            return
        }
        guard let engine = context.clientEngine(host: host, port: port) else {
            if first { context.settleFirst(host: host, port: port) }
            timer?.cancel()
            timer = nil
            result.errback(TLSError(message: "OpenSSL could not make a TLS connection for the host '\(host)'"))
            return
        }
        engine.isFirstToServer = first
        let made = TLSMemoryBIOProtocol(wrapping: `protocol`, engine: engine)
        tls = made
        // Every ending comes through the handshake's deferred, so each closure here is let go.
        _ = made.handshakeDone.addCallbacks({ _ -> Void in
            timer?.cancel()
            timer = nil
            attempt = nil
            tls = nil
            if !result.called { result.callback(`protocol`) }
        }, { failure -> Void in
            timer?.cancel()
            timer = nil
            attempt = nil
            tls = nil
            if !result.called { result.errback(failure) }
        })
        let left = timeout > 0 ? max(0.001, timeout - (reactor.seconds() - started)) : 0
        let connecting: Deferred<Void>
        if let proxy {
            // TCP to the proxy, CONNECT, then the handshake with the server through the tunnel.
            let tunnel = ProxyTunnelProtocol(tls: made, proxy: proxy, host: host, port: port)
            connecting = connectProtocol(reactor, host: proxy.host, port: proxy.port, tunnel, timeout: left)
                .addCallbacks({ _ -> Void in }, { failure -> Void in
                    if failure.check(CancelledError.self, ConnectingCancelledError.self) != nil { throw failure.value }
                    throw ProxyConnectError(proxy: proxy.description, reason: failure)
                })
        } else {
            connecting = connectProtocol(reactor, host: host, port: port, made, timeout: left)
                .addCallback { _ -> Void in }
        }
        attempt = connecting
        _ = connecting.addCallbacks({ _ -> Void in
            attempt = nil
        }, { failure -> Void in
            attempt = nil
            made.abandonHandshake(failure)
        })
    }
    return result
}
