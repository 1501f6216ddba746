"""UDP server checks: payload limit, reply source, duplicate replies, stale data, garbage, amplification."""

from __future__ import annotations

import ipaddress
import os
import random
import time

from rrp_spec import (
    AMPLIFICATION_FACTOR,
    APPLICATION_RANGE_END,
    APPLICATION_RANGE_START,
    COUNTER_SIZE,
    HEADER_SIZE,
    MAGIC,
    MAX_UDP_PAYLOAD,
    MIN_DEDUP_WINDOW,
    VERSION,
    Header,
    Op,
    Result,
    pack_header,
    pack_request,
    unpack_header,
)

from ..context import CheckContext
from ..registry import Registry
from ..timing_audit import BoundKind, TimingRow, audited
from .env import ServerEnv, show
from .judge import UDP_ATTEMPT_WAIT, judge_reply, udp_exchange
from .net import UdpChannel, describe, fresh_id

#: The UDP server checks, in run order (the amplification summary last).
UDP_CHECKS: Registry[ServerEnv] = Registry()

#: Garbage datagrams in the burst (the issue's figure).
GARBAGE_DATAGRAMS = 1000
#: Bytes of the random secret the stale-data check plants; every 8-byte window of it is searched for.
SECRET_SIZE = 2048
#: A leaked window this long is not a coincidence (2^-64 per position).
LEAK_WINDOW = 8
#: Payload of the ECHO whose cached reply a bare header then asks for again (the amplification check).
CACHED_ECHO = 1000
#: Datagrams the dedup-flood check sends before it reads their replies (so the target's socket never overflows).
FLOOD_BATCH = 128
#: The dedup-flood check retransmits inside this share of the minimum window: there (UDP-SRV-9, not UDP-SRV-8)
#: the entry must still be held, so a margin inside the window is the correct side.
DEDUP_PROBE_FRACTION = 0.85
#: Seconds past the minimum window the dedup-window check retransmits, counted from the first reply's arrival
#: (which is after the server stored it): a check of a minimum probes past it, never inside it.
DEDUP_PROBE_PAST = 0.05
#: When the late retransmission goes out, counted from the first reply's arrival.
DEDUP_PROBE_AT = MIN_DEDUP_WINDOW + DEDUP_PROBE_PAST

audited(
    TimingRow(
        "server",
        "udp/dedup-window",
        "UDP-SRV-8",
        BoundKind.MINIMUM,
        f"the duplicate-reply window is at least {MIN_DEDUP_WINDOW:g} s (the default retry schedule's worst case)",
        f"retransmits {DEDUP_PROBE_AT:g} s after the first reply arrived, which is after the server stored it",
        f"against the target, by {DEDUP_PROBE_PAST:g} s and the reply's transit; never scaled. A server whose "
        "window is exactly the minimum can fail on noise: keep a margin (the reference keeps twice the minimum)",
    )
)


@UDP_CHECKS.check(
    "udp/max-payload",
    "ECHO with the claimed UDP payload limit is answered whole; over it, TOO_LARGE.",
    requirements=("UDP-SRV-4", "SRV-8", "SRV-10"),
)
def _max_payload(ctx: CheckContext[ServerEnv]) -> None:
    env = ctx.env
    assert env.udp is not None
    limit = env.claims.udp_max_payload
    with UdpChannel(ctx.log, env.udp, env.amplification) as channel:
        payload = bytes(i % 251 for i in range(limit))
        data = pack_request(Op.ECHO, fresh_id(), payload)
        reply = udp_exchange(ctx, channel, data, f"ECHO with {limit} payload bytes, the claimed limit")
        header = judge_reply(ctx, reply, unpack_header(data), datagram=True, result=Result.OK, requirement="UDP-SRV-4")
        if reply is not None and header is not None and header.result == Result.OK:
            ctx.expect(
                reply[HEADER_SIZE:] == payload,
                "SRV-10",
                f"the {limit} bytes back",
                f"{len(reply) - HEADER_SIZE} bytes, {'identical' if reply[HEADER_SIZE:] == payload else 'different'}",
            )
        if limit < MAX_UDP_PAYLOAD:
            ctx.fail(
                "UDP-SRV-4",
                f"payloads up to {MAX_UDP_PAYLOAD} bytes accepted",
                f"the target claims a limit of {limit}",
            )
            over = pack_request(Op.ECHO, fresh_id(), bytes(limit + 1))
            reply = udp_exchange(ctx, channel, over, f"ECHO with {limit + 1} bytes, one over the claimed limit")
            judge_reply(ctx, reply, unpack_header(over), datagram=True, result=Result.TOO_LARGE, requirement="SRV-8")


@UDP_CHECKS.check(
    "udp/reply-source-address",
    "An ECHO sent to the alternate address is answered from that address and port.",
    requirements=("UDP-SRV-6",),
)
def _source_address(ctx: CheckContext[ServerEnv]) -> None:
    env = ctx.env
    assert env.udp is not None
    host, port = env.udp
    try:
        alt = ipaddress.ip_address(env.alt_address)
    except ValueError:
        ctx.skip(f"--alt-address {env.alt_address!r} is not an IP address")
    if alt.version != ipaddress.ip_address(host).version or str(alt) == host:
        ctx.skip(f"--alt-address {env.alt_address} is not a second address of the target's family")
    with UdpChannel(ctx.log, env.udp, env.amplification) as channel:
        data = pack_request(Op.ECHO, fresh_id(), b"which address answers?")
        target = (str(alt), port)
        for _attempt in range(2):  # not UDP_ATTEMPTS: silence here usually means "not a wildcard", not loss
            channel.send(data, "ECHO to the alternate address", to=target)
            got = channel.receive(ctx.timing.scaled(UDP_ATTEMPT_WAIT))
            if got is not None:
                break
        else:
            ctx.skip(
                f"no reply via {show(target)}: the target listens neither on a wildcard address nor there. A server "
                "with one socket per local address meets UDP-SRV-6 by construction; to grade it, bind it on "
                f"{alt} too, on port {port}, and pass --alt-address {alt}"
            )
        _, origin = got
        ctx.expect(
            origin == target,
            "UDP-SRV-6",
            f"the reply from {show(target)}, the address and port the request was sent to",
            f"the reply came from {show(origin)}",
        )


def _increment_value(ctx: CheckContext[ServerEnv], reply: bytes | None, data: bytes) -> int | None:
    header = judge_reply(ctx, reply, unpack_header(data), datagram=True, result=Result.OK, requirement="SRV-11")
    if reply is None or header is None or header.result != Result.OK or len(reply) != HEADER_SIZE + COUNTER_SIZE:
        return None
    return int.from_bytes(reply[HEADER_SIZE:], "big")


@UDP_CHECKS.check(
    "udp/retransmission",
    "An INCREMENT retransmitted with the same ID returns the same value; a new ID a new one.",
    requirements=("UDP-SRV-7", "SRV-11"),
)
def _retransmission(ctx: CheckContext[ServerEnv]) -> None:
    env = ctx.env
    assert env.udp is not None
    with UdpChannel(ctx.log, env.udp, env.amplification) as channel:
        data = pack_request(Op.INCREMENT, fresh_id())
        first = _increment_value(ctx, udp_exchange(ctx, channel, data, "INCREMENT"), data)
        again = _increment_value(ctx, udp_exchange(ctx, channel, data, "the same INCREMENT, same ID, again"), data)
        fresh = pack_request(Op.INCREMENT, fresh_id())
        new = _increment_value(ctx, udp_exchange(ctx, channel, fresh, "INCREMENT with a new ID"), fresh)
    if first is None or again is None or new is None:
        return
    ctx.expect(
        again == first,
        "UDP-SRV-7",
        f"the retransmission answered with the reply sent before (counter {first})",
        f"counter {again}: the request ran again",
    )
    ctx.expect(new != first, "UDP-SRV-7", "a new request ID to run again", f"counter {new} again")


def _counter_now(ctx: CheckContext[ServerEnv], channel: UdpChannel) -> int | None:
    data = pack_request(Op.INCREMENT, fresh_id())
    return _increment_value(ctx, udp_exchange(ctx, channel, data, "INCREMENT with a fresh ID: the counter now"), data)


def _replayed(reply: bytes | None, cached: bytes, request: bytes) -> bool:
    """``reply`` is the ``cached`` reply, or the TOO_LARGE that UDP-SRV-5 puts in its place when that is too big."""
    if reply == cached:
        return True
    if reply is None or len(reply) < HEADER_SIZE or len(cached) <= AMPLIFICATION_FACTOR * len(request):
        return False
    header = unpack_header(reply)
    return header.result == Result.TOO_LARGE and header.request_id == unpack_header(request).request_id


def _counter_in(reply: bytes | None) -> int | None:
    """The counter an OK INCREMENT reply carries, without judging the reply (other checks do that)."""
    if reply is None or len(reply) != HEADER_SIZE + COUNTER_SIZE or unpack_header(reply).result != Result.OK:
        return None
    return int.from_bytes(reply[HEADER_SIZE:], "big")


@UDP_CHECKS.check(
    "udp/cache-rules",
    "Under a cached INCREMENT's ID another operation gets the INCREMENT's reply; after a MALFORMED the ID is free.",
    requirements=("UDP-SRV-11", "UDP-SRV-12"),
)
def _cache_rules(ctx: CheckContext[ServerEnv]) -> None:
    env = ctx.env
    assert env.udp is not None
    with UdpChannel(ctx.log, env.udp, env.amplification) as channel:
        # An INCREMENT's reply must be cached (UDP-SRV-7): it is the one entry every server has.
        reused = fresh_id()
        increment = pack_request(Op.INCREMENT, reused)
        cached = udp_exchange(ctx, channel, increment, "INCREMENT, caching its reply")
        if cached is None or _counter_in(cached) is None:
            ctx.skip("INCREMENT was not answered")
        if udp_exchange(ctx, channel, increment, "the same INCREMENT again") != cached:
            ctx.skip("no duplicate-reply cache at all (see the UDP-SRV-7 check)")
        # UDP-SRV-11: a request under a cached ID is a retransmission whatever its bytes (NOOP and ECHO aside).
        other = pack_request(APPLICATION_RANGE_START, reused, b"other bytes")
        got = udp_exchange(ctx, channel, other, "an application operation under the INCREMENT's request ID")
        ctx.expect(
            _replayed(got, cached, other),
            "UDP-SRV-11",
            "the cached INCREMENT reply: a request under a cached ID is a retransmission whatever its bytes",
            describe(got) if got else "no reply",
        )
        # UDP-SRV-12: a datagram the processing table rejects leaves no cache entry behind.
        before = _counter_now(ctx, channel)
        rejected_id = fresh_id()
        malformed = bytearray(pack_request(Op.ECHO, rejected_id, b"x"))
        malformed[3] = 0x40  # a reserved flag bit: MALFORMED by the processing table
        udp_exchange(ctx, channel, bytes(malformed), "ECHO with a reserved flag bit: MALFORMED")
        increment = pack_request(Op.INCREMENT, rejected_id)
        value = _counter_in(udp_exchange(ctx, channel, increment, "INCREMENT under its ID"))
        if before is not None:
            ctx.expect(
                value == before + 1,
                "UDP-SRV-12",
                f"the INCREMENT carried out (counter {before + 1}): a rejected datagram's error is never cached",
                f"counter {value}" if value is not None else "no OK reply",
            )


@UDP_CHECKS.check(
    "udp/dedup-flood",
    "More distinct INCREMENTs than the claimed cache holds, then a retransmission: the first value, or BUSY.",
    requirements=("UDP-SRV-9",),
)
def _dedup_flood(ctx: CheckContext[ServerEnv]) -> None:
    env = ctx.env
    assert env.udp is not None
    entries = env.claims.dedup_entries
    if entries is None:
        ctx.skip("no claimed duplicate-reply cache size (--dedup-entries): the flood would be a guess")
    count = entries + entries // 10 + 1
    # The flood comes from a second address where there is one, so the entries it leaves (young, and not to be
    # evicted) are charged to that source and not to the one the following checks use.
    others = env.loopback_sources(1)
    flood_source = others[0] if others else None
    with (
        UdpChannel(ctx.log, env.udp, env.amplification) as channel,
        UdpChannel(ctx.log, env.udp, source=flood_source) as flood,
    ):
        data = pack_request(Op.INCREMENT, fresh_id())
        sent = time.monotonic()
        first = udp_exchange(ctx, channel, data, "INCREMENT, before the flood")
        if _increment_value(ctx, first, data) is None:
            ctx.skip("INCREMENT was not answered")
        if udp_exchange(ctx, channel, data, "the same INCREMENT at once") != first:
            ctx.skip("no duplicate-reply cache at all (see the UDP-SRV-7 check)")
        # Not scaled: the retransmission must stay inside the minimum window, or a correct server may run it again.
        deadline = sent + DEDUP_PROBE_FRACTION * MIN_DEDUP_WINDOW
        try:
            answered = _flood_increments(flood, count, deadline)
            ctx.log.event("flood", f"{count} distinct INCREMENTs sent from another port, {answered} answered")
            if answered < count:
                ctx.skip(f"only {answered} of {count} flood requests were answered inside the minimum window")
            again = udp_exchange(ctx, channel, data, "the same INCREMENT again, after the flood")
        finally:
            _let_the_flood_age(ctx, flood_source is None, time.monotonic())
    assert first is not None
    if again is None:
        return
    result = unpack_header(again).result if len(again) >= HEADER_SIZE else None
    ctx.expect(
        again == first or result == Result.BUSY,
        "UDP-SRV-9",
        f"after {count} distinct requests (the claimed cache holds {entries}), the reply sent before, or BUSY",
        f"{describe(again)}: the retransmission was carried out again",
    )


def _let_the_flood_age(ctx: CheckContext[ServerEnv], same_source: bool, flood_end: float) -> None:
    """Wait, when needed, until the flood's entries are past the minimum window, so that the next checks are not
    graded by a cache this check filled. UDP-SRV-9 lets a server keep one cache for every source: full of young
    entries, it answers BUSY to every new stateful request, from any source. A server that shares its cache out
    per source (as the reference does) answers a fresh INCREMENT from the default source at once, and costs no wait.
    """
    assert ctx.env.udp is not None
    if not same_source:
        with UdpChannel(ctx.log, ctx.env.udp, ctx.env.amplification) as probe:
            reply = udp_exchange(ctx, probe, pack_request(Op.INCREMENT, fresh_id()), "a fresh INCREMENT, after")
        if reply is not None and len(reply) >= HEADER_SIZE and unpack_header(reply).result != Result.BUSY:
            return
    ctx.log.event("flood", f"waiting {MIN_DEDUP_WINDOW:g} s for the flood's cache entries to age")
    time.sleep(max(0.0, flood_end + MIN_DEDUP_WINDOW - time.monotonic()))


def _flood_increments(channel: UdpChannel, count: int, deadline: float) -> int:
    """Send ``count`` INCREMENTs with fresh IDs in paced rounds, reading the replies; returns how many were answered."""
    answered = 0
    sent = 0
    channel.sock.settimeout(0.2)
    while sent < count and time.monotonic() < deadline:
        batch = min(FLOOD_BATCH, count - sent)
        for _ in range(batch):
            channel.send_unlogged(pack_request(Op.INCREMENT, fresh_id()))
        sent += batch
        while answered < sent and time.monotonic() < deadline:
            try:
                channel.sock.recv(HEADER_SIZE + COUNTER_SIZE + 1)
            except TimeoutError:
                break
            answered += 1
    return answered


@UDP_CHECKS.check(
    "udp/dedup-window",
    f"An INCREMENT retransmitted {DEDUP_PROBE_AT:g} s after its reply, past the {MIN_DEDUP_WINDOW:g} s minimum "
    "window, is still a duplicate.",
    requirements=("UDP-SRV-8",),
)
def _dedup_window(ctx: CheckContext[ServerEnv]) -> None:
    env = ctx.env
    assert env.udp is not None
    with UdpChannel(ctx.log, env.udp, env.amplification) as channel:
        data = pack_request(Op.INCREMENT, fresh_id())
        first = _increment_value(ctx, udp_exchange(ctx, channel, data, "INCREMENT"), data)
        answered = time.monotonic()  # after the reply arrived, so after the server stored it
        again = _increment_value(ctx, udp_exchange(ctx, channel, data, "retransmission at once"), data)
        if first is None or again is None:
            ctx.skip("INCREMENT was not answered")
        if again != first:
            ctx.skip("no duplicate-reply cache at all (see the UDP-SRV-7 check)")
        # Past the minimum, never inside it, and not scaled: a slower machine does not shorten a window.
        time.sleep(max(0.0, answered + DEDUP_PROBE_AT - time.monotonic()))
        waited = time.monotonic() - answered
        note = f"retransmission {waited:.2f} s after the reply"
        late = _increment_value(ctx, udp_exchange(ctx, channel, data, note), data)
    ctx.measure("retransmission answered from the cache after", waited, "s")
    if late is not None:
        ctx.expect(
            late == first,
            "UDP-SRV-8",
            f"a retransmission {waited:.2f} s after the reply answered from the cache "
            f"(the window is at least {MIN_DEDUP_WINDOW:g} s)",
            f"counter {late} instead of {first}: the request ran again, its reply forgotten within {waited:.2f} s",
        )


@UDP_CHECKS.check(
    "udp/stale-data",
    "Replies after ECHOs of a random secret, to short and malformed requests, carry no byte string of it.",
    requirements=("SRV-14",),
)
def _stale_data(ctx: CheckContext[ServerEnv]) -> None:
    env = ctx.env
    assert env.udp is not None
    secret = env.claims.fit(os.urandom(SECRET_SIZE), "udp")  # planted only where the claimed limit lets it in
    windows = {secret[i : i + LEAK_WINDOW] for i in range(len(secret) - LEAK_WINDOW + 1)}
    clean: list[tuple[str, bytes | None]] = []
    with UdpChannel(ctx.log, env.udp, env.amplification) as channel:
        for size in dict.fromkeys(min(size, len(secret)) for size in (SECRET_SIZE, 1000, 100)):
            udp_exchange(ctx, channel, pack_request(Op.ECHO, fresh_id(), secret[:size]), f"ECHO a {size}-byte secret")
        probes: list[tuple[str, bytes]] = [
            ("NOOP", pack_request(Op.NOOP, fresh_id())),
            ("empty ECHO", pack_request(Op.ECHO, fresh_id())),
            ("2-byte ECHO", pack_request(Op.ECHO, fresh_id(), b"hi")),
            ("INCREMENT", pack_request(Op.INCREMENT, fresh_id())),
            ("INCREMENT with a payload", pack_request(Op.INCREMENT, fresh_id(), b"x")),
            ("size says 40, 3 bytes", pack_header(_header(Op.ECHO, size=40)) + b"abc"),
            ("size says 0, 8 bytes", pack_header(_header(Op.ECHO, size=0)) + b"12345678"),
            ("reserved operation", pack_request(0x0003, fresh_id(), b"z")),
            (
                f"application operation 0x{APPLICATION_RANGE_START:04x}",
                pack_request(APPLICATION_RANGE_START, fresh_id()),
            ),
            (
                f"application operation 0x{APPLICATION_RANGE_START:04x}, 1 byte",
                pack_request(APPLICATION_RANGE_START, fresh_id(), b"q"),
            ),
            (f"application operation 0x{APPLICATION_RANGE_END:04x}", pack_request(APPLICATION_RANGE_END, fresh_id())),
            ("version 2", pack_header(_header(Op.ECHO, version=2))),
            ("reserved flag", pack_header(_header(Op.ECHO, flags=0x40))),
        ]
        for what, data in probes:
            clean.append((what, udp_exchange(ctx, channel, data, what)))
    for what, reply in clean:
        if reply is None:
            continue
        leaked = next((i for i in range(len(reply) - LEAK_WINDOW + 1) if reply[i : i + LEAK_WINDOW] in windows), None)
        ctx.expect(
            leaked is None,
            "SRV-14",
            "no byte string of an earlier request's payload in a later reply",
            f"the reply to the {what} carries the secret at offset {leaked}: {describe(reply)}",
        )


def _header(operation: int, *, size: int = 0, version: int = VERSION, flags: int = 0) -> Header:
    return Header(magic=MAGIC, version=version, flags=flags, operation=operation, request_id=fresh_id(), size=size)


@UDP_CHECKS.check(
    "udp/garbage-burst",
    f"{GARBAGE_DATAGRAMS} garbage datagrams, then an ECHO: still answered.",
    requirements=("SRV-16",),
    destructive=True,
)
def _garbage(ctx: CheckContext[ServerEnv]) -> None:
    env = ctx.env
    assert env.udp is not None
    rng = random.Random(os.urandom(8))
    with UdpChannel(ctx.log, env.udp, env.amplification) as channel:
        logged = 5
        for n in range(GARBAGE_DATAGRAMS):
            body = rng.randbytes(rng.randrange(0, 64))
            if n % 3 == 0:
                body = MAGIC + bytes([VERSION]) + body  # deeper into the parser
            if n < logged:
                channel.send(body, f"garbage {n + 1} of {GARBAGE_DATAGRAMS}")
            else:
                channel.send_unlogged(body)
            if n % 100 == 99:
                channel.drain(0)
        ctx.log.event(channel.name, f"{GARBAGE_DATAGRAMS - logged} more garbage datagrams sent (not logged)")
        channel.drain(ctx.timing.scaled(0.2))
        data = pack_request(Op.ECHO, fresh_id(), b"still there?")
        reply = udp_exchange(ctx, channel, data, "ECHO after the burst")
        judge_reply(ctx, reply, unpack_header(data), datagram=True, result=Result.OK, requirement="SRV-16")


@UDP_CHECKS.check(
    "udp/amplification",
    f"The worst reply/request size ratio over every UDP reply of the run is at most {AMPLIFICATION_FACTOR}.",
    requirements=("UDP-SRV-5",),
    informational=True,
)
def _amplification(ctx: CheckContext[ServerEnv]) -> None:
    env = ctx.env
    assert env.udp is not None
    with UdpChannel(ctx.log, env.udp, env.amplification) as channel:
        for what, data in (
            (
                f"application operation 0x{APPLICATION_RANGE_START:04x}",
                pack_request(APPLICATION_RANGE_START, fresh_id()),
            ),
            (f"application operation 0x{APPLICATION_RANGE_END:04x}", pack_request(APPLICATION_RANGE_END, fresh_id())),
            ("INCREMENT", pack_request(Op.INCREMENT, fresh_id())),
            ("bare ECHO header, size says 1000", pack_header(_header(Op.ECHO, size=1000))),
        ):
            udp_exchange(ctx, channel, data, what)
        # A cached reply must not amplify either: a big ECHO, then a bare header reusing its ID from the same
        # source (what a spoofer does to turn the duplicate-reply cache into a cannon).
        reused = fresh_id()
        cached = env.claims.fit(bytes(CACHED_ECHO), "udp")
        udp_exchange(ctx, channel, pack_request(Op.ECHO, reused, cached), f"ECHO of {len(cached)} bytes")
        udp_exchange(ctx, channel, pack_request(Op.NOOP, reused), "a bare header reusing that ECHO's request ID")
    meter = env.amplification
    ctx.measure("worst amplification", meter.worst, "x", f"{meter.worst_case}; over {meter.replies} UDP replies")
    ctx.expect(
        meter.worst <= AMPLIFICATION_FACTOR,
        "UDP-SRV-5",
        f"no reply datagram more than {AMPLIFICATION_FACTOR} times its request",
        f"{meter.worst:.2f} times: {meter.worst_case}",
    )
