"""RRP/1-S without sockets: sequences, the replay window, the server's protection layer and the client's key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rrp._sansio.counters import ServerCounters
from rrp._sansio.rejectlog import RateLimitedLog
from rrp._sansio.secure_udp import Opened, ReplayWindow, SecureClientKey, SecureUdpServer, SequenceSource
from rrp._sansio.server_events import DropReason, SecureDropped
from rrp._sansio.udp_exchange import UdpExchange
from rrp.events import DatagramIgnored, IgnoreReason, ReplyAccepted
from rrp.secure import KeyFileError, persisted_sequences, read_key_file
from rrp_spec import Op, Result, pack_reply, pack_request, unpack_header
from rrp_spec.secure import SecureContext
from rrp_spec.secure_vectors import build_secure_vectors
from rrp_spec.secure_wire import FRESHNESS_WINDOW, SECURE_HEADER_SIZE, ClearHeader, Drop, sequence_at

SECRET = bytes(range(32))
KEY_ID = 7
CONTEXT = SecureContext.from_secret(SECRET, KEY_ID)
PEER = ("127.0.0.1", 40000)
T0 = 1_800_000_000.0  # the wall clock at the server's start, in the tests


def _server(**kwargs: object) -> SecureUdpServer:
    return SecureUdpServer({KEY_ID: CONTEXT}, started=T0, sequences=SequenceSource(), **kwargs)  # type: ignore[arg-type]


def _request(sequence: int, request_id: int = 0x1234, op: Op = Op.INCREMENT) -> bytes:
    return CONTEXT.seal_request(sequence, pack_request(op, request_id))


def _answer(server: SecureUdpServer, datagram: bytes, now: float, wall: float, peer: object = PEER) -> bytes | None:
    """What the server sends back: the core's reply to an opened request (echoing a counter), sealed."""
    outcome = server.receive(datagram, peer, now, wall)
    if not isinstance(outcome, Opened):
        return outcome
    reply = pack_reply(unpack_header(outcome.message), Result.OK, b"\x00" * 7 + b"\x01")
    return server.seal(reply, peer, now, wall)


def test_sequences_strictly_increase_even_when_the_clock_stands_still_or_steps_back() -> None:
    """SUDP-2: never the same sequence twice under one key."""
    source = SequenceSource()
    drawn = [source.next(T0), source.next(T0), source.next(T0 - 5), source.next(T0 + 1)]
    assert drawn == sorted(set(drawn))
    assert drawn[0] == sequence_at(T0) and drawn[3] == sequence_at(T0 + 1)


def test_a_persisted_high_water_mark_survives_a_crash_and_a_clock_stepping_back() -> None:
    """SUDP-2: the mark is written before any sequence above the previous one is used."""
    persisted: list[int] = []
    before = SequenceSource(persist=persisted.append, reserve=60)
    used = [before.next(T0 + i) for i in range(3)]
    assert persisted and persisted[-1] >= max(used)
    after_crash = SequenceSource(floor=persisted[-1])  # the clock stepped back an hour meanwhile
    assert after_crash.next(T0 - 3600) > max(used)


def test_the_replay_window_refuses_repeats_stale_sequences_and_everything_before_the_start() -> None:
    """SUDP-SRV-2 and SUDP-SRV-3 on the window itself."""
    window = ReplayWindow(floor=sequence_at(T0))
    fresh = sequence_at(T0 + 1)
    assert window.check(fresh, T0 + 1) is None
    window.accept(fresh, T0 + 1)
    assert window.check(fresh, T0 + 2) is Drop.REPLAYED
    assert window.check(sequence_at(T0 - 0.5), T0 + 1) is Drop.REPLAYED  # sealed before the server started
    assert window.check(sequence_at(T0 + 2 * FRESHNESS_WINDOW), T0 + 1) is Drop.STALE  # from the future
    assert window.check(sequence_at(T0 + 2), T0 + 2 + FRESHNESS_WINDOW + 1) is Drop.STALE


@given(st.lists(st.integers(1, 10_000_000), min_size=1, max_size=300))
def test_the_window_is_bounded_and_forgetting_only_ever_refuses(offsets: list[int]) -> None:
    """SUDP-SRV-3: past its capacity the window raises its floor; an accepted sequence never becomes fresh again."""
    window = ReplayWindow(floor=sequence_at(T0), capacity=16)
    accepted: list[int] = []
    for offset in offsets:
        sequence = sequence_at(T0) + offset
        if window.check(sequence, T0 + 5) is None:
            window.accept(sequence, T0 + 5)
            accepted.append(sequence)
        assert len(window) <= 16
    assert all(window.check(s, T0 + 5) is Drop.REPLAYED for s in accepted)


def test_a_retransmission_gets_the_cached_reply_byte_for_byte_and_a_replay_is_dropped() -> None:
    """SUDP-SRV-3: carried out once; the same bytes again get the same protected reply; after the window, silence."""
    server = _server(dedup_window=10.0)
    request = _request(sequence_at(T0 + 1))
    first = _answer(server, request, now=100.0, wall=T0 + 1)
    assert first is not None
    assert server.receive(request, PEER, 101.0, T0 + 2) == first
    assert server.receive(request, PEER, 111.0, T0 + 12) is None  # the cache forgot it; the window did not
    assert server.drops[Drop.REPLAYED] == 1


def test_forged_tampered_unknown_stale_and_plain_datagrams_are_dropped_silently() -> None:
    """SUDP-SRV-1 and SUDP-SRV-2: nothing but an authentic, fresh request reaches the core."""
    server = _server()
    request = bytearray(_request(sequence_at(T0 + 1)))
    request[-1] ^= 1
    other_key = SecureContext.from_secret(SECRET, KEY_ID + 1)
    under_other_key = other_key.seal_request(sequence_at(T0 + 1), pack_request(Op.NOOP, 9))
    cases = {
        Drop.FORGED: bytes(request),
        Drop.UNKNOWN_KEY: under_other_key,
        Drop.STALE: _request(sequence_at(T0 + 100)),
        Drop.BAD_MAGIC: pack_request(Op.NOOP, 1) + bytes(16),
        Drop.WRONG_DIRECTION: CONTEXT.seal_reply(bytes(SECURE_HEADER_SIZE), sequence_at(T0), pack_request(Op.NOOP, 1)),
    }
    for reason, datagram in cases.items():
        assert server.receive(datagram, PEER, 1.0, T0 + 1) is None, reason
        assert server.drops[reason] == 1, reason


def test_each_reply_has_its_own_sequence_and_is_bound_to_its_request() -> None:
    """SUDP-SRV-4: fresh server sequences, never the request's; the binding opens only for that request."""
    server = _server()
    requests = [_request(sequence_at(T0 + 1) + 1000 * i, request_id=100 + i) for i in range(5)]
    replies = [_answer(server, r, now=1.0, wall=T0 + 1) for r in requests]
    sequences = [int.from_bytes(r[8:16], "big") for r in replies if r]
    # The server's own source: consecutive from its clock, whatever sequences the requests carried.
    assert sequences == [sequence_at(T0 + 1) + i for i in range(5)]
    for request, reply in zip(requests, replies, strict=True):
        assert reply is not None
        assert unpack_header(CONTEXT.open_reply(reply, request[:SECURE_HEADER_SIZE])).is_reply


def test_the_client_seals_once_and_accepts_only_an_authentic_reply_to_its_request() -> None:
    """SUDP-CLI-1 and SUDP-CLI-2: retransmissions repeat the bytes; forged and misbound replies are ignored."""
    server_address = ("127.0.0.1", 7374)
    key = SecureClientKey(CONTEXT, SequenceSource(), wall_clock=lambda: T0 + 1)
    exchange = UdpExchange(server_address, Op.ECHO, b"hi", protection=key, jitter=lambda: 0.5)
    exchange.start(0.0)
    ((first, _),) = exchange.datagrams_to_send()
    exchange.handle_timer(exchange.get_timer() or 0.0)
    ((again, _),) = exchange.datagrams_to_send()
    assert first == again, "a retransmission must not be resealed"
    request_clear = first[:SECURE_HEADER_SIZE]
    plain = CONTEXT.open_request(first)
    reply = pack_reply(unpack_header(plain), Result.OK, b"hi")
    other_binding = ClearHeader(0, KEY_ID, int.from_bytes(first[8:16], "big") + 1).pack()
    exchange.receive_datagram(CONTEXT.seal_reply(other_binding, sequence_at(T0 + 2), reply), server_address, 1.0)
    exchange.receive_datagram(reply, server_address, 1.0)  # a plain RRP/1 reply is not authentic either
    assert not exchange.finished
    exchange.receive_datagram(CONTEXT.seal_reply(request_clear, sequence_at(T0 + 2), reply), server_address, 1.0)
    events = []
    while (event := exchange.next_event()) is not None:
        events.append(event)
    ignored = [e for e in events if isinstance(e, DatagramIgnored)]
    assert [e.reason for e in ignored] == [IgnoreReason.NOT_AUTHENTIC, IgnoreReason.NOT_AUTHENTIC]
    assert isinstance(events[-1], ReplyAccepted) and events[-1].reply.payload == b"hi"


def test_a_key_is_retired_at_its_sealing_limit_and_at_its_failed_openings_limit() -> None:
    """SUDP-4, with the limits scaled down: past either, the key's datagrams are dropped as an unknown key's."""
    sealing = _server(max_sealed=2)
    for i in range(2):
        assert _answer(sealing, _request(sequence_at(T0 + 1) + i, request_id=10 + i), 1.0, T0 + 1) is not None
    assert sealing.retired == {KEY_ID}
    assert sealing.receive(_request(sequence_at(T0 + 2)), PEER, 1.0, T0 + 2) is None
    assert sealing.drops[Drop.UNKNOWN_KEY] == 1
    failing = _server(max_failed=3)
    forged = bytearray(_request(sequence_at(T0 + 1)))
    forged[-1] ^= 1
    for _ in range(3):
        failing.receive(bytes(forged), PEER, 1.0, T0 + 1)
    assert failing.retired == {KEY_ID}
    assert failing.receive(_request(sequence_at(T0 + 3)), PEER, 1.0, T0 + 3) is None


def test_the_reference_seals_and_opens_the_published_vectors() -> None:
    """SUDP-1: the client key and the server layer agree byte for byte with rrp-v1-secure.json."""
    document = build_secure_vectors()
    context = SecureContext.from_secret(bytes.fromhex(document["master_secret_hex"]), document["key_id"])
    sequence = document["request"]["sequence"]
    key = SecureClientKey(context, SequenceSource(floor=sequence - 1), wall_clock=lambda: 0.0)
    datagram, _ = key.seal(bytes.fromhex(document["request"]["message_hex"]))
    assert datagram.hex() == document["request"]["hex"]
    reply = key.open(bytes.fromhex(document["reply"]["hex"]), datagram[:SECURE_HEADER_SIZE])
    assert reply.hex() == document["reply"]["message_hex"]


def test_a_key_file_gives_each_key_id_once(tmp_path: Path) -> None:
    """SUDP-3: one key ID, one secret, one client; a file naming a key ID twice is refused with its line."""
    good = tmp_path / "keys"
    good.write_text(f"# clients\n7 {SECRET.hex()}\n8 {bytes(range(1, 33)).hex()}  # the second one\n")
    assert read_key_file(good) == {7: SECRET, 8: bytes(range(1, 33))}
    twice = tmp_path / "twice"
    twice.write_text(f"7 {SECRET.hex()}\n7 {bytes(32).hex()}\n")
    with pytest.raises(KeyFileError, match="line 2: key ID 7 appears twice"):
        read_key_file(twice)
    short = tmp_path / "short"
    short.write_text("9 00ff\n")
    with pytest.raises(KeyFileError, match="at least 32"):
        read_key_file(short)


def test_a_state_file_keeps_sequences_rising_across_restarts(tmp_path: Path) -> None:
    """SUDP-2 through the public helper: the mark on disk is above every sequence used."""
    state = tmp_path / "seq"
    first = persisted_sequences(state)
    used = first.next(T0)
    assert int(state.read_text()) > used
    assert persisted_sequences(state).next(T0 - 3600) > used


def test_every_drop_is_an_event_for_the_counters_and_the_log_never_the_bytes() -> None:
    """SUDP-SRV-1's SHOULD: drops are counted and logged with source, key ID and reason."""
    server = _server()
    forged = bytearray(_request(sequence_at(T0 + 1)))
    forged[-1] ^= 1
    server.receive(bytes(forged), PEER, 1.0, T0 + 1)
    server.receive(b"RR" + bytes(40), PEER, 1.0, T0 + 1)
    events = server.take_events()
    assert all(isinstance(e, SecureDropped) for e in events)
    assert [(e.peer, e.key_id, e.reason) for e in events if isinstance(e, SecureDropped)] == [
        ("127.0.0.1:40000", KEY_ID, Drop.FORGED.value),
        ("127.0.0.1:40000", None, Drop.BAD_MAGIC.value),
    ]
    counters = ServerCounters()
    counters.observe(events)
    assert counters.drops[DropReason.UNAUTHENTIC] == 2
    lines: list[str] = []
    RateLimitedLog(lines.append).observe(events, 0.0)
    assert (
        lines[0] == f"SUDP-SRV-1: dropped a datagram from sudp 127.0.0.1:40000 (key ID {KEY_ID}): authentication failed"
    )
    assert server.take_events() == []
