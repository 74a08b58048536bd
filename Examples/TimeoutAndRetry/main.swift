// timeout-and-retry: the answer to the tutorial's most asked question — "how do I add a timeout
// and a retry to each request?" — against the built-in server's fault routes, offline.
//
//   swift run timeout-and-retry
//
// Three ways, from the most explicit to the most packaged:
//   1. a timeout on the request itself: Agent.request(..., timeout:) covers connect, headers and body;
//   2. Reactor's retry(...) around your own getPage, with exponential backoff and jitter;
//   3. RetryAgent, which retries idempotent requests on connection errors, timeouts and the statuses
//      of its RetryPolicy (curl's --retry set: 408, 429, 500, 502, 503, 504), honouring Retry-After.

import Deferreds
import Glibc
import Reactor
import WebAgent
import WebServer

/// Fetches a page and returns its body size; the timeout covers the whole exchange.
func getPage(_ agent: any AgentProtocol, _ url: String, timeout: Double) -> Deferred<Int> {
    agent.request("GET", url, Headers(["User-Agent": ["twisted"]]), nil, timeout: timeout)
        .addCallback { response -> Deferred<[UInt8]> in
            print("  \(response.code) \(response.phrase) from \(url)")
            return readBody(response)
        }
        .addCallback { body in body.count }
}

/// Prints how a fetch ended, then passes on.
func report(_ label: String, _ d: Deferred<Int>) -> Deferred<Void> {
    d.addBoth { result -> Void in
        switch result {
        case .success(let bytes): print("  => \(label): \(bytes) bytes")
        case .failure(let failure): print("  => \(label): failed — \(type(of: failure.value)): \(failure.getErrorMessage())")
        }
    }
}

func main() {
    let server = WebServer(reactor)
    do { try server.listen() } catch {
        print("could not start the demo server: \(error)")
        exit(1)
    }
    let agent = Agent(reactor)

    print("1. A server that never answers, with a 0.5 s timeout:")
    _ = report("stall", getPage(agent, server.url("/fault/stall-headers"), timeout: 0.5))
        .addCallback { _ -> Deferred<Void> in
            print("\n2. A server that drips one byte every 0.2 s, 1 s timeout, 3 attempts with backoff (each one times out):")
            let attempts = retry(reactor, attempts: 3, backoff: Backoff(initial: 0.2, multiplier: 2, jitter: 0.1)) {
                print("  attempt…")
                return getPage(agent, server.url("/fault/slow-drip?bytes=50&interval=0.2"), timeout: 1)
            }
            return report("slow drip", attempts)
        }
        .addCallback { _ -> Deferred<Void> in
            print("\n3. A server that answers 503 Retry-After: 1 twice, then 200, through RetryAgent:")
            let retrying = RetryAgent(agent, clock: reactor, attempts: 4, backoff: Backoff(initial: 0.1))
            return report("retry-after", getPage(retrying, server.url("/fault/retry-after?fails=2&key=demo"), timeout: 5))
        }
        .addBoth { _ -> Deferred<Void> in server.stop() }
        .addBoth { _ in reactor.stop() }
    reactor.run()
}

main()
