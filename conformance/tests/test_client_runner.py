"""Running the client under test: hard limits, early stops, output capture, and programs that cannot start."""

from __future__ import annotations

import sys
import threading

import pytest

from rrp_conformance.client.runner import ClientNotRunnable, run_client

PY = sys.executable


def test_output_and_exit_status_are_captured() -> None:
    run = run_client(
        [PY, "-c", "import sys; print('AB cd'); print('oops', file=sys.stderr); sys.exit(3)"], hard_limit=30
    )
    assert (run.exit_code, run.reply_hex, run.stderr.strip(), run.stopped_because) == (3, "abcd", "oops", None)


def test_a_client_that_hangs_is_stopped_at_the_hard_limit() -> None:
    run = run_client([PY, "-c", "import time; time.sleep(60)"], hard_limit=0.5)
    assert run.exit_code is None
    assert run.stopped_because is not None and "hard limit" in run.stopped_because
    assert 0.5 <= run.duration < 10


def test_the_stop_event_ends_a_client_early() -> None:
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    try:
        run = run_client([PY, "-c", "import time; time.sleep(60)"], hard_limit=30, stop=stop, stop_reason="enough")
    finally:
        timer.cancel()
    assert (run.exit_code, run.stopped_because) == (None, "enough")
    assert run.duration < 10


def test_children_left_holding_the_pipes_do_not_stall_the_suite() -> None:
    # The client exits at once but leaves a child with its stdout open; the runner ends the client's process group.
    code = (
        "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); print('ok')"
    )
    run = run_client([PY, "-c", code], hard_limit=30)
    assert (run.exit_code, run.stdout.strip()) == (0, "ok")
    assert run.duration < 10


def test_a_missing_program_is_reported_as_not_runnable() -> None:
    with pytest.raises(ClientNotRunnable, match="cannot start the client"):
        run_client(["/nonexistent/rrp-client"], hard_limit=5)
