"""TCP attackers: connections that stall, drip, lie about sizes, send garbage or never read.

Each attacking connection becomes a :class:`ConnectionRecord`: when it opened, the
deadline by which the spec says the server must have closed it, and when and how the
server did. An attacker never closes first until :data:`HOLD_BEYOND_DEADLINE` after its
deadline, so a server that forgets a connection shows up as ``still-open``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass
from enum import StrEnum

from rrp import ServerSettings
from rrp_spec import (
    DEFAULT_REQUEST_DEADLINE,
    DEFAULT_SEND_TIMEOUT,
    DEFAULT_TCP_MAX_PAYLOAD,
    HEADER_SIZE,
    MAGIC,
    MAX_SIZE_FIELD,
    Op,
    Result,
    pack_request,
    unpack_header,
)

from .plan import ATTACKER_SOURCES, SINGLE_SOURCE, SLOWLORIS_RATE, Attack, SoakPlan
from .results import result_name

#: How long past its deadline an attacker waits for the server to close before giving up (and failing the run).
HOLD_BEYOND_DEADLINE = 5.0
#: A drip sender's pause between bytes: far slower than any deadline allows for a whole request.
DRIP_INTERVAL = 0.25
#: Payload of each never-reading client's pipelined ECHO requests, and how many bytes each pushes in all:
#: enough to fill the server's reply buffer bound and both sockets' kernel buffers twice over.
NEVER_READ_CHUNK = 64 * 1024
NEVER_READ_TOTAL = 2 * ServerSettings().max_buffered_reply_bytes + (8 << 20)
#: How long a never-reading client sending whole requests waits after each, so the server reads it whole.
WHOLE_REQUEST_PAUSE = 0.2
#: A never-reading client's receive buffer, kept small so the server's writes block early.
NEVER_READ_RCVBUF = 4096
#: How long a drain may take before the never-reading client counts its writes as stalled.
WRITE_STALL = 0.5
#: How often a never-reading client looks at its connection's TCP state.
STATE_POLL = 0.05
#: ``tcpi_state`` of an established connection (Linux ``TCP_ESTABLISHED``); anything else means the
#: server has closed (FIN: CLOSE_WAIT) or reset (CLOSE) it.
TCP_ESTABLISHED = 1
#: ``tcpi_state`` after a reset (Linux ``TCP_CLOSE``).
TCP_CLOSE = 7
#: Bytes of the request header a slowloris connection sends before it stalls.
STALL_AFTER = HEADER_SIZE // 2


class Closed(StrEnum):
    """How an attacking connection ended."""

    #: The server closed it (EOF), with or without a reply first.
    EOF = "eof"
    #: The server reset it.
    RESET = "reset"
    #: The connection was refused or failed to open.
    REFUSED = "refused"
    #: The server process closed it, but its FIN waits in the kernel behind replies this client never read
    #: (seen in /proc/net/tcp: the server's socket no longer belongs to a process, or has left ESTABLISHED).
    ORPHANED = "closed-behind-unread-replies"
    #: The server never closed it; the attacker gave up after its deadline plus HOLD_BEYOND_DEADLINE.
    STILL_OPEN = "still-open"


@dataclass(slots=True)
class ConnectionRecord:
    """One attacking connection, in seconds since the soak started."""

    attack: str
    source: str
    opened: float
    #: By when the server must have closed the connection, or ``None`` when it may keep it.
    deadline: float | None = None
    closed: float | None = None
    how: str = ""
    #: The result code of the first reply the server sent, if any.
    reply_result: str | None = None
    #: The result code the spec says that reply must carry, if a reply is due.
    expected_result: str | None = None

    @property
    def lifetime(self) -> float | None:
        """Seconds from open to close."""
        return None if self.closed is None else self.closed - self.opened

    @property
    def overshoot(self) -> float | None:
        """Seconds the connection outlived its deadline (negative: closed early enough)."""
        if self.closed is None or self.deadline is None:
            return None
        return self.closed - self.deadline


def _proc_net_address(address: tuple[str, int]) -> str:
    """An IPv4 ``(host, port)`` as /proc/net/tcp writes it: the address's bytes little-endian, in hex."""
    host, port = address
    return f"{int.from_bytes(socket.inet_aton(host), 'little'):08X}:{port:04X}"


def server_end_closed(server: tuple[str, int], client: tuple[str, int]) -> bool:
    """True once the server's end of the connection ``server`` <-> ``client`` is no longer an open socket
    of a process: gone, out of ESTABLISHED, or orphaned (inode 0: no file descriptor refers to it)."""
    local, remote = _proc_net_address(server), _proc_net_address(client)
    with open("/proc/net/tcp") as table:
        for line in table:
            fields = line.split()
            if len(fields) > 9 and fields[1] == local and fields[2] == remote:
                return fields[3] != f"{TCP_ESTABLISHED:02X}" or fields[9] == "0"
    return True


class TcpAttacks:
    """Runs the TCP attacks of a plan against one server, collecting a record per connection."""

    def __init__(self, host: str, port: int, plan: SoakPlan, t0: float) -> None:
        self._host = host
        self._port = port
        self._plan = plan
        self._t0 = t0
        self.records: list[ConnectionRecord] = []

    def _now(self) -> float:
        return time.monotonic() - self._t0

    async def _open(
        self, attack: Attack, source: str, rcvbuf: int | None = None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, ConnectionRecord] | None:
        record = ConnectionRecord(str(attack), source, self._now())
        self.records.append(record)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.bind((source, 0))
            if rcvbuf is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            await asyncio.get_running_loop().sock_connect(sock, (self._host, self._port))
            reader, writer = await asyncio.open_connection(sock=sock)
        except OSError:
            sock.close()
            record.closed, record.how = self._now(), Closed.REFUSED
            return None
        return reader, writer, record

    async def _await_close(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: ConnectionRecord
    ) -> None:
        """Read until the server closes; note its first reply's result; give up after the hold time."""
        give_up = (record.deadline if record.deadline is not None else record.opened) + HOLD_BEYOND_DEADLINE
        received = bytearray()
        try:
            while True:
                remaining = give_up - self._now()
                if remaining <= 0:
                    record.how = Closed.STILL_OPEN
                    break
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), remaining)
                except TimeoutError:
                    record.how = Closed.STILL_OPEN
                    break
                if not chunk:
                    record.how = Closed.EOF
                    break
                if len(received) < HEADER_SIZE:
                    received += chunk[:HEADER_SIZE]
        except (ConnectionResetError, BrokenPipeError):
            record.how = Closed.RESET
        record.closed = self._now()
        if len(received) >= HEADER_SIZE:
            result = unpack_header(bytes(received[:HEADER_SIZE])).result
            record.reply_result = result_name(result)
        writer.transport.abort()

    async def _await_close_unread(self, writer: asyncio.StreamWriter, record: ConnectionRecord) -> None:
        """Wait for the server to close without reading a byte: watch both ends' TCP state instead.

        A server that closes a connection with replies still unsent does not reset it: its
        FIN queues behind the replies, which this client never reads, so this end stays
        ESTABLISHED. The server's end shows the close in /proc/net/tcp.
        """
        sock = writer.get_extra_info("socket")
        try:
            ours, theirs = sock.getsockname(), sock.getpeername()
        except OSError:
            # asyncio already closed the socket: a write of ours failed, so the server reset the connection.
            record.closed, record.how = self._now(), Closed.RESET
            writer.transport.abort()
            return
        give_up = (record.deadline if record.deadline is not None else record.opened) + HOLD_BEYOND_DEADLINE
        record.how = Closed.STILL_OPEN
        while self._now() < give_up:
            if writer.transport.is_closing():
                # asyncio closed the socket itself: a write of ours failed, so the server reset the connection.
                record.how = Closed.RESET
                break
            state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
            if state != TCP_ESTABLISHED:
                record.how = Closed.EOF if state != TCP_CLOSE else Closed.RESET
                break
            if server_end_closed(theirs, ours):
                record.how = Closed.ORPHANED
                break
            await asyncio.sleep(STATE_POLL)
        record.closed = self._now()
        writer.transport.abort()

    async def stalled_header(self, attack: Attack, source: str) -> None:
        """Slowloris: send half a header, then nothing; the request deadline must close it."""
        opened = await self._open(attack, source)
        if opened is None:
            return
        reader, writer, record = opened
        try:
            writer.write(pack_request(Op.ECHO, 1, b"x" * 100)[:STALL_AFTER])
            await writer.drain()
        except OSError:
            record.closed, record.how = self._now(), Closed.RESET
            return
        record.deadline = self._now() + DEFAULT_REQUEST_DEADLINE
        await self._await_close(reader, writer, record)

    async def slow_drip(self, source: str) -> None:
        """Send a valid request one byte every :data:`DRIP_INTERVAL`; the whole-request deadline must cut it off."""
        opened = await self._open(Attack.SLOW_DRIP, source)
        if opened is None:
            return
        reader, writer, record = opened
        record.deadline = self._now() + DEFAULT_REQUEST_DEADLINE
        closer = asyncio.create_task(self._await_close(reader, writer, record))
        for byte in pack_request(Op.ECHO, 2, b"d" * 200):
            if closer.done():
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except OSError:
                break
            await asyncio.sleep(DRIP_INTERVAL)
        await closer

    async def over_limit(self, source: str, size: int) -> None:
        """A header claiming ``size`` bytes: TOO_LARGE, then close, without waiting for the payload (TCP-SRV-4)."""
        opened = await self._open(Attack.OVER_LIMIT_SIZE, source)
        if opened is None:
            return
        reader, writer, record = opened
        header = bytearray(pack_request(Op.ECHO, 3))
        header[HEADER_SIZE - 4 : HEADER_SIZE] = size.to_bytes(4, "big")
        writer.write(bytes(header) + b"p" * 1000)
        record.deadline = self._now()
        record.expected_result = Result.TOO_LARGE.name
        await self._await_close(reader, writer, record)

    async def garbage(self, source: str) -> None:
        """Random bytes whose magic is not RR: close without a reply (TCP-SRV-3)."""
        opened = await self._open(Attack.GARBAGE_STREAM, source)
        if opened is None:
            return
        reader, writer, record = opened
        data = bytearray(os.urandom(4096))
        if data[:2] == MAGIC:
            data[0] ^= 0xFF
        writer.write(bytes(data))
        record.deadline = self._now()
        await self._await_close(reader, writer, record)

    async def never_reading(self, source: str, *, whole_requests: bool = False) -> None:
        """Send ECHO requests and never read a reply: the server must drop the connection (TCP-SRV-10).

        Pipelined (the default), the server stops reading in the middle of a request and
        its whole-request deadline may close the connection first. With
        ``whole_requests``, each 1 MiB request is given time to arrive and be answered
        before the next is sent, so the server stops reading between requests and only
        its send timeout can close the connection. Either way the deadline counts from
        the moment this client's own writes stall (the server has stopped reading) or it
        has written everything, whichever comes first; plus the send timeout.
        """
        attack = Attack.NEVER_READING_WHOLE_REQUESTS if whole_requests else Attack.NEVER_READING
        opened = await self._open(attack, source, rcvbuf=NEVER_READ_RCVBUF)
        if opened is None:
            return
        _, writer, record = opened
        # Not even asyncio may read on this client's behalf: the server's replies stay in the kernel.
        transport = writer.transport
        assert isinstance(transport, asyncio.ReadTransport)  # a stream connection's transport reads and writes
        transport.pause_reading()
        payload = DEFAULT_TCP_MAX_PAYLOAD if whole_requests else NEVER_READ_CHUNK
        request = pack_request(Op.ECHO, 4, b"n" * payload)
        sent = 0
        try:
            while sent < NEVER_READ_TOTAL:
                writer.write(request)
                sent += len(request)
                try:
                    await asyncio.wait_for(writer.drain(), WRITE_STALL)
                except TimeoutError:
                    break
                if whole_requests:
                    await asyncio.sleep(WHOLE_REQUEST_PAUSE)
        except OSError:
            record.closed, record.how = self._now(), Closed.RESET
            return
        record.deadline = self._now() + DEFAULT_SEND_TIMEOUT
        await self._await_close_unread(writer, record)

    async def run(self, attack: Attack) -> None:
        """Run one attack to completion."""
        plan = self._plan
        if attack in (Attack.SLOWLORIS_SPREAD, Attack.SLOWLORIS_ONE_SOURCE):
            tasks = []
            begin = time.monotonic()
            for n in range(plan.slowloris_connections):
                source = (
                    ATTACKER_SOURCES[n % len(ATTACKER_SOURCES)] if attack is Attack.SLOWLORIS_SPREAD else SINGLE_SOURCE
                )
                tasks.append(asyncio.create_task(self.stalled_header(attack, source)))
                await asyncio.sleep(max(0.0, begin + (n + 1) / SLOWLORIS_RATE - time.monotonic()))
            await asyncio.gather(*tasks)
        elif attack is Attack.SLOW_DRIP:
            await asyncio.gather(*(self.slow_drip(ATTACKER_SOURCES[-1 - n]) for n in range(plan.slow_drip_connections)))
        elif attack is Attack.OVER_LIMIT_SIZE:
            sizes = (DEFAULT_TCP_MAX_PAYLOAD + 1, MAX_SIZE_FIELD)
            await asyncio.gather(
                *(
                    self.over_limit(ATTACKER_SOURCES[1 + n % 8], sizes[n % 2])
                    for n in range(plan.over_limit_connections)
                )
            )
        elif attack is Attack.GARBAGE_STREAM:
            await asyncio.gather(*(self.garbage(ATTACKER_SOURCES[10 + n % 8]) for n in range(plan.garbage_connections)))
        elif attack in (Attack.NEVER_READING, Attack.NEVER_READING_WHOLE_REQUESTS):
            whole = attack is Attack.NEVER_READING_WHOLE_REQUESTS
            first = 20 + (plan.never_reading_connections if whole else 0)
            await asyncio.gather(
                *(
                    self.never_reading(ATTACKER_SOURCES[first + n], whole_requests=whole)
                    for n in range(plan.never_reading_connections)
                )
            )
        else:
            raise ValueError(f"{attack} is not a TCP attack")
