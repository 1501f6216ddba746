"""``python -m rrp_robustness.fuzz.worker TARGET [libFuzzer flags...]``: one target under atheris.

The code under test is imported inside ``atheris.instrument_imports`` so that libFuzzer
sees its branches; libFuzzer's own flags (corpus directories, ``-max_total_time``,
``-artifact_prefix``...) pass through unchanged.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["rrp_spec", "rrp", "rrp_robustness"]):
    from .targets import TARGETS


def main(argv: list[str]) -> None:
    """Fuzz the target named by ``argv[1]``; never returns (libFuzzer exits the process)."""
    if len(argv) < 2 or argv[1] not in TARGETS:
        print(f"usage: python -m rrp_robustness.fuzz.worker {{{','.join(TARGETS)}}} [libFuzzer flags]", file=sys.stderr)
        raise SystemExit(2)
    target = TARGETS[argv[1]]
    atheris.Setup([argv[0], *argv[2:]], target.check)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
