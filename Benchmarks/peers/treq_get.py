#!/usr/bin/env python3
"""treq as a peer: GET every URL of a file, at most C at a time, bodies streamed and dropped.

    python treq_get.py --input URLS --concurrency C

Written the way a treq user would: coroutines driven by Twisted's reactor (task.react), one
persistent HTTPConnectionPool keeping up to C idle connections to the host, a DeferredSemaphore
for the limit, and treq.collect to take each body chunk by chunk without buffering it.
One JSON line goes to standard error at the end (same shape as twisted_tutorial.py):
    {"pages": ok, "errors": n, "bytes": b, "seconds": s}
"""

import argparse
import json
import sys
import time

import treq
from twisted.internet import defer, task
from twisted.web.client import HTTPConnectionPool


async def run(reactor, urls, concurrency, stats):
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = concurrency  # treq's own default pool keeps fewer
    semaphore = defer.DeferredSemaphore(concurrency)

    def count(chunk):
        stats["bytes"] += len(chunk)

    async def fetch(url):
        try:
            response = await treq.get(url, pool=pool)
            await treq.collect(response, count)
            ok = response.code == 200
        except Exception as e:  # connection errors, truncated bodies
            ok = False
            if stats["errors"] < 3:
                print("error:", url, e, file=sys.stderr)
        stats["pages" if ok else "errors"] += 1

    # semaphore.run calls the function only when a token is free; the coroutine becomes a
    # Deferred there, so no more than C requests are ever started.
    requests = [semaphore.run(lambda u=url: defer.Deferred.fromCoroutine(fetch(u)))
                for url in urls]
    await defer.gatherResults(requests)
    await pool.closeCachedConnections()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--input", required=True, help="file of URLs, one a line")
    parser.add_argument("--concurrency", type=int, default=2, help="requests in flight")
    options = parser.parse_args()
    with open(options.input, encoding="utf-8") as f:
        urls = [line.strip() for line in f if line.strip()]

    stats = {"pages": 0, "errors": 0, "bytes": 0}
    start = time.perf_counter()

    def finished(_):
        stats["seconds"] = round(time.perf_counter() - start, 6)
        print(json.dumps(stats), file=sys.stderr)
        if stats["pages"] != len(urls) or stats["errors"]:
            raise SystemExit(1)

    # task.react runs the reactor until the Deferred fires, then exits the process.
    task.react(lambda reactor: defer.Deferred.fromCoroutine(
        run(reactor, urls, options.concurrency, stats)).addCallback(finished))


if __name__ == "__main__":
    main()
