"""The fuzz targets without atheris: seeds and saved findings replayed, and proof that a broken decoder is caught.

The targets are plain functions, so every seed and every regression input runs here
on each ``make test``. A short atheris smoke run checks that ``make fuzz``'s machinery
works: each target starts under libFuzzer, runs inputs, and reports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rrp_robustness.contract import ContractBroken
from rrp_robustness.fuzz import corpus, spec_targets
from rrp_robustness.fuzz.targets import TARGETS
from rrp_spec import Action, ProtocolViolation, Result, Transport, decode_request_datagram, pack_request

SEED_CASES = [(name, n, seed) for name, target in TARGETS.items() for n, seed in enumerate(target.seeds())]
REGRESSION_CASES = [(name, file, data) for name in TARGETS for file, data in corpus.regressions(name)]


@pytest.mark.parametrize(("target", "index", "seed"), SEED_CASES, ids=[f"{t}-{n}" for t, n, _ in SEED_CASES])
def test_every_seed_passes_its_target(target: str, index: int, seed: bytes) -> None:
    TARGETS[target].check(seed)


@pytest.mark.parametrize(("target", "file", "data"), REGRESSION_CASES, ids=[f"{t}/{f}" for t, f, _ in REGRESSION_CASES])
def test_every_saved_finding_passes_its_target(target: str, file: str, data: bytes) -> None:
    """A finding of ``make fuzz``, kept in robustness/regressions/: it must not break the code again."""
    TARGETS[target].check(data)


def test_there_is_a_regression_directory_for_findings() -> None:
    assert corpus.REGRESSIONS_DIR.is_dir()
    assert {p.name for p in corpus.REGRESSIONS_DIR.iterdir() if p.is_dir()} <= set(TARGETS)


def test_a_decoder_that_accepts_bad_magic_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def lenient(datagram: bytes, max_payload: int = 0) -> object:
        try:
            return decode_request_datagram(datagram, max_payload)
        except ProtocolViolation as violation:
            if violation.requirement == "UDP-SRV-2":
                return decode_request_datagram(b"RR" + datagram[2:], max_payload)
            raise

    monkeypatch.setattr(spec_targets, "decode_request_datagram", lenient)
    with pytest.raises(ContractBroken):
        spec_targets.udp_datagram(b"XX" + pack_request(1, 7)[2:])


def test_a_violation_with_the_wrong_action_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    def replies_to_garbage(datagram: bytes, max_payload: int = 0) -> object:
        raise ProtocolViolation("UDP-SRV-1", Action.CLOSE, "short")

    monkeypatch.setattr(spec_targets, "decode_request_datagram", replies_to_garbage)
    with pytest.raises(ContractBroken, match="not allowed over udp"):
        spec_targets.udp_datagram(b"x")


def test_a_reply_checker_that_accepts_everything_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec_targets, "reply_problems", lambda *args, **kwargs: [])
    request = pack_request(1, 7, b"hi")  # a request, not a reply: CLI-3 rejects it
    with pytest.raises(ContractBroken):
        spec_targets.reply(b"\x00\x01" + (7).to_bytes(8, "big") + b"\x01" + request)


def test_an_error_reply_with_a_payload_is_caught() -> None:
    violation = ProtocolViolation("SRV-2", Action.REPLY, "version", result=Result.UNSUPPORTED_VERSION)
    with pytest.raises(ContractBroken):
        spec_targets.check_violation(violation, Transport.UDP, 20)  # no header: cannot reply


def test_atheris_smoke(tmp_path: Path) -> None:
    """Every target starts under libFuzzer and runs inputs (findings are the regression tests' business)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rrp_robustness.fuzz.runner",
            "--seconds",
            "5",
            "--runs",
            "300",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [run["target"] for run in summary] == list(TARGETS), result.stdout + result.stderr
    for run in summary:
        assert run["executions"] > 0 or run["findings"], run
