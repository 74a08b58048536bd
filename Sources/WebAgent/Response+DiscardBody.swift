import Deferreds
import Reactor

extension Response {
    /// Reads the body and throws it away, so the connection finishes its exchange (and can be
    /// reused) instead of being aborted; a body longer than `limit` bytes is stopped instead.
    ///
    /// - Returns: a deferred that fires when the body has ended, however it ended. Cancelling it
    ///   stops the transfer (and it fails with `CancelledError`).
    @discardableResult
    func discardBody(limit: Int = 1 << 20) -> Deferred<Void> {
        let discarder = BodyDiscarder(limit: limit)
        let done = Deferred<Void> { _ in
            discarder.done = nil
            discarder.transport?.stopProducing()
        }
        discarder.done = done
        deliverBody(discarder)
        return done
    }
}

/// A body protocol that drops what it gets, stopping the transfer after `limit` bytes.
private final class BodyDiscarder: Protocol {
    let limit: Int
    var received = 0
    var done: Deferred<Void>?

    init(limit: Int) {
        self.limit = limit
    }

    override func dataReceived(_ bytes: [UInt8]) {
        received += bytes.count
        if received > limit { transport?.stopProducing() }
    }

    override func connectionLost(_ reason: Failure) {
        let done = self.done
        self.done = nil
        done?.callback(())
    }
}
