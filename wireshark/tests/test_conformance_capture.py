"""tshark with the generated dissector over the pcapng of a real conformance run against the reference server.

The run's capture is rebuilt from its wire logs; this test checks that Wireshark
reads it as the run went: every reply to a request the suite logged is matched
to that request (same conversation, same ID, the latest transmission before it),
the request points forward to it, every check's first packet carries the comment
naming it, the frame numbers in results.json are the ones in the file, and the
1 MiB ECHO is reassembled from its segments into one message.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from rrp_conformance.cli import main
from rrp_conformance.outcomes import ExitCode
from rrp_spec import DEFAULT_TCP_MAX_PAYLOAD
from rrp_wireshark.tshark import Decoded, decode

pytestmark = pytest.mark.skipif(
    shutil.which("rrp") is None and not Path(sys.executable).with_name("rrp").exists(), reason="no rrp"
)


def _port(target: Any) -> str:
    """The port of a target address in results.json: ``{"host": ..., "port": ...}`` (schema rrp-conformance/2)."""
    return str(target["port"])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("conformance")
    # Scaled like the suite's own test of the reference: make test shares the machine.
    status = main(["reference", "--timeout-scale", "2", "--report-dir", str(directory)])
    assert status == ExitCode.OK
    return directory, json.loads((directory / "results.json").read_text())


@pytest.fixture(scope="module")
def decoded(tshark: str, dissector: Path, run: tuple[Path, dict[str, Any]]) -> Decoded:
    directory, results = run
    udp, tcp = _port(results["target"]["udp"]), _port(results["target"]["tcp"])
    # The reference listens on ports the kernel chose: tell tshark, as a user would with Decode As.
    return decode(
        tshark, dissector, directory / results["capture"], ["-d", f"udp.port=={udp},rrp", "-d", f"tcp.port=={tcp},rrp"]
    )


def test_every_reply_is_matched_to_its_request(decoded: Decoded) -> None:
    latest: dict[tuple[str, str, str, int], int] = {}
    first_reply: dict[int, int] = {}
    matched = 0
    for frame in sorted(decoded.frames):
        route = decoded.routes[frame]
        for message in decoded.frames[frame]:
            if "rrp.request_id" not in message.fields:
                continue  # not RRP at all (a bad magic on a stream): nothing to match
            rid = int(message.one("rrp.request_id"), 16)
            if message.one("rrp.flags.reply") == "0":
                latest[(route.transport, route.source, route.destination, rid)] = frame
                continue
            request = latest.get((route.transport, route.destination, route.source, rid))
            if request is None:
                assert "unmatched_reply" in message.experts
                continue
            assert message.one("rrp.request_in") == str(request), f"frame {frame}"
            assert float(message.one("rrp.time")) >= 0
            first_reply.setdefault(request, frame)
            matched += 1
    assert matched >= 100, f"only {matched} replies matched: the capture lost the run's exchanges"
    for request, reply in first_reply.items():
        forward = [link for m in decoded.messages(request) for link in m.fields.get("rrp.response_in", [])]
        assert str(reply) in forward, f"request {request} does not point to its reply {reply}"


def test_each_check_is_found_by_its_comment_and_frames(decoded: Decoded, run: tuple[Path, dict[str, Any]]) -> None:
    checks = run[1]["checks"]
    with_packets = [c for c in checks if c["frames"]]
    assert len(with_packets) >= len(checks) - 5
    for index, check in enumerate(checks, 1):
        if check["frames"]:
            comments = decoded.comments[check["frames"][0]]
            assert any(f"check {index}/{len(checks)}: {check['name']} [{check['outcome']}]" in c for c in comments)
    last = max(f for c in checks for f in c["frames"])
    assert last == max(decoded.routes), "the frame numbers in results.json are the capture's"


def test_a_one_mebibyte_echo_is_reassembled_into_one_message(decoded: Decoded) -> None:
    sizes = [int(m.one("rrp.size")) for ms in decoded.frames.values() for m in ms if "rrp.size" in m.fields]
    assert sizes.count(DEFAULT_TCP_MAX_PAYLOAD) >= 2, "the request at the TCP limit and its echo"
