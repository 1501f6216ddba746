"""The TCP core under pressure, on simulated time: bounded work per step, and the server-wide memory budget."""

from __future__ import annotations

from rrp import ServerSettings, TcpConnection
from rrp._sansio.dispatch import Dispatcher
from rrp._sansio.memory import SMALL_REQUEST, MemoryBudget
from rrp._sansio.tcp_core import MAX_REQUESTS_PER_STEP
from rrp_spec import HEADER_SIZE, Op, Result, pack_request, unpack_header

MIB = 1 << 20


def _malformed(request_id: int) -> bytes:
    data = bytearray(pack_request(Op.NOOP, request_id))
    data[3] = 0x40  # a reserved flag bit: MALFORMED, the connection stays open
    return bytes(data)


def _results(data: bytes) -> list[int]:
    return [unpack_header(data[i : i + HEADER_SIZE]).result for i in range(0, len(data), HEADER_SIZE)]


def _reading(connection: TcpConnection) -> bool:
    # A function, so that mypy does not narrow the property across the calls that change it.
    return connection.reading


def _is_open(connection: TcpConnection) -> bool:
    return not connection.closed


def _backlog(connection: TcpConnection) -> bool:
    return connection.backlog


def _over(budget: MemoryBudget) -> bool:
    return budget.over


def _connection(budget: MemoryBudget | None = None, settings: ServerSettings | None = None) -> TcpConnection:
    settings = settings or ServerSettings()
    return TcpConnection(settings, Dispatcher(), 0.0, budget=budget)


def test_one_read_of_pipelined_requests_is_framed_a_share_at_a_time() -> None:
    """TCP-SRV-8: 1,000 pipelined MALFORMED requests in one read are answered MAX_REQUESTS_PER_STEP per step; the
    connection asks to be resumed (and is not read) until the backlog is done; nothing is lost or reordered."""
    connection = _connection()
    connection.receive_data(b"".join(_malformed(n) for n in range(1, 1001)), 0.0)
    first = connection.data_to_send()
    assert len(first) == MAX_REQUESTS_PER_STEP * HEADER_SIZE
    assert _backlog(connection) and not _reading(connection)
    out = first
    steps = 1
    while _backlog(connection):
        connection.resume(0.0)
        step = connection.data_to_send()
        assert len(step) <= MAX_REQUESTS_PER_STEP * HEADER_SIZE
        out += step
        steps += 1
    assert steps == -(-1000 // MAX_REQUESTS_PER_STEP)
    assert _results(out) == [Result.MALFORMED] * 1000
    assert [unpack_header(out[i : i + HEADER_SIZE]).request_id for i in range(0, len(out), HEADER_SIZE)] == list(
        range(1, 1001)
    )
    assert _reading(connection) and not connection.closed


def test_past_the_memory_budget_a_large_request_is_busy_and_its_payload_never_stored() -> None:
    """TCP-SRV-14: two connections collecting 1 MiB each spend a 2 MiB budget; a third 1 MiB request is answered BUSY
    at its header and its payload is discarded, the connection staying usable; small requests still pass; when a
    payload completes its reservation is given back."""
    budget = MemoryBudget(2 * MIB)
    settings = ServerSettings(memory_budget=2 * MIB)
    holders = [_connection(budget, settings) for _ in range(2)]
    big = [pack_request(Op.ECHO, n + 1, bytes(MIB)) for n in range(3)]
    for connection, request in zip(holders, big, strict=False):
        connection.receive_data(request[:-1], 0.0)  # all but the last byte: the payload is being collected
    assert budget.used == 2 * MIB
    third = _connection(budget, settings)
    third.receive_data(big[2][: HEADER_SIZE + 1000], 0.0)
    assert _results(third.data_to_send()) == [Result.BUSY]
    third.receive_data(big[2][HEADER_SIZE + 1000 :], 0.0)
    assert third.buffered_bytes == 0 and budget.used == 2 * MIB, "the refused payload was never stored"
    third.receive_data(pack_request(Op.ECHO, 9, bytes(SMALL_REQUEST)), 0.0)
    reply = third.data_to_send()
    assert unpack_header(reply).result == Result.OK and len(reply) == HEADER_SIZE + SMALL_REQUEST
    holders[0].receive_data(big[0][-1:], 0.0)
    assert unpack_header(holders[0].data_to_send()).result == Result.OK
    assert budget.used == MIB, "the completed request's reservation was given back"
    holders[1].connection_lost(1.0)
    assert budget.used == 0, "a lost connection gives back what it held"
    assert budget.peak == 2 * MIB


def test_past_the_budget_connections_holding_unsent_replies_stop_being_read() -> None:
    """TCP-SRV-14: over the budget, a connection with unsent replies is not read; one that reads its replies is."""
    budget = MemoryBudget(MIB)
    settings = ServerSettings(memory_budget=MIB)
    hoarder, honest = _connection(budget, settings), _connection(budget, settings)
    hoarder.note_unsent(2 * MIB, 0.0)
    assert _over(budget)
    assert not _reading(hoarder) and _reading(honest)
    honest.receive_data(pack_request(Op.NOOP, 1), 0.0)
    assert unpack_header(honest.data_to_send()).result == Result.OK
    hoarder.handle_timer(0.5, unsent=0)  # the peer read them after all
    assert not _over(budget) and _reading(hoarder)


def test_a_peer_that_closes_behind_a_long_pipeline_still_gets_every_reply() -> None:
    """TCP-SRV-8, TCP-SRV-2: the end of the stream arriving while requests wait their turn closes only after them."""
    connection = _connection()
    connection.receive_data(b"".join(pack_request(Op.NOOP, n) for n in range(1, 201)), 0.0)
    connection.receive_data(b"", 0.0)
    out = connection.data_to_send()
    assert _is_open(connection)
    while _backlog(connection):
        connection.resume(0.0)
        out += connection.data_to_send()
    assert _results(out) == [Result.OK] * 200
    assert connection.closed
