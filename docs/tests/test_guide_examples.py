"""The implementer's guide shows only code the tests run, and that code passes the conformance suite.

Every loop on the guide page is cut from ``docs/examples/`` by the ``rrp:example`` directive; the server
there is graded with ``rrp-conformance server --strict`` and the client with ``rrp-conformance client``,
each as a user runs them, and neither may fail or skip a check. So the guide cannot teach a bug the suite
knows about (it once taught one: a cached reply sent before the amplification check).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from rrp_docs import includes
from rrp_spec import HEADER_SIZE

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"
SERVER, CLIENT = EXAMPLES / "guide_server.py", EXAMPLES / "guide_client.py"
PAGES = REPO / "docs" / "pages"
GUIDE = PAGES / "implementers-guide.md"
_EXAMPLE = re.compile(r"<!--\s*rrp:example\s+path=(\S+)\s+region=(\S+)\s*-->")
#: The suite's own flag for a machine shared with other tests.
TIMEOUT_SCALE = "2"
#: Checks of the secure profiles (RRP/1-S, RRP/1 over TLS): the guide teaches plain RRP/1, so these are not graded.
SECURE_PROFILES = ("sudp/", "tls/")
#: Checks the guide's server is right to skip, with the reason that makes it right. Its TCP payload limit is
#: MAX_SMALL_PAYLOAD, so no request is large enough to be refused past a memory budget (TCP-SRV-14): its global
#: bound is its connection limit times that payload limit, the budget it claims.
EXEMPT_SKIPS = {"tcp/memory-budget": "is not above"}
#: The server's second UDP address: one socket per local address (UDP-SRV-6), graded with --alt-address.
ALT_ADDRESS = "127.0.0.2"
#: The root conftest's ``start_listening`` (tests cannot import conftest.py): what a started server listens on.
StartListening = Callable[..., AbstractContextManager[dict[str, tuple[str, int]]]]


def _shown() -> set[tuple[str, str]]:
    return {(m[1], m[2]) for page in PAGES.glob("*.md") for m in _EXAMPLE.finditer(page.read_text())}


def test_every_region_of_the_examples_is_on_a_page_and_every_example_directive_names_one() -> None:
    marked = {
        (str(path.relative_to(REPO)), region)
        for path in (SERVER, CLIENT)
        for region in includes.regions(str(path.relative_to(REPO)))
    }
    assert _shown() == marked


def test_the_guide_has_no_hand_written_code_blocks() -> None:
    """Every fenced block on the guide comes from an example the tests run: none is typed into the page."""
    assert "```" not in GUIDE.read_text()
    assert {path for path, _ in _shown()} == {"docs/examples/guide_server.py", "docs/examples/guide_client.py"}


def _load_server() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rrp_guide_server", SERVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _suite(argv: list[str], report_dir: Path) -> tuple[int, dict[str, Any], str]:
    """Run ``rrp-conformance ARGV`` as a user does: its exit status, its results.json and its output."""
    command = [str(Path(sys.executable).with_name("rrp-conformance")), *argv, "--timeout-scale", TIMEOUT_SCALE]
    done = subprocess.run([*command, "--report-dir", str(report_dir)], capture_output=True, text=True, timeout=600)
    return done.returncode, json.loads((report_dir / "results.json").read_text()), done.stdout + done.stderr


def _grade_server(start: StartListening, report_dir: Path) -> tuple[int, dict[str, Any], str]:
    """Start the guide's server on 127.0.0.1 (and UDP on 127.0.0.2 too) and grade it strictly."""
    settings = _load_server().Settings()
    with start([sys.executable, str(SERVER), "--also-udp", ALT_ADDRESS]) as where:
        udp, tcp = ("{}:{}".format(*where[kind]) for kind in ("udp", "tcp"))
        claims = [
            "--request-deadline", str(settings.request_deadline),
            "--idle-timeout", str(settings.idle_timeout),
            "--send-timeout", str(settings.send_timeout),
            "--udp-max-payload", str(settings.udp_max_payload),
            "--tcp-max-payload", str(settings.tcp_max_payload),
            "--max-connections", str(settings.max_connections),
            "--max-connections-per-source", str(settings.max_connections_per_source),
            "--dedup-entries", str(settings.dedup_entries),
            "--memory-budget", str(settings.max_connections * (HEADER_SIZE + settings.tcp_max_payload)),
        ]  # fmt: skip
        return _suite(
            ["server", "--udp", udp, "--tcp", tcp, "--alt-address", ALT_ADDRESS, "--strict", *claims], report_dir
        )


def _grade_client(report_dir: Path) -> tuple[int, dict[str, Any], str]:
    python = shlex.quote(sys.executable)
    template = (
        f"{python} {CLIENT} {{url}} {{op}} {{payload_hex}} {{timeout}} {{attempts}} {{initial_timeout}} {{max_timeout}}"
    )
    return _suite(["client", "--command", template, "--strict", "--timeout", "4"], report_dir)


@pytest.fixture(scope="module")
def graded(
    tmp_path_factory: pytest.TempPathFactory, start_listening: StartListening
) -> dict[str, tuple[int, dict[str, Any], str]]:
    """Both gradings, at once: they share nothing but the machine."""
    with ThreadPoolExecutor(2) as pool:
        server = pool.submit(_grade_server, start_listening, tmp_path_factory.mktemp("guide-server"))
        client = pool.submit(_grade_client, tmp_path_factory.mktemp("guide-client"))
        return {"server": server.result(), "client": client.result()}


@pytest.mark.parametrize("side", ["server", "client"])
def test_the_guides_code_passes_every_check_of_the_suite(
    side: str, graded: dict[str, tuple[int, dict[str, Any], str]]
) -> None:
    status, results, output = graded[side]
    not_passed = {
        c["name"]: c["outcome"]
        for c in results["checks"]
        if c["outcome"] not in ("PASS", "INFO")
        and not c["name"].startswith(SECURE_PROFILES)
        and not (c["outcome"] == "SKIPPED" and EXEMPT_SKIPS.get(c["name"], "\0") in c["skip_reason"])
    }
    assert status in (0, 1) and (status == 0 or side == "server"), output[-3000:]
    status = 0 if not not_passed else status
    assert not not_passed, f"{not_passed}\n{output[-3000:]}"
