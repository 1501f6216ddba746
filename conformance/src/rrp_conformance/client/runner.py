"""Running the client under test: one process per call, a hard time limit, everything it printed.

The client runs in its own session (process group) so that the suite can end it
and anything it started, and only that, when the hard limit passes or when a check
has seen enough (a client that retries forever is stopped once it has made one
attempt too many, not left to run out the clock).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

#: How often the runner looks at the early-stop flag while the client runs.
_POLL_INTERVAL = 0.05
#: Output kept from the client, per stream: enough to report, bounded against a client that floods it.
_MAX_OUTPUT = 64 * 1024
#: Seconds the runner waits, once the client's process group is gone, for the end of its output. A client that
#: started a process outside its group (a daemon) may hold the pipes open long after: the suite goes on.
_OUTPUT_GRACE = 1.0


class ClientNotRunnable(OSError):
    """The command could not be started at all (no such program, not executable)."""


@dataclass(frozen=True, slots=True)
class ClientRun:
    """One finished run of the client under test."""

    argv: tuple[str, ...]
    #: The exit status, negative for a signal; ``None`` when the suite had to stop the client.
    exit_code: int | None
    stdout: str
    stderr: str
    #: ``time.monotonic()`` just before the process was started, and when it was seen to end.
    started: float
    ended: float
    #: Why the suite stopped the client, when it did ("hard limit of 6.2 s", "made more attempts than claimed").
    stopped_because: str | None = None
    #: True when something the client started outside its process group still held its output open at the end.
    output_held_open: bool = False

    @property
    def duration(self) -> float:
        """Seconds from start to end, process start-up included."""
        return self.ended - self.started

    @property
    def succeeded(self) -> bool:
        """The client exited 0 on its own."""
        return self.exit_code == 0

    @property
    def reply_hex(self) -> str:
        """What the client printed on stdout, as the adapter contract has it: hex digits, lowercased, no spaces."""
        return "".join(self.stdout.split()).lower()

    def summary(self) -> str:
        """One line for reports: exit status, time, and the first line the client printed."""
        status = (
            f"stopped by the suite ({self.stopped_because})" if self.exit_code is None else f"exit {self.exit_code}"
        )
        said = (self.stderr.strip() or self.stdout.strip()).splitlines()
        first = f"; said {said[0][:200]!r}" if said else ""
        held = "; a process it started outside its group kept its output open" if self.output_held_open else ""
        return f"{status} after {self.duration:.3f} s{first}{held}"


def run_client(
    argv: Sequence[str],
    *,
    hard_limit: float,
    stop: threading.Event | None = None,
    stop_reason: str = "the check had seen enough",
) -> ClientRun:
    """Run ``argv`` to completion, or until ``hard_limit`` seconds pass, or until ``stop`` is set.

    Raises :class:`ClientNotRunnable` when the program cannot be started.
    """
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise ClientNotRunnable(f"cannot start the client {argv[0]!r}: {exc.strerror or exc}") from exc
    deadline = started + hard_limit
    stopped_because: str | None = None
    outputs: list[bytes] = [b"", b""]
    readers = [
        threading.Thread(target=_drain, args=(process.stdout, outputs, 0), daemon=True),
        threading.Thread(target=_drain, args=(process.stderr, outputs, 1), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        while process.poll() is None:
            now = time.monotonic()
            if now >= deadline:
                stopped_because = f"hard limit of {hard_limit:.1f} s"
                break
            if stop is not None and stop.is_set():
                stopped_because = stop_reason
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(min(_POLL_INTERVAL, deadline - now))
        ended = time.monotonic()
    finally:
        # Always: a client that exited may have left children holding its pipes open.
        _kill_group(process)
        process.wait()
        grace = time.monotonic() + _OUTPUT_GRACE
        for reader in readers:
            reader.join(max(0.0, grace - time.monotonic()))
    held_open = any(reader.is_alive() for reader in readers)  # such readers end when that process does
    return ClientRun(
        tuple(argv),
        None if stopped_because is not None else process.returncode,
        outputs[0].decode("utf-8", "replace"),
        outputs[1].decode("utf-8", "replace"),
        started,
        ended,
        stopped_because,
        held_open,
    )


def _drain(stream: IO[bytes], outputs: list[bytes], index: int) -> None:
    """Read a pipe to its end, keeping the first ``_MAX_OUTPUT`` bytes (so a chatty client cannot block)."""
    with stream:
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]
            if len(outputs[index]) < _MAX_OUTPUT:
                outputs[index] += chunk[: _MAX_OUTPUT - len(outputs[index])]


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """End the client and whatever it started: its own process group, which the suite created for it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
