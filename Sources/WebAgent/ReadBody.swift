import Deferreds
import Reactor

/// The whole body of `response`, collected in memory.
///
/// Fires with the bytes when the body is complete. Fails with `PartialDownloadError` (holding what
/// arrived) when the body was delimited by the connection closing, with `Deferreds.TimeoutError`
/// when the request's timeout expired, and with the `ResponseFailed` the body ended with otherwise.
/// Cancelling it aborts the transfer (it then fails with `CancelledError`).
///
/// Twisted: `twisted.web.client.readBody`.
public func readBody(_ response: Response) -> Deferred<[UInt8]> {
    let collector = BodyCollector(status: response.code, phrase: response.phrase)
    // The body ends during stopProducing(); the collector must not fire the deferred with that end,
    // so that the cancelled deferred fails with CancelledError (Twisted's connectionLost comes later).
    let result = Deferred<[UInt8]> { _ in
        collector.result = nil
        collector.transport?.stopProducing()
    }
    collector.result = result
    response.deliverBody(collector)
    return result
}

private final class BodyCollector: Protocol {
    let status: Int
    let phrase: String
    var bytes: [UInt8] = []
    var result: Deferred<[UInt8]>?

    init(status: Int, phrase: String) {
        self.status = status
        self.phrase = phrase
    }

    override func dataReceived(_ chunk: [UInt8]) {
        bytes += chunk
    }

    override func connectionLost(_ reason: Failure) {
        guard let result else { return }
        self.result = nil
        if reason.check(ResponseDone.self) != nil {
            result.callback(bytes)
        } else if reason.check(PotentialDataLoss.self) != nil {
            result.errback(PartialDownloadError(status: status, message: phrase, response: bytes))
        } else if !result.called {
            result.errback(reason)
        }
        bytes = []
    }
}
