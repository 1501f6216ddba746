"""The five attacks of the second hardening round (issue 13), each a soak phase with its figure.

* :func:`cache_flood`: an INCREMENT, then more distinct requests than the duplicate-reply
  cache holds (NOOPs, INCREMENTs from many sources, 61 kB ECHOs), then its retransmission
  inside the minimum window: the counter value must be the first one, or BUSY.
* :func:`slot_hold`: 17 sources in 17 networks, 64 connections each, more than every slot,
  each sending a NOOP every few seconds and reconnecting when dropped.
* :func:`pipelined_malformed`: one connection pipelining a million MALFORMED requests (a
  reserved flag bit: the connection stays open) and reading the replies.
* :func:`log_stall_flood`: rejected datagrams while the soak stops reading the server's
  stderr (see :class:`~rrp_robustness.soak.server.ServerProcess`).
* :func:`memory_hold`: connections declaring 1 MiB payloads and holding back the last byte,
  then connections pipelining 1 MiB ECHOs and never reading a reply.

What the honest clients saw during each phase is judged in :mod:`.verdict`; what the
attackers themselves observed is returned here.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from rrp_spec import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
    DEFAULT_TCP_MAX_PAYLOAD,
    HEADER_SIZE,
    MAX_UDP_PAYLOAD,
    MIN_DEDUP_WINDOW,
    Op,
    Result,
    pack_request,
    unpack_header,
)

from .results import result_name

#: Distinct 20-byte NOOPs of one cache flood: the figure that beat the 65,536-entry cache.
FLOOD_NOOPS = 68_000
#: Distinct INCREMENTs of one cache flood, spread over :data:`FLOOD_SOURCES` addresses.
FLOOD_INCREMENTS = 68_000
#: 61 kB ECHOs of one cache flood: 1,200 beat the byte bound on an idle machine; more, for a loaded one.
FLOOD_ECHOES = 1_600
FLOOD_ECHO_PAYLOAD = 61_000
#: Source addresses of the cache flood (one per /24), so a per-source share alone cannot absorb it.
FLOOD_SOURCES = tuple(f"127.0.{n}.7" for n in range(60, 76))
#: When the retransmission goes out after the first attempt: inside the minimum window, after the flood.
RETRANSMIT_AFTER = 0.5 * MIN_DEDUP_WINDOW
#: The slot attack: sources (one per /24), connections per source, and the keep-alive interval.
SLOT_SOURCES = tuple(f"127.0.{n}.9" for n in range(100, 117))
#: The same attack from 17 addresses of the honest clients' own /24 (127.0.0.1 is the honest clients' address):
#: they fill that network's slots rather than the global ones.
NEIGHBOUR_SOURCES = tuple(f"127.0.0.{n}" for n in range(2, 19))
#: One connection from each of 1,088 networks (/24s of 127.1.0.0 to 127.5.63.0): no network holds more than one.
SPREAD_SOURCES = tuple(f"127.{1 + n // 256}.{n % 256}.1" for n in range(1088))
SLOT_KEEPALIVE = DEFAULT_IDLE_TIMEOUT / 2
SLOT_OPEN_RATE = 500.0
#: MALFORMED requests the pipelining attacker sends, in writes of this many.
PIPELINED_REQUESTS = 1_000_000
PIPELINE_CHUNK = 4096
#: Rejected datagrams per second while the log reader is stalled (the figure that froze the server).
LOG_FLOOD_RATE = 500.0
#: The memory attack: sources (one per /24, 32 connections each), and how many 1 MiB ECHOs a never-reading
#: connection pushes at most.
MEMORY_SOURCES = tuple(f"127.0.{n}.11" for n in range(150, 182))
MEMORY_ECHOES_PER_CONNECTION = 4
#: A write that does not drain in this long means the server has stopped reading.
WRITE_STALL = 0.5


def _malformed(request_id: int) -> bytes:
    data = bytearray(pack_request(Op.NOOP, request_id))
    data[3] = 0x40  # a reserved flag bit: MALFORMED, and the framing stays intact (SRV-3, TCP-SRV-9)
    return bytes(data)


@dataclass(slots=True)
class CacheFloodResult:
    """What the cache flood's retransmissions got back."""

    attack: str = "cache-flood"
    trials: int = 0
    #: Retransmissions answered with the first counter value (from the cache).
    same_value: int = 0
    #: Retransmissions answered BUSY (not carried out: allowed).
    busy: int = 0
    #: Retransmissions carried out again: a new counter value. Must stay 0.
    executed_again: int = 0
    #: Retransmissions with no answer at all.
    unanswered: int = 0
    #: Trials whose retransmission could not go out inside the minimum window (a loaded machine): not judged.
    late: int = 0
    flood_sent: int = 0
    flood_replies_by_result: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class TcpPressureResult:
    """What one TCP pressure attack did."""

    attack: str
    connections: int = 0
    refused: int = 0
    #: Connections the server reset or closed while the attacker still wanted them.
    dropped: int = 0
    reconnects: int = 0
    requests_sent: int = 0
    replies: int = 0
    replies_by_result: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _udp_socket(source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    sock.bind((source, 0))
    return sock


def _drain(sock: socket.socket, tally: dict[str, int]) -> None:
    while True:
        try:
            data = sock.recv(MAX_UDP_PAYLOAD + HEADER_SIZE + 1)
        except (BlockingIOError, ConnectionRefusedError):
            return
        if len(data) >= HEADER_SIZE:
            name = result_name(unpack_header(data).result)
            tally[name] = tally.get(name, 0) + 1


async def _send_all(
    sock: socket.socket, datagrams: list[bytes], address: tuple[str, int], tally: dict[str, int], until: float
) -> int:
    """Send the datagrams until ``until``, yielding to the loop (and reading replies) now and then; returns how many
    went out."""
    sent = 0
    for n, datagram in enumerate(datagrams):
        if time.monotonic() >= until:
            break
        try:
            sock.sendto(datagram, address)
            sent += 1
        except BlockingIOError:
            await asyncio.sleep(0.001)
        except ConnectionRefusedError:
            pass
        if n % 512 == 511:
            _drain(sock, tally)
            await asyncio.sleep(0)
    _drain(sock, tally)
    return sent


async def _await_reply(sock: socket.socket, request_id: int, timeout: float) -> bytes | None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            data = sock.recv(1024)
        except BlockingIOError:
            await asyncio.sleep(0.005)
            continue
        if len(data) >= HEADER_SIZE and unpack_header(data).request_id == request_id:
            return data
    return None


async def cache_flood(
    address: tuple[str, int], trials: int, scale: float, seed: int, seconds: float = float("inf")
) -> CacheFloodResult:
    """Up to ``trials`` times within ``seconds``: INCREMENT, flood the cache, retransmit inside the minimum window."""
    rng = random.Random(seed)
    end = time.monotonic() + seconds
    result = CacheFloodResult()
    honest = _udp_socket("127.0.0.1")
    flooders = [_udp_socket(source) for source in FLOOD_SOURCES]
    tally = result.flood_replies_by_result
    try:
        for _ in range(trials):
            if result.trials and end - time.monotonic() < RETRANSMIT_AFTER + 1.0:
                break  # no time for another whole trial inside this phase
            # Built before the INCREMENT goes out, so that the whole flood fits between it and its retransmission.
            noops = [pack_request(Op.NOOP, rng.randrange(1, 1 << 64)) for _ in range(int(FLOOD_NOOPS * scale))]
            increments = [
                pack_request(Op.INCREMENT, rng.randrange(1, 1 << 64)) for _ in range(int(FLOOD_INCREMENTS * scale))
            ]
            echo_payload = rng.randbytes(FLOOD_ECHO_PAYLOAD)
            echoes = [
                pack_request(Op.ECHO, rng.randrange(1, 1 << 64), echo_payload) for _ in range(int(FLOOD_ECHOES * scale))
            ]
            request_id = rng.randrange(1, 1 << 64)
            request = pack_request(Op.INCREMENT, request_id)
            sent_at = time.monotonic()
            honest.sendto(request, address)
            first = await _await_reply(honest, request_id, 2.0)
            if first is None or unpack_header(first).result != Result.OK:
                continue
            share = len(flooders)
            until = sent_at + RETRANSMIT_AFTER
            # The 61 kB ECHOs first: on a loaded machine they overflow a byte bound sooner than NOOPs an entry bound.
            sends = [
                _send_all(sock, echoes[k::share] + increments[k::share] + noops[k::share], address, tally, until)
                for k, sock in enumerate(flooders)
            ]
            result.flood_sent += sum(await asyncio.gather(*sends))
            await asyncio.sleep(max(0.0, until - time.monotonic()))
            if time.monotonic() - sent_at >= 0.9 * MIN_DEDUP_WINDOW:
                result.late += 1  # the loaded attacker could not retransmit inside the window: not a trial
                continue
            result.trials += 1
            honest.sendto(request, address)  # the retransmission: same source, same ID, same bytes
            again = await _await_reply(honest, request_id, 2.0)
            if again is None:
                result.unanswered += 1
            elif again == first:
                result.same_value += 1
            elif unpack_header(again).result == Result.BUSY:
                result.busy += 1
            else:
                result.executed_again += 1
            for sock in flooders:
                _drain(sock, tally)
    finally:
        honest.close()
        for sock in flooders:
            sock.close()
    return result


async def _open(address: tuple[str, int], source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.bind((source, 0))
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, address), 5.0)
        return await asyncio.open_connection(sock=sock)
    except (OSError, TimeoutError):
        sock.close()
        return None


async def slot_hold(
    address: tuple[str, int],
    seconds: float,
    scale: float,
    sources: tuple[str, ...] = SLOT_SOURCES,
    name: str = "slot-hold",
    per_source: int | None = None,
) -> TcpPressureResult:
    """17 sources x 64 connections (or ``sources`` x ``per_source``), keep-alives every few seconds, reconnecting
    when dropped, for ``seconds``."""
    result = TcpPressureResult(name)
    if per_source is None:
        per_source = max(2, int(DEFAULT_MAX_CONNECTIONS_PER_SOURCE * scale))
    else:
        sources = sources[: max(32, int(len(sources) * scale))]
    end = time.monotonic() + seconds
    next_id = iter(range(1, 1 << 62))

    async def hold(source: str, first: bool, delay: float) -> None:
        await asyncio.sleep(delay)
        while time.monotonic() < end:
            try:
                opened = await asyncio.wait_for(_open(address, source), max(0.1, end - time.monotonic()))
            except TimeoutError:
                return
            if not first:
                result.reconnects += 1
            first = False
            if opened is None:
                result.refused += 1
                await asyncio.sleep(0.2)
                continue
            result.connections += 1
            reader, writer = opened
            try:
                while time.monotonic() < end:
                    request_id = next(next_id)
                    writer.write(pack_request(Op.NOOP, request_id))
                    result.requests_sent += 1
                    reply = await asyncio.wait_for(reader.readexactly(HEADER_SIZE), 5.0)
                    name = result_name(unpack_header(reply).result)
                    result.replies += 1
                    result.replies_by_result[name] = result.replies_by_result.get(name, 0) + 1
                    if name != Result.OK.name:
                        break
                    await asyncio.sleep(min(SLOT_KEEPALIVE, max(0.0, end - time.monotonic())))
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                pass
            if time.monotonic() < end:
                result.dropped += 1
            writer.transport.abort()
            await asyncio.sleep(0.05)

    begin = time.monotonic()
    holders = [source for source in sources for _ in range(per_source)]
    # Opened at SLOT_OPEN_RATE a second: a burst of 1,088 SYNs overflows any accept queue and stalls in retries.
    await asyncio.gather(*(hold(source, True, n / SLOT_OPEN_RATE) for n, source in enumerate(holders)))
    result.seconds = time.monotonic() - begin
    return result


async def pipelined_malformed(address: tuple[str, int], seconds: float, scale: float) -> TcpPressureResult:
    """One connection pipelining MALFORMED requests as fast as the server takes them; replies are read."""
    result = TcpPressureResult("pipelined-malformed")
    total = max(10_000, int(PIPELINED_REQUESTS * scale))
    opened = await _open(address, "127.0.0.5")
    if opened is None:
        result.refused = 1
        return result
    reader, writer = opened
    result.connections = 1
    begin = time.monotonic()
    chunk = b"".join(_malformed(n + 1) for n in range(PIPELINE_CHUNK))

    async def read_replies() -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while result.replies < result.requests_sent or result.requests_sent < total:
                data = await reader.read(1 << 20)
                if not data:
                    return
                result.replies += len(data) // HEADER_SIZE

    replies = asyncio.create_task(read_replies())
    try:
        while result.requests_sent < total and time.monotonic() - begin < seconds:
            writer.write(chunk)
            result.requests_sent += PIPELINE_CHUNK
            await writer.drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(replies), max(1.0, seconds - (time.monotonic() - begin)))
    except OSError:
        result.dropped = 1
    finally:
        replies.cancel()
        writer.transport.abort()
    result.replies_by_result = {Result.MALFORMED.name: result.replies}
    result.seconds = time.monotonic() - begin
    return result


async def log_stall_flood(address: tuple[str, int], seconds: float, rate: float = LOG_FLOOD_RATE) -> int:
    """Rejected datagrams (each worth a log line) at ``rate`` per second for ``seconds``; returns how many."""
    sock = _udp_socket("127.0.0.6")
    sent = 0
    begin = time.monotonic()
    tally: dict[str, int] = {}
    try:
        while (elapsed := time.monotonic() - begin) < seconds:
            for _ in range(10):
                with contextlib.suppress(BlockingIOError, ConnectionRefusedError):
                    sock.sendto(_malformed(sent + 1), address)
                    sent += 1
            _drain(sock, tally)
            await asyncio.sleep(max(0.0, sent / rate - elapsed))
    finally:
        sock.close()
    return sent


async def _raw_connect(address: tuple[str, int], source: str, rcvbuf: int | None = None) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        sock.bind((source, 0))
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, address), 5.0)
    except (OSError, TimeoutError):
        sock.close()
        return None
    return sock


async def memory_hold(address: tuple[str, int], seconds: float, scale: float) -> list[TcpPressureResult]:
    """Connections declaring 1 MiB and holding back its last byte; then connections never reading 1 MiB ECHOs.

    Raw sockets and one shared payload: the attacker sends 1 GiB or more without holding a copy per connection.
    """
    loop = asyncio.get_running_loop()
    connections = max(32, int(1024 * scale))
    per_source = -(-connections // len(MEMORY_SOURCES))
    sources = [MEMORY_SOURCES[n // per_source] for n in range(connections)]
    payload = memoryview(b"m" * DEFAULT_TCP_MAX_PAYLOAD)
    held = TcpPressureResult("declared-1MiB-held")
    unread = TcpPressureResult("unread-1MiB-echoes")
    wave = seconds / 2
    end = time.monotonic() + seconds

    def tally(result: TcpPressureResult, data: bytes) -> None:
        if len(data) >= HEADER_SIZE:
            name = result_name(unpack_header(data).result)
            result.replies_by_result[name] = result.replies_by_result.get(name, 0) + 1
            result.replies += 1

    async def connect(source: str, rcvbuf: int | None = None) -> socket.socket | None:
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(_raw_connect(address, source, rcvbuf), max(0.1, end - time.monotonic()))
        return None

    async def declare(source: str, n: int) -> None:
        sock = await connect(source)
        if sock is None:
            held.refused += 1
            return
        held.connections += 1
        header = pack_request(Op.ECHO, n + 1, b"")[: HEADER_SIZE - 4] + len(payload).to_bytes(4, "big")
        try:
            await asyncio.wait_for(loop.sock_sendall(sock, header), wave)
            held.requests_sent += 1
            await asyncio.wait_for(loop.sock_sendall(sock, payload[:-1]), wave)
            tally(held, await asyncio.wait_for(loop.sock_recv(sock, HEADER_SIZE), wave))
        except (OSError, TimeoutError):
            pass
        finally:
            sock.close()

    async def never_read(source: str, n: int) -> None:
        sock = await connect(source, rcvbuf=4096)
        if sock is None:
            unread.refused += 1
            return
        unread.connections += 1
        try:
            for k in range(MEMORY_ECHOES_PER_CONNECTION):
                header = pack_request(Op.ECHO, n * 16 + k + 1, b"")[: HEADER_SIZE - 4] + len(payload).to_bytes(4, "big")
                await asyncio.wait_for(loop.sock_sendall(sock, header), WRITE_STALL)
                await asyncio.wait_for(loop.sock_sendall(sock, payload), WRITE_STALL)
                unread.requests_sent += 1
            await asyncio.sleep(wave)
        except (OSError, TimeoutError):
            pass
        finally:
            sock.close()

    async def bounded(coroutine: Coroutine[Any, Any, None], until: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(coroutine, max(0.1, until - time.monotonic()))

    begin = time.monotonic()
    await asyncio.gather(*(bounded(declare(source, n), begin + wave) for n, source in enumerate(sources)))
    held.seconds = time.monotonic() - begin
    begin = time.monotonic()
    await asyncio.gather(*(bounded(never_read(source, n), end) for n, source in enumerate(sources)))
    unread.seconds = time.monotonic() - begin
    return [held, unread]
