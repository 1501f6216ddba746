"""Test vectors for reimplementers: bytes on the wire and what a receiver must make of them.

``make vectors`` writes ``rrp-v1.json`` from :func:`build_vectors` into the package's
``data/`` folder (``spec/src/rrp_spec/data/`` in the repository), beside its JSON Schema;
``make test`` fails when the checked-in file differs. Both files ship inside the
package, so an installed ``rrp_spec`` reads them with :mod:`importlib.resources`
(:func:`load`, :func:`data_file`) wherever it lives: a wheel, a zipapp, a checkout. Each vector's expectation is
stated here by hand, as intent; only its bytes are built from fields, so that the
codec is checked against the expectations rather than producing them.

Request vectors say what a server does with the bytes under the reference limits
(UDP payload limit 65487, TCP 1 MiB); over TCP, ``hex`` is the start of a stream.
Reply vectors say what a client makes of the bytes as the answer to the request
named in ``request``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from .codes import APPLICATION_RANGE_END, APPLICATION_RANGE_START, MAX_CODE, Flag, Op, Result
from .header import Header, pack_header, unpack_header
from .limits import HEADER_SIZE, MAX_REQUEST_ID, MAX_SIZE_FIELD, MAX_UDP_PAYLOAD
from .reference_defaults import DEFAULT_TCP_MAX_PAYLOAD
from .validate import (
    Action,
    ProtocolViolation,
    Transport,
    check_request,
    decode_request_datagram,
    is_unsolicited_busy,
    reply_problems,
)

#: The vector file's name, as published (package data in ``rrp_spec/data/``).
VECTORS_NAME = "rrp-v1.json"
#: Its JSON Schema's name.
SCHEMA_NAME = "rrp-v1.schema.json"
#: Where ``make vectors`` writes in a source checkout: this package's own ``data/`` folder.
VECTORS_PATH = Path(__file__).resolve().parent / "data" / VECTORS_NAME


def data_file(name: str) -> Traversable:
    """One of the package's data files (:data:`VECTORS_NAME`, :data:`SCHEMA_NAME`), wherever it is installed."""
    return resources.files(__package__) / "data" / name


@dataclass(frozen=True)
class Vector:
    """One test vector."""

    name: str
    description: str
    transport: str
    data: bytes
    expect: dict[str, Any]
    requirements: tuple[str, ...]
    direction: str = "request"
    request: dict[str, int] | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        """The vector as it appears in the JSON file."""
        obj: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "direction": self.direction,
            "transport": self.transport,
            "hex": self.data.hex(),
            "expect": self.expect,
            "requirements": list(self.requirements),
        }
        if self.request is not None:
            obj["request"] = self.request
        return obj


def _msg(
    operation: int,
    request_id: int,
    payload: bytes = b"",
    *,
    size: int | None = None,
    flags: int = 0,
    result: int = 0,
    version: int = 1,
    magic: bytes = b"RR",
) -> bytes:
    header = Header(
        magic=magic,
        version=version,
        flags=flags,
        operation=operation,
        result=result,
        request_id=request_id,
        size=len(payload) if size is None else size,
    )
    return pack_header(header) + payload


def _decoded(data: bytes) -> dict[str, Any]:
    """The ``expect`` of a valid message, spelled out field by field from its bytes' intent."""
    return {
        "decoded": {
            "version": data[2],
            "flags": data[3],
            "operation": int.from_bytes(data[4:6], "big"),
            "result": int.from_bytes(data[6:8], "big"),
            "request_id": int.from_bytes(data[8:16], "big"),
            "size": int.from_bytes(data[16:20], "big"),
            "payload": data[HEADER_SIZE:].hex(),
        }
    }


def _reply(result: Result, then_close: bool = False) -> dict[str, Any]:
    expect: dict[str, Any] = {"action": "reply", "result": result.name}
    if then_close:
        expect["then"] = "close"
    return expect


DROP = {"action": "drop"}
CLOSE = {"action": "close"}
ID = 0x0123_4567_89AB_CDEF


def _valid_requests() -> list[Vector]:
    every_byte = bytes(range(256))
    cases = [
        ("noop", "NOOP with the smallest valid request ID", _msg(Op.NOOP, 1), ["MSG-1", "SRV-5"]),
        ("noop-max-id", "NOOP with request ID 2^64-1", _msg(Op.NOOP, MAX_REQUEST_ID), ["MSG-1", "SRV-5"]),
        ("echo-empty", "ECHO with size 0", _msg(Op.ECHO, ID), ["SRV-10"]),
        ("echo-hello", "ECHO of the five bytes 'hello'", _msg(Op.ECHO, ID, b"hello"), ["SRV-10", "MSG-4"]),
        ("echo-every-byte", "ECHO of every byte value 0x00-0xff", _msg(Op.ECHO, ID, every_byte), ["SRV-10"]),
        ("increment", "INCREMENT with its required empty payload", _msg(Op.INCREMENT, ID), ["SRV-11"]),
        (
            "application-op-first",
            f"Operation 0x{APPLICATION_RANGE_START:04x}, first of the application range; "
            "its payload is the application's",
            _msg(APPLICATION_RANGE_START, ID, b"\x01\x02"),
            ["SRV-6"],
        ),
        (
            "application-op-last",
            f"Operation 0x{APPLICATION_RANGE_END:04x}, last of the application range",
            _msg(APPLICATION_RANGE_END, ID),
            ["SRV-6"],
        ),
    ]
    vectors = [Vector(n, d, "any", b, _decoded(b), tuple(r)) for n, d, b, r in cases]
    big = _msg(Op.ECHO, ID, bytes(i % 251 for i in range(MAX_UDP_PAYLOAD)))
    vectors.append(
        Vector(
            "udp-echo-max-payload",
            f"ECHO with {MAX_UDP_PAYLOAD} payload bytes, the largest that fits one UDP datagram",
            "udp",
            big,
            _decoded(big),
            ("UDP-SRV-4", "MSG-4"),
        )
    )
    over = _msg(Op.ECHO, ID, bytes(i % 251 for i in range(MAX_UDP_PAYLOAD + 1)))
    vectors.append(
        Vector(
            "tcp-echo-over-udp-max",
            f"ECHO with {MAX_UDP_PAYLOAD + 1} payload bytes: too large for UDP, fine for TCP's 1 MiB default",
            "tcp",
            over,
            _decoded(over),
            ("MSG-4",),
        )
    )
    pipelined = _msg(Op.ECHO, 1, b"a")
    vectors.append(
        Vector(
            "tcp-pipelined-first",
            "Two requests back to back in one segment: the vector decodes the first; a server answers both, in order",
            "tcp",
            pipelined,
            _decoded(pipelined),
            ("TCP-SRV-1", "TCP-SRV-2", "MSG-5"),
        )
    )
    return vectors


def _invalid_requests() -> list[Vector]:
    v: list[Vector] = []

    def add(name: str, description: str, transport: str, data: bytes, expect: dict[str, Any], *reqs: str) -> None:
        v.append(Vector(name, description, transport, data, expect, reqs))

    for length in (0, 1, HEADER_SIZE - 1):
        add(
            f"udp-short-{length}",
            f"A datagram of {length} bytes, shorter than a header",
            "udp",
            _msg(Op.NOOP, ID)[:length],
            DROP,
            "UDP-SRV-1",
        )
    for magic, label in ((b"RS", "rs"), (b"\x00\x00", "zero"), (b"rr", "lowercase")):
        add(
            f"udp-magic-{label}",
            f"Magic {magic!r} instead of b'RR'",
            "udp",
            _msg(Op.NOOP, ID, magic=magic),
            DROP,
            "UDP-SRV-2",
        )
        add(
            f"tcp-magic-{label}",
            f"Magic {magic!r} instead of b'RR' at the start of a stream",
            "tcp",
            _msg(Op.NOOP, ID, magic=magic),
            CLOSE,
            "TCP-SRV-3",
        )
    add(
        "udp-reply-flag",
        "A reply (REPLY set) sent to a server",
        "udp",
        _msg(Op.ECHO, ID, flags=Flag.REPLY),
        DROP,
        "SRV-1",
    )
    add(
        "udp-reply-flag-error",
        "An error reply sent to a server: never answered, so two servers cannot loop",
        "udp",
        _msg(Op.ECHO, ID, flags=Flag.REPLY, result=Result.MALFORMED),
        DROP,
        "SRV-1",
    )
    add(
        "udp-reply-flag-reserved",
        "REPLY and reserved bits set: REPLY wins, nothing is sent",
        "udp",
        _msg(Op.ECHO, ID, flags=0xFF),
        DROP,
        "SRV-1",
    )
    add(
        "tcp-reply-flag",
        "A reply (REPLY set) sent to a server over TCP",
        "tcp",
        _msg(Op.ECHO, ID, flags=Flag.REPLY),
        CLOSE,
        "SRV-1",
    )
    for version in (0, 2, 255):
        data = _msg(Op.NOOP, ID, version=version)
        add(f"udp-version-{version}", f"Version {version}", "udp", data, _reply(Result.UNSUPPORTED_VERSION), "SRV-2")
        add(
            f"tcp-version-{version}",
            f"Version {version} over TCP: the server cannot frame it, so it closes",
            "tcp",
            data,
            _reply(Result.UNSUPPORTED_VERSION, then_close=True),
            "SRV-2",
        )
    for bit in range(1, 8):
        add(
            f"reserved-flag-bit-{bit}",
            f"Reserved flag bit {bit} (0x{1 << bit:02x}) set",
            "any",
            _msg(Op.NOOP, ID, flags=1 << bit),
            _reply(Result.MALFORMED),
            "SRV-3",
            "MSG-3",
        )
    for result in (1, MAX_CODE):
        add(
            f"result-{result}",
            f"result {result} in a request",
            "any",
            _msg(Op.NOOP, ID, result=result),
            _reply(Result.MALFORMED),
            "SRV-4",
        )
    add("request-id-zero", "request_id 0", "any", _msg(Op.NOOP, 0), _reply(Result.MALFORMED), "SRV-5")
    for op in (0x0003, 0x1234, 0x7FFF):
        add(
            f"reserved-operation-0x{op:04x}",
            f"Reserved operation 0x{op:04x}",
            "any",
            _msg(op, ID),
            _reply(Result.UNKNOWN_OPERATION),
            "SRV-6",
        )
    add(
        "increment-with-payload",
        "INCREMENT with a 1-byte payload (over TCP the server discards the payload and goes on)",
        "any",
        _msg(Op.INCREMENT, ID, b"\x00"),
        _reply(Result.MALFORMED),
        "SRV-7",
        "TCP-SRV-9",
    )
    add(
        "udp-size-says-more",
        "size 5, no payload byte in the datagram",
        "udp",
        _msg(Op.ECHO, ID, size=5),
        _reply(Result.SIZE_MISMATCH),
        "UDP-SRV-3",
    )
    add(
        "udp-size-says-less",
        "size 0, three payload bytes in the datagram",
        "udp",
        _msg(Op.ECHO, ID, size=0) + b"abc",
        _reply(Result.SIZE_MISMATCH),
        "UDP-SRV-3",
    )
    add(
        "udp-size-off-by-one",
        "size 4, five payload bytes in the datagram",
        "udp",
        _msg(Op.ECHO, ID, size=4) + b"hello",
        _reply(Result.SIZE_MISMATCH),
        "UDP-SRV-3",
    )
    add(
        "udp-size-over-max",
        f"size {MAX_UDP_PAYLOAD + 1}, one more than a datagram can carry, in a bare header",
        "udp",
        _msg(Op.ECHO, ID, size=MAX_UDP_PAYLOAD + 1),
        _reply(Result.SIZE_MISMATCH),
        "UDP-SRV-3",
    )
    add(
        "udp-size-max-u32",
        "size 2^32-1 in a bare header",
        "udp",
        _msg(Op.ECHO, ID, size=MAX_SIZE_FIELD),
        _reply(Result.SIZE_MISMATCH),
        "UDP-SRV-3",
    )
    add(
        "tcp-size-max-u32",
        "size 2^32-1: TOO_LARGE at once, the payload never read",
        "tcp",
        _msg(Op.ECHO, ID, size=MAX_SIZE_FIELD),
        _reply(Result.TOO_LARGE, then_close=True),
        "TCP-SRV-4",
        "SRV-8",
    )
    add(
        "tcp-size-over-limit",
        f"size {DEFAULT_TCP_MAX_PAYLOAD + 1}, one over the reference TCP limit",
        "tcp",
        _msg(Op.ECHO, ID, size=DEFAULT_TCP_MAX_PAYLOAD + 1),
        _reply(Result.TOO_LARGE, then_close=True),
        "TCP-SRV-4",
        "SRV-8",
    )
    add(
        "precedence-version-before-flags",
        "Version 2 and a reserved flag bit: version is judged first",
        "udp",
        _msg(Op.NOOP, ID, version=2, flags=0x80),
        _reply(Result.UNSUPPORTED_VERSION),
        "SRV-2",
    )
    add(
        "precedence-size-before-fields",
        "Size mismatch and request_id 0: framing is judged first",
        "udp",
        _msg(Op.NOOP, 0, size=1),
        _reply(Result.SIZE_MISMATCH),
        "UDP-SRV-3",
    )
    return v


def _replies() -> list[Vector]:
    echo = {"operation": int(Op.ECHO), "request_id": ID}
    inc = {"operation": int(Op.INCREMENT), "request_id": ID}
    ok = _msg(Op.ECHO, ID, b"hello", flags=Flag.REPLY)
    counter = _msg(Op.INCREMENT, ID, (42).to_bytes(8, "big"), flags=Flag.REPLY)
    error = _msg(Op.ECHO, ID, flags=Flag.REPLY, result=Result.TOO_LARGE)
    v = [
        Vector("reply-echo", "OK reply to ECHO 'hello'", "any", ok, _decoded(ok), ("SRV-10", "SRV-12"), "reply", echo),
        Vector(
            "reply-increment",
            "OK reply to INCREMENT: the counter's new value, 42, as a u64",
            "any",
            counter,
            _decoded(counter),
            ("SRV-11", "SRV-12"),
            "reply",
            inc,
        ),
        Vector(
            "reply-error",
            "TOO_LARGE error reply: a bare header",
            "any",
            error,
            _decoded(error),
            ("SRV-13",),
            "reply",
            echo,
        ),
    ]
    ignored = [
        (
            "reply-wrong-id",
            "Reply whose request_id is not the outstanding one",
            _msg(Op.ECHO, ID + 1, b"hello", flags=Flag.REPLY),
            ("CLI-3", "UDP-CLI-2"),
        ),
        (
            "reply-wrong-operation",
            "Reply whose operation is not the request's",
            _msg(Op.NOOP, ID, flags=Flag.REPLY),
            ("CLI-3",),
        ),
        (
            "reply-flag-clear",
            "A request, not a reply, carrying the outstanding ID",
            _msg(Op.ECHO, ID, b"hello"),
            ("CLI-3",),
        ),
        (
            "reply-reserved-flag",
            "Reply with a reserved flag bit set",
            _msg(Op.ECHO, ID, b"hello", flags=Flag.REPLY | 0x40),
            ("CLI-3", "MSG-3"),
        ),
        (
            "reply-bad-magic",
            "Reply with magic b'XX'",
            _msg(Op.ECHO, ID, b"hello", flags=Flag.REPLY, magic=b"XX"),
            ("CLI-3", "MSG-2"),
        ),
        (
            "reply-error-with-payload",
            "Error reply that carries a payload",
            _msg(Op.ECHO, ID, b"leak", flags=Flag.REPLY, result=Result.MALFORMED),
            ("CLI-3", "SRV-13"),
        ),
        ("reply-short", "A 19-byte datagram", ok[:19], ("CLI-3",)),
    ]
    v += [
        Vector(n, d + ": a client must not accept it", "any", b, {"action": "ignore"}, r, "reply", echo)
        for n, d, b, r in ignored
    ]
    busy = _msg(Op.NOOP, 0, flags=Flag.REPLY, result=Result.BUSY)
    v += [
        Vector(
            "tcp-reply-unsolicited-busy",
            "Unsolicited BUSY from a server over its connection limits (request_id 0, operation NOOP): the "
            "answer to every request outstanding on the connection, which then closes",
            "tcp",
            busy,
            _decoded(busy),
            ("TCP-SRV-15", "TCP-CLI-5"),
            "reply",
            echo,
        ),
        Vector(
            "udp-reply-unsolicited-busy",
            "The unsolicited BUSY's bytes in a datagram: UDP has no unsolicited reply, so a client must not accept it",
            "udp",
            busy,
            {"action": "ignore"},
            ("CLI-3", "UDP-CLI-2"),
            "reply",
            echo,
        ),
    ]
    truncated = _msg(Op.ECHO, ID, size=5) + b"hel"
    v.append(
        Vector(
            "udp-reply-size-mismatch",
            "Reply datagram whose size says 5 with 3 payload bytes",
            "udp",
            truncated,
            {"action": "ignore"},
            ("CLI-3", "MSG-4"),
            "reply",
            echo,
        )
    )
    return v


def build_vectors() -> list[Vector]:
    """Every vector, in file order."""
    return _valid_requests() + _invalid_requests() + _replies()


def render() -> str:
    """The vector file's exact text."""
    doc = {
        "protocol": "RRP/1",
        "schema": SCHEMA_NAME,
        "limits": {"udp_max_payload": MAX_UDP_PAYLOAD, "tcp_max_payload": DEFAULT_TCP_MAX_PAYLOAD},
        "vectors": [vector.to_json() for vector in build_vectors()],
    }
    return json.dumps(doc, indent=1) + "\n"


def load() -> list[dict[str, Any]]:
    """The vectors of the shipped file, as JSON objects."""
    vectors: list[dict[str, Any]] = json.loads(data_file(VECTORS_NAME).read_text(encoding="utf-8"))["vectors"]
    return vectors


def codec_expectation(vector: dict[str, Any], transport: str) -> dict[str, Any]:
    """What this package's codec makes of a vector's bytes over ``transport``, in the vector's ``expect`` form.

    Requests are judged as a server with the reference limits judges them; replies
    as a client judges the answer to the vector's ``request``.
    """
    data = bytes.fromhex(vector["hex"])
    if vector["direction"] == "reply":
        request = Header(operation=vector["request"]["operation"], request_id=vector["request"]["request_id"])
        if transport == "tcp" and is_unsolicited_busy(data) and len(data) == HEADER_SIZE:
            return _decoded(data)  # TCP-CLI-5: the answer to whatever is outstanding
        if reply_problems(data, request=request, datagram=transport == "udp"):
            return {"action": "ignore"}
        return _decoded(data)
    try:
        if transport == "udp":
            decode_request_datagram(data, MAX_UDP_PAYLOAD)
        else:
            if len(data) < HEADER_SIZE:
                raise ValueError("a TCP vector must hold at least a header")
            header = unpack_header(data)
            check_request(header, transport=Transport.TCP, max_payload=DEFAULT_TCP_MAX_PAYLOAD)
            data = data[: HEADER_SIZE + header.size]
    except ProtocolViolation as violation:
        if violation.action is Action.REPLY and violation.result is not None:
            return _reply(violation.result, then_close=violation.close_after)
        return {"action": str(violation.action)}
    return _decoded(data)


def write_or_check(path: Path, text: str, what: str, argv: list[str] | None, program: str) -> int:
    """``python -m PROGRAM [--check]``: write ``text`` to ``path`` (a generated file), or exit 1 when it differs."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        if not path.exists() or path.read_text() != text:
            print(f"{path} is stale: run 'make vectors' and commit the result", file=sys.stderr)
            return 1
        print(f"{path.name} is current ({what})")
        return 0
    if args:
        print(f"usage: python -m {program} [--check]", file=sys.stderr)
        return 2
    path.write_text(text)
    print(f"wrote {what} to {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m rrp_spec.vectors [--check]``: write the vector file, or check it is current."""
    return write_or_check(VECTORS_PATH, render(), f"{len(build_vectors())} vectors", argv, "rrp_spec.vectors")


if __name__ == "__main__":
    raise SystemExit(main())
