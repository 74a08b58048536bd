// Downloader: download pages with the Agent, from a WebServer started here (offline).

import Deferreds
import Glibc
import Reactor
import WebAgent
import WebServer

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

print("Downloading", urls)
