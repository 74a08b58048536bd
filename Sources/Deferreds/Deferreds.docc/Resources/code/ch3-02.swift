import Deferreds

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
}

/// One page, headers and body: the callback returns the body's deferred, so the chain waits for it.
func getPage(_ network: FakeNetwork, _ url: String) -> Deferred<Int> {
    network.request(url).addCallback { status -> Deferred<Int> in
        print("\(url): \(status)")
        return network.body(url) // the chain pauses here until the body is complete
    }
}

/// Prints how many downloads hold a token and how many wait for one.
func show(_ semaphore: DeferredSemaphore) {
    print("  in flight: \(semaphore.limit - semaphore.tokens), waiting for a token: \(semaphore.waitingCount)")
}

let network = FakeNetwork()
let urls = (1...5).map { "/page/\($0)" }

// Two tokens: at most two getPage calls in flight at once.
let semaphore = DeferredSemaphore(tokens: 2)
var pages: [Deferred<Int>] = []
for url in urls {
    pages.append(semaphore.run({ getPage(network, $0) }, url))
}
show(semaphore)

// The network answers in order. A token comes back only when a page's *body* is complete.
for url in urls {
    network.respond(url)
    show(semaphore) // the headers alone free nothing: the chain waits for the body
    network.finish(url, size: 1_000)
    show(semaphore) // the body is done: the token goes to the next page waiting
}
