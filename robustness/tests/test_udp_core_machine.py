"""python-ref's UDP server core (sans-IO) under random datagrams, duplicates, spoofed sources and time.

:class:`rrp_robustness.judged_udp.JudgedUdpCore` does the judging against the spec's
UDP server (``decode_request_datagram``'s verdicts, the operations, the duplicate-reply
window and the amplification bound). Invariants after every datagram: the core's answer
is one the oracle allows, byte for byte; INCREMENT never runs twice for one (source, ID)
inside the window (the counters agree); no reply is larger than three times its request;
no cached reply answers after its window (time reaches the core only with datagrams).
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule

from rrp import ServerSettings, UdpServerCore
from rrp_robustness.judged_udp import JudgedUdpCore
from rrp_spec import (
    AMPLIFICATION_FACTOR,
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_UDP_MAX_PAYLOAD,
    HEADER_SIZE,
    MAX_REQUEST_ID,
    MAX_SIZE_FIELD,
    Flag,
    Header,
    Op,
    pack_header,
    pack_request,
)

START = 1000.0
#: An application operation whose handler answers with eight times its payload: the core must
#: replace every reply that would exceed three times the request with TOO_LARGE (UDP-SRV-5).
AMPLIFYING_OPERATION = 0x8001


def amplify(payload: bytes) -> bytes:
    return payload * 8


#: Sources on loopback only; the two on 127.0.0.1 differ in port alone, as a spoofed retransmission would.
PEERS = [("127.0.0.1", 40000), ("127.0.0.1", 40001), ("127.0.0.2", 40000), ("::1", 40000)]

peers = st.sampled_from(PEERS)
#: A few IDs, so that different peers and different requests collide on them often.
request_ids = st.sampled_from([0, 1, 2, MAX_REQUEST_ID])


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    operation = draw(
        st.sampled_from([int(Op.NOOP), int(Op.ECHO), int(Op.INCREMENT), 0x0003, 0x8002, AMPLIFYING_OPERATION])
    )
    payload = draw(st.binary(max_size=48)) if draw(st.booleans()) or operation == Op.ECHO else b""
    return pack_request(operation, draw(request_ids), payload)


@st.composite
def odd_datagrams(draw: st.DrawFn) -> bytes:
    """Headers with fields and lengths wrong or right: every verdict of the spec is reachable."""
    payload = draw(st.binary(max_size=24))
    size = draw(st.sampled_from([len(payload), len(payload) + 1, max(0, len(payload) - 1), MAX_SIZE_FIELD]))
    header = Header(
        magic=draw(st.sampled_from([b"RR", b"RR", b"XR"])),
        version=draw(st.sampled_from([1, 1, 2])),
        flags=draw(st.sampled_from([0, 0, int(Flag.REPLY), 0x40])),
        operation=draw(st.sampled_from([int(Op.ECHO), int(Op.INCREMENT), 0x1234])),
        result=draw(st.sampled_from([0, 0, 5])),
        request_id=draw(request_ids),
        size=size,
    )
    return pack_header(header) + payload


class UdpCoreMachine(RuleBasedStateMachine):
    """One UDP server core, judged against the spec's UDP server after every datagram."""

    sent = Bundle("sent")

    def __init__(self) -> None:
        super().__init__()
        self.judged = JudgedUdpCore(handlers={AMPLIFYING_OPERATION: amplify}, now=START)

    @rule(target=sent, datagram=requests(), peer=peers)
    def send_request(self, datagram: bytes, peer: tuple[str, int]) -> tuple[bytes, tuple[str, int]]:
        self.judged.deliver(datagram, peer)
        return datagram, peer

    @rule(previous=sent)
    def retransmit(self, previous: tuple[bytes, tuple[str, int]]) -> None:
        """The same bytes from the same source: inside the window, the same reply and nothing run again."""
        self.judged.deliver(*previous)

    @rule(previous=sent, peer=peers)
    def spoof_source(self, previous: tuple[bytes, tuple[str, int]], peer: tuple[str, int]) -> None:
        """The same bytes from another source: a request of its own."""
        self.judged.deliver(previous[0], peer)

    @rule(datagram=odd_datagrams(), peer=peers)
    def send_odd_datagram(self, datagram: bytes, peer: tuple[str, int]) -> None:
        self.judged.deliver(datagram, peer)

    @rule(datagram=st.binary(max_size=HEADER_SIZE + 8), peer=peers)
    def send_garbage(self, datagram: bytes, peer: tuple[str, int]) -> None:
        self.judged.deliver(datagram, peer)

    @rule(seconds=st.sampled_from([0.0, 0.01, 1.0, DEFAULT_DEDUP_WINDOW / 2, DEFAULT_DEDUP_WINDOW, 30.0]))
    def advance_time(self, seconds: float) -> None:
        """Move the clock: the next datagram comes that much later."""
        self.judged.advance(seconds)


UdpCoreMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_udp_core_machine = UdpCoreMachine.TestCase


def test_a_short_datagram_reusing_an_id_does_not_get_an_amplified_cached_reply() -> None:
    """UDP-SRV-5 holds for retransmissions too: a reply is never more than three times the datagram that asks.

    A spoofer sends one large ECHO with the victim's address as its source, then
    20-byte requests reusing its ID from the same spoofed source: inside the window
    each would draw the cached 65 507-byte reply, an amplification of over 3000.
    """
    core = UdpServerCore(ServerSettings())
    victim = PEERS[0]
    big = pack_request(Op.ECHO, 42, bytes(DEFAULT_UDP_MAX_PAYLOAD))
    first = core.handle_datagram(big, victim, START)
    assert isinstance(first, bytes) and len(first) == len(big)
    short = pack_request(Op.NOOP, 42)
    answer = core.handle_datagram(short, victim, START + 0.1)
    assert answer is None or isinstance(answer, bytes)
    size = 0 if answer is None else len(answer)
    assert size <= AMPLIFICATION_FACTOR * len(short), f"a {len(short)}-byte datagram drew a {size}-byte reply"
