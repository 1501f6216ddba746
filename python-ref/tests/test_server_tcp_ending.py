"""How a TCP connection ends, decided by the core on simulated time: slow readers, linger, resets, admission.

The adapter only reports the transport's facts (bytes the kernel has not taken, writes
blocked, bytes unacknowledged, the transport gone) and does what the core says; these
tests feed those facts by hand and assert the core's instructions and deadlines exactly.
"""

from __future__ import annotations

import pytest

from rrp import ServerSettings, TcpConnection
from rrp._sansio.counters import ServerCounters
from rrp._sansio.dispatch import Dispatcher
from rrp._sansio.server_events import CloseReason, ConnectionClosed
from rrp._sansio.tcp_core import MAX_LINGER, Ending
from rrp._sansio.tcp_server import TcpServerCore
from rrp_spec import Header, Op, Result, pack_header, pack_reply, pack_request

SEND_TIMEOUT = 2.0
SETTINGS = ServerSettings(
    tcp_max_payload=1000, request_deadline=0.5, idle_timeout=10.0, send_timeout=SEND_TIMEOUT, max_unanswered_requests=4
)


def _connection(now: float = 0.0, settings: ServerSettings = SETTINGS) -> TcpConnection:
    return TcpConnection(settings, Dispatcher(), now)


def _closes(connection: TcpConnection) -> list[CloseReason]:
    """The closes the connection reported since the last look."""
    return [event.reason for event in connection.take_events() if isinstance(event, ConnectionClosed)]


def _ending(connection: TcpConnection) -> Ending | None:
    # A function, so that mypy does not narrow `ending` across the calls that change it.
    return connection.ending


def _reading(connection: TcpConnection) -> bool:
    return connection.reading


def _echo(connection: TcpConnection, request_id: int, now: float, size: int = 100) -> bytes:
    connection.receive_data(pack_request(Op.ECHO, request_id, b"e" * size), now)
    return connection.data_to_send()


# --- slow readers (TCP-SRV-10) ---------------------------------------------------------------


def test_a_peer_that_takes_nothing_for_the_send_timeout_is_reset() -> None:
    """TCP-SRV-10: replies wait in the transport and the kernel takes none of them for send_timeout: reset."""
    connection = _connection()
    out = _echo(connection, 1, 1.0)
    connection.note_unsent(len(out), 1.0)
    assert connection.get_timer() == 1.0 + SEND_TIMEOUT
    connection.handle_timer(1.0 + SEND_TIMEOUT - 0.001, unsent=len(out))
    assert _ending(connection) is None
    connection.handle_timer(1.0 + SEND_TIMEOUT, unsent=len(out))
    assert _ending(connection) is Ending.RESET
    assert connection.close_reason is CloseReason.SEND_TIMEOUT
    assert _closes(connection) == [CloseReason.SEND_TIMEOUT]
    assert connection.get_timer() is None


def test_a_slow_peer_that_takes_some_bytes_gets_another_send_timeout() -> None:
    """TCP-SRV-10: progress, however small, restarts the check; new replies cannot hide a stall."""
    connection = _connection()
    first = _echo(connection, 1, 0.0)
    connection.note_unsent(len(first), 0.0)
    connection.handle_timer(SEND_TIMEOUT, unsent=len(first) - 1)  # the kernel took one byte
    assert _ending(connection) is None
    assert connection.get_timer() == 2 * SEND_TIMEOUT
    # More replies pile up, but the kernel takes nothing more: the buffer grows, no progress.
    second = _echo(connection, 2, 3.0)
    connection.note_unsent(len(first) - 1 + len(second), 3.0)
    assert connection.get_timer() == 2 * SEND_TIMEOUT, "a new reply does not move the running check"
    connection.handle_timer(2 * SEND_TIMEOUT, unsent=len(first) - 1 + len(second))
    assert _ending(connection) is Ending.RESET


def test_the_check_stops_when_everything_went_out_and_restarts_with_the_next_wait() -> None:
    """TCP-SRV-10: an empty transport ends the check; the next reply that waits starts a fresh one."""
    connection = _connection()
    out = _echo(connection, 1, 0.0)
    connection.note_unsent(len(out), 0.0)
    connection.handle_timer(SEND_TIMEOUT, unsent=0)
    assert _ending(connection) is None
    assert connection.get_timer() == 10.0, "only the idle timeout is left"
    out = _echo(connection, 2, 5.0)
    connection.note_unsent(len(out), 5.0)
    assert connection.get_timer() == 5.0 + SEND_TIMEOUT


def test_blocked_writes_stop_reading_requests_until_they_unblock() -> None:
    """TCP-SRV-10: over max_buffered_reply_bytes the core stops reading the peer's requests."""
    connection = _connection()
    assert _reading(connection)
    connection.write_blocked(1.0)
    assert not _reading(connection)
    connection.write_unblocked(2.0)
    assert _reading(connection)


def test_a_graceful_close_waiting_for_an_unread_buffer_is_bounded_by_the_send_timeout() -> None:
    """TCP-SRV-10: closing after the idle timeout, with replies still unsent, still resets a stalled peer."""
    connection = _connection()
    out = _echo(connection, 1, 0.0)
    connection.handle_timer(10.0, unsent=0, unacked=0)
    assert _ending(connection) is Ending.CLOSE
    connection.note_unsent(len(out), 10.0)  # (a reply written just before, still waiting)
    assert connection.get_timer() == 10.0 + SEND_TIMEOUT
    connection.handle_timer(10.0 + SEND_TIMEOUT, unsent=len(out))
    assert _ending(connection) is Ending.RESET
    assert connection.close_reason is CloseReason.IDLE
    assert _closes(connection) == [CloseReason.IDLE, CloseReason.SEND_TIMEOUT], "the reset is reported too"


# --- idle reset (TCP-SRV-6) ----------------------------------------------------------------------


@pytest.mark.parametrize(("unacked", "ending"), [(0, Ending.CLOSE), (1, Ending.RESET)])
def test_the_idle_timeout_resets_a_peer_that_left_replies_unacknowledged(unacked: int, ending: Ending) -> None:
    """TCP-SRV-6: a graceful close would queue the FIN behind replies a non-reader never takes: reset instead."""
    connection = _connection()
    _echo(connection, 1, 0.0)
    connection.handle_timer(10.0, unsent=0, unacked=unacked)
    assert _ending(connection) is ending
    assert connection.close_reason is CloseReason.IDLE and _closes(connection) == [CloseReason.IDLE]


# --- linger after a final reply --------------------------------------------------------------------


def test_a_final_reply_lingers_reading_and_discarding_then_resets() -> None:
    """TCP-SRV-4: TOO_LARGE, then a half-close that discards what the peer still sends, for at most the linger."""
    connection = _connection(now=0.0)
    header = pack_header(Header(operation=Op.ECHO, request_id=9, size=1001))
    connection.receive_data(header + b"p" * 300, 3.0)
    assert connection.data_to_send() == pack_reply(Header(operation=Op.ECHO, request_id=9, size=1001), Result.TOO_LARGE)
    assert _ending(connection) is Ending.HALF_CLOSE
    assert _reading(connection), "the linger reads, to discard"
    linger = min(MAX_LINGER, SETTINGS.request_deadline)
    assert connection.get_timer() == 3.0 + linger
    connection.receive_data(b"p" * 700, 3.1)
    assert connection.data_to_send() == b"" and connection.buffered_bytes == 0
    connection.handle_timer(3.0 + linger - 0.001)
    assert _ending(connection) is Ending.HALF_CLOSE
    connection.handle_timer(3.0 + linger)
    assert _ending(connection) is Ending.RESET
    assert connection.get_timer() is None


def test_the_linger_ends_in_a_close_when_the_peer_closes_too() -> None:
    """Both FINs exchanged: nothing is left to discard, so the connection closes without a reset."""
    connection = _connection()
    connection.receive_data(pack_header(Header(version=2, operation=Op.NOOP, request_id=1)), 0.0)
    assert connection.data_to_send() and _ending(connection) is Ending.HALF_CLOSE
    connection.receive_data(b"", 0.1)
    assert _ending(connection) is Ending.CLOSE and not _reading(connection)


def test_a_close_with_nothing_to_say_does_not_linger() -> None:
    """TCP-SRV-3: bad magic closes at once, with no reply to protect."""
    connection = _connection()
    connection.receive_data(b"XX" + bytes(18), 0.0)
    assert connection.data_to_send() == b""
    assert _ending(connection) is Ending.CLOSE and connection.get_timer() is None


@pytest.mark.parametrize("split", [False, True])
def test_a_framing_error_after_replies_lingers_however_the_stream_was_split(split: bool) -> None:
    """TCP-SRV-1, TCP-SRV-3: replies sent before bad magic are protected by the linger, in one read or two."""
    connection = _connection()
    stream = pack_request(Op.NOOP, 1) + b"XX" + bytes(18)
    for chunk in (stream[:20], stream[20:]) if split else (stream,):
        connection.receive_data(chunk, 0.0)
        connection.data_to_send()
    assert _ending(connection) is Ending.HALF_CLOSE
    assert connection.get_timer() == min(MAX_LINGER, SETTINGS.request_deadline)


def test_the_request_deadline_timeout_reply_lingers() -> None:
    """TCP-SRV-5: TIMEOUT is a final reply sent while the peer may still be sending: it lingers too."""
    connection = _connection()
    connection.receive_data(pack_header(Header(operation=Op.ECHO, request_id=3, size=100)) + b"x", 1.0)
    connection.handle_timer(1.5)
    assert unpack_result(connection.data_to_send()) == Result.TIMEOUT
    assert _ending(connection) is Ending.HALF_CLOSE and _closes(connection) == [CloseReason.REQUEST_DEADLINE]


def unpack_result(reply: bytes) -> int:
    return int.from_bytes(reply[6:8], "big")


# --- the transport gone, shutdown, admission -----------------------------------------------------


def test_a_transport_lost_before_any_close_counts_as_the_peer_closing() -> None:
    """The peer reset or vanished: the close is the peer's; no timer is left."""
    connection = _connection()
    connection.connection_lost(1.0)
    assert connection.close_reason is CloseReason.PEER and _closes(connection) == [CloseReason.PEER]
    assert connection.get_timer() is None
    connection.connection_lost(1.0)
    assert _closes(connection) == []


def test_abort_after_the_grace_period_resets_and_counts_a_shutdown() -> None:
    """Shutdown: what did not finish within the grace period is reset."""
    connection = _connection()
    connection.receive_data(pack_request(Op.ECHO, 1, b"ab")[:5], 0.0)
    connection.shutdown(0.1)
    assert _ending(connection) is None, "the request in progress may still finish"
    connection.abort(5.0)
    assert _ending(connection) is Ending.RESET and _closes(connection) == [CloseReason.SHUTDOWN]


def test_admission_serves_within_the_limits_answers_busy_over_them_then_refuses_and_frees_slots() -> None:
    """TCP-SRV-7, TCP-SRV-11, TCP-SRV-12: slots count from accept and are given back when the transport is gone."""
    server = TcpServerCore(ServerSettings(max_connections=1, max_busy_connections=1), Dispatcher())
    served = server.accept("127.0.0.1", 1000, 0.0)
    busy = server.accept("127.0.0.1", 1001, 0.0)
    refused = server.accept("127.0.0.1", 1002, 0.0)
    assert served is not None and not served.busy
    assert busy is not None and busy.busy
    assert refused is None
    counters = ServerCounters()  # the server's observer of these events
    counters.observe([*served.take_events(), *busy.take_events(), *server.take_events()])
    assert (counters.connections_accepted, counters.connections_refused, counters.connections_open) == (3, 1, 2)
    assert counters.closes[CloseReason.BUSY] == 1
    served.connection_lost(1.0)
    busy.connection_lost(1.0)
    counters.observe([*served.take_events(), *busy.take_events()])
    assert counters.connections_open == 0
    again = server.accept("127.0.0.1", 1003, 2.0)
    assert again is not None and not again.busy
    assert len(server) == 1
