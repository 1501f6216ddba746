"""Judging the request a client sent: every field, against the rules a client's request must follow."""

from __future__ import annotations

from dataclasses import dataclass

from rrp_spec import HEADER_SIZE, MAGIC, VERSION, Flag, unpack_header


@dataclass(frozen=True, slots=True)
class RequestProblem:
    """One way the request broke the spec (or the adapter contract)."""

    requirement: str
    expected: str
    observed: str


def request_problems(data: bytes, *, datagram: bool, operation: int, payload: bytes) -> list[RequestProblem]:
    """Every problem with ``data``, the request the client sent when asked for ``operation`` with ``payload``.

    ``data`` is a whole UDP datagram (``datagram=True``) or, over TCP, the header
    and the ``size`` payload bytes the suite read after it.
    """
    if len(data) < HEADER_SIZE:
        return [RequestProblem("MSG-1", f"a {HEADER_SIZE}-byte header", f"{len(data)} bytes")]
    h = unpack_header(data)
    problems: list[RequestProblem] = []

    def problem(requirement: str, expected: str, observed: str) -> None:
        problems.append(RequestProblem(requirement, expected, observed))

    if h.magic != MAGIC:
        problem("MSG-2", f"magic {MAGIC!r}", f"magic {h.magic!r}")
    if h.version != VERSION:
        problem("MSG-2", f"version {VERSION}", f"version {h.version}")
    if h.flags & Flag.REPLY:
        problem("CLI-2", "the REPLY flag clear in a request", f"flags 0x{h.flags:02x}")
    if h.reserved_flags:
        problem("MSG-3", "reserved flag bits zero", f"flags 0x{h.flags:02x}")
    if h.result != 0:
        problem("CLI-2", "result 0 in a request", f"result {h.result}")
    if h.request_id == 0:
        problem("CLI-1", "a non-zero request_id", "request_id 0")
    carried = len(data) - HEADER_SIZE
    if datagram and carried != h.size:
        problem("MSG-4", "size equal to the payload bytes in the datagram", f"size {h.size}, {carried} payload bytes")
    if h.operation != operation:
        problem("CLI-2", f"operation {operation}, as the command asked", f"operation {h.operation}")
    if data[HEADER_SIZE:] != payload:
        problem(
            "CLI-2",
            f"the payload the command asked for ({payload.hex() or 'empty'})",
            f"{data[HEADER_SIZE:].hex() or 'empty'}",
        )
    return problems
