// Downloader: download pages with the Agent, from a WebServer started here (offline).

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

// def handleError(reason): a request failed before its headers arrived.
func handleError(_ reason: Failure) {
    print("Error:", reason.getErrorMessage())
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

// One request; when its body is finished (or it failed), stop the reactor so that run() returns.
let d = Agent(reactor).request("GET", urls[0], Headers(["User-Agent": ["twisted"]]), nil)
let handled = d.addCallbacks(handleResponse, handleError)
_ = handled.addBoth { _ in reactor.stop() }

reactor.run()
