"""A shortened ``make bench``: every server, every configuration, the attack and the report, in seconds.

Proves the harness works end to end; asserts nothing about speed (the machine is shared), only that every
server answered every configuration with correct replies and that the report files were written.
"""

from __future__ import annotations

import json
from pathlib import Path

from rrp_bench.load import CONFIGS
from rrp_bench.report import write_all
from rrp_bench.runner import AttackVariant, BenchOptions, run_benchmark
from rrp_bench.servers import ServerKind


def test_short_benchmark_runs_every_server_and_writes_the_report(tools: Path, tmp_path: Path) -> None:
    options = BenchOptions(
        tools=tools,
        out_dir=tmp_path,
        duration=0.3,
        warmup=0.1,
        rounds=1,
        codec_budget=0.01,
        attack_count=200,
    )
    results = run_benchmark(options, progress=lambda line: None)
    text = write_all(results, tmp_path)

    assert results.unavailable == {}
    expected = {(config.name, str(kind)) for config in CONFIGS for kind in ServerKind}
    assert {(run.config, run.server) for run in results.runs} == expected
    for run in results.runs + results.attack_runs:
        assert run.result is not None, f"{run.config} {run.server} {run.attack}: {run.error}"
        assert run.result.replies_ok > 0, run
        assert run.result.errors == 0, run  # no wrong ID, header or payload, no dropped connection
    attacked = {(run.server, run.attack) for run in results.attack_runs}
    assert attacked == {(str(kind), variant) for kind in ServerKind for variant in AttackVariant}
    assert {(t.codec, t.operation) for t in results.codec} >= {("rrp_spec fast path", "decode")}

    assert (tmp_path / "report.md").read_text() == text
    assert "| UDP, K=64 |" in text and "## Targets" in text
    data = json.loads((tmp_path / "results.json").read_text())
    assert len(data["runs"]) == len(expected)
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
