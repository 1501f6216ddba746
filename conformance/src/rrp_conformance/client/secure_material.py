"""The keys and certificates the client suite grades the secure profiles with, made fresh for every run.

TLS: one CA the client is told to trust (``{ca}``), and server certificates that are right, for the wrong
host, expired, self-signed, or from another CA, all made with trustme. RRP/1-S: one key file with a random
secret (``{key_file}``, ``{key_id}``). Everything lives in a temporary directory removed at the end of the run.
"""

from __future__ import annotations

import datetime
import secrets
import ssl
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from rrp_spec.secure_wire import TLS_ALPN

#: The host name the client is asked to reach; the good certificate names it (and 127.0.0.1).
SERVER_NAME = "localhost"
#: The key ID of the client's RRP/1-S key.
KEY_ID = 7


class Certificate(StrEnum):
    """The certificates a hostile TLS server can present."""

    GOOD = "a certificate for the host, from the trusted CA"
    WRONG_HOST = "a certificate for another host name, from the trusted CA"
    EXPIRED = "an expired certificate for the host, from the trusted CA"
    SELF_SIGNED = "a self-signed certificate for the host"
    OTHER_CA = "a certificate for the host from a CA the client was not told to trust"


@dataclass(frozen=True, slots=True)
class SecureMaterial:
    """Files for one run: the CA to trust, a server certificate chain and key per case, and the RRP/1-S key."""

    directory: Path
    ca_file: Path
    chains: dict[Certificate, tuple[Path, Path]]
    key_file: Path
    secret: bytes

    @classmethod
    def create(cls) -> SecureMaterial:
        """Make everything in a new temporary directory (see :meth:`remove`); needs trustme."""
        import trustme

        directory = Path(tempfile.mkdtemp(prefix="rrp-conformance-secure-"))
        trusted, other = trustme.CA(), trustme.CA()
        now = datetime.datetime.now(datetime.UTC)
        issued = {
            Certificate.GOOD: trusted.issue_cert(SERVER_NAME, "127.0.0.1"),
            Certificate.WRONG_HOST: trusted.issue_cert("wrong-host.invalid"),
            Certificate.EXPIRED: trusted.issue_cert(
                SERVER_NAME,
                "127.0.0.1",
                not_before=now - datetime.timedelta(days=30),
                not_after=now - datetime.timedelta(days=1),
            ),
            Certificate.OTHER_CA: other.issue_cert(SERVER_NAME, "127.0.0.1"),
        }
        chains: dict[Certificate, tuple[Path, Path]] = {}
        for case, leaf in issued.items():
            chain, key = directory / f"{case.name.lower()}.pem", directory / f"{case.name.lower()}.key"
            leaf.private_key_pem.write_to_path(str(key))
            for index, blob in enumerate(leaf.cert_chain_pems):
                blob.write_to_path(str(chain), append=index > 0)
            chains[case] = (chain, key)
        # Self-signed: the other CA's own certificate and key, presented as the server's.
        self_signed = trustme.CA(organization_name="self-signed")
        chain, key = directory / "self_signed.pem", directory / "self_signed.key"
        self_signed.cert_pem.write_to_path(str(chain))
        self_signed.private_key_pem.write_to_path(str(key))
        chains[Certificate.SELF_SIGNED] = (chain, key)
        ca_file = directory / "ca.pem"
        trusted.cert_pem.write_to_path(str(ca_file))
        secret = secrets.token_bytes(32)
        key_file = directory / "keys.txt"
        key_file.write_text(f"{KEY_ID} {secret.hex()}\n")
        key_file.chmod(0o600)
        return cls(directory, ca_file, chains, key_file, secret)

    def server_context(self, certificate: Certificate, *, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        """A server context presenting ``certificate``, offering ALPN rrp/1 (and TLS versions up to ``maximum``)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        chain, key = self.chains[certificate]
        context.load_cert_chain(str(chain), str(key))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if maximum is not None:
            context.maximum_version = maximum
        context.set_alpn_protocols([TLS_ALPN])
        return context

    def remove(self) -> None:
        """Delete the directory and everything in it."""
        for path in self.directory.iterdir():
            path.unlink()
        self.directory.rmdir()
