"""A small RRP server that follows ``rrp serve``'s contract, so the soak harness can be tested on its own.

``python toy_server.py [--no-request-deadline]``: UDP and TCP on 127.0.0.1, ephemeral ports,
the ``listening`` lines, counters as one JSON line on SIGTERM. It keeps the defences the
soak measures (whole-request deadline, idle timeout, per-source and global limits counted
from accept, a send timeout, a duplicate-reply cache), so a soak against it should hold
every target; ``--no-request-deadline`` removes one defence so a test can see the verdict fail.
It is deliberately small, not a second reference: python-ref is the reference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections import Counter, OrderedDict
from typing import ClassVar, cast

from rrp_spec import (
    DEFAULT_DEDUP_ENTRIES,
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
    DEFAULT_REQUEST_DEADLINE,
    DEFAULT_SEND_TIMEOUT,
    DEFAULT_TCP_MAX_PAYLOAD,
    DEFAULT_UDP_MAX_PAYLOAD,
    HEADER_SIZE,
    Action,
    Header,
    Op,
    ProtocolViolation,
    Result,
    Transport,
    check_request,
    decode_request_datagram,
    pack_reply,
    unpack_header,
)

COUNTERS: Counter[str] = Counter()
_STATE = {"counter": 0}


def execute(header: Header, payload: bytes) -> bytes:
    if header.operation == Op.ECHO:
        return pack_reply(header, Result.OK, payload)
    if header.operation == Op.INCREMENT:
        _STATE["counter"] += 1
        return pack_reply(header, Result.OK, _STATE["counter"].to_bytes(8, "big"))
    if header.operation == Op.NOOP:
        return pack_reply(header, Result.OK)
    return pack_reply(header, Result.UNKNOWN_OPERATION)


class Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.cache: OrderedDict[tuple[object, int], tuple[float, bytes]] = OrderedDict()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        try:
            message = decode_request_datagram(data, DEFAULT_UDP_MAX_PAYLOAD)
        except ProtocolViolation as violation:
            if violation.action is Action.DROP:
                COUNTERS[f"drop.{violation.requirement}"] += 1
            else:
                self.transport.sendto(violation.error_reply(), addr)
            return
        now = time.monotonic()
        while self.cache and next(iter(self.cache.values()))[0] < now - DEFAULT_DEDUP_WINDOW:
            self.cache.popitem(last=False)
        key = (addr, message.header.request_id)
        if key in self.cache:
            self.transport.sendto(self.cache[key][1], addr)
            return
        reply = execute(message.header, message.payload)
        self.cache[key] = (now, reply)
        if len(self.cache) > DEFAULT_DEDUP_ENTRIES:
            self.cache.popitem(last=False)
        self.transport.sendto(reply, addr)


class Tcp(asyncio.Protocol):
    open_by_source: ClassVar[Counter[str]] = Counter()
    open_total: ClassVar[int] = 0

    def __init__(self, request_deadline: bool) -> None:
        self.use_deadline = request_deadline
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.source = ""
        self.timer: asyncio.TimerHandle | None = None
        self.send_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.source = transport.get_extra_info("peername")[0]
        if (
            Tcp.open_total >= DEFAULT_MAX_CONNECTIONS
            or Tcp.open_by_source[self.source] >= DEFAULT_MAX_CONNECTIONS_PER_SOURCE
        ):
            COUNTERS["drop.busy"] += 1
            self.source = ""
            transport.abort()
            return
        Tcp.open_total += 1
        Tcp.open_by_source[self.source] += 1
        self._arm(DEFAULT_IDLE_TIMEOUT)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.source:
            Tcp.open_total -= 1
            Tcp.open_by_source[self.source] -= 1
        for timer in (self.timer, self.send_timer):
            if timer is not None:
                timer.cancel()

    def _arm(self, seconds: float | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = None if seconds is None else asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        COUNTERS["drop.timeout"] += 1
        assert self.transport is not None
        self.transport.abort()

    def pause_writing(self) -> None:
        assert self.transport is not None
        self.transport.pause_reading()
        self.send_timer = asyncio.get_running_loop().call_later(DEFAULT_SEND_TIMEOUT, self._expire)

    def resume_writing(self) -> None:
        assert self.transport is not None
        if self.send_timer is not None:
            self.send_timer.cancel()
        self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.buffer and data:
            self._arm(DEFAULT_REQUEST_DEADLINE if self.use_deadline else None)
        self.buffer += data
        while len(self.buffer) >= HEADER_SIZE:
            header = unpack_header(self.buffer)
            try:
                check_request(header, transport=Transport.TCP, max_payload=DEFAULT_TCP_MAX_PAYLOAD)
            except ProtocolViolation as violation:
                if violation.action is Action.CLOSE or violation.close_after:
                    if violation.action is Action.REPLY:
                        self.transport.write(violation.error_reply())
                    COUNTERS[f"drop.{violation.requirement}"] += 1
                    self.transport.close()
                    self.buffer.clear()
                    return
                reply = violation.error_reply()
            else:
                reply = b""
            end = HEADER_SIZE + header.size
            if len(self.buffer) < end:
                return
            payload = bytes(self.buffer[HEADER_SIZE:end])
            del self.buffer[:end]
            self.transport.write(reply or execute(header, payload))
            self._arm(DEFAULT_REQUEST_DEADLINE if self.buffer and self.use_deadline else DEFAULT_IDLE_TIMEOUT)


async def serve(request_deadline: bool) -> None:
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(Udp, local_addr=("127.0.0.1", 0))
    tcp = await loop.create_server(lambda: Tcp(request_deadline), "127.0.0.1", 0, backlog=1024)
    print(f"listening udp 127.0.0.1:{udp.get_extra_info('sockname')[1]}", flush=True)
    print(f"listening tcp 127.0.0.1:{tcp.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    tcp.close()
    udp.close()
    print(json.dumps({"drops": dict(COUNTERS)}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-request-deadline", action="store_true")
    args = parser.parse_args()
    asyncio.run(serve(not args.no_request_deadline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
