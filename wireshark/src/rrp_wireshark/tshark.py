"""Running tshark with the generated dissector, and reading what it decoded.

Used by the tests (every field and expert of every vector, the matching in a
conformance capture) and by the site, which shows tshark's own output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Seconds one tshark run may take (a conformance capture is a few thousand packets).
TSHARK_TIMEOUT = 120


def find_tshark() -> str | None:
    """The tshark binary on PATH, or ``None``."""
    return shutil.which("tshark")


@dataclass
class Message:
    """One RRP message as tshark decoded it: every field's values (subtrees flattened) and its experts."""

    fields: dict[str, list[str]] = field(default_factory=dict)

    def one(self, name: str) -> str:
        """The single value of field ``name``; ``AssertionError`` when there is not exactly one."""
        values = self.fields.get(name, [])
        if len(values) != 1:
            raise AssertionError(f"{name}: expected one value, got {values}")
        return values[0]

    @property
    def experts(self) -> set[str]:
        """The keys of the expert infos the dissector raised on this message (``bad_magic``, ...)."""
        return {
            name.split(".expert.", 1)[1] for name in self.fields if name.startswith(("rrp.expert.", "rrps.expert."))
        }


@dataclass(frozen=True, slots=True)
class Route:
    """Where a frame went: its transport and both ends as ``address:port``."""

    transport: str
    source: str
    destination: str


@dataclass
class Decoded:
    """A capture as tshark decoded it: every frame's RRP messages, route and packet comments."""

    frames: dict[int, list[Message]]
    #: Every frame's top-level layers (``frame``, ``ip``, ``udp``, ``rrp`` ...).
    layers: dict[int, set[str]] = field(default_factory=dict)
    routes: dict[int, Route] = field(default_factory=dict)
    comments: dict[int, list[str]] = field(default_factory=dict)

    def messages(self, frame: int) -> list[Message]:
        """The RRP messages tshark found in ``frame`` (several when a TCP segment carries several)."""
        return self.frames.get(frame, [])

    def message(self, frame: int) -> Message:
        """The one RRP message of ``frame``; ``AssertionError`` when there is not exactly one."""
        found = self.messages(frame)
        if len(found) != 1:
            raise AssertionError(f"frame {frame}: expected one RRP message, found {len(found)}")
        return found[0]


def _flatten(node: Any, into: dict[str, list[str]], key: str = "") -> None:
    """Every ``field: value`` pair under ``node``; subtrees (``rrp.flags_tree``) are walked, not kept."""
    if isinstance(node, dict):
        for name, value in node.items():
            _flatten(value, into, name)
    elif isinstance(node, list):
        for item in node:
            _flatten(item, into, key)
    else:
        into.setdefault(key, []).append(str(node))


def run_tshark(tshark: str, dissector: Path, capture: Path, arguments: Sequence[str]) -> str:
    """tshark's output for ``capture`` with the dissector loaded, in two passes (requests link forward to replies).

    Raises ``RuntimeError`` with tshark's own message when it fails or the dissector reports a Lua error.
    """
    command = [tshark, "-n", "-2", "-X", f"lua_script:{dissector}", "-r", str(capture), *arguments]
    run = subprocess.run(command, capture_output=True, text=True, timeout=TSHARK_TIMEOUT, check=False)
    problems = [line for line in run.stderr.splitlines() if "Lua" in line or "rror" in line]
    if run.returncode != 0 or problems:
        raise RuntimeError(f"tshark failed ({run.returncode}): {run.stderr.strip()}")
    return run.stdout


def decode(
    tshark: str, dissector: Path, capture: Path, arguments: Sequence[str] = (), *, layer: str = "rrp"
) -> Decoded:
    """Every message of ``capture`` in ``layer`` (``rrp``, or ``rrps`` for RRP/1-S), by frame."""
    output = run_tshark(tshark, dissector, capture, ["-T", "json", "--no-duplicate-keys", *arguments])
    decoded = Decoded({})
    for packet in json.loads(output):
        layers = packet["_source"]["layers"]
        number = int(layers["frame"]["frame.number"])
        decoded.layers[number] = set(layers)
        comments: dict[str, list[str]] = {}
        _flatten(layers.get("pkt_comment", {}), comments)
        decoded.comments[number] = comments.get("frame.comment", [])
        route = _route(layers)
        if route is not None:
            decoded.routes[number] = route
        found = layers.get(layer)
        if found is None:
            continue
        messages = []
        for one in found if isinstance(found, list) else [found]:
            message = Message()
            _flatten(one, message.fields)
            messages.append(message)
        decoded.frames[number] = messages
    return decoded


def _route(layers: dict[str, Any]) -> Route | None:
    ip = layers.get("ip") or layers.get("ipv6")
    if not isinstance(ip, dict):
        return None
    version = "ip" if "ip" in layers else "ipv6"
    for transport in ("udp", "tcp"):
        ports = layers.get(transport)
        if isinstance(ports, dict):
            source = f"{ip[version + '.src']}:{ports[transport + '.srcport']}"
            destination = f"{ip[version + '.dst']}:{ports[transport + '.dstport']}"
            return Route(transport, source, destination)
    return None
