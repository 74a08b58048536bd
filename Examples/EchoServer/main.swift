// echo-server: the smallest Twisted server, in Swift — listenTCP plus a Protocol.
//
//   swift run echo-server [PORT]        (default 8000; 0 picks a free port)
//   then, in another terminal:  nc 127.0.0.1 8000
//
// Ctrl-C stops the reactor cleanly (the shutdown trigger below runs).

import Deferreds
import Glibc
import Reactor

/// Sends every byte it receives straight back.
final class Echo: Protocol {
    override func connectionMade() {
        if let peer = transport?.getPeer() { print("connection from \(peer)") }
    }

    override func dataReceived(_ bytes: [UInt8]) {
        transport?.write(bytes)
    }

    override func connectionLost(_ reason: Failure) {
        print("connection closed: \(reason.getErrorMessage())")
    }
}

func main() {
    let arguments = CommandLine.arguments.dropFirst()
    guard let port = Int(arguments.first ?? "8000"), (0...65535).contains(port) else {
        print("usage: echo-server [PORT]")
        exit(2)
    }
    do {
        let listening = try reactor.listenTCP(port, Factory.forProtocol { Echo() })
        print("echoing on \(listening.getHost()) — Ctrl-C to stop")
        reactor.addSystemEventTrigger(.before, .shutdown) { print("shutting down") }
        reactor.run()
    } catch {
        print("echo-server: \(error)")
        exit(1)
    }
}

main()
