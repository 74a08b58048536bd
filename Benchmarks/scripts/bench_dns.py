#!/usr/bin/env python3
"""The DNS server of `make bench-hosts`: answers every A question with one address after a set
delay, counting the questions; AAAA and other types get an empty NOERROR answer (the names have
IPv4 only). UDP and TCP on one address and port, asyncio, Python's standard library only.

Used in-process by hosts_bench.py (DNSServer), or alone for a manual check:

    python3 bench_dns.py --listen 127.0.0.153 --port 53 --address 127.0.0.1 --delay 0.1
"""

import argparse
import asyncio
import struct
import threading


class DNSServer:
    """Runs in its own thread with its own event loop; `delay`, `address` and `ttl` may be changed
    between runs, `reset()` clears the counts."""

    def __init__(self, listen, port, address="127.0.0.1", delay=0.0, ttl=300):
        self.listen, self.port = listen, port
        self.address, self.delay, self.ttl = address, delay, ttl
        self.lock = threading.Lock()
        self.queries = 0  # every question received
        self.names = {}  # name -> questions
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        self.ready.wait()
        if self.error:
            raise self.error
        return self

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def reset(self):
        with self.lock:
            self.queries = 0
            self.names = {}

    def counts(self):
        with self.lock:
            return self.queries, dict(self.names)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.loop.create_datagram_endpoint(
                lambda: _UDP(self), local_addr=(self.listen, self.port)))
            self.loop.run_until_complete(asyncio.start_server(self._tcp, self.listen, self.port))
        except OSError as e:
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()

    def answer(self, query):
        """The response to one query message, or None when it is not a question."""
        if len(query) < 17:
            return None
        qdcount = struct.unpack("!H", query[4:6])[0]
        if qdcount != 1:
            return None
        index, labels = 12, []
        while index < len(query) and query[index] != 0:
            length = query[index]
            labels.append(query[index + 1:index + 1 + length].decode("ascii", "replace").lower())
            index += 1 + length
        end = index + 5
        if end > len(query):
            return None
        qtype = struct.unpack("!H", query[index + 1:index + 3])[0]
        name = ".".join(labels)
        with self.lock:
            self.queries += 1
            self.names[name] = self.names.get(name, 0) + 1
        records = b""
        count = 0
        if qtype == 1:
            data = bytes(int(part) for part in self.address.split("."))
            records = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, self.ttl, 4) + data
            count = 1
        flags = 0x8000 | 0x0400 | (query[2] << 8 & 0x7900) | 0x0080  # QR AA opcode RD RA
        header = query[0:2] + struct.pack("!HHHHH", flags, 1, count, 0, 0)
        return header + query[12:end] + records

    async def _tcp(self, reader, writer):
        try:
            while True:
                length = struct.unpack("!H", await reader.readexactly(2))[0]
                response = self.answer(await reader.readexactly(length))
                if response is None:
                    break
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(struct.pack("!H", len(response)) + response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, server):
        self.server = server
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, peer):
        response = self.server.answer(data)
        if response is None:
            return
        if self.server.delay:
            self.server.loop.call_later(self.server.delay, self.transport.sendto, response, peer)
        else:
            self.transport.sendto(response, peer)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--listen", default="127.0.0.153")
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--address", default="127.0.0.1", help="the A record of every name")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    options = parser.parse_args()
    server = DNSServer(options.listen, options.port, options.address, options.delay).start()
    print(f"bench_dns.py: on {options.listen}:{options.port}; Ctrl-C to stop", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
        print(server.counts()[0], "queries")


if __name__ == "__main__":
    main()
