"""The exit statuses of the ``rrp`` command: one table, so scripts can rely on it across subcommands."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit statuses of the ``rrp`` command."""

    #: The call got an OK reply, or the server shut down cleanly.
    OK = 0
    #: The server answered with an error result.
    ERROR_RESULT = 1
    #: The command line was wrong (argparse's own status for usage errors).
    USAGE = 2
    #: No acceptable reply arrived before the client gave up.
    TIMEOUT = 3
    #: The connection failed: refused, reset, closed mid-reply, or a mismatched reply over TCP.
    CONNECTION = 4
    #: ``rrp serve --workers``: a worker exited on its own (or would not stop); the others were stopped.
    WORKER_FAILED = 5
