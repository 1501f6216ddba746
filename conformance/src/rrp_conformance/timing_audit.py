"""The timing audit: for every check that judges a time, the bound the spec sets, where the check probes, and
which way its margin errs.

Each row is declared beside its check, from the same constants the check computes its probe with, and the
site's Conformance page renders the table from here, so the audit cannot drift from the checks. The rules
the rows follow:

* a check of a **minimum** (the duplicate-reply window, a retransmission's timeout) probes at or past the
  minimum, never inside it: its margin, if any, errs against the target;
* a check of a **maximum** the spec sets (the whole-request deadline, the send timeout) judges at or within
  it: grace and ``--timeout-scale`` forgive a target's *claim*, never the spec's bound
  (:meth:`~rrp_conformance.context.Timing.at_most`);
* where the spec sets no number (the idle timeout, a client's deadline), the check holds the target to its
  claim plus the framework's grace, times the scale, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .context import DEFAULT_GRACE


class BoundKind(StrEnum):
    """What sort of bound a timing check judges."""

    MINIMUM = "minimum"
    MAXIMUM = "maximum"
    CLAIM = "claim only"


@dataclass(frozen=True, slots=True)
class TimingRow:
    """One timing check in the audit."""

    #: ``server`` or ``client``: the suite the check belongs to.
    suite: str
    #: The check's name (``udp/dedup-window``); one row per check.
    check: str
    #: The requirement whose time the check judges.
    requirement: str
    kind: BoundKind
    #: The bound the spec sets, with its number.
    spec_bound: str
    #: Where the check probes or judges, and from which moment it measures.
    probe: str
    #: Which way the check's margin errs, and by how much.
    margin: str


#: Every row, in the order the check modules declare them.
AUDIT: list[TimingRow] = []

#: The framework's grace, for the rows' sentences.
GRACE = DEFAULT_GRACE


def audited(row: TimingRow) -> TimingRow:
    """Add ``row`` to :data:`AUDIT` (called by the check modules as they declare their timing checks)."""
    if any((r.suite, r.check) == (row.suite, row.check) for r in AUDIT):
        raise ValueError(f"two timing-audit rows for {row.check}")
    AUDIT.append(row)
    return row
