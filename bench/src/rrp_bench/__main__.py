"""``python -m rrp_bench`` (what ``make bench`` runs): measure, then print and write the report.

Every option has an environment variable, so ``make bench`` can be tuned without editing the Makefile:
``RRP_BENCH_DURATION``, ``RRP_BENCH_WARMUP``, ``RRP_BENCH_ROUNDS``, ``RRP_BENCH_SERVERS``,
``RRP_BENCH_CONFIGS``, ``RRP_BENCH_ATTACK_COUNT``, ``RRP_BENCH_OUT``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .attack import MAX_ATTACK_COUNT, MAX_SOURCES
from .load import BY_NAME
from .report import write_all
from .runner import ATTACK_PER_SOURCE, BenchOptions, run_benchmark
from .servers import ServerKind

#: The repository's root, where build/bench lives (this package is installed editable from bench/).
REPO_ROOT = Path(__file__).resolve().parents[3]


def _env(name: str, default: str) -> str:
    return os.environ.get(f"RRP_BENCH_{name}", default)


def _seconds(low_exclusive: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not (value > 0 if low_exclusive else value >= 0) or value > 3600:
            raise argparse.ArgumentTypeError(f"{text} is not a number of seconds up to 3600")
        return value

    return parse


def _attack_count(text: str) -> int:
    most = min(MAX_ATTACK_COUNT, MAX_SOURCES * ATTACK_PER_SOURCE)
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise argparse.ArgumentTypeError(f"{text!r} is not a connection count from 1 to {most}")
    return int(text)


def _rounds(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of rounds from 1 to 100")
    return int(text)


def _choice_list(choices: list[str], what: str) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(item for item in text.split(",") if item)
        unknown = [item for item in items if item not in choices]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(choices)}")
        return items

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The command line; defaults come from the environment, then from the values below."""
    servers = [str(kind) for kind in ServerKind]
    configs = list(BY_NAME)
    parser = argparse.ArgumentParser(prog="python -m rrp_bench", description="Benchmark RRP servers side by side.")
    parser.add_argument("--duration", type=_seconds(True), default=_env("DURATION", "2"), help="seconds per run")
    parser.add_argument("--warmup", type=_seconds(False), default=_env("WARMUP", "0.3"), help="seconds before each run")
    parser.add_argument("--rounds", type=_rounds, default=_env("ROUNDS", "3"), help="rounds of alternation")
    parser.add_argument(
        "--servers", type=_choice_list(servers, "server"), default=_env("SERVERS", ",".join(servers)),
        help=f"comma-separated subset of {','.join(servers)}",
    )  # fmt: skip
    parser.add_argument(
        "--configs", type=_choice_list(configs, "configuration"), default=_env("CONFIGS", ",".join(configs)),
        help=f"comma-separated subset of {','.join(configs)}",
    )  # fmt: skip
    parser.add_argument(
        "--attack-count", type=_attack_count, default=_env("ATTACK_COUNT", "1000"), help="stalled connections"
    )
    parser.add_argument("--no-attack", action="store_true", help="skip the stalled-connection measurement")
    parser.add_argument("--codec-budget", type=_seconds(True), default="0.2", help="seconds per codec figure")
    parser.add_argument("--tools", type=Path, default=REPO_ROOT / "build" / "bench", help="where rrp-load is")
    parser.add_argument("--out", type=Path, default=Path(_env("OUT", str(REPO_ROOT / "build" / "bench"))))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it completed (whatever the numbers), 2 on bad arguments or missing tools."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    for tool in ("rrp-load", "rrp-server"):
        if not (args.tools / tool).is_file():
            print(f"{args.tools / tool} is missing: run `make bench-tools` first", file=sys.stderr)
            return 2
    if len(os.sched_getaffinity(0)) < 2:
        print("note: fewer than 2 CPUs: servers and the load generator share a core", file=sys.stderr)
    options = BenchOptions(
        tools=args.tools,
        out_dir=args.out,
        duration=float(args.duration),
        warmup=float(args.warmup),
        rounds=int(args.rounds),
        servers=tuple(ServerKind(s) for s in args.servers),
        configs=tuple(BY_NAME[c] for c in args.configs),
        codec_budget=float(args.codec_budget),
        attack=not args.no_attack,
        attack_count=int(args.attack_count),
    )
    results = run_benchmark(options, progress=lambda line: print(line, file=sys.stderr, flush=True))
    text = write_all(results, args.out)
    print(text)
    print(f"written: {args.out / 'report.md'}, {args.out / 'results.json'}, {args.out / 'chart.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
