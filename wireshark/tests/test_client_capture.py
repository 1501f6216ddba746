"""tshark with the generated dissector over the pcapng of a client conformance run (the reference client).

In a client run the suite is the server: its hostile servers accept the client's
connections, so the capture's TCP handshakes start from the client. The dissector
must find RRP on the servers' random ports by its heuristic alone, match each reply
to its request, and flag the forged replies the suite sends on purpose.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from rrp_conformance.cli import main
from rrp_conformance.outcomes import ExitCode
from rrp_wireshark.tshark import Decoded, decode

REFERENCE_CLIENT = (
    f"{shlex.quote(sys.executable)} -m rrp call {{url}} {{op}} --payload-hex {{payload_hex}} --hex "
    "--timeout {timeout} --attempts {attempts} --initial-timeout {initial_timeout} --max-timeout {max_timeout}"
)
CHECKS = ("udp/retransmission", "udp/reply-with-wrong-id", "tcp/request-well-formed", "tcp/reply-with-wrong-id")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("client")
    argv = ["client", "--command", REFERENCE_CLIENT, "--select", *CHECKS, "--report-dir", str(directory)]
    assert main([*argv, "--timeout-scale", "2"]) == ExitCode.OK
    return directory, json.loads((directory / "results.json").read_text())


@pytest.fixture(scope="module")
def decoded(tshark: str, dissector: Path, run: tuple[Path, dict[str, Any]]) -> Decoded:
    return decode(tshark, dissector, run[0] / run[1]["capture"])


def _frames(run: tuple[Path, dict[str, Any]], check: str) -> list[int]:
    frames: list[int] = next(c["frames"] for c in run[1]["checks"] if c["name"] == check)
    assert frames, f"{check} left no packets in the capture"
    return frames


def test_the_genuine_reply_of_each_exchange_is_matched_to_the_request(
    decoded: Decoded, run: tuple[Path, dict[str, Any]]
) -> None:
    for check in CHECKS:
        messages = [m for f in _frames(run, check) for m in decoded.messages(f)]
        requests = [m for m in messages if m.one("rrp.flags.reply") == "0"]
        replies = [m for m in messages if m.one("rrp.flags.reply") == "1"]
        assert requests and replies, f"{check}: the heuristic found no exchange"
        matched = [m for m in replies if "rrp.request_in" in m.fields]
        assert matched, f"{check}: no reply matched to its request"
        assert all(int(m.one("rrp.request_in")) in _frames(run, check) for m in matched)


def test_forged_replies_with_another_id_are_flagged(decoded: Decoded, run: tuple[Path, dict[str, Any]]) -> None:
    for check in ("udp/reply-with-wrong-id", "tcp/reply-with-wrong-id"):
        flagged = [m for f in _frames(run, check) for m in decoded.messages(f) if "unmatched_reply" in m.experts]
        assert flagged, f"{check}: the forged reply was not flagged"


def test_tcp_connections_are_opened_by_the_client(decoded: Decoded, run: tuple[Path, dict[str, Any]]) -> None:
    first = _frames(run, "tcp/request-well-formed")[0]
    syn = decoded.routes[first]
    request = next(f for f in _frames(run, "tcp/request-well-formed") if decoded.messages(f))
    assert decoded.routes[request].source == syn.source, "the SYN comes from the client that sends the request"
