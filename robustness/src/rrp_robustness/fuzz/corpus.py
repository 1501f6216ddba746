"""Seed inputs for every fuzz target, made from the spec's test vectors.

A seed is one target input. The vectors already hold every interesting request and
reply; the fuzzer mutates from them instead of discovering the header from nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from rrp_spec import HEADER_SIZE, Op, pack_request
from rrp_spec.vectors import load

from .encoding import encode_reply_input, encode_tcp_core_input, encode_udp_core_input

#: Saved findings: ``robustness/regressions/<target>/<name>.bin``, replayed by the tests.
REGRESSIONS_DIR = Path(__file__).resolve().parents[3] / "regressions"


def _request_vectors(transports: tuple[str, ...]) -> Iterator[bytes]:
    for vector in load():
        if vector["direction"] == "request" and vector["transport"] in transports:
            yield bytes.fromhex(vector["hex"])


def udp_datagram_seeds() -> list[bytes]:
    """Every request vector that a UDP server may receive as one datagram."""
    return list(_request_vectors(("udp", "any")))


def tcp_stream_seeds() -> list[bytes]:
    """Every TCP request vector as the start of a stream, and a few pipelines of them."""
    singles = [data for data in _request_vectors(("tcp", "any")) if len(data) >= HEADER_SIZE]
    small = [data for data in singles if len(data) < 4096]
    pipelines = [small[i] + small[(i + 1) % len(small)] for i in range(len(small))]
    return singles + pipelines


def reply_seeds() -> list[bytes]:
    """Every reply vector, prefixed with the request it answers, once as a datagram and once over TCP."""
    seeds = []
    for vector in load():
        if vector["direction"] != "reply":
            continue
        data = bytes.fromhex(vector["hex"])
        request = vector["request"]
        for datagram in (True, False):
            seeds.append(encode_reply_input(request["operation"], request["request_id"], datagram, data))
    return seeds


def tcp_core_seeds() -> list[bytes]:
    """Every TCP request vector as one write, as single bytes, and as a busy connection's first bytes."""
    seeds = []
    for stream in tcp_stream_seeds():
        if len(stream) > 4096:
            continue
        seeds.append(encode_tcp_core_input([stream]))
        seeds.append(encode_tcp_core_input([stream[i : i + 1] for i in range(len(stream))]))
        seeds.append(encode_tcp_core_input([stream], busy=True))
    return seeds


def udp_core_seeds() -> list[bytes]:
    """Every UDP request vector from one peer, and an INCREMENT retransmitted and spoofed."""
    increment = pack_request(Op.INCREMENT, 0x5EED)
    seeds = [encode_udp_core_input([(0, datagram)]) for datagram in udp_datagram_seeds()]
    seeds.append(encode_udp_core_input([(0, increment), (0, increment), (1, increment)]))
    return seeds


def regressions(target: str) -> list[tuple[str, bytes]]:
    """The saved findings for ``target``, as ``(file name, input)``."""
    directory = REGRESSIONS_DIR / target
    if not directory.is_dir():
        return []
    return [(path.name, path.read_bytes()) for path in sorted(directory.glob("*.bin"))]


def write_corpus(directory: Path, seeds: list[bytes]) -> int:
    """Write ``seeds`` into ``directory`` under content-hash names; returns how many files it holds."""
    directory.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (directory / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    return sum(1 for _ in directory.iterdir())
