// deferred-chaining: a narrated walk through the ideas of the Twisted tutorial, without a network.
//
// Run it with `make demo` (or `swift run deferred-chaining`). Every "download" here is a Deferred
// that we fire by hand, in an order we choose, so you can watch what the chain does at each step.

import Deferreds

func say(_ text: String) { print(text) }
func section(_ title: String) { print("\n=== \(title) ===") }

/// A fake page fetch: returns a Deferred now and remembers it, so the "network" (the `pending`
/// list) can fire it later, like a real response arriving.
final class FakeNetwork {
    private(set) var pending: [(url: String, deferred: Deferred<String>)] = []

    func getPage(_ url: String) -> Deferred<String> {
        say("  -> request \(url) (in flight: \(pending.count + 1))")
        let d = Deferred<String>()
        pending.append((url, d))
        return d
    }

    /// Delivers the oldest request's body.
    func deliverNext() {
        let (url, d) = pending.removeFirst()
        say("  <- body of \(url) arrives")
        d.callback("<html>\(url)</html>")
    }
}

func chainingBasics() {
    section("1. A chain of callbacks")
    let d = Deferred<Int>()
    _ = d.addCallback { n -> Int in
        say("  first callback got \(n), returns \(n * 2)")
        return n * 2
    }
    .addCallback { n -> String in
        say("  second callback got \(n), returns a String")
        return "value \(n)"
    }
    .addCallback { text in say("  third callback got \"\(text)\"") }
    say("  callbacks added; nothing ran yet (called = \(d.called))")
    d.callback(21)
    say("  after callback(21): called = \(d.called)")
}

func errbacks() {
    section("2. Errors travel down the errback path")
    struct PageNotFound: Error, CustomStringConvertible { var description: String { "404 Not Found" } }
    let d = Deferred<String>()
    _ = d.addCallback { (body: String) -> Int in
        say("  parsing the body…")
        throw PageNotFound()
    }
    .addCallback { (length: Int) -> Int in
        say("  (never printed: the chain is on the error path)")
        return length
    }
    .addErrback { failure -> Int in
        say("  errback got: \(failure.getErrorMessage()) — recovering with 0")
        return 0
    }
    .addCallback { value in say("  back on the callback path with \(value)") }
    d.callback("<html>…</html>")
}

func innerDeferred() {
    section("3. A callback that returns a Deferred pauses the chain")
    let network = FakeNetwork()
    let outer = Deferred<String>()
    _ = outer.addCallback { url -> Deferred<String> in
        say("  callback asks for \(url) and returns its Deferred")
        return network.getPage(url)
    }
    .addCallback { body in say("  next callback runs only now, with \(body)") }
    outer.callback("http://example.test/")
    say("  outer fired, but paused = \(outer.paused): it waits for the inner Deferred")
    network.deliverNext()
    say("  paused = \(outer.paused)")
}

func semaphoreLimit() {
    section("4. DeferredSemaphore(tokens: 2): at most two downloads at once")
    let network = FakeNetwork()
    let semaphore = DeferredSemaphore(tokens: 2)
    let urls = (1...5).map { "http://example.test/page\($0)" }
    var pages: [Deferred<Void>] = []
    for url in urls {
        // getPage's Deferred fires when the body is delivered, so the token is held until then.
        let page = semaphore.run(network.getPage, url).addCallback { body in
            say("  done: \(body)")
        }
        pages.append(page)
    }
    say("  5 runs queued: \(network.pending.count) in flight, \(semaphore.waitingCount) waiting for a token")
    _ = DeferredList(pages).addCallback { results in
        say("  DeferredList fired: all \(results.count) pages done — the tutorial stops the reactor here")
    }
    while !network.pending.isEmpty {
        network.deliverNext()
        say("  in flight now: \(network.pending.count), waiting: \(semaphore.waitingCount)")
    }
}

func cancellation() {
    section("5. Cancelling a request that waits for a token")
    let network = FakeNetwork()
    let semaphore = DeferredSemaphore(tokens: 1)
    let first = semaphore.run(network.getPage, "http://example.test/slow")
    let second = semaphore.run(network.getPage, "http://example.test/never")
    second.addErrback { failure -> String in
        say("  second request: \(failure.getErrorMessage())")
        return ""
    }
    second.cancel()
    say("  waiting for a token after cancel: \(semaphore.waitingCount)")
    _ = first.addCallback { body in say("  first request done: \(body)") }
    network.deliverNext()
    say("  tokens free at the end: \(semaphore.tokens) of \(semaphore.limit)")
}

chainingBasics()
errbacks()
innerDeferred()
semaphoreLimit()
cancellation()
