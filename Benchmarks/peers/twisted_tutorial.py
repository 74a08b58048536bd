#!/usr/bin/env python3
"""The tutorial "Twisted: Asynchronous HTTP Request" (2011), ported to Python 3, as a peer.

    python twisted_tutorial.py --input URLS --concurrency C [--persistent] [--print] [--cafile CA]

Same structure as the tutorial (and as Examples/BlogExample/main.swift): one Agent per request,
a DeferredSemaphore(C) around getPage, a DeferredList over every request that stops the reactor,
and the body delivered with deliverBody to a Protocol that fires a `whenFinished` deferred from
connectionLost. What changes, for a benchmark:

- the URLs come from a file (one a line) and the semaphore's token count from --concurrency;
- the Protocol counts the body's bytes and drops them, instead of printing them
  (--print restores the tutorial's printing, to compare with blog-example, which prints);
- by default each Agent gets Twisted's default pool, which is not persistent: one connection
  per request, as in the tutorial. --persistent hands every Agent one shared
  HTTPConnectionPool(persistent=True) keeping up to C idle connections, so connections are
  reused while the program keeps its shape;
- --cafile CA (https, for tls_bench.py's private CA): every Agent gets a
  BrowserLikePolicyForHTTPS trusting only that CA (Twisted verifies the name with
  service_identity), where the tutorial's Agent trusts the system's store.

At the end one JSON line goes to standard error:
    {"pages": ok, "errors": n, "bytes": b, "seconds": s}
(seconds from the first request to the reactor's stop, without Python's start-up) and the exit
status is 0 only when every URL answered 200 with a complete body.  Also used for the streaming
benchmark: with one URL it is "Twisted Agent + a Protocol discarding".
"""

import argparse
import json
import sys
import time

from twisted.internet import reactor
import twisted.internet.defer
from twisted.internet.protocol import Protocol
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers

# Tallies for the final report line.
stats = {"pages": 0, "errors": 0, "bytes": 0}
options = None  # the parsed command line
pool = None  # None: each Agent makes its own non-persistent pool, as in the tutorial
policy = None  # --cafile: the TLS policy every Agent gets (None: Twisted's default)


def body_complete(reason):
    """True when connectionLost's reason says the whole body arrived."""
    return reason.check(ResponseDone, PotentialDataLoss) is not None


class CountingClient(Protocol):
    """The tutorial's PrinterClient, counting the body instead of printing it."""

    def __init__(self, whenFinished, ok):
        self.whenFinished = whenFinished
        self.ok = ok  # the status was 200

    def dataReceived(self, data):
        stats["bytes"] += len(data)

    def connectionLost(self, reason):
        if self.ok and body_complete(reason):
            stats["pages"] += 1
        else:
            stats["errors"] += 1
        self.whenFinished.callback(None)


class PrinterClient(CountingClient):
    """--print: prints each chunk and the end, as the tutorial does."""

    def dataReceived(self, data):
        super().dataReceived(data)
        print("##### Received #####\n%s" % (data.decode("utf-8", "replace"),))

    def connectionLost(self, reason):
        print("Finished:", reason.getErrorMessage())
        super().connectionLost(reason)


def handleResponse(r):
    if options.print:
        print("version=%s\ncode=%s\nphrase='%s'" % (r.version, r.code, r.phrase.decode()))
        for k, v in r.headers.getAllRawHeaders():
            print("%s: %s" % (k.decode(), "\n  ".join(x.decode() for x in v)))
    whenFinished = twisted.internet.defer.Deferred()
    client = PrinterClient if options.print else CountingClient
    r.deliverBody(client(whenFinished, r.code == 200))
    return whenFinished


def handleError(reason):
    stats["errors"] += 1
    if stats["errors"] <= 3:  # say why, but don't flood
        print("error:", reason.getErrorMessage(), file=sys.stderr)


def getPage(url):
    if options.print:
        print("Requesting %s" % (url,))
    d = Agent(reactor, pool=pool, contextFactory=policy).request(
        b"GET", url.encode(), Headers({"User-Agent": ["twisted"]}), None)
    d.addCallbacks(handleResponse, handleError)
    return d


def main():
    global options, pool, policy
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--input", required=True, help="file of URLs, one a line")
    parser.add_argument("--concurrency", type=int, default=2, help="semaphore tokens")
    parser.add_argument("--persistent", action="store_true",
                        help="share one persistent HTTPConnectionPool (C idle connections)")
    parser.add_argument("--print", action="store_true", help="print as the tutorial does")
    parser.add_argument("--cafile", help="https: the CA certificate to trust (instead of the system's)")
    options = parser.parse_args()
    if options.cafile:
        from twisted.internet.ssl import Certificate
        from twisted.web.client import BrowserLikePolicyForHTTPS
        with open(options.cafile, "rb") as f:
            policy = BrowserLikePolicyForHTTPS(trustRoot=Certificate.loadPEM(f.read()))
    else:
        from twisted.web.client import BrowserLikePolicyForHTTPS
        policy = BrowserLikePolicyForHTTPS()
    with open(options.input, encoding="utf-8") as f:
        urls = [line.strip() for line in f if line.strip()]
    if options.persistent:
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = options.concurrency

    start = time.perf_counter()
    semaphore = twisted.internet.defer.DeferredSemaphore(options.concurrency)
    dl = [semaphore.run(getPage, url) for url in urls]
    dl = twisted.internet.defer.DeferredList(dl)
    dl.addCallbacks(lambda x: reactor.stop(), handleError)
    reactor.run()

    stats["seconds"] = round(time.perf_counter() - start, 6)
    sys.stdout.flush()
    print(json.dumps(stats), file=sys.stderr)
    sys.exit(0 if stats["pages"] == len(urls) and stats["errors"] == 0 else 1)


if __name__ == "__main__":
    main()
