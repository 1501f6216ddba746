"""A python-ref TCP connection core driven as its asyncio adapter drives it, and judged after every step.

:class:`JudgedTcpConnection` feeds bytes, ends of stream and the passing of time to
:class:`rrp.TcpConnection`, firing its timer at the deadline it names, and raises
:class:`~rrp_robustness.contract.ContractBroken` as soon as the core disagrees with the
spec's framing (:func:`rrp_robustness.oracle.judge_stream`): a reply that is not
the spec's, a close too early or too late, more than one header plus one payload
buffered, or a timer other than the whole-request deadline (from the request's first
byte) or the idle timeout; once closed, no timer but the linger's, which ends in a reset
at most :data:`~rrp._sansio.tcp_core.MAX_LINGER` after the close. When the peer of a
closed connection sends more, a fresh connection takes over, so a long run keeps
exploring. The state-machine test and the ``tcp-core`` fuzz target both drive it.
"""

from __future__ import annotations

from rrp import ServerSettings, TcpConnection
from rrp._sansio.dispatch import Dispatcher
from rrp._sansio.tcp_core import MAX_LINGER, Ending
from rrp_spec import HEADER_SIZE, Result, pack_reply

from .contract import require
from .oracle import StreamVerdict, judge_stream


class JudgedTcpConnection:
    """One connection at a time, checked against the spec after every input."""

    def __init__(self, settings: ServerSettings, *, busy: bool = False, now: float = 1000.0) -> None:
        self.settings = settings
        self.busy = busy
        self.now = now
        #: Connections opened so far (a new one replaces a closed one when its peer sends again).
        self.connections = 0
        self._open()

    def _open(self) -> None:
        self.connections += 1
        self.opened = self.now
        self.core = TcpConnection(self.settings, Dispatcher(), self.now, busy=self.busy)
        self.stream = bytearray()
        #: (offset in the stream, time) of every write the peer made.
        self.arrivals: list[tuple[int, float]] = []
        self.output = bytearray()
        #: True once time or the end of the stream has closed the connection.
        self.closed_early = False
        self.timeout_reply = b""
        #: When the core was first seen closed.
        self.closed_at: float | None = None

    def verdict(self) -> StreamVerdict:
        """The spec's verdict on the stream so far."""
        return judge_stream(bytes(self.stream), max_payload=self.settings.tcp_max_payload, busy=self.busy)

    # --- inputs --------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """The peer writes ``data`` at ``now``."""
        if self.core.closed:
            self.core.receive_data(data, self.now)
            require(self.core.data_to_send() == b"", "a closed connection sent bytes")
            self._check_closed_timer()
            self._open()
        self.arrivals.append((len(self.stream), self.now))
        self.stream += data
        self.core.receive_data(data, self.now)
        self.output += self.core.data_to_send()
        self.check()

    def end_of_stream(self) -> None:
        """The peer closes its side: with no handler running, the server closes without a reply."""
        if self.core.closed:
            self._open()
        self.core.receive_data(b"", self.now)
        require(self.core.data_to_send() == b"", "the end of the stream produced a reply")
        require(self.core.closed, "the server kept a connection whose peer has closed")
        self.closed_early = True
        self.check()

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, firing the core's timer at its deadline as the adapter's ``call_at`` does."""
        target = self.now + seconds
        while not self.core.closed:
            deadline = self.core.get_timer()
            if deadline is None or deadline > target:
                break
            expected = self.expected_deadline()
            require(deadline == expected, f"timer {deadline}, the spec's deadline {expected}")
            verdict = self.verdict()
            self.now = max(self.now, deadline)
            self.core.handle_timer(self.now)
            out = self.core.data_to_send()
            require(self.core.closed, f"the deadline {deadline} passed and the connection is still open")
            if out:
                # TCP-SRV-5: a TIMEOUT reply is allowed once the request's header has arrived, and nothing else.
                require(
                    verdict.pending_header is not None
                    and not self.busy
                    and out == pack_reply(verdict.pending_header, Result.TIMEOUT),
                    f"the deadline produced {out!r}",
                )
            self.output += out
            self.timeout_reply = out
            self.closed_early = True
        self.check()
        linger_end = self.core.get_timer()
        if self.core.closed and linger_end is not None and linger_end <= target:
            self.now = max(self.now, linger_end)
            self.core.handle_timer(self.now)
            require(self.core.ending is Ending.RESET, "the linger ran out and the connection was not reset")
        self.now = target
        self.check()

    # --- the judgement ---------------------------------------------------------------

    def _arrival_time(self, offset: int) -> float:
        when = self.opened
        for start, at in self.arrivals:
            if start > offset:
                break
            when = at
        return when

    def expected_deadline(self) -> float:
        """The deadline the spec sets now: the request deadline from the pending request's first byte, else idle."""
        if self.busy:
            return self.opened + self.settings.request_deadline  # an over-limit connection's clock starts at accept
        verdict = self.verdict()
        if verdict.pending_start < len(self.stream):
            return self._arrival_time(verdict.pending_start) + self.settings.request_deadline
        idle_since = self._arrival_time(verdict.completed_end - 1) if verdict.completed_end else self.opened
        return idle_since + self.settings.idle_timeout

    def _check_closed_timer(self) -> None:
        """A closed connection's only timer is its linger's, which ends at most MAX_LINGER after the close."""
        timer = self.core.get_timer()
        if timer is not None:
            require(self.core.ending is Ending.HALF_CLOSE, f"a closed connection ({self.core.ending}) has a timer")
            require(
                self.closed_at is not None and timer <= self.closed_at + MAX_LINGER,
                f"the linger ends at {timer}, over {MAX_LINGER} s after the close at {self.closed_at}",
            )

    def check(self) -> None:
        """Every invariant, now."""
        verdict = self.verdict()
        expected = b"".join(verdict.replies) + self.timeout_reply
        require(bytes(self.output) == expected, f"sent {bytes(self.output)!r}, the spec says {expected!r}")
        if self.closed_early:
            require(self.core.closed, "a connection closed by time or by its peer reopened")
        else:
            require(self.core.closed == verdict.closed, f"closed is {self.core.closed}, the spec says {verdict.closed}")
        limit = HEADER_SIZE + self.settings.tcp_max_payload
        require(self.core.buffered_bytes <= limit, f"{self.core.buffered_bytes} bytes buffered, over {limit}")
        if self.core.closed:
            if self.closed_at is None:
                self.closed_at = self.now
            self._check_closed_timer()
        else:
            timer, expected_timer = self.core.get_timer(), self.expected_deadline()
            require(timer == expected_timer, f"timer {timer}, the spec's deadline {expected_timer}")
