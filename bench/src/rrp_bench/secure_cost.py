"""What security costs: the reference server's CPU per reply and req/s, plain against secure, side by side.

``python -m rrp_bench.secure_cost`` starts one ``rrp serve`` with all four profiles (UDP, RRP/1-S, TCP, RRP/1
over TLS, a throwaway key and certificate), then loads each profile in turn with the same Python load
generator, round after round, interleaved so that a noisy neighbour hits every profile alike. It reports, per
profile, replies per second and the server's CPU per reply (its own user + system time, read from
``/proc/PID/stat``), and the secure/plain ratios. The C generator of ``make bench`` speaks only plain RRP/1;
with one generator for all four, the ratios compare the server's work, which is what users pay for.

Loopback only; bounded by ``--duration`` × ``--rounds`` × 4 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rrp_spec import HEADER_SIZE, Op, pack_request, unpack_header
from rrp_spec.secure import SecureContext
from rrp_spec.secure_wire import SECURE_HEADER_SIZE, TLS_ALPN, sequence_at

#: The profiles measured, plain first in each pair.
PROFILES = ("udp", "sudp", "tcp", "tls")
#: Requests in flight per profile: enough to keep the server busy, as udp-k64 and tcp-1x64 do.
IN_FLIGHT = 64
#: Bytes of ECHO payload per request.
PAYLOAD = b"x" * 32
_LISTENING = re.compile(r"^listening (udp|tcp|sudp|tls) 127\.0\.0\.1:(\d+)$")
_TICKS = os.sysconf("SC_CLK_TCK")
KEY_ID = 1


@dataclass(frozen=True)
class Sample:
    """One profile's run in one round."""

    profile: str
    replies: int
    seconds: float
    server_cpu_seconds: float

    @property
    def rps(self) -> float:
        """Replies per second."""
        return self.replies / self.seconds

    @property
    def cpu_us_per_reply(self) -> float:
        """Server CPU (user + system) per reply, in microseconds."""
        return 1e6 * self.server_cpu_seconds / max(self.replies, 1)


def _server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


async def _udp_load(port: int, seconds: float, context: SecureContext | None) -> int:
    loop = asyncio.get_running_loop()
    done = 0
    finished = loop.create_future()
    last_sequence = 0

    def request() -> bytes:
        nonlocal last_sequence
        message = pack_request(Op.ECHO, secrets.randbits(63) | 1, PAYLOAD)
        if context is None:
            return message
        last_sequence = max(sequence_at(time.time()), last_sequence + 1)
        return context.seal_request(last_sequence, message)

    class Protocol(asyncio.DatagramProtocol):
        # Replies are counted, not verified: what is measured is the server's work (the first reply to a sealed
        # request is verified once, below, so a server that answered garbage would not count).
        def __init__(self) -> None:
            self.transport: asyncio.DatagramTransport | None = None
            self.first: bytes | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]
            self.first = self.send()
            for _ in range(IN_FLIGHT - 1):
                self.send()

        def send(self) -> bytes:
            datagram = request()
            assert self.transport is not None
            self.transport.sendto(datagram)
            return datagram

        def datagram_received(self, data: bytes, addr: object) -> None:
            nonlocal done
            if done == 0 and context is not None and self.first is not None:
                context.open_reply(data, self.first[:SECURE_HEADER_SIZE])  # raises if it is not authentic
            done += 1
            if not finished.done():
                self.send()

    transport, _ = await loop.create_datagram_endpoint(Protocol, remote_addr=("127.0.0.1", port))
    loop.call_later(seconds, lambda: None if finished.done() else finished.set_result(None))
    await finished
    transport.close()
    return done


async def _tcp_load(port: int, seconds: float, tls: ssl.SSLContext | None) -> int:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=tls, server_hostname="localhost" if tls else None
    )
    done = 0
    deadline = time.monotonic() + seconds
    writer.write(b"".join(pack_request(Op.ECHO, secrets.randbits(63) | 1, PAYLOAD) for _ in range(IN_FLIGHT)))
    while time.monotonic() < deadline:
        header = await reader.readexactly(HEADER_SIZE)
        await reader.readexactly(unpack_header(header).size)
        done += 1
        writer.write(pack_request(Op.ECHO, secrets.randbits(63) | 1, PAYLOAD))
    writer.close()
    return done


@dataclass
class _Setup:
    ports: dict[str, int]
    secret: bytes
    ca_file: Path
    process: subprocess.Popen[bytes]


def _start(directory: Path) -> _Setup:
    import trustme

    secret = secrets.token_bytes(32)
    keys = directory / "keys.txt"
    keys.write_text(f"{KEY_ID} {secret.hex()}\n")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    cert, key, ca_file = directory / "cert.pem", directory / "key.pem", directory / "ca.pem"
    for index, blob in enumerate(leaf.cert_chain_pems):
        blob.write_to_path(str(cert), append=index > 0)
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    command = [sys.executable, "-m", "rrp", "serve", "--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0"]
    command += ["--secure-udp", "127.0.0.1:0", "--key-file", str(keys)]
    command += ["--tls", "127.0.0.1:0", "--tls-cert", str(cert), "--tls-key", str(key)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    ports: dict[str, int] = {}
    while len(ports) < len(PROFILES):
        line = process.stdout.readline().decode()
        if not line:
            raise RuntimeError("the reference server exited before listening")
        match = _LISTENING.match(line.strip())
        if match:
            ports[match.group(1)] = int(match.group(2))
    return _Setup(ports, secret, ca_file, process)


def measure(duration: float, rounds: int) -> list[Sample]:
    """``rounds`` rounds of every profile, ``duration`` seconds each."""
    samples = []
    with tempfile.TemporaryDirectory(prefix="rrp-secure-bench-") as directory:
        setup = _start(Path(directory))
        context = SecureContext.from_secret(setup.secret, KEY_ID)
        tls = ssl.create_default_context(cafile=str(setup.ca_file))
        tls.set_alpn_protocols([TLS_ALPN])
        loads = {
            "udp": lambda: _udp_load(setup.ports["udp"], duration, None),
            "sudp": lambda: _udp_load(setup.ports["sudp"], duration, context),
            "tcp": lambda: _tcp_load(setup.ports["tcp"], duration, None),
            "tls": lambda: _tcp_load(setup.ports["tls"], duration, tls),
        }
        try:
            for _ in range(rounds):
                for profile in PROFILES:
                    cpu_before, started = _server_cpu(setup.process.pid), time.monotonic()
                    replies = asyncio.run(loads[profile]())
                    elapsed = time.monotonic() - started
                    samples.append(Sample(profile, replies, elapsed, _server_cpu(setup.process.pid) - cpu_before))
        finally:
            setup.process.terminate()
            setup.process.wait(10)
    return samples


def read_samples(path: Path) -> tuple[list[Sample], dict[str, object]]:
    """The samples and the run's record (when, where, how loaded) from a ``secure.json``."""
    record = json.loads(path.read_text())
    return [Sample(**s) for s in record.pop("samples")], record


def table(samples: list[Sample]) -> str:
    """Median req/s and CPU per reply per profile, and each secure profile against its plain one."""
    by_profile = {p: [s for s in samples if s.profile == p] for p in PROFILES}
    rows = ["| profile | replies/s (median) | server CPU per reply (µs, median) | vs plain: req/s | vs plain: CPU |"]
    rows.append("|---|---|---|---|---|")
    plain_of = {"sudp": "udp", "tls": "tcp"}
    for profile, runs in by_profile.items():
        rps = statistics.median(s.rps for s in runs)
        cpu = statistics.median(s.cpu_us_per_reply for s in runs)
        if profile in plain_of:
            base = by_profile[plain_of[profile]]
            rounds = zip(runs, base, strict=True)
            ratio_rps = statistics.median(s.rps / b.rps for s, b in zip(runs, base, strict=True))
            ratio_cpu = statistics.median(s.cpu_us_per_reply / b.cpu_us_per_reply for s, b in rounds)
            rows.append(f"| {profile} | {rps:,.0f} | {cpu:.1f} | {ratio_rps:.2f}× | {ratio_cpu:.2f}× |")
        else:
            rows.append(f"| {profile} | {rps:,.0f} | {cpu:.1f} | | |")
    return "\n".join(rows)


def _commit() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table, write ``secure.json`` beside the other results."""
    parser = argparse.ArgumentParser(prog="python -m rrp_bench.secure_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per profile per round (2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3)")
    parser.add_argument("--out", type=Path, default=Path("build/bench"), help="where secure.json goes")
    args = parser.parse_args(argv)
    samples = measure(args.duration, args.rounds)
    print(table(samples))
    args.out.mkdir(parents=True, exist_ok=True)
    record = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": _commit(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "duration": args.duration,
        "rounds": args.rounds,
        "in_flight": IN_FLIGHT,
        "samples": [asdict(s) for s in samples],
    }
    (args.out / "secure.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
