import Deferreds

// A result that is not there yet: the size of a page that is still downloading.
let page = Deferred<Int>()
