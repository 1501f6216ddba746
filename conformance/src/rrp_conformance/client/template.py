"""The command template that runs the client under test, and the values it is filled with.

The template is split into words like a POSIX shell would (``shlex``), then each
word is filled in with ``str.format``; it is never run through a shell, so values
cannot inject commands and need no quoting. Placeholders:

==================== ===========================================================
``{transport}``      ``udp`` or ``tcp``
``{host}``           the suite's hostile server, always a loopback address
``{port}``           its port
``{url}``            ``udp://HOST:PORT`` or ``tcp://HOST:PORT``
``{op}``             the operation, decimal (ECHO is ``1``)
``{payload_hex}``    the request payload as lowercase hex (may be empty)
``{timeout}``        seconds: the client's deadline for the whole call
``{attempts}``       the claimed number of UDP attempts
``{initial_timeout}`` the claimed first UDP timeout, seconds
``{max_timeout}``    the claimed cap on a UDP timeout, seconds
``{ca}``             secure profiles: the CA file to trust (``tls://`` calls)
``{key_file}``       secure profiles: the RRP/1-S key file (``sudp://`` calls)
``{key_id}``         secure profiles: the key ID in it
==================== ===========================================================

The retry placeholders let a template pass the claimed retry settings to the client, so
that what the suite verifies is what the client was told to do. The secure ones are
empty in plain calls; ``{url}`` then starts ``tls://`` or ``sudp://``.
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass

from rrp_spec import RetryPolicy, Transport
from rrp_spec.addresses import format_url

#: Every placeholder a template may use.
PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "transport",
        "host",
        "port",
        "url",
        "op",
        "payload_hex",
        "timeout",
        "attempts",
        "initial_timeout",
        "max_timeout",
        "ca",
        "key_file",
        "key_id",
    }
)


class TemplateError(ValueError):
    """The command template cannot be used; the message is one sentence for the user."""


@dataclass(frozen=True, slots=True)
class CallParameters:
    """What one run of the client under test is asked to do."""

    transport: Transport
    host: str
    port: int
    operation: int
    payload: bytes
    #: The client's deadline for the whole call, seconds.
    timeout: float
    #: The claimed retry schedule (filled into ``{attempts}``, ``{initial_timeout}``, ``{max_timeout}``).
    retry: RetryPolicy
    #: ``tls`` or ``sudp`` for a call of a secure profile; ``None`` for plain RRP/1 over ``transport``.
    profile: str | None = None
    #: The CA file (``tls``), the key file and key ID (``sudp``).
    ca: str = ""
    key_file: str = ""
    key_id: str = ""

    @property
    def url(self) -> str:
        """``udp://127.0.0.1:4000`` (``tls://``, ``sudp://`` for the secure profiles); IPv6 hosts in brackets."""
        plain = format_url(self.transport, (self.host, self.port))
        return plain if self.profile is None else f"{self.profile}://{plain.split('://', 1)[1]}"

    def fields(self) -> dict[str, str]:
        """The value of every placeholder."""
        return {
            "transport": str(self.transport),
            "host": self.host,
            "port": str(self.port),
            "url": self.url,
            "op": str(self.operation),
            "payload_hex": self.payload.hex(),
            "timeout": _seconds(self.timeout),
            "attempts": str(self.retry.max_attempts),
            "initial_timeout": _seconds(self.retry.initial_timeout),
            "max_timeout": _seconds(self.retry.max_timeout),
            "ca": self.ca,
            "key_file": self.key_file,
            "key_id": self.key_id,
        }


def _seconds(value: float) -> str:
    # Short and exact enough for any client's float parser; never exponent notation.
    return f"{value:.3f}".rstrip("0").rstrip(".")


@dataclass(frozen=True, slots=True)
class CommandTemplate:
    """A parsed, validated command template."""

    #: The template as the user wrote it.
    text: str
    words: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> CommandTemplate:
        """Split and validate ``text``; raises :class:`TemplateError` saying what is wrong."""
        try:
            words = tuple(shlex.split(text))
        except ValueError as exc:
            raise TemplateError(f"the client command cannot be split into words: {exc}") from None
        if not words:
            raise TemplateError("the client command is empty")
        used: set[str] = set()
        for word in words:
            try:
                parsed = list(string.Formatter().parse(word))
            except ValueError as exc:
                raise TemplateError(f"the client command word {word!r} is not a valid template: {exc}") from None
            for _, name, spec, conversion in parsed:
                if name is None:
                    continue
                if name not in PLACEHOLDERS:
                    known = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
                    raise TemplateError(f"the client command uses {{{name}}}, which is not one of {known}")
                if spec or conversion:
                    raise TemplateError(f"the client command's {{{name}}} must not carry a format spec or conversion")
                used.add(name)
        if not used & {"url", "port"}:
            raise TemplateError("the client command must use {url} or {port}, or it cannot reach the suite's server")
        return cls(text, words)

    def render(self, fields: Mapping[str, str]) -> tuple[str, ...]:
        """The argument vector for one run."""
        return tuple(word.format_map(fields) for word in self.words)
