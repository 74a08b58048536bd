import Deferreds

/// What a download fails with when there is no page at its URL.
struct PageNotFound: Error, CustomStringConvertible {
    let url: String
    var description: String { "no page at \(url)" }
}

// A result that is not there yet: the size of a page that is still downloading.
let page = Deferred<Int>()

// A step: it runs when the result arrives, and receives it.
let doubled = page.addCallback { size in size * 2 }           // Deferred<Int>: page itself
let text = doubled.addCallback { size in "a page of \(size) bytes" } // Deferred<String>: the same chain
let printed = text.addCallback { line in print("callback:", line) }  // Deferred<Void>

// Fire the deferred by hand. The steps run now, before callback(_:) returns.
page.callback(950)
print("page fired: \(page.called); the chain has run to its end: \(printed.called)")

// The other path: a deferred fired with an error skips its callbacks and runs its errbacks.
let missing = Deferred<Int>()
let reported = missing
    .addCallback { size in "a page of \(size) bytes" }              // skipped: the chain holds a failure
    .addErrback { failure in "errback: \(failure.getErrorMessage())" } // returns a value: recovered
    .addCallback { line in print(line) }                              // back on the success path
missing.errback(PageNotFound(url: "/page/404"))
