"""Reading replies off a TCP stream, sans-IO: reassembly, matching and clean errors.

Bytes arrive in whatever pieces TCP delivers; a reply is complete only when its
header and all ``size`` payload bytes are in (TCP-CLI-1). The reader matches each
reply to the oldest outstanding request (servers answer in order, TCP-SRV-2) and
judges it as soon as its header is in: a reply whose request ID, operation or
framing is wrong raises :class:`~rrp._sansio.client_errors.ReplyRejected` before its
payload is read (TCP-CLI-3, CLI-3), and so does one announcing more payload than
the client accepts, so a hostile server cannot make the client buffer 4 GiB. End
of stream before the whole reply raises :class:`~rrp._sansio.client_errors.ConnectionClosed`
(TCP-CLI-4). After any error the reader stays failed: the connection is unusable.
An unsolicited BUSY (request_id 0, a server over its connection limits) answers
every outstanding request with BUSY, and nothing after it is read (TCP-CLI-5).

The buffer never holds more than one header, ``max_payload`` bytes and whatever
single chunk the caller fed last.
"""

from __future__ import annotations

from collections import deque

from rrp_spec import (
    DEFAULT_TCP_MAX_PAYLOAD,
    HEADER_SIZE,
    Header,
    Message,
    is_unsolicited_busy,
    reply_problems,
    unpack_header,
)

from .client_errors import ConnectionClosed, ReplyRejected


class TcpReplyReader:
    """Reassembles replies from one TCP connection and matches each to its request.

    Call :meth:`expect` with each request's header as it is sent, feed every chunk
    read with :meth:`receive_data` (``b""`` at end of stream), and call
    :meth:`next_reply` after each feed.
    """

    def __init__(self, max_payload: int = DEFAULT_TCP_MAX_PAYLOAD) -> None:
        self._max_payload = max_payload
        self._buffer = bytearray()
        self._outstanding: deque[Header] = deque()
        self._header: Header | None = None
        self._eof = False
        self._failure: ReplyRejected | ConnectionClosed | None = None
        self._refused: Message | None = None  # the unsolicited BUSY, once it has arrived

    @property
    def outstanding(self) -> int:
        """Requests still waiting for their reply."""
        return len(self._outstanding)

    @property
    def buffered(self) -> int:
        """Bytes held that are not yet part of a returned reply."""
        return len(self._buffer)

    def expect(self, request: Header) -> None:
        """Register a request just sent; its reply must come after those of earlier requests."""
        self._outstanding.append(request)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the connection; ``b""`` means the server closed it."""
        if self._eof:
            raise RuntimeError("data fed after end of stream")
        if data:
            self._buffer += data
        else:
            self._eof = True

    def next_reply(self) -> Message | None:
        """The next complete, acceptable reply, or ``None`` when more bytes are needed.

        Raises :class:`ReplyRejected` for a reply we must not accept (or bytes no
        request asked for) and :class:`ConnectionClosed` for end of stream mid-reply.
        """
        if self._failure is not None:
            raise self._failure
        try:
            return self._next_reply()
        except (ReplyRejected, ConnectionClosed) as failure:
            self._failure = failure
            raise

    def _next_reply(self) -> Message | None:
        if self._refused is not None:
            if not self._outstanding:
                return None
            self._outstanding.popleft()
            return self._refused
        if self._header is None and is_unsolicited_busy(self._buffer):
            # TCP-CLI-5: the server refused the connection; every request on it gets that BUSY.
            self._refused = Message(unpack_header(self._buffer), b"")
            self._buffer.clear()
            return self._next_reply() if self._outstanding else None
        if not self._outstanding:
            if self._buffer:
                raise ReplyRejected("CLI-3", f"server sent {len(self._buffer)} bytes that answer no request")
            return None
        request = self._outstanding[0]
        if self._header is None:
            if len(self._buffer) < HEADER_SIZE:
                self._check_eof(None)
                return None
            self._header = self._judge_header(request)
        total = HEADER_SIZE + self._header.size
        if len(self._buffer) < total:
            self._check_eof(total)
            return None
        data = bytes(self._buffer[:total])
        del self._buffer[:total]
        self._header = None
        self._outstanding.popleft()
        problems = reply_problems(data, request=request, datagram=False)
        if problems:
            raise ReplyRejected(problems[0].requirement, problems[0].detail)
        return Message(unpack_header(data), data[HEADER_SIZE:])

    def _judge_header(self, request: Header) -> Header:
        header = unpack_header(self._buffer)
        # Judge everything a header alone can show, so a bad reply is refused before its payload is read;
        # MSG-4 (size against payload bytes) can only be judged once the payload is in.
        problems = reply_problems(bytes(self._buffer[:HEADER_SIZE]), request=request, datagram=False)
        framing = [p for p in problems if p.requirement != "MSG-4"]
        if framing:
            raise ReplyRejected(framing[0].requirement, framing[0].detail)
        if header.size > self._max_payload:
            raise ReplyRejected(None, f"size {header.size} exceeds this client's limit of {self._max_payload} bytes")
        return header

    def _check_eof(self, expected: int | None) -> None:
        if self._eof:
            raise ConnectionClosed(len(self._buffer), expected)
