// blog-async: the program of the tutorial "Twisted: Asynchronous HTTP Request" (2011), written with
// async/await on the reactor's own executor instead of callbacks.
//
//   swift run blog-async [URL ...]
//
// It prints exactly what blog-example prints, downloading at most two pages at a time. With no URL
// it starts the package's WebServer on 127.0.0.1 and fetches three of its demo pages (offline).
// Side by side with Examples/BlogExample:
//   getPage(url) -> Deferred<Void>            ~  @ReactorActor func getPage(_ url:) async
//   d.addCallbacks(handleResponse, handleError) ~  do { try await request.value } catch { handleError }
//   PrinterClient.dataReceived / connectionLost ~  for try await chunk in response.body / the loop's end
//   DeferredSemaphore(tokens: 2).run(getPage, url) ~ a task group with at most two child tasks
//   DeferredList(dl).addCallbacks(stop, ...)   ~  the group's end, then reactor.stop()

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

// semaphore = DeferredSemaphore(2) ... DeferredList(dl): at most two pages in flight; when the last
// one is done, stop the reactor so that run() returns and the program ends. Each child task calls
// the @ReactorActor getPage, so the page's work runs on the reactor's thread.
@ReactorActor func getPages(_ urls: [String], atMostInFlight limit: Int) async {
    await withTaskGroup(of: Void.self) { group in
        var waiting = urls.makeIterator()
        for _ in 0..<limit {
            guard let url = waiting.next() else { break }
            group.addTask { await getPage(url) }
        }
        while await group.next() != nil {
            guard let url = waiting.next() else { continue }
            group.addTask { await getPage(url) }
        }
    }
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

let pages = urls
Task { @ReactorActor in await getPages(pages, atMostInFlight: 2) }
reactor.run()
