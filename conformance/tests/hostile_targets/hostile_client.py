"""A hostile RRP/1 client, to prove the client suite survives the commands it is given.

``rrp-conformance client`` runs a command nobody here controls, and plays the
server to it. Each ``--behaviour`` is one way such a client can attack the suite:
floods of datagrams, endless streams, 4 GiB sizes, never exiting, leaving a
process behind that holds the suite's pipes open, endless output, hundreds of
connections, replies to requests never made. Run through the command template:

    hostile_client.py --behaviour B URL OP PAYLOAD_HEX

Loopback only; every behaviour stops by itself (the suite's kill, or a bounded
loop), including the process ``escapes`` leaves behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import time
from enum import StrEnum
from urllib.parse import urlsplit

from rrp_spec import MAX_SIZE_FIELD, Header, Result, pack_header, pack_reply, pack_request


class Behaviour(StrEnum):
    """How the client attacks the suite."""

    #: UDP: the request, then datagrams without end; TCP: the request, then bytes without end.
    FLOOD = "flood"
    #: A request header declaring a 4 GiB payload (TCP: then bytes without end).
    HUGE_SIZE = "huge-size"
    #: Sends its request, ignores SIGTERM and never exits.
    NEVER_EXITS = "never-exits"
    #: Starts a process outside its process group that holds stdout and stderr open, then exits at once.
    ESCAPES = "escapes"
    #: Output without end on stdout and stderr.
    CHATTY = "chatty"
    #: TCP: hundreds of connections, each with a request; UDP: a request from each of hundreds of sockets.
    MANY_CONNECTIONS = "many-connections"
    #: Replies (REPLY flag set) to requests the server never made, instead of a request.
    SENDS_REPLIES = "sends-replies"


#: Seconds the process ``escapes`` leaves behind lives (it ends by itself).
LEFT_BEHIND_SECONDS = 30.0
#: Seconds any endless behaviour runs at most if nobody stops it.
LIFETIME = 60.0
#: Connections or sockets under MANY_CONNECTIONS.
CONNECTIONS = 300
_JUNK = os.urandom(1 << 16)


def _socket(url: str) -> tuple[socket.socket, tuple[str, int], bool]:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 0
    if host not in ("127.0.0.1", "::1"):
        raise SystemExit("loopback only")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    udp = parts.scheme == "udp"
    return socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM), (host, port), udp


def _until_killed(step: object = None) -> None:
    end = time.monotonic() + LIFETIME
    while time.monotonic() < end:
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--behaviour", type=Behaviour, required=True, choices=list(Behaviour))
    parser.add_argument("url")
    parser.add_argument("op", type=int)
    parser.add_argument("payload_hex")
    args, _ = parser.parse_known_args(argv)
    sock, address, udp = _socket(args.url)
    request = pack_request(args.op, int.from_bytes(os.urandom(8), "big") or 1, bytes.fromhex(args.payload_hex))
    behaviour: Behaviour = args.behaviour
    end = time.monotonic() + LIFETIME
    if behaviour is Behaviour.SENDS_REPLIES:
        for n in range(100):
            forged = pack_reply(Header(operation=args.op, request_id=n + 1, size=0), Result.OK)
            if udp:
                sock.sendto(forged, address)
            else:
                if n == 0:
                    sock.connect(address)
                sock.sendall(forged)
        return 1
    if behaviour is Behaviour.MANY_CONNECTIONS:
        held = []
        for _ in range(CONNECTIONS):
            extra, _, _ = _socket(args.url)
            with contextlib.suppress(OSError):
                if udp:
                    extra.sendto(request, address)
                else:
                    extra.settimeout(1.0)
                    extra.connect(address)
                    extra.sendall(request)
            held.append(extra)
        return 4
    if behaviour is Behaviour.HUGE_SIZE:
        header = pack_header(Header(operation=args.op, request_id=1, size=MAX_SIZE_FIELD))
        request = header + _JUNK[:1000]
    if udp:
        sock.sendto(request, address)
    else:
        sock.connect(address)
        sock.sendall(request)
    if behaviour is Behaviour.ESCAPES:
        if os.fork() == 0:
            os.setsid()  # out of the suite's reach: only our own timer ends it
            time.sleep(LEFT_BEHIND_SECONDS)
            os._exit(0)
        print("00", flush=True)
        return 0
    if behaviour is Behaviour.NEVER_EXITS:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _until_killed()
        return 0
    if behaviour is Behaviour.CHATTY:
        line = ("ab" * 1000 + "\n").encode()
        while time.monotonic() < end:
            sys.stdout.buffer.write(line)
            sys.stderr.buffer.write(line)
        return 0
    # FLOOD, HUGE_SIZE: bytes without end.
    sock.setblocking(True)
    while time.monotonic() < end:
        with contextlib.suppress(OSError):
            if udp:
                sock.sendto(_JUNK[:1000], address)
            else:
                sock.sendall(_JUNK)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
