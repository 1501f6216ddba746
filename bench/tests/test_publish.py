"""The published snapshot: what a run records about its machine, the results.json round trip, the report's
sections and targets, and ``make bench-publish``'s checks. No benchmark runs here: the results are built by
hand, so every figure below is known."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from rrp_bench import machine, publish
from rrp_bench.codec import CodecTiming
from rrp_bench.load import CONFIGS, LoadResult
from rrp_bench.report import SECTIONS, TARGETS, markdown, read_json, targets, targets_table, write_json
from rrp_bench.runner import AttackVariant, BenchResults, Measurement, RunSettings
from rrp_bench.servers import ServerKind

#: Req/s of each server in every configuration and round: the reference does twice the naive servers and
#: half the C server, so every ratio is known.
RPS = {
    ServerKind.REFERENCE: 200.0,
    ServerKind.NAIVE_BLOCKING: 100.0,
    ServerKind.NAIVE_ASYNCIO: 100.0,
    ServerKind.C: 400.0,
}


def _result(rps: float, p50: float = 10.0, p99: float = 20.0) -> LoadResult:
    fields = dict.fromkeys(LoadResult.__dataclass_fields__, 0)
    return LoadResult.from_dict(fields | {"label": "x", "transport": "udp", "target": "t", "op": "echo"} | {
        "rps": rps, "p50_us": p50, "p99_us": p99, "p999_us": p99 * 2, "replies_ok": int(rps),
    })  # fmt: skip


def complete_run(rounds: int = 2) -> BenchResults:
    """Every server, configuration and attack variant, in ``rounds`` rounds, with the figures of :data:`RPS`."""
    settings = RunSettings(
        duration=1.0,
        warmup=0.1,
        rounds=rounds,
        payload=64,
        servers=[str(kind) for kind in ServerKind],
        configs=[config.name for config in CONFIGS],
        attack=True,
        attack_count=1000,
        attack_per_source=32,
        attack_config="tcp-1x64",
    )
    results = BenchResults(
        settings,
        {key: f"value of {key}" for key in machine.MACHINE_FIELDS},
        "server on CPU [1], load generator on CPU [0]",
        "2026-11-23 12:00:00 UTC",
        codec=[
            CodecTiming("construct (compiled)", "decode", "parse", 5000.0),
            CodecTiming("rrp_spec fast path", "decode", "unpack + check", 400.0),
            CodecTiming("bare struct", "decode", "unpack", 100.0),
            CodecTiming("bare struct", "encode", "pack", 90.0),
        ],
        seconds=12.0,
        load_before=(0.5, 0.4, 0.3),
        load_after=(1.5, 0.6, 0.4),
    )
    for round_ in range(1, rounds + 1):
        for config in CONFIGS:
            for kind in ServerKind:
                cpu = 1e6 / RPS[kind]  # CPU-bound: CPU per reply is 1 / req/s
                results.runs.append(Measurement(config.name, kind, round_, _result(RPS[kind]), None, None, None, cpu))
        for kind in ServerKind:
            for variant in AttackVariant:
                p99 = 30.0 if variant is AttackVariant.SPREAD else 20.0
                rps = RPS[kind] * (0.95 if variant is AttackVariant.SPREAD else 1.0)
                attacker = "stalled 1000" if variant is not AttackVariant.NONE else None
                results.attack_runs.append(
                    Measurement("tcp-1x64", kind, round_, _result(rps, p99=p99), None, variant, attacker, 1.0)
                )
    return results


def _write_run(directory: Path, results: BenchResults, chart: bytes = b"\x89PNG small") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write_json(results, directory / "results.json")
    (directory / "report.md").write_text(markdown(results))
    (directory / "chart.png").write_bytes(chart)
    return directory


def test_cpuinfo_gives_the_model_and_the_hypervisor_flag() -> None:
    text = "processor\t: 0\nmodel name\t: Some CPU @ 2GHz\nflags\t\t: fpu sse2 hypervisor\n\nmodel name\t: Other\n"
    assert machine._cpuinfo(text) == ("Some CPU @ 2GHz", True)
    assert machine._cpuinfo("model name : X\nflags : fpu hypervisor_lite\n") == ("X", False)


def test_cpu_ranges_print_like_the_kernel() -> None:
    assert machine.cpu_ranges({5, 0, 1, 2}) == "0-2,5"
    assert machine.cpu_ranges([3]) == "3"


def test_changed_paths_keep_their_first_letter() -> None:
    # Porcelain lines start with a space for a change not yet staged: the path must not lose a letter.
    assert machine.describe_changes(" M spec/a.py\nM  bench/b.py\n") == "spec/a.py, bench/b.py"
    assert machine.describe_changes("") == "none"
    many = "".join(f" M f{i}\n" for i in range(machine.MAX_LISTED_CHANGES + 2))
    assert machine.describe_changes(many).endswith(" and 2 more")


def test_uncommitted_changes_to_measured_code_are_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    for path in ("spec/a.py", "docs/b.md"):
        (tmp_path / path).parent.mkdir()
        (tmp_path / path).write_text("1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "x")
    monkeypatch.setattr(machine, "REPO_ROOT", tmp_path)
    assert machine.machine_description()["git_changes"] == "none"

    # Only tracked code the run measures counts: docs and untracked scratch files do not.
    for path in ("spec/a.py", "docs/b.md"):
        (tmp_path / path).write_text("2\n")
    (tmp_path / "spec" / "scratch.py").write_text("")
    described = machine.machine_description()
    assert described["git_changes"] == "spec/a.py"
    assert len(described["git_commit"]) == 40


def test_the_machine_is_described_by_every_field() -> None:
    described = machine.machine_description()
    assert list(described) == list(machine.MACHINE_FIELDS)
    assert described["cpus_usable"] == str(len(os.sched_getaffinity(0)))
    assert len(described["git_commit"]) == 40 or described["git_commit"].startswith("unknown")


def test_results_json_reads_back_equal(tmp_path: Path) -> None:
    results = complete_run()
    results.runs.append(Measurement("udp-k1", "c", 3, None, "server exited"))
    write_json(results, tmp_path / "results.json")
    assert read_json(tmp_path / "results.json") == results


def test_every_section_renders_and_the_report_holds_them_all() -> None:
    results = complete_run()
    text = markdown(results)
    for name, section in SECTIONS.items():
        assert section(results) in text, name
    assert "| UDP, K=64 | 200 | 100 | 100 | 400 |" in text
    assert "| UDP, K=64 | 2.00 2.00 → **2.00** | 2.00 2.00 → **2.00** | 0.50 0.50 → **0.50** |" in text


def test_targets_read_their_bounds_from_the_one_table() -> None:
    evaluated = targets(complete_run())
    assert [(t.bound, t.at_least, t.aim) for t in evaluated] == [(s.bound, s.at_least, s.aim) for s in TARGETS]
    by_description = {t.description: t for t in evaluated}
    udp_c = by_description["UDP, K=64 req/s: reference / c (aim)"]
    assert (udp_c.measured, udp_c.cpu_based, udp_c.verdict) == (0.5, 0.5, "met")
    assert by_description["codec decode: construct (compiled) / rrp_spec fast path"].measured == 12.5
    attacked = by_description["stalled connections (spread): reference p99_us, attacked / not"]
    assert (attacked.measured, attacked.verdict) == (1.5, "met")
    table = targets_table(complete_run())
    assert table.count("\n") == len(TARGETS) + 1
    assert "| UDP, K=64 req/s: reference / c (aim) | ≥ 0.5 | 0.50 | 0.50 | met |" in table


def test_publish_copies_the_run(tmp_path: Path) -> None:
    source = _write_run(tmp_path / "build", complete_run())
    lines = publish.publish(source, tmp_path / "published")
    for name in ("results.json", "report.md", "chart.png"):
        assert (tmp_path / "published" / name).read_bytes() == (source / name).read_bytes(), name
    assert len(lines) == 3


def test_publish_refuses_a_run_without_its_machine(tmp_path: Path) -> None:
    source = _write_run(tmp_path / "build", complete_run())
    data = json.loads((source / "results.json").read_text())
    del data["machine"]["git_commit"]  # a run made before the machine was recorded
    (source / "results.json").write_text(json.dumps(data))
    with pytest.raises(publish.PublishError, match="git_commit"):
        publish.publish(source, tmp_path / "published")
    assert not (tmp_path / "published").exists()


def test_publish_refuses_a_partial_run_unless_asked(tmp_path: Path) -> None:
    results = complete_run()
    results.options = replace(results.options, servers=["reference", "c"])
    results.runs = [r for r in results.runs if r.server in ("reference", "c")]
    source = _write_run(tmp_path / "build", results)
    with pytest.raises(publish.PublishError, match="only servers reference, c"):
        publish.publish(source, tmp_path / "published")
    publish.publish(source, tmp_path / "published", partial=True)
    assert (tmp_path / "published" / "results.json").is_file()


def test_publish_without_a_run_says_to_run_make_bench(tmp_path: Path) -> None:
    with pytest.raises(publish.PublishError, match="make bench"):
        publish.publish(tmp_path, tmp_path / "published")
    assert publish.main(["--from", str(tmp_path), "--to", str(tmp_path / "published")]) == 1


def test_a_big_or_stale_chart_is_left_out_and_an_old_one_removed(tmp_path: Path) -> None:
    dest = tmp_path / "published"
    dest.mkdir()
    (dest / "chart.png").write_bytes(b"an earlier run's chart")
    source = _write_run(tmp_path / "build", complete_run(), chart=b"x" * 2000)
    lines = publish.publish(source, dest, max_chart_bytes=1000)
    assert lines[-1].startswith("chart left out") and "2,000 bytes" in lines[-1]
    assert not (dest / "chart.png").exists()

    # A chart older than the results it sits beside belongs to another run.
    (source / "chart.png").write_bytes(b"small")
    results_time = (source / "results.json").stat().st_mtime
    os.utime(source / "chart.png", (results_time - 60, results_time - 60))
    lines = publish.publish(source, dest)
    assert "older than results.json" in lines[-1]
    assert not (dest / "chart.png").exists()
