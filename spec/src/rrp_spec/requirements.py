"""The RRP/1 requirement catalogue: every normative rule, once, with a stable ID.

The specification site renders this table, the conformance suite cites its IDs in
every check and report, and the reference implementation names them in its logs.
Nothing restates a requirement: everything else links to its ID.

ID scheme: ``MSG`` binds every sender and receiver; ``SRV``/``CLI`` bind servers or
clients on both transports; ``UDP-SRV``, ``TCP-SRV``, ``UDP-CLI``, ``TCP-CLI`` bind
one side on one transport. IDs are never reused or renumbered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from .codes import APPLICATION_RANGE_END, APPLICATION_RANGE_START
from .limits import (
    AMPLIFICATION_FACTOR,
    CONNECTION_NETWORK_PREFIX_V4,
    CONNECTION_NETWORK_PREFIX_V6,
    DEFAULT_RETRY_POLICY,
    HEADER_SIZE,
    MAX_REQUEST_DEADLINE,
    MAX_SEND_TIMEOUT,
    MAX_SMALL_PAYLOAD,
    MAX_UDP_PAYLOAD,
    MIN_DEDUP_WINDOW,
    RATE_LIMIT_PREFIX_V4,
    RATE_LIMIT_PREFIX_V6,
)
from .reference_defaults import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS_PER_NETWORK,
    DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
    DEFAULT_MEMORY_BUDGET,
    DEFAULT_REQUEST_DEADLINE,
    DEFAULT_SEND_TIMEOUT,
)
from .secure_wire import (
    FRESHNESS_WINDOW,
    MAX_FAILED_OPENINGS_PER_KEY,
    MAX_SEALED_PER_KEY,
    SECURE_OVERHEAD,
    TLS_ALPN,
)


class Level(StrEnum):
    """Requirement levels of RFC 2119."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"


class Side(StrEnum):
    """Which peer a requirement binds."""

    SERVER = "server"
    CLIENT = "client"
    BOTH = "both"


class Scope(StrEnum):
    """Which transport a requirement binds."""

    UDP = "udp"
    TCP = "tcp"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One numbered rule of RRP/1."""

    #: Stable identifier, e.g. ``UDP-SRV-5``.
    id: str
    #: MUST, SHOULD or MAY.
    level: Level
    #: The peer the rule binds.
    side: Side
    #: The transport the rule binds.
    transport: Scope
    #: The normative sentence.
    text: str
    #: The attack or failure the rule prevents.
    prevents: str
    #: Why a black-box test cannot observe the rule, or ``None`` when one can; for a rule that checks grade in
    #: part, which part a black box cannot see.
    not_observable: str | None = None

    @property
    def area(self) -> str:
        """The ID without its number, e.g. ``UDP-SRV``."""
        return self.id.rsplit("-", 1)[0]


def _r(
    rid: str,
    level: Level,
    side: Side,
    transport: Scope,
    text: str,
    prevents: str,
    not_observable: str | None = None,
) -> Requirement:
    return Requirement(rid, level, side, transport, text, prevents, not_observable)


M, S, MAY = Level.MUST, Level.SHOULD, Level.MAY
SERVER, CLIENT, BOTH = Side.SERVER, Side.CLIENT, Side.BOTH
UDP, TCP, ANY = Scope.UDP, Scope.TCP, Scope.ANY
_P = DEFAULT_RETRY_POLICY

#: Every requirement of RRP/1, in the order the specification presents them.
REQUIREMENTS: tuple[Requirement, ...] = (
    # --- Message format: every sender and receiver -----------------------------------
    _r(
        "MSG-1",
        M,
        BOTH,
        ANY,
        f"A message MUST start with the {HEADER_SIZE}-byte header laid out as in the header table, "
        "every integer in network byte order (big-endian).",
        "Byte-order and layout bugs that make two implementations disagree on every field.",
    ),
    _r(
        "MSG-2",
        M,
        BOTH,
        ANY,
        'A sender MUST set magic to 0x52 0x52 ("RR") and version to 1.',
        "Receivers mistaking stray traffic or another version for RRP/1.",
    ),
    _r(
        "MSG-3",
        M,
        BOTH,
        ANY,
        "A sender MUST set the reserved flag bits 1-7 to zero.",
        "Old receivers misreading messages that use bits a later version defines.",
    ),
    _r(
        "MSG-4",
        M,
        BOTH,
        ANY,
        "The size field MUST equal the number of payload bytes that follow the header.",
        "Framing errors: a receiver reading into the next message, or waiting for bytes that never come.",
    ),
    _r(
        "MSG-5",
        M,
        BOTH,
        ANY,
        "Over UDP a datagram MUST carry exactly one message; over TCP messages MUST follow each other "
        "back to back on a persistent connection, with nothing between them.",
        "Ambiguous framing between implementations.",
    ),
    # --- Servers, both transports -------------------------------------------------------
    _r(
        "SRV-1",
        M,
        SERVER,
        ANY,
        "A server MUST NOT answer a message with the REPLY flag set: over UDP it drops the datagram "
        "silently, over TCP it closes the connection without a reply.",
        "Reflection loops: two servers answering each other's replies forever, set off by one spoofed datagram.",
    ),
    _r(
        "SRV-2",
        M,
        SERVER,
        ANY,
        "A server MUST answer a request whose version is not 1 with UNSUPPORTED_VERSION; over TCP it then "
        "closes the connection, because it cannot frame another version's messages.",
        "Servers guessing at the layout of a version they do not speak.",
    ),
    _r(
        "SRV-3",
        M,
        SERVER,
        ANY,
        "A server MUST answer a request with any reserved flag bit set with MALFORMED.",
        "Silent misinterpretation of requests that use features this server does not have.",
    ),
    _r(
        "SRV-4",
        M,
        SERVER,
        ANY,
        "A server MUST answer a request whose result field is not 0 with MALFORMED.",
        "Replies (or corrupted messages) being executed as requests.",
    ),
    _r(
        "SRV-5",
        M,
        SERVER,
        ANY,
        "A server MUST answer a request whose request_id is 0 with MALFORMED.",
        "Clients that never set an ID, whose replies any other exchange would match.",
    ),
    _r(
        "SRV-6",
        M,
        SERVER,
        ANY,
        "A server MUST answer a reserved operation (neither defined by RRP/1 nor in "
        f"0x{APPLICATION_RANGE_START:04X}-0x{APPLICATION_RANGE_END:04X}), "
        "and an application operation it does not implement, with UNKNOWN_OPERATION.",
        "Clients unable to tell an unimplemented operation from a lost reply.",
    ),
    _r(
        "SRV-7",
        M,
        SERVER,
        ANY,
        "A server MUST answer an INCREMENT request with a non-empty payload with MALFORMED, "
        "and MUST NOT increment its counter for it.",
        "Ambiguous requests changing state.",
    ),
    _r(
        "SRV-8",
        M,
        SERVER,
        ANY,
        "A server MUST answer a request whose size exceeds its payload limit with TOO_LARGE.",
        "Memory exhaustion by oversized requests.",
    ),
    _r(
        "SRV-9",
        M,
        SERVER,
        ANY,
        "A server MUST answer NOOP with OK and an empty payload.",
        "Liveness probes that cannot be relied on.",
    ),
    _r(
        "SRV-10",
        M,
        SERVER,
        ANY,
        "A server MUST answer ECHO with OK and a payload identical to the request's.",
        "Corruption or truncation of payloads going unnoticed.",
    ),
    _r(
        "SRV-11",
        M,
        SERVER,
        ANY,
        "A server MUST carry out INCREMENT by adding one to its counter and answering OK with the new "
        "value as an 8-byte big-endian unsigned integer.",
        "Clients unable to observe whether a request ran once, twice or not at all.",
    ),
    _r(
        "SRV-12",
        M,
        SERVER,
        ANY,
        "Every reply MUST carry its request's request_id and operation, version 1, the REPLY flag set, "
        "the reserved flag bits zero, and a size equal to its payload length.",
        "Clients matching a reply to the wrong request, or accepting a reply that is not one.",
    ),
    _r(
        "SRV-13",
        M,
        SERVER,
        ANY,
        "An error reply (result other than OK) MUST be a bare header with size 0.",
        "Error replies that leak data or amplify.",
    ),
    _r(
        "SRV-14",
        M,
        SERVER,
        ANY,
        "The bytes of a reply MUST NOT contain data from any other request or reply (no reuse of uncleared buffers).",
        "Stale-buffer leaks that send one client's data to another (Heartbleed-style).",
    ),
    _r(
        "SRV-15",
        M,
        SERVER,
        ANY,
        "A failure while carrying out a request MUST be answered with INTERNAL_ERROR that discloses nothing "
        "about the failure, and the server MUST go on serving.",
        "Crashes and information leaks triggered by a single request.",
        "A black box cannot make a correct server fail while carrying out a request.",
    ),
    _r(
        "SRV-16",
        M,
        SERVER,
        ANY,
        "After any input whatsoever, a server MUST still answer well-formed requests from other peers.",
        "Denial of service by a single malformed message or a burst of garbage.",
    ),
    _r(
        "SRV-17",
        M,
        SERVER,
        ANY,
        "A server MUST NOT let writing its log delay serving: when its log output blocks, it drops log lines "
        "(and counts them) rather than wait for the output.",
        "A stalled log reader freezing the server: rejected input filled a stderr pipe nobody read in 36 s, and "
        "from then on nothing was answered over either transport, even after the attack stopped.",
        "A black box cannot stall the target's log output; the reference tests it with a stderr pipe nobody "
        "reads, and the soak stalls it for a whole phase.",
    ),
    # --- UDP servers --------------------------------------------------------------------
    _r(
        "UDP-SRV-1",
        M,
        SERVER,
        UDP,
        f"A server MUST silently drop a datagram shorter than {HEADER_SIZE} bytes.",
        "Answering (and so reflecting) traffic that is not RRP.",
    ),
    _r(
        "UDP-SRV-2",
        M,
        SERVER,
        UDP,
        'A server MUST silently drop a datagram whose magic is not "RR".',
        "Being used as a reflector for traffic that is not RRP.",
    ),
    _r(
        "UDP-SRV-3",
        M,
        SERVER,
        UDP,
        f"A server MUST answer a datagram whose length is not {HEADER_SIZE} + size with SIZE_MISMATCH.",
        "Truncated or padded datagrams being executed as if whole.",
    ),
    _r(
        "UDP-SRV-4",
        S,
        SERVER,
        UDP,
        f"A server SHOULD accept UDP payloads up to {MAX_UDP_PAYLOAD} bytes, the most one datagram can carry "
        "over IPv4; a server configured lower answers larger ones with TOO_LARGE.",
        "Servers that silently truncate large datagrams into a smaller receive buffer.",
    ),
    _r(
        "UDP-SRV-5",
        M,
        SERVER,
        UDP,
        f"A UDP reply datagram MUST NOT be larger than {AMPLIFICATION_FACTOR} times the request datagram that "
        "caused it; a reply that would be larger is replaced by a TOO_LARGE error reply "
        "(after QUIC, RFC 9000 section 8.1).",
        "Amplification attacks: small requests with a spoofed source turning the server into a flood cannon.",
    ),
    _r(
        "UDP-SRV-6",
        M,
        SERVER,
        UDP,
        "A server MUST send a UDP reply to the source address and port of the request, from the local "
        "address and port the request arrived on, even on a multi-homed host: a socket bound to a wildcard "
        "address learns the arrival address (IP_PKTINFO, IPV6_RECVPKTINFO) and sends from it; a server MAY "
        "instead bind one socket per local address, which satisfies this rule by construction.",
        "Replies from an unexpected address, which correct clients must discard: "
        "on multi-homed hosts every request then times out.",
    ),
    _r(
        "UDP-SRV-7",
        M,
        SERVER,
        UDP,
        "A server MUST answer a retransmission (same source address and port, same request_id) that arrives "
        "within its duplicate-reply window with the reply it sent before, and MUST NOT carry the request out "
        "again (after CoAP, RFC 7252 section 4.5). A request whose reply depends on nothing but the request "
        "(NOOP, ECHO) MAY instead be carried out again, since that sends the same bytes; UDP-SRV-11 says what "
        "counts as a retransmission and UDP-SRV-12 which replies are kept.",
        "Non-idempotent operations running twice when a reply is lost and the client retransmits.",
    ),
    _r(
        "UDP-SRV-8",
        M,
        SERVER,
        UDP,
        f"A server's duplicate-reply window MUST be at least {MIN_DEDUP_WINDOW:g} s, the longest a client on "
        "the default retry schedule keeps retransmitting.",
        "Late retransmissions of a non-idempotent request being executed again.",
    ),
    _r(
        "UDP-SRV-9",
        M,
        SERVER,
        UDP,
        "A server's duplicate-reply cache MUST be bounded in entries and in bytes, and MUST NOT evict an "
        f"entry younger than the minimum window ({MIN_DEDUP_WINDOW:g} s, UDP-SRV-8) to make room: when the "
        "cache is full of such entries, a request that would need an entry MUST be answered BUSY and not "
        'carried out. (This replaces "evict the oldest first", which let a flood push a reply out before '
        "its retransmission arrived, contradicting UDP-SRV-7 and UDP-SRV-8.)",
        "Memory exhaustion by floods of distinct request IDs; and a flood sent between a request and its "
        "retransmission evicting the reply, so that a non-idempotent request runs twice.",
    ),
    # --- TCP servers --------------------------------------------------------------------
    _r(
        "TCP-SRV-1",
        M,
        SERVER,
        TCP,
        "A server MUST read a request however it is split across segments (down to one byte at a time), "
        "and MUST handle several requests arriving in one segment.",
        "Servers that assume one recv() returns one whole message.",
    ),
    _r(
        "TCP-SRV-2",
        M,
        SERVER,
        TCP,
        "A server MUST send replies on a connection in the order of its requests.",
        "Clients matching pipelined replies to the wrong request.",
    ),
    _r(
        "TCP-SRV-3",
        M,
        SERVER,
        TCP,
        'A server MUST close the connection without a reply when a message\'s magic is not "RR".',
        "Servers that try to resynchronise on a stream they cannot frame.",
    ),
    _r(
        "TCP-SRV-4",
        M,
        SERVER,
        TCP,
        "A server MUST answer a request whose size exceeds its payload limit with TOO_LARGE and close the "
        "connection without reading the payload, and MUST NOT allocate size bytes before this check.",
        "Memory exhaustion by one header that claims 4 GiB.",
    ),
    _r(
        "TCP-SRV-5",
        M,
        SERVER,
        TCP,
        "A server MUST enforce a whole-request deadline, counted from a request's first byte, of at most "
        f"{MAX_REQUEST_DEADLINE:g} s (reference default {DEFAULT_REQUEST_DEADLINE:g} s), and close the "
        "connection when it expires; a per-read timeout alone does not satisfy this. The server MAY send "
        "TIMEOUT first when the header has arrived.",
        "Slow-drip senders and short requests (header says 100, 10 arrive) holding a connection and its "
        "buffer forever: per-read timeouts are reset by every byte.",
    ),
    _r(
        "TCP-SRV-6",
        M,
        SERVER,
        TCP,
        "A server MUST close a connection that stays idle for longer than its idle timeout (reference default "
        f"{DEFAULT_IDLE_TIMEOUT:g} s): between requests, and also from accept on a fresh connection that has "
        "not yet sent a byte.",
        "Idle connections accumulating until no slot is left; connections opened and never used holding "
        "their slot for ever.",
    ),
    _r(
        "TCP-SRV-7",
        M,
        SERVER,
        TCP,
        "A server MUST bound its concurrent connections; a connection over the limit MUST be answered with "
        "BUSY and closed (in one of the two forms of TCP-SRV-15), or refused, unless the server reclaims a slot "
        "for it (TCP-SRV-13).",
        "File-descriptor and memory exhaustion by connection floods.",
    ),
    _r(
        "TCP-SRV-8",
        M,
        SERVER,
        TCP,
        "A slow or malicious connection MUST NOT delay the requests of any other connection; this includes "
        "a fast one: a server bounds the work it does for one connection before serving the others.",
        "Slowloris: one client stalling a server that handles connections one at a time; and one connection "
        "pipelining a million MALFORMED requests, 13,000 framed per read, pushing every other client's p99 "
        "from under 5 ms to over 160 ms.",
    ),
    _r(
        "TCP-SRV-9",
        M,
        SERVER,
        TCP,
        "After an error reply that leaves the framing intact (MALFORMED, UNKNOWN_OPERATION, INTERNAL_ERROR), "
        "a server MUST discard that request's payload and go on serving the connection.",
        "Clients losing every pipelined request because one was rejected.",
    ),
    _r(
        "TCP-SRV-10",
        M,
        SERVER,
        TCP,
        "A server MUST reset a connection whose peer has not accepted reply bytes for longer than its send "
        f"timeout, at most {MAX_SEND_TIMEOUT:g} s (reference default {DEFAULT_SEND_TIMEOUT:g} s), and MUST "
        "bound the reply bytes it buffers for one connection. The send timeout runs while the server holds reply "
        "bytes that its kernel will not take (a write would block), counted from the last moment the kernel "
        "took any; it also bounds the close that follows a final reply (TOO_LARGE, UNSUPPORTED_VERSION, "
        "TIMEOUT, BUSY): within it of that reply, the connection is gone. Reset means an RST (SO_LINGER of zero "
        "before close): a graceful close leaves the kernel holding the unsent bytes, and a peer that never reads "
        "keeps that connection established.",
        "Slow readers: clients that send requests but never read the replies, pinning the server's memory "
        "and connection slots, in the server or in an orphaned socket of its kernel.",
    ),
    _r(
        "TCP-SRV-11",
        M,
        SERVER,
        TCP,
        "A server MUST count a connection against its connection limits from the moment it is accepted, "
        "not from the arrival of a complete header.",
        "Slowloris in the header phase: connections that never finish a header escaping the limit.",
    ),
    _r(
        "TCP-SRV-12",
        S,
        SERVER,
        TCP,
        "A server SHOULD limit the connections open at once from one source (reference default "
        f"{DEFAULT_MAX_CONNECTIONS_PER_SOURCE} per IPv4 address or IPv6 /64), and from one network (reference "
        f"default {DEFAULT_MAX_CONNECTIONS_PER_NETWORK} per IPv4 /{CONNECTION_NETWORK_PREFIX_V4} or IPv6 "
        f"/{CONNECTION_NETWORK_PREFIX_V6}), below its global limit; over either, a connection is answered with "
        "BUSY and closed, or refused. At a network's limit, it SHOULD apply TCP-SRV-13's rule one level down: a "
        "newcomer whose source holds at least two connections fewer than the source holding the most in that "
        "network takes that source's longest-open (or longest-idle) slot, which is reset.",
        "One attacking host, or one attacker with a block of addresses, taking every connection slot and "
        "locking out everyone else; and 17 addresses of one /24 filling that network's slots and locking out "
        "every other host of the /24 (fresh connections from a neighbour served 7 times in 59).",
    ),
    _r(
        "TCP-SRV-13",
        M,
        SERVER,
        TCP,
        "At its global connection limit, a server MUST NOT turn away a new connection whose network (IPv4 "
        f"/{CONNECTION_NETWORK_PREFIX_V4}, IPv6 /{CONNECTION_NETWORK_PREFIX_V6}) holds at least two connections "
        "fewer than the network holding the most: it MUST reclaim a slot for the newcomer by resetting a "
        "connection of that network (its longest-open or longest-idle one).",
        "A few sources, each within its per-source limit, filling every slot and holding them forever with "
        "keep-alives: 17 addresses with 64 connections each locked every new client out of 1,024 slots.",
    ),
    _r(
        "TCP-SRV-14",
        M,
        SERVER,
        TCP,
        "A server MUST bound the memory all its connections together hold for request payloads being "
        "collected and replies not yet sent (its memory budget, reference default "
        f"{DEFAULT_MEMORY_BUDGET >> 20} MiB), not only each connection's share. When that memory and a new "
        f"request's declared payload of more than {MAX_SMALL_PAYLOAD // 1024} KiB would together exceed the "
        "budget, the server MUST answer that request BUSY as soon as its header has arrived, without waiting for "
        "its payload or storing it (then discarding the payload as it arrives, or closing the connection); past "
        "the budget it stops reading the connections that hold the most, and goes on serving requests of at "
        f"most {MAX_SMALL_PAYLOAD // 1024} KiB on every other connection, new ones included.",
        "Per-connection bounds multiplied by the connection limit: 1,024 connections each declaring a 1 MiB "
        "payload took a server from 27 MiB to 1.1 GiB, and 1,024 never reading 1 MiB ECHO replies to 2.7 GiB.",
        "A black box sees neither the target's memory nor which connections it stops reading: a check can fill "
        "a budget the target claims and see the BUSY and the small requests served, no more; the reference tests "
        "the rest in its core, and the soak measures its resident set under both attacks.",
    ),
    _r(
        "TCP-SRV-15",
        M,
        SERVER,
        TCP,
        "A server that answers a connection over its limits with BUSY MUST use one of two forms and then close: "
        "an unsolicited BUSY sent before reading anything, a bare reply header with request_id 0 and operation "
        "NOOP; or, having waited at most its whole-request deadline from accept for the first request's header, "
        "a bare BUSY reply carrying that request's request_id and operation (a connection that sends no whole "
        "header by then is closed without a reply). It MUST NOT carry out any request of such a connection.",
        "Clients unable to tell a refusal from a reply to someone else's request, and over-limit connections "
        "that are served anyway or held open without bound.",
    ),
    _r(
        "TCP-SRV-16",
        S,
        SERVER,
        TCP,
        "At its global connection limit, a server SHOULD NOT turn away a new connection from a network that "
        "holds at most one connection, even when no network holds two more than that (TCP-SRV-13 then names no "
        "slot): it reclaims a slot for it, preferring the connection idle longest among its longest-open ones, "
        "and resets that connection.",
        "An attacker holding one connection in each of a thousand networks (127.0.0.0/8 has 65,536 /24s) "
        "locking every other network out, which the fair-share rule of TCP-SRV-13 cannot see: fresh "
        "connections were served once in 94 while 1,088 networks held one connection each. Preferring the "
        "longest-idle keeps a client's long-lived connection, in use, from being the one to go.",
    ),
    _r(
        "UDP-SRV-10",
        MAY,
        SERVER,
        UDP,
        "A server MAY rate-limit UDP replies per client prefix (IPv4 "
        f"/{RATE_LIMIT_PREFIX_V4}, IPv6 /{RATE_LIMIT_PREFIX_V6}) with a token bucket, dropping replies over "
        "the rate except every n-th (its slip), which is sent as a bare BUSY error reply "
        "(after BIND's response rate limiting).",
        "Reflection attacks with spoofed sources: without it, a server answers a victim's address as fast as "
        "an attacker sends.",
        "Off by default and configured per deployment; a black box cannot know the configured rate.",
    ),
    _r(
        "UDP-SRV-11",
        M,
        SERVER,
        UDP,
        "A request that passes every header rule and whose source address, source port and request_id match "
        "a reply in the duplicate-reply window is a retransmission whatever its operation and payload: the "
        "server MUST answer it with the cached reply (replaced by a bare TOO_LARGE when that is more than "
        f"{AMPLIFICATION_FACTOR} times this datagram, UDP-SRV-5) and MUST NOT carry it out, unless it is a NOOP "
        "or ECHO, which UDP-SRV-7 lets a server carry out without looking in its cache.",
        "A spoofed or buggy datagram reusing a live request ID running a second operation under it, or "
        "fetching another exchange's reply larger than itself.",
    ),
    _r(
        "UDP-SRV-12",
        M,
        SERVER,
        UDP,
        "A server MUST keep in its duplicate-reply window every reply to a request it carried out or tried to "
        "and would not answer the same way again (UDP-SRV-7), error replies included (INTERNAL_ERROR, the "
        "TOO_LARGE that replaced an amplifying reply), and MUST NOT keep the error reply to a datagram the header "
        "rules reject (the processing table), so that a later valid request with that request_id is carried out.",
        "Retransmissions answered differently from the original; malformed datagrams, forged or not, filling "
        "the cache or poisoning a request ID before the real request arrives.",
    ),
    _r(
        "UDP-SRV-13",
        M,
        SERVER,
        UDP,
        "A server MUST NOT keep a BUSY reply (rate limiting's slip, or no room to carry a request out) in its "
        "duplicate-reply window: a request answered BUSY was not carried out, and its retransmission must be.",
        "A client told to retry being answered BUSY for the whole window however often it retries.",
        "A black box cannot make a server answer BUSY over UDP: the rate limit and the room for running "
        "requests are configured per deployment; the reference tests it in its core.",
    ),
    # --- Clients, both transports -------------------------------------------------------
    _r(
        "CLI-1",
        M,
        CLIENT,
        ANY,
        "A client MUST draw each request's request_id from a cryptographically secure random generator over "
        "all 64 bits, never 0, fresh for every request (after DNS, RFC 5452 section 9.2).",
        "Off-path attackers guessing the ID and injecting a forged reply.",
    ),
    _r(
        "CLI-2",
        M,
        CLIENT,
        ANY,
        "A client MUST send well-formed requests: REPLY clear, reserved bits zero, result 0, "
        "size equal to the payload length.",
        "Requests that correct servers must reject.",
    ),
    _r(
        "CLI-3",
        M,
        CLIENT,
        ANY,
        "A client MUST accept as the answer only a well-formed message with the REPLY flag set whose "
        "request_id and operation match its outstanding request.",
        "Accepting a stray, stale or forged message as the answer.",
    ),
    # --- UDP clients --------------------------------------------------------------------
    _r(
        "UDP-CLI-1",
        M,
        CLIENT,
        UDP,
        "A client MUST accept a reply only from the address and port it sent the request to, by connecting "
        "its socket or by comparing the reply's source with the servers it asked.",
        "The promiscuous client: any host that sees or guesses the port can answer in the server's place.",
    ),
    _r(
        "UDP-CLI-2",
        M,
        CLIENT,
        UDP,
        "A client MUST ignore, without failing, datagrams from other sources, replies with an unknown "
        "request_id, malformed replies and duplicates, and go on waiting until its deadline.",
        "A single stray or forged datagram aborting a healthy exchange.",
    ),
    _r(
        "UDP-CLI-3",
        M,
        CLIENT,
        UDP,
        "A client MUST send every retransmission of a request with the same request_id and the same bytes.",
        "Retransmissions that a server's duplicate cache cannot recognise, so that non-idempotent requests run twice.",
    ),
    _r(
        "UDP-CLI-4",
        M,
        CLIENT,
        UDP,
        "A client MUST back off exponentially between retransmissions: attempt n waits at least "
        "T_n = min(T_1 * 2^(n-1), cap), multiplied by a random jitter in [1, 1.5).",
        "Retry storms: synchronised clients hammering an overloaded server at a fixed rate.",
    ),
    _r(
        "UDP-CLI-5",
        S,
        CLIENT,
        UDP,
        f"A client SHOULD use the default schedule unless configured otherwise: T_1 = {_P.initial_timeout:g} s, "
        f"doubling, capped at {_P.max_timeout:g} s, at most {_P.max_attempts} attempts.",
        "Clients that give up too early on lossy paths, or retry for minutes.",
    ),
    _r(
        "UDP-CLI-6",
        M,
        CLIENT,
        UDP,
        "A client MUST give up after its maximum number of attempts and report an error that says how many "
        "attempts were made over how long.",
        "Clients that retry forever, or fail without saying what they tried.",
    ),
    # --- TCP clients --------------------------------------------------------------------
    _r(
        "TCP-CLI-1",
        M,
        CLIENT,
        TCP,
        "A client MUST keep reading until the whole header and payload of a reply have arrived; short reads "
        "are normal.",
        "Clients that truncate replies that arrive in several segments.",
    ),
    _r(
        "TCP-CLI-2",
        M,
        CLIENT,
        TCP,
        "A client MUST bound the time it waits to connect and the time it waits for each reply, and report "
        "an error when either runs out.",
        "Clients that hang forever on a server that accepts but never answers.",
    ),
    _r(
        "TCP-CLI-3",
        M,
        CLIENT,
        TCP,
        "A client MUST treat a reply whose request_id does not match its request as an error and "
        "abandon the connection.",
        "Accepting the answer to another request, or a forged one.",
    ),
    _r(
        "TCP-CLI-4",
        M,
        CLIENT,
        TCP,
        "A client MUST report a clean error when the connection closes before the whole reply has arrived.",
        "Hangs or truncated answers when a server dies mid-reply.",
    ),
    _r(
        "TCP-CLI-5",
        M,
        CLIENT,
        TCP,
        "A client MUST take an unsolicited BUSY (a bare reply header with request_id 0, operation NOOP and "
        "result BUSY, TCP-SRV-15) as the server refusing the connection: it reports BUSY for every request "
        "outstanding on it, not a mismatched reply, and closes the connection.",
        "Clients reporting a protocol error (or waiting) when a server at its limit says to try again later.",
    ),
    # --- RRP/1-S over UDP: the secure profile's datagrams (rrp_spec.secure) ----------------
    _r(
        "SUDP-1",
        M,
        BOTH,
        UDP,
        "A protected datagram MUST be the clear header (as in the secure header table), then one whole RRP/1 "
        "message sealed with ChaCha20-Poly1305 (RFC 8439), then its 16-byte tag; keys and IVs MUST be derived "
        "from the master secret and key ID with HKDF-SHA256 as rrp_spec.secure specifies, the nonce MUST be the "
        "direction's IV XOR the sequence number, a request's associated data MUST be its clear header, and a "
        "reply's MUST be its clear header followed by its request's.",
        "Implementations that cannot talk to each other, and replies that could be replayed for another request.",
    ),
    _r(
        "SUDP-2",
        M,
        BOTH,
        UDP,
        "A sender MUST NOT seal two datagrams under one key and direction with the same sequence number, across "
        "restarts too: each sequence is at least the sender's clock in microseconds since the Unix epoch and "
        "greater than every sequence it used before under that key. A sender that cannot rule out its clock "
        "stepping back MUST persist a high-water mark before using the sequences below it, and start above it.",
        "Nonce reuse, which with any AEAD reveals the XOR of two plaintexts and with ChaCha20-Poly1305 lets an "
        "attacker forge messages.",
    ),
    _r(
        "SUDP-3",
        M,
        BOTH,
        UDP,
        "A master secret and key ID MUST belong to exactly one client: a server MUST NOT give one key to two clients.",
        "Two clients choosing the same sequence under one key: nonce reuse, and one client impersonating another.",
        not_observable="which clients hold a key is deployment, not behaviour on the wire",
    ),
    _r(
        "SUDP-4",
        M,
        BOTH,
        UDP,
        f"A sender MUST stop using a key before sealing {MAX_SEALED_PER_KEY:,} datagrams under it, and a receiver "
        f"MUST stop accepting a key after {MAX_FAILED_OPENINGS_PER_KEY:,} failed openings under it (the "
        "confidentiality and integrity limits of RFC 9147 section 4.5.3); keys are rotated by adding a new key ID "
        "beside the old one, then removing the old one.",
        "Keys worn out past the bounds the AEAD's security proofs give.",
        not_observable="reaching the limits takes billions of datagrams",
    ),
    _r(
        "SUDP-SRV-1",
        M,
        SERVER,
        UDP,
        "A server MUST drop, without any answer, every datagram on its secure port that is not an authentic "
        "request: bad magic, version or flags, the REPLY flag, an unknown key ID, a stale or replayed sequence, a "
        "tag that does not verify, and plain RRP/1. It SHOULD count the drops and log them rate-limited by key ID, "
        "source and reason, never their bytes.",
        "A server that is an oracle for forgeries, or an amplifier for spoofed garbage.",
    ),
    _r(
        "SUDP-SRV-2",
        M,
        SERVER,
        UDP,
        f"A server MUST drop a request whose sequence, read as a time, is more than {FRESHNESS_WINDOW:g} s from "
        "its own clock, and every request whose sequence is earlier than the server's own start.",
        "Replays of requests captured long ago, or before the server restarted and forgot what it had seen.",
    ),
    _r(
        "SUDP-SRV-3",
        M,
        SERVER,
        UDP,
        "A server MUST carry out each key ID and sequence at most once: a retransmission (the same protected "
        "bytes from the same source) inside the duplicate-reply window MUST get the cached protected reply byte for "
        "byte, and any other datagram with a sequence already accepted MUST be dropped (a replay window, as DTLS "
        "1.3's, RFC 9147 section 4.5.1). A sequence is recorded only after its datagram authenticated.",
        "A replayed INCREMENT counted twice; a forger burning honest sequences.",
    ),
    _r(
        "SUDP-SRV-4",
        M,
        SERVER,
        UDP,
        "A server MUST seal each reply, error replies included, under its own sequence (never the request's) and "
        f"bind it to its request through the associated data; a protected reply MUST NOT be more than "
        f"{AMPLIFICATION_FACTOR} times its protected request (the {SECURE_OVERHEAD} bytes of protection count on "
        "both sides).",
        "Nonce reuse between a request and its reply, replies answering other requests, and amplification.",
    ),
    _r(
        "SUDP-CLI-1",
        M,
        CLIENT,
        UDP,
        "A client MUST accept only a reply that opens under the server key of its request's key ID with its "
        "request's clear header as binding, and whose RRP/1 message is a reply to its request; anything else is "
        "ignored as in UDP-CLI-2 and the exchange goes on.",
        "Accepting a reply captured for another request, sealed under another key, or forged.",
    ),
    _r(
        "SUDP-CLI-2",
        M,
        CLIENT,
        UDP,
        "A client MUST retransmit the same protected bytes (same sequence), never reseal the request.",
        "A resealed retransmission looks new to the server and is carried out twice.",
    ),
    # --- RRP/1 over TLS ---------------------------------------------------------------------
    _r(
        "TLS-SRV-1",
        M,
        SERVER,
        TCP,
        "A server offering RRP/1 over TLS MUST negotiate TLS 1.3 or later, MUST select the ALPN protocol "
        f'"{TLS_ALPN}" (RFC 7301) when the client offers it, and MUST close, before answering anything, a connection '
        "on which that protocol was not selected; RRP/1 messages travel inside unchanged.",
        "Downgrades to protocols with known attacks, and cross-protocol confusion with other TLS services.",
    ),
    _r(
        "TLS-SRV-2",
        M,
        SERVER,
        TCP,
        "A server MUST NOT answer plain RRP/1 on its TLS port: there is no plaintext fallback.",
        "An on-path attacker stripping TLS by making the client believe the server speaks only plaintext.",
    ),
    _r(
        "TLS-SRV-3",
        M,
        SERVER,
        TCP,
        "The TLS handshake MUST count against the whole-request deadline and the connection limits: a connection "
        "that has not completed its handshake and a request within the deadline is reset.",
        "TLS slowloris: connections that hold slots by never finishing their handshake.",
    ),
    _r(
        "TLS-SRV-4",
        MAY,
        SERVER,
        TCP,
        "A server MAY require a client certificate from a configured CA (mutual TLS), to admit only known clients.",
        "Unknown clients reaching the application at all.",
    ),
    _r(
        "TLS-CLI-1",
        M,
        CLIENT,
        TCP,
        f'A client MUST offer only TLS 1.3 or later with ALPN "{TLS_ALPN}", MUST verify the server\'s certificate '
        "chain against its trust anchors and its host name (RFC 9525), and MUST refuse the connection and say why "
        "when any of these fail; turning verification off for testing MUST be explicit and loud.",
        "Talking to whoever is on the path: an expired, self-signed, wrong-host or wrong-CA certificate.",
    ),
)

#: Every area a requirement ID may start with (the ID without its number), with the title of its section.
AREAS: dict[str, str] = {
    "MSG": "Message format (every sender and receiver)",
    "SRV": "Servers, both transports",
    "UDP-SRV": "UDP servers",
    "TCP-SRV": "TCP servers",
    "CLI": "Clients, both transports",
    "UDP-CLI": "UDP clients",
    "TCP-CLI": "TCP clients",
    "SUDP": "RRP/1-S datagrams (every sender and receiver)",
    "SUDP-SRV": "RRP/1-S servers",
    "SUDP-CLI": "RRP/1-S clients",
    "TLS-SRV": "RRP/1 over TLS: servers",
    "TLS-CLI": "RRP/1 over TLS: clients",
}
#: A requirement ID wherever it is cited (code, pages, reports).
ID_PATTERN = re.compile(rf"\b(?:{'|'.join(sorted(AREAS, key=len, reverse=True))})-\d+\b")

#: The catalogue by ID.
BY_ID: dict[str, Requirement] = {r.id: r for r in REQUIREMENTS}


def requirement(rid: str) -> Requirement:
    """The requirement with ID ``rid``; ``KeyError`` names the unknown ID."""
    try:
        return BY_ID[rid]
    except KeyError:
        raise KeyError(f"no requirement {rid!r} in the RRP/1 catalogue") from None
