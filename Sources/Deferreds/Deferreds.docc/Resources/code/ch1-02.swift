import Deferreds

// A result that is not there yet: the size of a page that is still downloading.
let page = Deferred<Int>()

// A step: it runs when the result arrives, and receives it.
let doubled = page.addCallback { size in size * 2 }

// Fire the deferred by hand. The step runs now, before callback(_:) returns.
page.callback(950)
