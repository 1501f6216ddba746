"""The suite survives hostile targets: each attack ends in verdicts, in bounded time, with bounded memory and logs.

``rrp-conformance`` is pointed at servers and clients nobody here controls. Each
hostile server (``hostile_targets/hostile_server.py``) and hostile client
(``hostile_targets/hostile_client.py``) attacks the suite one way; the suite runs
as a user runs it, in its own process, so that its peak memory (``wait4``) and its
report sizes can be measured. Its address space is capped, so that a regression
fails the test instead of swapping the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent / "hostile_targets"
HOSTILE_SERVER = HERE / "hostile_server.py"
HOSTILE_CLIENT = HERE / "hostile_client.py"
#: The root conftest's ``start_listening`` (tests cannot import conftest.py): what a started server listens on.
StartListening = Callable[..., AbstractContextManager[dict[str, tuple[str, int]]]]
#: The hostile server's claims, small so that each run takes seconds.
SERVER_CLAIMS = (
    "--request-deadline",
    "0.3",
    "--idle-timeout",
    "1.5",
    "--send-timeout",
    "0.5",
    "--max-payload",
    "65000",
)
#: The hostile clients' claims.
CLIENT_CLAIMS = ("--attempts", "3", "--initial-timeout", "0.05", "--max-timeout", "0.2", "--timeout", "1")
#: The suite's own flag, for the shared machine the tests run on (1 for clients: a hostile client that never
#: exits runs into every hard limit, and the hard limits are what those runs measure).
TIMEOUT_SCALE = {"server": "2", "client": "1"}
#: Address space the suite may use: far above its needs (about 100 MB), far below what an unbounded log takes.
ADDRESS_SPACE = 1 << 30
#: Peak resident memory a run may reach (a run against these targets peaks at about 40 MB).
MAX_RSS = 128 << 20
#: Bytes results.json may reach: the wire logs are capped, whatever the target sent.
MAX_RESULTS = 16 << 20
#: Seconds after which a run is killed (and the test fails): every run here ends in well under half of it.
HARD_LIMIT = 150.0
#: Suite runs at once.
PARALLEL = 4


@dataclass(frozen=True)
class Attack:
    """One hostile target, the checks run against it, and how long the run may take."""

    behaviour: str
    select: tuple[str, ...]
    #: Seconds the run may take: its checks' waits, at the most, with the scale.
    budget: float
    #: True when the target sends so much that some check's wire log must be truncated (and say so).
    floods: bool = False
    #: Words some check's notes must contain: the suite says what the target did.
    says: str = ""


#: Checks that wait for a drop, a close or an idle timeout, read a reply, exchange several times on one socket, or
#: flood one connection while timing another.
SERVER_CHECKS = (
    "udp/noop",
    "udp/increment",
    "udp/vector/udp-short-0",
    "udp/vector/reserved-flag-bit-1",
    "udp/garbage-burst",
    "tcp/noop",
    "tcp/increment",
    "tcp/vector/tcp-magic-rs",
    "tcp/vector/reserved-flag-bit-1",
    "tcp/pipelined",
    "tcp/idle-timeout",
    "tcp/fast-neighbour",
)
SERVER_ATTACKS = [
    Attack("endless-stream", SERVER_CHECKS, 90, floods=True, says="arrived while the suite waited for a close"),
    Attack("huge-sizes", SERVER_CHECKS, 90, says="payload bytes: the suite did not read them"),
    Attack("udp-flood", SERVER_CHECKS, 90, floods=True, says="the target kept sending"),
    Attack("never-closes", SERVER_CHECKS, 90),
    Attack("thousand-replies", SERVER_CHECKS, 90, says="repeated replies"),
    Attack("unsolicited", SERVER_CHECKS, 90, says="replies to requests it never made"),
]


@dataclass(frozen=True)
class SuiteRun:
    """One run of the suite, measured."""

    exit_status: int
    elapsed: float
    #: Peak resident set size of the suite's process, in bytes.
    max_rss: int
    output: str
    results_size: int
    results: dict[str, Any]

    def explain(self) -> str:
        return f"exit {self.exit_status} after {self.elapsed:.1f} s, peak RSS {self.max_rss >> 20} MiB\n{self.output}"


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_suite(argv: list[str], report_dir: Path) -> SuiteRun:
    """Run ``rrp-conformance ARGV --report-dir REPORT_DIR`` in its own process and measure it."""
    command = [sys.executable, "-c", "import sys; from rrp_conformance.cli import main; sys.exit(main())"]
    command += [*argv, "--timeout-scale", TIMEOUT_SCALE[argv[0]], "--report-dir", str(report_dir)]
    started = time.monotonic()
    output = report_dir.with_suffix(".out")
    with output.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=_limit_address_space)
        deadline = started + HARD_LIMIT
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait for it again
    elapsed = time.monotonic() - started
    results_file = report_dir / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    return SuiteRun(
        process.returncode,
        elapsed,
        usage.ru_maxrss * 1024,  # Linux reports kilobytes
        output.read_text(errors="replace")[-4000:],
        results_file.stat().st_size if results_file.exists() else 0,
        results,
    )


def _attack_server(start: StartListening, attack: Attack, workdir: Path) -> SuiteRun:
    command = [sys.executable, str(HOSTILE_SERVER), "--behaviour", attack.behaviour, "--lifetime", str(HARD_LIMIT)]
    with start(command) as where:
        argv = ["server", "--udp", "{}:{}".format(*where["udp"]), "--tcp", "{}:{}".format(*where["tcp"])]
        return run_suite([*argv, *SERVER_CLAIMS, "--select", *attack.select], workdir / f"server-{attack.behaviour}")


def _assert_bounded(run: SuiteRun, attack: Attack, expected_checks: int) -> None:
    assert run.exit_status in (0, 1), run.explain()  # verdicts: neither a crash, a kill nor "unreachable"
    assert run.elapsed < attack.budget, run.explain()
    assert run.max_rss < MAX_RSS, run.explain()
    assert run.results_size < MAX_RESULTS, run.explain()
    checks = run.results["checks"]
    ran = [c for c in checks if not c["skip_reason"].startswith("not selected")]
    assert len(ran) == expected_checks, run.explain()
    assert not [c["name"] for c in ran if "could not complete" in c["skip_reason"]], run.explain()
    truncated = [c["name"] for c in ran if any("wire log truncated" in n for n in c["notes"])]
    if attack.floods:
        assert truncated, "a flooding target must leave some check's wire log truncated, and say so"
    notes = [n for c in ran for n in c["notes"]]
    assert attack.says in " ".join(notes), f"no note says {attack.says!r}: {notes}"


@pytest.mark.parametrize("attack", SERVER_ATTACKS, ids=lambda a: a.behaviour)
def test_a_hostile_server_gets_verdicts_in_bounded_time_and_memory(
    attack: Attack, runs: dict[tuple[str, str], SuiteRun]
) -> None:
    run = runs["server", attack.behaviour]
    _assert_bounded(run, attack, len(attack.select))
    failed = {c["name"] for c in run.results["checks"] if c["outcome"] == "FAIL"}
    assert failed, f"a hostile server must fail something\n{run.explain()}"


def test_wire_logs_in_the_reports_are_capped_and_marked(runs: dict[tuple[str, str], SuiteRun]) -> None:
    from rrp_conformance.wirelog import KEPT_HEAD, KEPT_TAIL

    run = runs["server", "udp-flood"]
    longest = max(run.results["checks"], key=lambda c: len(c["wire_log"]))
    assert len(longest["wire_log"]) == KEPT_HEAD + 1 + KEPT_TAIL
    assert any("wire log truncated" in e["note"] for e in longest["wire_log"]), run.explain()


#: One run of the client per check and one per transport for the start-up probe, each up to its hard limit.
UDP_ONLY, TCP_ONLY = ("udp/request-well-formed",), ("tcp/request-well-formed",)
BOTH = (*UDP_ONLY, *TCP_ONLY)
CLIENT_ATTACKS = [
    Attack("flood", BOTH, 90, floods=True, says="datagrams; the suite kept and answered the first"),
    Attack("huge-size", BOTH, 90, says="bytes after its request"),
    Attack("never-exits", UDP_ONLY, 60),
    Attack("escapes", UDP_ONLY, 40, says="kept its output open"),
    Attack("chatty", UDP_ONLY, 60),
    Attack("many-connections", TCP_ONLY, 90, says="connections; the suite served the first"),
    Attack("sends-replies", BOTH, 60),
]


def _attack_client(_start: StartListening, attack: Attack, workdir: Path) -> SuiteRun:
    template = f"{shlex.quote(sys.executable)} {shlex.quote(str(HOSTILE_CLIENT))} --behaviour {attack.behaviour}"
    argv = ["client", "--command", f"{template} {{url}} {{op}} {{payload_hex}}", *CLIENT_CLAIMS]
    return run_suite([*argv, "--select", *attack.select], workdir / f"client-{attack.behaviour}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, start_listening: StartListening) -> dict[tuple[str, str], SuiteRun]:
    """Every attack, server and client, a few at once (most of a run is waiting)."""
    workdir = tmp_path_factory.mktemp("hostile")
    jobs = [("server", a, _attack_server) for a in SERVER_ATTACKS] + [
        ("client", a, _attack_client) for a in CLIENT_ATTACKS
    ]
    with ThreadPoolExecutor(PARALLEL) as pool:
        done = pool.map(lambda job: job[2](start_listening, job[1], workdir), jobs)
        return {(side, attack.behaviour): run for (side, attack, _), run in zip(jobs, done, strict=True)}


@pytest.mark.parametrize("attack", CLIENT_ATTACKS, ids=lambda a: a.behaviour)
def test_a_hostile_client_gets_verdicts_in_bounded_time_and_memory(
    attack: Attack, runs: dict[tuple[str, str], SuiteRun]
) -> None:
    run = runs["client", attack.behaviour]
    _assert_bounded(run, attack, len(attack.select))
    assert run.exit_status == 1, f"a hostile client must fail\n{run.explain()}"


def test_a_client_that_leaves_a_process_holding_its_output_is_reported(
    runs: dict[tuple[str, str], SuiteRun],
) -> None:
    run = runs["client", "escapes"]
    logs = [e["note"] for c in run.results["checks"] for e in c["wire_log"]]
    assert any("kept its output open" in note for note in logs), run.explain()


def test_the_tls_server_reads_a_bounded_request_from_a_client_declaring_4_gib() -> None:
    """The client suite's TLS server takes at most 64 KiB of payload however much a client declares and streams."""
    import socket
    import ssl

    import trustme

    from rrp_conformance.client.hostile_tcp import MAX_REQUEST_PAYLOAD
    from rrp_conformance.client.hostile_tls import HostileTlsServer
    from rrp_conformance.wirelog import WireLog
    from rrp_spec import HEADER_SIZE, MAX_SIZE_FIELD, Header, Op, pack_header

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with HostileTlsServer(server_context, WireLog()) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with client_context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            conn.sendall(pack_header(Header(operation=Op.ECHO, request_id=1, size=MAX_SIZE_FIELD)))
            chunk = os.urandom(1 << 16)
            end = time.monotonic() + 3
            while time.monotonic() < end and not server.exchanges[0].request:
                with contextlib.suppress(OSError):
                    conn.sendall(chunk)  # 4 GiB declared; bytes without end
        request = server.exchanges[0].request
    assert request is not None and len(request) == HEADER_SIZE + MAX_REQUEST_PAYLOAD
