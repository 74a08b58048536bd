import Deferreds

/// What a body fails with when the connection drops before its end.
struct ConnectionCut: Error, CustomStringConvertible {
    var description: String { "the connection closed before the end of the body" }
}

/// A pretend network: every request returns deferreds that we fire by hand, later.
final class FakeNetwork {
    private var headers: [String: Deferred<String>] = [:]
    private var bodies: [String: Deferred<Int>] = [:]

    /// Starts a request; the deferred fires with the status line once the headers "arrive".
    func request(_ url: String) -> Deferred<String> {
        print("requesting \(url)")
        let d = Deferred<String>()
        headers[url] = d
        return d
    }

    /// The headers of `url` arrive.
    func respond(_ url: String) {
        print("headers of \(url) arrive")
        headers.removeValue(forKey: url)?.callback("200 OK")
    }

    /// Asks for the body of `url`; the deferred fires with its size once it has all arrived.
    func body(_ url: String) -> Deferred<Int> {
        let d = Deferred<Int>()
        bodies[url] = d
        return d
    }

    /// The last byte of `url`'s body arrives.
    func finish(_ url: String, size: Int) {
        print("body of \(url) complete")
        bodies.removeValue(forKey: url)?.callback(size)
    }

    /// The connection of `url` drops in the middle of the body.
    func cut(_ url: String) {
        print("connection of \(url) cut")
        bodies.removeValue(forKey: url)?.errback(ConnectionCut())
    }
}

/// One page, headers and body: the callback returns the body's deferred, so the chain waits for it.
func getPage(_ network: FakeNetwork, _ url: String) -> Deferred<Int> {
    network.request(url).addCallback { status -> Deferred<Int> in
        print("\(url): \(status)")
        return network.body(url) // the chain pauses here until the body is complete
    }
}

let network = FakeNetwork()
let page = getPage(network, "/page/1")
network.respond("/page/1")
print("page done: \(page.called), paused: \(page.paused)") // called, but paused on the body
network.finish("/page/1", size: 1_895)
let printed = page.addCallback { size in print("page done with \(size) bytes") }

// The inner deferred's failure continues the outer chain, on the error path.
let broken = getPage(network, "/page/2")
    .addCallbacks(
        { size in print("page done with \(size) bytes") },
        { failure in print("page failed:", failure.getErrorMessage()) })
network.respond("/page/2")
network.cut("/page/2")
