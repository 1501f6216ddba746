"""What the client suite knows about the client under test: how to run it and what it claims to do."""

from __future__ import annotations

from dataclasses import dataclass, field

from rrp_spec import DEFAULT_RETRY_POLICY, RetryPolicy

from .request_ids import DEFAULT_SAMPLES
from .secure_material import SecureMaterial
from .template import CommandTemplate

#: Seconds added to every hard limit on a client run, for its process to start (an interpreter, a JVM).
START_ALLOWANCE = 5.0
#: Client runs the request-ID check makes at once.
PARALLEL_RUNS = 4


@dataclass(frozen=True, slots=True)
class ClientClaims:
    """The retry settings and deadline the client says it uses; the suite verifies them."""

    #: The UDP retransmission schedule (``--attempts``, ``--initial-timeout``, ``--max-timeout``).
    retry: RetryPolicy = DEFAULT_RETRY_POLICY
    #: The client's deadline for one call, passed as ``{timeout}``; over TCP, how long it waits for a reply.
    #: ``None``: the retry schedule's worst-case span.
    timeout: float | None = None
    #: Whether the schedule and the deadline were claimed on the command line, or assumed (the report says which).
    schedule_claimed: bool = True
    timeout_claimed: bool = True

    @property
    def call_timeout(self) -> float:
        """``{timeout}`` for TCP calls: the claimed deadline."""
        return self.timeout if self.timeout is not None else self.retry.worst_case_span()

    @property
    def udp_call_timeout(self) -> float:
        """``{timeout}`` for UDP calls: never shorter than the schedule, so the schedule, not the deadline, ends it."""
        return max(self.call_timeout, self.retry.worst_case_span())


@dataclass(frozen=True, slots=True)
class ClientEnv:
    """The client suite's environment, shared by every check of a run."""

    template: CommandTemplate
    claims: ClientClaims = field(default_factory=ClientClaims)
    #: Where the hostile servers listen (loopback only).
    host: str = "127.0.0.1"
    #: The other loopback address forged replies come from (UDP-CLI-1).
    alternate_host: str = "127.0.0.2"
    #: Client runs for the request-ID test.
    id_samples: int = DEFAULT_SAMPLES
    parallel_runs: int = PARALLEL_RUNS
    start_allowance: float = START_ALLOWANCE
    #: Transport -> why the client failed a plain exchange over it, filled by the first check on each transport.
    #: Later checks on that transport are skipped with this reason instead of failing for it again.
    broken_transports: dict[str, str] = field(default_factory=dict)
    #: The commands for the secure profiles' calls (``--tls-command``, ``--sudp-command``), when graded.
    tls_template: CommandTemplate | None = None
    sudp_template: CommandTemplate | None = None
    #: The certificates and key those calls use, made for the run.
    secure: SecureMaterial | None = None
