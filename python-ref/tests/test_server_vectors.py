"""Every request vector of rrp_spec's rrp-v1.json, fed to the UDP and TCP server cores.

The vectors say what a server does with the bytes (reply with a result, drop,
close, or carry the request out); the cores must do exactly that. The TCP core
is fed each vector whole and byte by byte, and must produce the same bytes.
"""

from __future__ import annotations

from typing import Any

import pytest

from rrp import ServerSettings, TcpConnection, UdpServerCore
from rrp._sansio.dispatch import Dispatcher
from rrp_spec import (
    APPLICATION_RANGE_END,
    APPLICATION_RANGE_START,
    COUNTER_SIZE,
    HEADER_SIZE,
    Flag,
    Op,
    Result,
    unpack_header,
)
from rrp_spec.vectors import load

PEER = ("127.0.0.1", 40000)
#: What the application handlers registered for the vectors' application operations answer.
APP_REPLY = b"app"

REQUESTS = [v for v in load() if v["direction"] == "request"]


def _dispatcher() -> Dispatcher:
    dispatcher = Dispatcher()
    dispatcher.register(APPLICATION_RANGE_START, lambda payload: APP_REPLY)
    dispatcher.register(APPLICATION_RANGE_END, lambda payload: APP_REPLY)
    return dispatcher


def _expected_ok_payload(vector: dict[str, Any]) -> bytes:
    decoded = vector["expect"]["decoded"]
    operation = decoded["operation"]
    if operation == Op.ECHO:
        return bytes.fromhex(decoded["payload"])
    if operation == Op.INCREMENT:
        return (1).to_bytes(COUNTER_SIZE, "big")
    if operation == Op.NOOP:
        return b""
    return APP_REPLY


def _check_reply(reply: bytes, vector: dict[str, Any], result: int, payload: bytes = b"") -> None:
    request = unpack_header(bytes.fromhex(vector["hex"]))
    header = unpack_header(reply)
    assert header.flags == Flag.REPLY, "SRV-12: REPLY set, reserved bits zero"
    assert header.version == 1
    assert header.request_id == request.request_id, "SRV-12: the request's ID"
    assert header.operation == request.operation, "SRV-12: the request's operation"
    assert header.result == result
    assert header.size == len(payload) == len(reply) - HEADER_SIZE, "SRV-13 / MSG-4"
    assert reply[HEADER_SIZE:] == payload


@pytest.mark.parametrize("vector", [v for v in REQUESTS if v["transport"] in ("udp", "any")], ids=lambda v: v["name"])
def test_udp_core_does_what_each_vector_says(vector: dict[str, Any]) -> None:
    """The UDP core answers each vector as it says.

    Covers SRV-1, SRV-2, SRV-3, SRV-4, SRV-5, SRV-6, SRV-7, SRV-9, SRV-10, SRV-11, SRV-12, SRV-13,
    UDP-SRV-1, UDP-SRV-2, UDP-SRV-3, UDP-SRV-4.
    """
    core = UdpServerCore(ServerSettings(), _dispatcher())
    out = core.handle_datagram(bytes.fromhex(vector["hex"]), PEER, 0.0)
    expect = vector["expect"]
    if "decoded" in expect:
        assert isinstance(out, bytes)
        _check_reply(out, vector, Result.OK, _expected_ok_payload(vector))
    elif expect["action"] == "drop":
        assert out is None
    else:
        assert expect["action"] == "reply"
        assert isinstance(out, bytes)
        _check_reply(out, vector, Result[expect["result"]])


def _feed_tcp(data: bytes, *, byte_by_byte: bool) -> tuple[bytes, bool]:
    connection = TcpConnection(ServerSettings(), _dispatcher(), 0.0)
    sent = b""
    chunks = [data[i : i + 1] for i in range(len(data))] if byte_by_byte else [data]
    for chunk in chunks:
        connection.receive_data(chunk, 0.0)
        sent += connection.data_to_send()
    return sent, connection.closed


@pytest.mark.parametrize("vector", [v for v in REQUESTS if v["transport"] in ("tcp", "any")], ids=lambda v: v["name"])
def test_tcp_core_does_what_each_vector_says(vector: dict[str, Any]) -> None:
    """The TCP core answers each vector as it says, fed whole or byte by byte.

    Covers SRV-1, SRV-2, SRV-3, SRV-4, SRV-5, SRV-6, SRV-7, SRV-8, SRV-9, SRV-10, SRV-11, SRV-12, SRV-13,
    TCP-SRV-1, TCP-SRV-3, TCP-SRV-4, TCP-SRV-9.
    """
    data = bytes.fromhex(vector["hex"])
    sent, closed = _feed_tcp(data, byte_by_byte=False)
    expect = vector["expect"]
    if "decoded" in expect:
        _check_reply(sent, vector, Result.OK, _expected_ok_payload(vector))
        assert not closed
    elif expect["action"] == "close":
        assert sent == b""
        assert closed
    else:
        assert expect["action"] == "reply"
        _check_reply(sent, vector, Result[expect["result"]])
        assert closed == (expect.get("then") == "close")
    if len(data) <= 512:  # the two 64 KiB vectors would take a second each byte by byte
        assert _feed_tcp(data, byte_by_byte=True) == (sent, closed), "TCP-SRV-1: split reads give the same bytes"
