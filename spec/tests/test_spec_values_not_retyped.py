"""Numbers that are spec values are typed once, in rrp_spec, and imported everywhere else.

Scans every Python file of the repository outside ``rrp_spec`` for integer literals
that equal a 16-bit code boundary or a UDP size, which must be written as
``APPLICATION_RANGE_START``, ``MAX_CODE``, ``MAX_UDP_DATAGRAM``, ``UDP_RECEIVE_BUFFER_SIZE``...
"""

from __future__ import annotations

import ast
from pathlib import Path

from rrp_spec import APPLICATION_RANGE_START, MAX_CODE, MAX_UDP_DATAGRAM, MAX_UDP_PAYLOAD, UDP_RECEIVE_BUFFER_SIZE

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("spec", "python-ref", "conformance", "bench", "robustness", "docs")
#: The values no file outside rrp_spec may type.
SPEC_VALUES = {APPLICATION_RANGE_START, MAX_CODE, MAX_UDP_DATAGRAM, MAX_UDP_PAYLOAD, UDP_RECEIVE_BUFFER_SIZE}
#: Files where such a number means something else, with why.
UNRELATED = {
    # The fuzzer's own input format prefixes a long write with a 16-bit length.
    "robustness/src/rrp_robustness/fuzz/encoding.py",
    # 32768 there is an ECHO payload size among others, not an operation.
    "robustness/src/rrp_robustness/soak/honest.py",
    # The known-answer test of the derivation itself: the literals are the point.
    "spec/tests/test_layout.py",
    # IP and TCP headers for the run's capture: 0xFFFF is a 16-bit length, window or ones'-complement sum there.
    "conformance/src/rrp_conformance/packets.py",
    # pcapng's option length field is 16 bits: the longest comment one option holds.
    "conformance/src/rrp_conformance/pcapng.py",
    "conformance/tests/test_capture.py",
}


def _python_files() -> list[Path]:
    files = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if "/rrp_spec/" in relative or relative in UNRELATED or "/.venv/" in relative:
                continue
            files.append(path)
    return files


def test_spec_values_are_imported_not_retyped() -> None:
    found = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and type(node.value) is int and node.value in SPEC_VALUES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value:#x} ({node.value})")
    assert not found, "spec values typed outside rrp_spec:\n" + "\n".join(found)


def test_the_scan_sees_the_repository() -> None:
    """A scan that found no files would pass whatever they hold."""
    names = {path.relative_to(ROOT).as_posix() for path in _python_files()}
    assert "python-ref/src/rrp/_aio/udp_endpoint.py" in names
    assert "conformance/src/rrp_conformance/server/checks_udp.py" in names
