"""``python -m rrp_wireshark [--out FILE]``: write the generated dissector (to stdout by default)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .dissector import render_dissector


def main(argv: list[str] | None = None) -> int:
    """Write the dissector; exit 0."""
    parser = argparse.ArgumentParser(prog="python -m rrp_wireshark", description=__doc__)
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the dissector here instead of stdout")
    args = parser.parse_args(argv)
    text = render_dissector()
    if args.out is None:
        sys.stdout.write(text)
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_suffix(args.out.suffix + ".tmp")
    partial.write_text(text)
    partial.replace(args.out)  # a reader never sees half a dissector
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
