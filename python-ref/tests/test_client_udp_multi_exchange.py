"""Asking several UDP servers at once: each reply is matched to the server it came from (sans-IO)."""

from __future__ import annotations

import itertools

import pytest

from rrp._sansio.client_errors import GaveUp
from rrp._sansio.client_events import DatagramIgnored, ExchangeEvent, ExchangeGaveUp, IgnoreReason, ReplyAccepted
from rrp._sansio.reply import Reply
from rrp._sansio.udp_multi_exchange import UdpMultiExchange
from rrp_spec import Header, Op, Result, RetryPolicy, pack_reply, unpack_header

A = ("127.0.0.1", 7001)
B = ("127.0.0.1", 7002)
POLICY = RetryPolicy(initial_timeout=0.05, max_timeout=0.2, max_attempts=3)


def started() -> tuple[UdpMultiExchange, dict[tuple[str, int], Header]]:
    ids = itertools.count(0x1000)
    multi = UdpMultiExchange([A, B], Op.ECHO, b"x", policy=POLICY, request_ids=lambda: next(ids), jitter=lambda: 0.0)
    multi.start(0.0)
    requests = {destination: unpack_header(data) for data, destination in multi.datagrams_to_send()}
    return multi, requests


def drain(multi: UdpMultiExchange) -> list[ExchangeEvent]:
    events = []
    while (event := multi.next_event()) is not None:
        events.append(event)
    return events


def test_each_server_gets_its_own_request_id() -> None:
    """CLI-1: every server is sent its own request, with a fresh ID."""
    _, requests = started()
    assert set(requests) == {A, B}
    assert requests[A].request_id != requests[B].request_id


def test_each_reply_is_matched_to_the_server_it_came_from() -> None:
    """UDP-CLI-1: a reply counts only for the server that sent it, and only with that server's request ID."""
    multi, requests = started()
    drain(multi)
    # B answers with A's ID: not B's request, so ignored, and A is still waiting.
    multi.receive_datagram(pack_reply(requests[A], Result.OK, b"x"), B, 0.01)
    assert [e.reason for e in drain(multi) if isinstance(e, DatagramIgnored)] == [IgnoreReason.UNKNOWN_ID]
    multi.receive_datagram(pack_reply(requests[A], Result.OK, b"from A"), A, 0.02)
    multi.receive_datagram(pack_reply(requests[B], Result.OK, b"from B"), B, 0.03)
    accepted = {e.server: e.reply.payload for e in drain(multi) if isinstance(e, ReplyAccepted)}
    assert accepted == {A: b"from A", B: b"from B"}
    assert multi.finished and multi.get_timer() is None


def test_a_stranger_is_ignored() -> None:
    """UDP-CLI-1, UDP-CLI-2: a datagram from a server nobody asked is ignored, whatever it carries."""
    multi, requests = started()
    drain(multi)
    stranger = ("127.0.0.2", A[1])
    multi.receive_datagram(pack_reply(requests[A], Result.OK, b"x"), stranger, 0.01)
    assert drain(multi) == [DatagramIgnored(stranger, IgnoreReason.WRONG_SOURCE)]
    assert not multi.finished


def test_a_duplicate_from_an_answered_server_does_no_harm_while_another_is_pending() -> None:
    """UDP-CLI-2: A's duplicate is ignored; B gives up on its own schedule; the outcomes say which was which."""
    multi, requests = started()
    multi.receive_datagram(pack_reply(requests[A], Result.OK, b"x"), A, 0.01)
    multi.receive_datagram(pack_reply(requests[A], Result.OK, b"x"), A, 0.02)
    assert DatagramIgnored(A, IgnoreReason.DUPLICATE) in drain(multi)
    resent = []
    while (timer := multi.get_timer()) is not None:
        multi.handle_timer(timer)
        resent += multi.datagrams_to_send()
    assert {destination for _, destination in resent} == {B}
    assert len(resent) == POLICY.max_attempts - 1
    assert any(isinstance(e, ExchangeGaveUp) and e.server == B for e in drain(multi))
    outcomes = multi.outcomes
    assert isinstance(outcomes[A], Reply)
    gave_up = outcomes[B]
    assert isinstance(gave_up, GaveUp)
    assert gave_up.attempts == POLICY.max_attempts


def test_listing_a_server_twice_is_refused() -> None:
    """UDP-CLI-1: two entries for one server would make replies ambiguous."""
    with pytest.raises(ValueError, match="twice"):
        UdpMultiExchange([A, ("127.0.0.1", A[1])], Op.NOOP)
