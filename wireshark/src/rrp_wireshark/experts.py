"""Every rule the dissector can see a single message break, with the requirements it names.

Each rule becomes one ``ProtoExpert`` of the generated dissector; the Lua template
raises it by its key (``experts.bad_magic``). The message shown in Wireshark ends
with the requirement IDs, so a reader goes straight from a flagged packet to the
rule on the site. IDs are checked against the catalogue when the dissector is
generated: a renamed requirement cannot leave a stale ID behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rrp_spec import AMPLIFICATION_FACTOR, HEADER_SIZE, MAGIC, VERSION, requirement
from rrp_spec.secure_wire import SECURE_HEADER_SIZE, SECURE_MAGIC, SECURE_VERSION, TAG_SIZE


class Severity(StrEnum):
    """Wireshark's expert severities, as the Lua API names them (``expert.severity.ERROR``)."""

    ERROR = "ERROR"
    WARN = "WARN"
    NOTE = "NOTE"


class Group(StrEnum):
    """Wireshark's expert groups, as the Lua API names them (``expert.group.MALFORMED``)."""

    MALFORMED = "MALFORMED"
    PROTOCOL = "PROTOCOL"
    SEQUENCE = "SEQUENCE"
    REASSEMBLE = "REASSEMBLE"


@dataclass(frozen=True, slots=True)
class ExpertRule:
    """One expert info of the dissector."""

    #: The Lua key and the last part of the filter name (``rrp.expert.<key>``).
    key: str
    #: What is wrong, in a few words.
    summary: str
    #: The requirement IDs it breaks (or, for server-only rules, that say how a server reacts).
    requirements: tuple[str, ...]
    severity: Severity = Severity.ERROR
    group: Group = Group.PROTOCOL
    #: The dissector that raises it: ``rrp``, or ``rrps`` for the secure UDP profile's datagrams.
    protocol: str = "rrp"

    @property
    def message(self) -> str:
        """The text Wireshark shows: the summary and the requirement IDs."""
        return f"{self.summary} ({', '.join(self.requirements)})"

    @property
    def abbreviation(self) -> str:
        """The display-filter name, e.g. ``rrp.expert.bad_magic``."""
        return f"{self.protocol}.expert.{self.key}"


_MAGIC_TEXT = MAGIC.decode("ascii")

#: Every expert info, in the order the dissector checks a message.
EXPERT_RULES: tuple[ExpertRule, ...] = (
    ExpertRule(
        "short",
        f"Shorter than the {HEADER_SIZE}-byte header: a server drops it",
        ("MSG-1", "UDP-SRV-1"),
        group=Group.MALFORMED,
    ),
    ExpertRule(
        "bad_magic",
        f'Magic is not "{_MAGIC_TEXT}": not RRP; a server drops it (UDP) or closes the connection (TCP)',
        ("MSG-2", "UDP-SRV-2", "TCP-SRV-3"),
        group=Group.MALFORMED,
    ),
    ExpertRule(
        "bad_version",
        f"Version is not {VERSION}: a server answers UNSUPPORTED_VERSION",
        ("MSG-2", "SRV-2"),
    ),
    ExpertRule(
        "reserved_flags",
        "Reserved flag bits set: a server answers MALFORMED",
        ("MSG-3", "SRV-3"),
    ),
    ExpertRule(
        "result_in_request",
        "Result set in a request: a server answers MALFORMED",
        ("CLI-2", "SRV-4"),
    ),
    ExpertRule(
        "request_id_zero",
        "Request ID 0: a server answers MALFORMED",
        ("CLI-1", "SRV-5"),
    ),
    ExpertRule(
        "reserved_operation",
        "Reserved operation: a server answers UNKNOWN_OPERATION",
        ("SRV-6",),
        severity=Severity.WARN,
    ),
    ExpertRule(
        "increment_payload",
        "INCREMENT with a payload: a server answers MALFORMED",
        ("CLI-2", "SRV-7"),
    ),
    ExpertRule(
        "udp_length",
        f"UDP datagram length is not {HEADER_SIZE} + size: a server answers SIZE_MISMATCH",
        ("MSG-4", "UDP-SRV-3"),
        group=Group.MALFORMED,
    ),
    ExpertRule(
        "size_over_limit",
        "Size above the reference TCP payload limit (the rrp.max_tcp_payload preference): payload not reassembled; "
        "a server with that limit answers TOO_LARGE and closes",
        ("SRV-8", "TCP-SRV-4"),
        severity=Severity.WARN,
        group=Group.REASSEMBLE,
    ),
    ExpertRule(
        "error_payload",
        "Error reply with a payload: an error reply is a bare header",
        ("SRV-13",),
    ),
    ExpertRule(
        "counter_size",
        "OK reply to INCREMENT without an 8-byte counter",
        ("SRV-11",),
    ),
    ExpertRule(
        "operation_mismatch",
        "Reply's operation is not its request's",
        ("SRV-12", "CLI-3"),
    ),
    ExpertRule(
        "reply_flag_clear",
        "REPLY flag clear in an answer: a request the other way carries this ID",
        ("SRV-12", "CLI-3"),
    ),
    ExpertRule(
        "amplification",
        f"UDP reply datagram larger than {AMPLIFICATION_FACTOR} times its request's",
        ("UDP-SRV-5",),
    ),
    ExpertRule(
        "unmatched_reply",
        "Reply to no request seen in this conversation: a client ignores it; a server never answers a reply",
        ("SRV-12", "CLI-3", "UDP-CLI-2", "SRV-1"),
        severity=Severity.WARN,
        group=Group.SEQUENCE,
    ),
    ExpertRule(
        "retransmission",
        "Retransmission: a request ID already sent in this conversation",
        ("UDP-CLI-3", "UDP-SRV-7"),
        severity=Severity.NOTE,
        group=Group.SEQUENCE,
    ),
)

_SECURE_MINIMUM = SECURE_HEADER_SIZE + HEADER_SIZE + TAG_SIZE

#: Every expert info of the RRP/1-S dissector: what can be judged from a clear header without the key.
SECURE_EXPERT_RULES: tuple[ExpertRule, ...] = (
    ExpertRule(
        "short",
        f"Shorter than a clear header, an RRP/1 header and a tag ({_SECURE_MINIMUM} bytes): a server drops it",
        ("SUDP-1", "SUDP-SRV-1"),
        group=Group.MALFORMED,
        protocol="rrps",
    ),
    ExpertRule(
        "bad_magic",
        f'Magic is not "{SECURE_MAGIC.decode("ascii")}": a server drops it',
        ("SUDP-1", "SUDP-SRV-1"),
        group=Group.MALFORMED,
        protocol="rrps",
    ),
    ExpertRule(
        "bad_version",
        f"Secure profile version is not {SECURE_VERSION}: a server drops it",
        ("SUDP-SRV-1",),
        protocol="rrps",
    ),
    ExpertRule(
        "reserved_flags",
        "Reserved flag bits set: a server drops it",
        ("SUDP-SRV-1",),
        protocol="rrps",
    ),
    ExpertRule(
        "key_id_zero",
        "Key ID 0 is reserved and names no key: a server drops it",
        ("SUDP-SRV-1",),
        protocol="rrps",
    ),
)

#: The rules by key.
BY_KEY: dict[str, ExpertRule] = {rule.key: rule for rule in EXPERT_RULES}


def check_rules() -> None:
    """Raise ``KeyError`` when a rule names a requirement the catalogue does not have."""
    for rule in (*EXPERT_RULES, *SECURE_EXPERT_RULES):
        for rid in rule.requirements:
            requirement(rid)
