"""Micro-benchmarks of the header codec: interpreted construct, compiled construct, the spec's fast path
and bare ``struct``, in nanoseconds per operation.

Each codec decodes the same valid 20-byte request header and encodes the same header back. What one
operation includes is stated next to each figure: construct's parse checks the magic (its ``Const``); the
fast path is ``unpack_header`` (into the API's frozen ``Header``) plus every header rule of
``check_request``; bare ``struct`` only unpacks into a tuple and judges nothing.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from rrp_spec import (
    HEADER_FORMAT,
    MAGIC,
    VERSION,
    Op,
    Transport,
    check_request,
    pack_header,
    pack_request,
    unpack_header,
)
from rrp_spec.reference_defaults import DEFAULT_TCP_MAX_PAYLOAD
from rrp_spec.wire import HEADER_STRUCT

_REQUEST_ID = 0x0123_4567_89AB_CDEF
_FIELDS = {
    "magic": MAGIC,
    "version": VERSION,
    "flags": 0,
    "operation": int(Op.ECHO),
    "result": 0,
    "request_id": _REQUEST_ID,
    "size": 0,
}


@dataclass(frozen=True, slots=True)
class CodecTiming:
    """One codec operation's cost."""

    codec: str
    operation: str
    #: What the timed call does, for the report.
    includes: str
    ns_per_op: float


def time_per_call(function: Callable[[], object], *, budget: float = 0.2, repeats: int = 5) -> float:
    """Nanoseconds per call of ``function``: the best of ``repeats`` batches, each about ``budget / repeats``.

    The minimum is the figure least disturbed by other processes on a shared machine.
    """
    calls = 1
    while True:  # size a batch to about budget / repeats
        start = time.perf_counter_ns()
        for _ in range(calls):
            function()
        elapsed = time.perf_counter_ns() - start
        if elapsed >= budget / repeats * 1e9 or calls >= 1 << 24:
            break
        calls *= 2
    best = elapsed / calls
    for _ in range(repeats - 1):
        start = time.perf_counter_ns()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best


def measure_codecs(budget: float = 0.2) -> list[CodecTiming]:
    """Time decode+validate and encode for each codec; ``budget`` seconds per figure."""
    data = pack_request(Op.ECHO, _REQUEST_ID)
    compiled = HEADER_STRUCT.compile()
    bare = struct.Struct(HEADER_FORMAT)
    header = unpack_header(data)

    def fast_decode() -> object:
        header = unpack_header(data)
        check_request(header, transport=Transport.TCP, max_payload=DEFAULT_TCP_MAX_PAYLOAD)
        return header

    cases: list[tuple[str, str, str, Callable[[], object]]] = [
        (
            "construct (interpreted)",
            "decode",
            "HEADER_STRUCT.parse: Container, magic checked",
            lambda: HEADER_STRUCT.parse(data),
        ),
        (
            "construct (compiled)",
            "decode",
            "HEADER_STRUCT.compile().parse: Container, magic checked",
            lambda: compiled.parse(data),
        ),
        (
            "rrp_spec fast path",
            "decode",
            "unpack_header + check_request: frozen Header, every header rule",
            fast_decode,
        ),
        (
            "rrp_spec without check_request",
            "decode",
            "unpack_header: frozen Header, nothing judged",
            lambda: unpack_header(data),
        ),
        ("bare struct", "decode", "struct.unpack: a tuple, nothing judged", lambda: bare.unpack(data)),
        ("construct (interpreted)", "encode", "HEADER_STRUCT.build(dict)", lambda: HEADER_STRUCT.build(_FIELDS)),
        ("construct (compiled)", "encode", "HEADER_STRUCT.compile().build(dict)", lambda: compiled.build(_FIELDS)),
        (
            "rrp_spec fast path",
            "encode",
            "pack_request(operation, request_id)",
            lambda: pack_request(Op.ECHO, _REQUEST_ID),
        ),
        ("rrp_spec without check_request", "encode", "pack_header(Header)", lambda: pack_header(header)),
        (
            "bare struct",
            "encode",
            "struct.pack of seven fields",
            lambda: bare.pack(MAGIC, VERSION, 0, Op.ECHO, 0, _REQUEST_ID, 0),
        ),
    ]
    return [
        CodecTiming(codec, operation, includes, time_per_call(function, budget=budget))
        for codec, operation, includes, function in cases
    ]
