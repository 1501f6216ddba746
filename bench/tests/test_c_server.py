"""The C server's UDP replies, segmented (UDP GSO) or not: every reply is still its own datagram.

The C server sends runs of equal-size replies to one client as one segmented message; the kernel must cut them
back into the datagrams the client would have received one by one. These tests queue whole bursts while the
server is stopped (SIGSTOP), so that one recvmmsg batch holds them all and the runs really form, then check
every datagram that comes back: one reply each, right ID and payload, in order, none missing, none extra.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rrp_bench.listen_args import Endpoint, parse_endpoint
from rrp_bench.load import LoadConfig, LoadRun, Transport
from rrp_spec import HEADER_SIZE, UDP_RECEIVE_BUFFER_SIZE, Flag, Op, Result, pack_request, unpack_header

#: ``UDP_SEGMENT`` and its level, as in <linux/udp.h>; CPython 3.11 does not export them.
UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)
SOL_UDP = getattr(socket, "SOL_UDP", socket.IPPROTO_UDP)
#: The largest reply the server sends segmented (1280 - 40 - 8, as in rrp-server.c and the reference).
MAX_SEGMENT_SIZE = 1232

UDP_K64 = LoadConfig("udp-k64", Transport.UDP, 1, 64)


def kernel_segments() -> bool:
    """Whether this kernel knows UDP_SEGMENT (Linux 4.18+), the probe the server makes."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.getsockopt(SOL_UDP, UDP_SEGMENT)
        except OSError:
            return False
    return True


class CServer:
    """A running rrp-server: its UDP endpoint, its process, and what it writes on standard error."""

    def __init__(self, udp: Endpoint, process: subprocess.Popen[bytes]) -> None:
        self.udp = udp
        self.process = process
        self._stderr = b""
        #: What it said about GSO when it started.
        self.gso_line = self.said(until_line=True)[0]

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """Hold the server stopped so that what is sent meanwhile waits in its socket, read in one batch."""
        os.kill(self.process.pid, signal.SIGSTOP)
        try:
            yield
            time.sleep(0.05)  # loopback delivers at once; leave a margin all the same
        finally:
            os.kill(self.process.pid, signal.SIGCONT)

    def said(self, quiet: float = 0.2, *, until_line: bool = False) -> list[str]:
        """The lines written on standard error since the last call, once it has been quiet for ``quiet`` s.

        With ``until_line``, wait (up to 10 s) for one whole line instead. The pipe is read with ``os.read``, never
        through a buffered reader, so that ``select`` sees everything not yet read.
        """
        assert self.process.stderr is not None
        fd = self.process.stderr.fileno()
        deadline = time.monotonic() + 10.0
        while not (until_line and b"\n" in self._stderr):
            wait = deadline - time.monotonic() if until_line else quiet
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            self._stderr += chunk
        complete, _, self._stderr = self._stderr.rpartition(b"\n")
        return complete.decode().splitlines()


@contextmanager
def c_server(
    tools: Path, host: str, *, args: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> Iterator[CServer]:
    listen = f"[{host}]:0" if ":" in host else f"{host}:0"
    environment = {k: v for k, v in os.environ.items() if k != "RRP_C_SERVER_GSO"} | (env or {})
    process = subprocess.Popen(
        [str(tools / "rrp-server"), "--udp", listen, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    )
    try:
        assert process.stdout is not None
        listening = process.stdout.readline().decode().split()
        assert listening[:2] == ["listening", "udp"], listening
        yield CServer(parse_endpoint(listening[2]), process)
    finally:
        process.kill()
        process.communicate(timeout=10)  # reaps it and closes its pipes


class Client:
    """One UDP socket: sends requests, remembers what each reply must be, and checks what comes back."""

    def __init__(self, server: CServer, family: socket.AddressFamily) -> None:
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.connect((server.udp.host, server.udp.port))
        self.expected: list[tuple[int, int, bytes]] = []  # (request ID, operation, payload), in order
        self._next_id = int.from_bytes(os.urandom(4)) << 20

    def send(self, count: int, payload_size: int, op: Op = Op.ECHO) -> None:
        for _ in range(count):
            self._next_id += 1
            payload = os.urandom(payload_size) if op == Op.ECHO else b""
            self.sock.send(pack_request(op, self._next_id, payload))
            self.expected.append((self._next_id, op, payload))

    def check_replies(self) -> None:
        """Every expected reply arrives as one datagram of its own, in the order sent, and nothing else."""
        self.sock.settimeout(2.0)
        for number, (request_id, op, payload) in enumerate(self.expected):
            datagram = self.sock.recv(UDP_RECEIVE_BUFFER_SIZE)
            header = unpack_header(datagram)
            where = f"reply {number} of {len(self.expected)}"
            assert len(datagram) == HEADER_SIZE + header.size, f"{where}: {len(datagram)} bytes, size {header.size}"
            assert header.request_id == request_id, where
            assert (header.flags, header.operation, header.result) == (Flag.REPLY, op, Result.OK), where
            assert datagram[HEADER_SIZE:] == payload, where
        self.sock.settimeout(0.1)
        try:
            extra = self.sock.recv(UDP_RECEIVE_BUFFER_SIZE)
        except TimeoutError:
            pass
        else:
            pytest.fail(f"an unexpected datagram of {len(extra)} bytes")
        self.expected.clear()

    def close(self) -> None:
        self.sock.close()


HOSTS = [
    pytest.param("127.0.0.1", id="ipv4"),
    pytest.param("::1", id="ipv6", marks=pytest.mark.needs_ipv6_loopback),
]
GSO = [pytest.param((), id="gso"), pytest.param(("--no-gso",), id="no-gso")]


@pytest.mark.parametrize("args", GSO)
@pytest.mark.parametrize("host", HOSTS)
def test_every_reply_is_its_own_datagram(tools: Path, host: str, args: tuple[str, ...]) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with c_server(tools, host, args=args) as server:
        a, b = Client(server, family), Client(server, family)
        try:
            # Runs broken by another client, by a change of size and by a reply too large to segment.
            with server.stopped():
                a.send(20, 64)
                b.send(5, 64)
                a.send(3, 10)
                a.send(2, 0, Op.NOOP)
                b.send(1, 64)
                a.send(3, MAX_SEGMENT_SIZE - HEADER_SIZE + 1)
                a.send(2, 64)
            a.check_replies()
            b.check_replies()
            # 64 replies of the largest segmented size: more bytes than one send may carry.
            with server.stopped():
                a.send(64, MAX_SEGMENT_SIZE - HEADER_SIZE)
            a.check_replies()
            # More requests than one batch of 64.
            with server.stopped():
                a.send(100, 64)
            a.check_replies()
        finally:
            a.close()
            b.close()


@pytest.mark.parametrize("args", GSO)
@pytest.mark.parametrize("host", HOSTS)
def test_load_generator_finds_no_wrong_or_lost_reply(tools: Path, host: str, args: tuple[str, ...]) -> None:
    with c_server(tools, host, args=args) as server:
        result = LoadRun(tools / "rrp-load", duration=0.3, warmup=0.05).run(UDP_K64, server.udp)
    assert result.replies_ok > 0
    assert (result.errors, result.lost, result.late) == (0, 0, 0)


def test_gso_is_on_where_the_kernel_segments(tools: Path) -> None:
    with c_server(tools, "127.0.0.1") as server:
        line = server.gso_line
    if kernel_segments():
        assert line == "rrp-server: udp gso on"
    else:
        assert line == "rrp-server: udp gso off (the kernel does not know UDP_SEGMENT)"


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--no-gso",), {}), ((), {"RRP_C_SERVER_GSO": "0"})],
    ids=["flag", "environment"],
)
def test_gso_can_be_switched_off(tools: Path, args: tuple[str, ...], env: dict[str, str]) -> None:
    with c_server(tools, "127.0.0.1", args=args, env=env) as server:
        assert server.gso_line == "rrp-server: udp gso off (as asked)"


#: An LD_PRELOAD shim standing for kernels this machine may not run. RRP_SHIM=refuse: every sendmmsg whose first
#: message carries UDP_SEGMENT fails with EIO (a device that cannot segment) and says so on standard error.
#: RRP_SHIM=old-kernel: getsockopt does not know UDP_SEGMENT, and a message carrying it goes out without it,
#: merged, as before Linux 4.18.
SHIM_SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int segmented(struct msghdr *m) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c))
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_SEGMENT) return 1;
    return 0;
}

static int old_kernel(void) {
    const char *mode = getenv("RRP_SHIM");
    return mode && strcmp(mode, "old-kernel") == 0;
}

int sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags) {
    int (*real)(int, struct mmsghdr *, unsigned, int) = dlsym(RTLD_NEXT, "sendmmsg");
    if (old_kernel()) {
        for (unsigned i = 0; i < n; i++)
            if (segmented(&msgs[i].msg_hdr)) msgs[i].msg_hdr.msg_controllen = 0;
        return real(fd, msgs, n, flags);
    }
    unsigned plain = 0;
    while (plain < n && !segmented(&msgs[plain].msg_hdr)) plain++;
    if (n > 0 && plain == 0) {
        static const char refused[] = "shim: refused a segmented send\n";
        if (write(2, refused, sizeof refused - 1) < 0) abort();
        errno = EIO;
        return -1;
    }
    return real(fd, msgs, plain, flags);
}

int getsockopt(int fd, int level, int name, void *value, socklen_t *len) {
    int (*real)(int, int, int, void *, socklen_t *) = dlsym(RTLD_NEXT, "getsockopt");
    if (old_kernel() && level == SOL_UDP && name == UDP_SEGMENT) {
        errno = ENOPROTOOPT;
        return -1;
    }
    return real(fd, level, name, value, len);
}
"""


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory, tools: Path) -> Path:
    """The shim, built with the C compiler that built the tools."""
    directory = tmp_path_factory.mktemp("shim")
    (directory / "shim.c").write_text(SHIM_SOURCE)
    library = directory / "shim.so"
    subprocess.run(
        ["cc", "-O1", "-shared", "-fPIC", "-o", str(library), str(directory / "shim.c"), "-ldl"],
        check=True,
        timeout=60,
    )
    return library


#: What the shim writes on the server's standard error each time it refuses a segmented send.
REFUSED = "shim: refused a segmented send"


def alternating_runs(client: Client, runs: int) -> None:
    """Queue ``runs`` runs of three replies each, every run one byte longer than the one before."""
    for run in range(runs):
        client.send(3, 32 + run)


@pytest.mark.skipif(not kernel_segments(), reason="the kernel does not know UDP_SEGMENT")
def test_refused_segmented_sends_go_out_one_by_one_then_gso_is_switched_off(tools: Path, shim: Path) -> None:
    with c_server(tools, "127.0.0.1", env={"LD_PRELOAD": str(shim), "RRP_SHIM": "refuse"}) as server:
        assert server.gso_line == "rrp-server: udp gso on"
        client = Client(server, socket.AF_INET)
        try:
            with server.stopped():
                alternating_runs(client, 7)  # one refusal short of giving up
            client.check_replies()
            assert server.said() == [REFUSED] * 7
            with server.stopped():
                alternating_runs(client, 7)  # the first run's refusal is the eighth: the other six go out plain
            client.check_replies()
            assert server.said() == [
                REFUSED,
                "rrp-server: udp gso off (the kernel refused 8 segmented sends in a row: Input/output error)",
            ]
            with server.stopped():
                alternating_runs(client, 3)
            client.check_replies()
            assert server.said() == []  # GSO is off: no segmented send is even tried
        finally:
            client.close()


def test_without_the_kernel_knowing_udp_segment_replies_are_never_merged(tools: Path, shim: Path) -> None:
    with c_server(tools, "127.0.0.1", env={"LD_PRELOAD": str(shim), "RRP_SHIM": "old-kernel"}) as server:
        assert server.gso_line == "rrp-server: udp gso off (the kernel does not know UDP_SEGMENT)"
        client = Client(server, socket.AF_INET)
        try:
            with server.stopped():
                client.send(20, 64)
            client.check_replies()
        finally:
            client.close()
