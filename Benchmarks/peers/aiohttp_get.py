#!/usr/bin/env python3
"""aiohttp as a peer: GET every URL of a file, at most C at a time, bodies streamed and dropped.

    python aiohttp_get.py --input URLS --concurrency C [--cafile CA]

Written the way an aiohttp user would: asyncio's default event loop, one ClientSession (its
connector keeps connections alive and reuses them), an asyncio.Semaphore(C) around each request,
and the body read chunk by chunk (iter_any) and dropped.  The connector's own limit (100 by
default) is raised to C so that the semaphore alone sets how many requests are in flight.
One JSON line goes to standard error at the end (same shape as twisted_tutorial.py):
    {"pages": ok, "errors": n, "bytes": b, "seconds": s}
"""

import argparse
import asyncio
import json
import ssl
import sys
import time

import aiohttp


async def run(urls, concurrency, stats, cafile=None):
    semaphore = asyncio.Semaphore(concurrency)
    # https: trust the CA file instead of the system's store (tls_bench.py's private CA).
    context = ssl.create_default_context(cafile=cafile) if cafile else True
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=context)

    async with aiohttp.ClientSession(connector=connector) as session:

        async def fetch(url):
            async with semaphore:
                try:
                    async with session.get(url) as response:
                        async for chunk in response.content.iter_any():
                            stats["bytes"] += len(chunk)
                        ok = response.status == 200
                except aiohttp.ClientError as e:
                    ok = False
                    if stats["errors"] < 3:
                        print("error:", url, e, file=sys.stderr)
            stats["pages" if ok else "errors"] += 1

        await asyncio.gather(*(fetch(url) for url in urls))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--input", required=True, help="file of URLs, one a line")
    parser.add_argument("--concurrency", type=int, default=2, help="requests in flight")
    parser.add_argument("--cafile", help="https: the CA certificates to trust (instead of the system's)")
    options = parser.parse_args()
    with open(options.input, encoding="utf-8") as f:
        urls = [line.strip() for line in f if line.strip()]

    stats = {"pages": 0, "errors": 0, "bytes": 0}
    start = time.perf_counter()
    asyncio.run(run(urls, options.concurrency, stats, options.cafile))
    stats["seconds"] = round(time.perf_counter() - start, 6)
    print(json.dumps(stats), file=sys.stderr)
    sys.exit(0 if stats["pages"] == len(urls) and stats["errors"] == 0 else 1)


if __name__ == "__main__":
    main()
