// Downloader: download pages with the Agent, from a WebServer started here (offline).

import Deferreds
import Glibc
import Reactor
import WebAgent
import WebServer

// def handleResponse(r): runs when the headers are in; the body comes later.
func handleResponse(_ r: Response) {
    let (name, major, minor) = r.version
    print("version=(\"\(name)\", \(major), \(minor))\ncode=\(r.code)\nphrase='\(r.phrase)'")
    for (k, v) in r.headers.getAllRawHeaders() {
        print("\(k): \(v.joined(separator: "\n  "))")
    }
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

// One request; when its headers are in (or it failed), stop the reactor so that run() returns.
let d = Agent(reactor).request("GET", urls[0], Headers(["User-Agent": ["twisted"]]), nil)
let handled = d.addCallbacks(handleResponse, handleError)
_ = handled.addBoth { _ in reactor.stop() }

reactor.run()
