import Deferreds
import Reactor

/// Connects `protocol` to `host`:`port` over TLS: TCP, then the handshake with a client end of
/// `context` for `host` (its certificate verified for that name or address, SNI for a name, the
/// session kept for it offered), the protocol layered on it by `TLSMemoryBIOProtocol`.
///
/// The deferred fires with `protocol`, connected (its transport the TLS layer), once the
/// handshake is done. It fails with what `connectProtocol` fails with while TCP connects
/// (`ConnectionRefusedError`, `ConnectTimeoutError`, …), with a `TLSError` saying why when the
/// handshake fails, and with `ConnectTimeoutError` when TCP and the handshake together take more
/// than `timeout` seconds (0: no limit), as libcurl's connect timeout counts both. Cancelling it
/// stops the attempt (and closes TCP if it was up).
///
/// Twisted: `twisted.internet.endpoints.wrapClientTLS` over a TCP endpoint (whose connection is
/// made before the handshake; see `TLSMemoryBIOProtocol`).
func connectTLS<P: Protocol>(
    _ reactor: any ReactorTCP & ReactorTime, host: String, port: Int, _ protocol: P, context: TLSContext,
    timeout: Double
) -> Deferred<P> {
    guard let engine = context.clientEngine(host: host, port: port) else {
        return Deferred.fail(TLSError(message: "OpenSSL could not make a TLS connection for the host '\(host)'"))
    }
    let tls = TLSMemoryBIOProtocol(wrapping: `protocol`, engine: engine)
    var attempt: Deferred<TLSMemoryBIOProtocol>?
    var timer: DelayedCall?
    let result = Deferred<P> { _ in
        tls.abandonHandshake(Failure(CancelledError()))
        attempt?.cancel()
    }
    // Every ending comes through the handshake's deferred, so each closure here is let go.
    _ = tls.handshakeDone.addCallbacks({ _ -> Void in
        timer?.cancel()
        timer = nil
        attempt = nil
        if !result.called { result.callback(`protocol`) }
    }, { failure -> Void in
        timer?.cancel()
        timer = nil
        attempt = nil
        if !result.called { result.errback(failure) }
    })
    let started = reactor.seconds()
    let made = connectProtocol(reactor, host: host, port: port, tls, timeout: timeout)
    attempt = made
    _ = made.addCallbacks({ _ -> Void in
        attempt = nil
        guard timeout > 0, !tls.handshakeDone.called else { return }
        let left = max(0.001, timeout - (reactor.seconds() - started))
        timer = reactor.callLater(left) {
            timer = nil
            tls.abandonHandshake(Failure(ConnectTimeoutError(host: host, port: port, seconds: timeout)))
        }
    }, { failure -> Void in
        attempt = nil
        tls.abandonHandshake(failure)
    })
    return result
}
