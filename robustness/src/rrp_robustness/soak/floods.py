"""UDP attackers: floods of garbage, of random headers, of REPLY-flagged datagrams, and INCREMENT storms.

The floods come from several attacker addresses and count what the server sent back:
garbage and REPLY-flagged datagrams must get nothing (UDP-SRV-1, UDP-SRV-2, SRV-1);
random headers may get error replies, each no larger than three times its request
(UDP-SRV-5). The storm sends each INCREMENT request ID many times from one port: every
reply to one ID must carry the same counter value (UDP-SRV-7).
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field

from rrp_spec import (
    AMPLIFICATION_FACTOR,
    HEADER_SIZE,
    MAGIC,
    MAX_CODE,
    MAX_UDP_DATAGRAM,
    Flag,
    Header,
    Op,
    Result,
    pack_header,
    pack_request,
    unpack_header,
)

from .plan import ATTACKER_SOURCES, Attack, SoakPlan
from .results import result_name

#: Datagrams sent between two pacing checks.
BATCH = 50
#: Largest datagram a flood sends: a typical MTU, so a flood is packets, not bandwidth.
FLOOD_MAX_LENGTH = 1400
#: How long a flood keeps listening for replies after its last datagram.
LINGER = 1.0
#: Sockets (source addresses) each flood spreads over.
FLOOD_SOURCES = 8


@dataclass(slots=True)
class FloodResult:
    """What one flood sent and what came back."""

    attack: str
    sent: int = 0
    #: Sends the attacker's own kernel refused (its buffer was full).
    send_errors: int = 0
    replies: int = 0
    #: Replies larger than AMPLIFICATION_FACTOR times the request they answer.
    amplified: int = 0
    #: Replies the spec forbids outright (to garbage or to REPLY-flagged datagrams).
    forbidden_replies: int = 0
    #: INCREMENT storm: request IDs whose replies carried more than one counter value.
    executed_twice: int = 0
    #: INCREMENT storm: request IDs that got at least one OK reply.
    answered_ids: int = 0
    replies_by_result: dict[str, int] = field(default_factory=dict)


def _garbage(rng: random.Random) -> bytes:
    data = bytearray(rng.randbytes(rng.randrange(0, FLOOD_MAX_LENGTH)))
    if data[:2] == MAGIC:
        data[0] ^= 0xFF
    return bytes(data)


def _random_header(rng: random.Random) -> bytes:
    """RR and version 1, every other field random, and a payload whose length may or may not match."""
    size = rng.randrange(0, 64)
    header = Header(
        flags=rng.choice((0, 0, rng.randrange(256))) & ~int(Flag.REPLY),
        operation=rng.randrange(MAX_CODE + 1),
        result=rng.choice((0, 0, rng.randrange(MAX_CODE + 1))),
        request_id=rng.randrange(1 << 64),
        size=rng.choice((size, rng.randrange(1 << 32))),
    )
    return pack_header(header) + rng.randbytes(size)


def _reply_flagged(rng: random.Random) -> bytes:
    payload = rng.randbytes(rng.randrange(0, 64))
    header = Header(
        flags=int(Flag.REPLY) | (rng.randrange(256) & rng.choice((0, 0xFE))),
        operation=rng.choice((int(Op.ECHO), int(Op.INCREMENT), rng.randrange(MAX_CODE + 1))),
        result=rng.choice((0, int(Result.MALFORMED), rng.randrange(MAX_CODE + 1))),
        request_id=rng.randrange(1 << 64),
        size=len(payload),
    )
    return pack_header(header) + payload


def _sockets(count: int, offset: int) -> list[socket.socket]:
    sockets = []
    for n in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind((ATTACKER_SOURCES[(offset + n) % len(ATTACKER_SOURCES)], 0))
        sockets.append(sock)
    return sockets


def _drain(sock: socket.socket) -> list[bytes]:
    received = []
    while True:
        try:
            received.append(sock.recv(MAX_UDP_DATAGRAM + 1))
        except (BlockingIOError, ConnectionRefusedError):
            return received


def _tally(result: FloodResult, reply: bytes) -> None:
    result.replies += 1
    if len(reply) >= HEADER_SIZE:
        code = unpack_header(reply).result
        name = result_name(code)
        result.replies_by_result[name] = result.replies_by_result.get(name, 0) + 1


async def flood(attack: Attack, address: tuple[str, int], seconds: float, rate: float, seed: int) -> FloodResult:
    """Send ``rate`` datagrams per second of the kind ``attack`` names, for ``seconds``."""
    make = {
        Attack.DATAGRAM_GARBAGE: _garbage,
        Attack.DATAGRAM_RANDOM_HEADER: _random_header,
        Attack.DATAGRAM_REPLY_FLAG: _reply_flagged,
    }[attack]
    rng = random.Random(seed)
    result = FloodResult(str(attack))
    sockets = _sockets(FLOOD_SOURCES, seed)
    # Request lengths by request ID, to hold every reply against the amplification limit.
    request_length: dict[int, int] = {}

    def collect() -> None:
        for sock in sockets:
            for reply in _drain(sock):
                _tally(result, reply)
                if attack is not Attack.DATAGRAM_RANDOM_HEADER:
                    result.forbidden_replies += 1
                elif len(reply) >= HEADER_SIZE:
                    length = request_length.get(unpack_header(reply).request_id)
                    if length is None or len(reply) > AMPLIFICATION_FACTOR * length:
                        result.amplified += 1

    try:
        begin = time.monotonic()
        while (elapsed := time.monotonic() - begin) < seconds:
            for _ in range(BATCH):
                datagram = make(rng)
                if attack is Attack.DATAGRAM_RANDOM_HEADER:
                    request_length[unpack_header(datagram).request_id] = len(datagram)
                try:
                    sockets[result.sent % len(sockets)].sendto(datagram, address)
                    result.sent += 1
                except (BlockingIOError, ConnectionRefusedError):
                    result.send_errors += 1
            collect()
            await asyncio.sleep(max(0.0, result.sent / rate - elapsed))
        await asyncio.sleep(LINGER)
        collect()
    finally:
        for sock in sockets:
            sock.close()
    return result


async def increment_storm(address: tuple[str, int], plan: SoakPlan, seconds: float, seed: int) -> FloodResult:
    """Send each of ``plan.storm_ids`` INCREMENT requests ``plan.storm_copies`` times from one port."""
    rng = random.Random(seed)
    result = FloodResult(str(Attack.INCREMENT_STORM))
    (sock,) = _sockets(1, seed)
    counters: dict[int, set[int]] = defaultdict(set)
    requests = [pack_request(Op.INCREMENT, rng.randrange(1, 1 << 64)) for _ in range(plan.storm_ids)]
    # Interleave the copies so that each ID's retransmissions are spread over the storm, as real retries are.
    schedule = [request for _ in range(plan.storm_copies) for request in requests]
    interval = seconds / len(schedule)

    def collect() -> None:
        for reply in _drain(sock):
            _tally(result, reply)
            if len(reply) < HEADER_SIZE:
                continue
            header = unpack_header(reply)
            if len(reply) > AMPLIFICATION_FACTOR * HEADER_SIZE:
                result.amplified += 1
            if header.result == Result.OK and header.operation == Op.INCREMENT and len(reply) == HEADER_SIZE + 8:
                counters[header.request_id].add(int.from_bytes(reply[HEADER_SIZE:], "big"))

    try:
        begin = time.monotonic()
        for n, request in enumerate(schedule):
            try:
                sock.sendto(request, address)
                result.sent += 1
            except (BlockingIOError, ConnectionRefusedError):
                result.send_errors += 1
            if n % BATCH == 0:
                collect()
                await asyncio.sleep(max(0.0, begin + n * interval - time.monotonic()))
        await asyncio.sleep(LINGER)
        collect()
    finally:
        sock.close()
    result.answered_ids = len(counters)
    result.executed_twice = sum(1 for values in counters.values() if len(values) > 1)
    return result
