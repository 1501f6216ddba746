"""rrp-conformance: a black-box conformance suite for RRP/1 servers and clients.

The framework (shared by every suite) is in flat modules, each with one job:
:mod:`.outcomes` (PASS/FAIL/NON-STRICT/SKIPPED/INFO, exit codes), :mod:`.registry`
(checks and selection), :mod:`.context` (what a running check sees), :mod:`.wirelog`
(bytes both ways, annotated hex), :mod:`.runner` (sanity probes, dead targets),
:mod:`.coverage`, :mod:`.reports` (report.md, results.json, junit.xml),
:mod:`.progress` (terminal) and :mod:`.suite` (the shared pipeline and CLI options).
The suites live in subpackages: :mod:`.server`, :mod:`.client`. The package imports
only :mod:`rrp_spec`, never the reference implementation.
"""

from .context import CheckContext, CheckSkipped, Timing
from .outcomes import CheckResult, ExitCode, Failure, Measurement, Outcome
from .registry import Check, Registry, Selection
from .wirelog import WireLog

__all__ = [
    "Check",
    "CheckContext",
    "CheckResult",
    "CheckSkipped",
    "ExitCode",
    "Failure",
    "Measurement",
    "Outcome",
    "Registry",
    "Selection",
    "Timing",
    "WireLog",
]
