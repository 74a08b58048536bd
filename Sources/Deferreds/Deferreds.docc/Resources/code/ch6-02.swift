// downloader: the tutorial's program written with async/await on the reactor's own executor.

import Deferreds
import Glibc
import Reactor
import WebAgent
import WebServer

/// The message of an error as the tutorial prints it (a Failure's getErrorMessage()).
func message(_ error: any Error) -> String {
    Failure(error).getErrorMessage()
}

// def handleResponse(r) + class PrinterClient: the status line and headers, then each chunk of the
// body as it arrives, then how the body ended.
@ReactorActor func handleResponse(_ r: Response) async {
    // Printed as Python prints the tuple, ("HTTP", 1, 1); interpolating the Swift tuple itself
    // would give the same text through reflection, the slowest part of the whole program.
    let (name, major, minor) = r.version
    print("version=(\"\(name)\", \(major), \(minor))\ncode=\(r.code)\nphrase='\(r.phrase)'")
    for (k, v) in r.headers.getAllRawHeaders() {
        print("\(k): \(v.joined(separator: "\n  "))")
    }
    do {
        for try await bytes in r.body {
            print("##### Received #####\n\(String(decoding: bytes, as: UTF8.self))")
        }
        print("Finished:", ResponseDone().description)
    } catch {
        print("Finished:", message(error))
    }
}

// def handleError(reason): the request failed before its headers arrived.
func handleError(_ error: any Error) {
    print("Error:", message(error))
}

// def getPage(url): one whole request, headers and body; returns when the body is finished, so a
// slot of the task group stays taken for the whole download.
@ReactorActor func getPage(_ url: String) async {
    print("Requesting \(url)")
    let response: Response
    do {
        response = try await Agent(reactor).request("GET", url, Headers(["User-Agent": ["twisted"]])).value
    } catch {
        handleError(error)
        return
    }
    await handleResponse(response)
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

let first = urls[0]
// The task runs on the reactor's thread, on the loop's next turn; run() turns the loop.
Task { @ReactorActor in
    await getPage(first)
    reactor.stop()
}
reactor.run()
