// blog-example: the program of the tutorial "Twisted: Asynchronous HTTP Request" (2011), in Swift.
//
//   swift run blog-example [URL ...]
//
// It downloads pages with at most two requests in flight, printing each response's status line,
// headers and body chunks. With no URL it starts the package's WebServer on 127.0.0.1 and fetches
// three of its demo pages, so it runs offline. The code follows the tutorial line for line, with
// the same names; the lines the tutorial elides are filled in as its walkthrough describes.

import Deferreds
import Glibc
import Reactor
import WebAgent
import WebServer

// class PrinterClient(Protocol): receives the body of one response, chunk by chunk.
final class PrinterClient: Protocol {
    let whenFinished: Deferred<Void>

    init(_ whenFinished: Deferred<Void>) {
        self.whenFinished = whenFinished
    }

    // def dataReceived(self, bytes): print '##### Received #####\n%s' % (bytes,)
    override func dataReceived(_ bytes: [UInt8]) {
        print("##### Received #####\n\(String(decoding: bytes, as: UTF8.self))")
    }

    // def connectionLost(self, reason): the reason is ResponseDone when the whole body arrived.
    // Firing whenFinished is what lets getPage's deferred (and so the semaphore's token) go.
    override func connectionLost(_ reason: Failure) {
        print("Finished:", reason.getErrorMessage())
        whenFinished.callback(())
    }
}

// def handleResponse(r): runs when the headers are in; the body comes later, to PrinterClient.
func handleResponse(_ r: Response) -> Deferred<Void> {
    // Printed as Python prints the tuple, ("HTTP", 1, 1); interpolating the Swift tuple itself
    // would give the same text through reflection, the slowest part of the whole program.
    let (name, major, minor) = r.version
    print("version=(\"\(name)\", \(major), \(minor))\ncode=\(r.code)\nphrase='\(r.phrase)'")
    for (k, v) in r.headers.getAllRawHeaders() {
        print("\(k): \(v.joined(separator: "\n  "))")
    }
    let whenFinished = Deferred<Void>()
    r.deliverBody(PrinterClient(whenFinished))
    // Returning a deferred makes getPage's chain wait for it: the request counts as in flight
    // until its body is finished.
    return whenFinished
}

// def handleError(reason): a request failed before its headers arrived (or the list failed).
func handleError(_ reason: Failure) {
    print("Error:", reason.getErrorMessage())
}

// def getPage(url): one whole request, as a deferred that fires when its body is finished.
func getPage(_ url: String) -> Deferred<Void> {
    print("Requesting \(url)")
    let d = Agent(reactor).request("GET", url, Headers(["User-Agent": ["twisted"]]), nil)
    // d.addCallbacks(handleResponse, handleError); return d — in Swift, the same chain comes back
    // typed by what its last step returns (here Deferred<Void>), so return that.
    return d.addCallbacks(handleResponse, handleError)
}

// lambda x: reactor.stop()
func stop(_ results: [Result<Void, Failure>]) {
    reactor.stop()
}

// The URLs: from the command line, or three pages of a WebServer started here.
var urls = Array(CommandLine.arguments.dropFirst())
if urls.isEmpty {
    let server = WebServer(reactor)
    server.serveDemoPages(count: 3)
    do {
        try server.listen(port: 0, interface: "127.0.0.1")
    } catch {
        print("Could not start the demo server: \(error)")
        exit(1)
    }
    urls = (1...3).map { server.url("/page/\($0)") }
}

// semaphore = DeferredSemaphore(2): at most two getPage calls in flight at once.
let semaphore = DeferredSemaphore(tokens: 2)
var dl: [Deferred<Void>] = []
for url in urls {
    dl.append(semaphore.run(getPage, url))
}
// When every page is done, stop the reactor, so that run() returns and the program ends.
_ = DeferredList(dl).addCallbacks(stop, handleError)

reactor.run()
