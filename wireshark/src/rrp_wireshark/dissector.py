"""Generate the Lua dissector for Wireshark and tshark from rrp_spec.

The template (``template.lua``) holds the dissection logic; every field, name,
code, flag bit, size, limit and requirement ID it uses is filled in here from the
spec: the header fields from :data:`rrp_spec.HEADER_LAYOUT` (name, offset, width,
documentation), the operation and result names from the enums, the expert infos
from :data:`rrp_wireshark.experts.EXPERT_RULES`. Nothing in the output is typed by
hand, so the dissector changes when the spec does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import version
from string import Template

from rrp_spec import (
    AMPLIFICATION_FACTOR,
    APPLICATION_RANGE_START,
    COUNTER_SIZE,
    DEFAULT_PORT,
    DEFAULT_TCP_MAX_PAYLOAD,
    HEADER_LAYOUT,
    HEADER_SIZE,
    MAGIC,
    MAX_UDP_PAYLOAD,
    RESERVED_FLAG_BITS,
    VERSION,
    FieldLayout,
    Flag,
    Op,
    Result,
)
from rrp_spec.secure_wire import (
    DEFAULT_SECURE_PORT,
    SECURE_HEADER_LAYOUT,
    SECURE_HEADER_SIZE,
    SECURE_MAGIC,
    SECURE_VERSION,
    SEQUENCE_TICKS_PER_SECOND,
    TAG_SIZE,
    TLS_ALPN,
)
from rrp_spec.wire import MESSAGE_STRUCT

from .experts import EXPERT_RULES, SECURE_EXPERT_RULES, ExpertRule, check_rules

#: The dissector's protocol name, the root of every filter field (``rrp.request_id``).
PROTOCOL = "rrp"
#: The secure UDP profile's protocol name (``rrps.key_id``).
SECURE_PROTOCOL = "rrps"

#: ProtoField constructor of each struct code of :class:`rrp_spec.FieldLayout`.
_PROTOFIELD = {"B": "uint8", "H": "uint16", "L": "uint32", "Q": "uint64"}
#: How integer fields are shown; identifiers and bit fields read best in hex, counts in decimal.
_BASE = {"flags": "base.HEX", "operation": "base.HEX", "request_id": "base.HEX", "key_id": "base.DEC"}
#: Fields shown with a name table.
_NAMES = {"operation": "OPERATIONS", "result": "RESULTS"}
#: Words written in capitals in a field's display name.
_ACRONYMS = {"id": "ID"}


@dataclass(frozen=True, slots=True)
class DissectorField:
    """One field of the generated dissector: its Lua key, filter name and constructor call."""

    key: str
    abbreviation: str
    constructor: str
    #: What the field shows, as Wireshark's field reference and the site describe it.
    description: str


def _lua_string(text: str) -> str:
    """A Lua string literal (JSON's escapes are valid Lua for the printable text the spec uses)."""
    return json.dumps(text, ensure_ascii=True)


def _display_name(name: str) -> str:
    words = [_ACRONYMS.get(word, word) for word in name.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def _header_field(field: FieldLayout, protocol: str = PROTOCOL) -> DissectorField:
    abbreviation = f"{protocol}.{field.name}"
    name, doc = _lua_string(_display_name(field.name)), _lua_string(field.doc)
    if field.struct_code.endswith("s"):
        call = f"ProtoField.bytes({_lua_string(abbreviation)}, {name}, base.NONE, {doc})"
    else:
        kind = _PROTOFIELD[field.struct_code]
        base = _BASE.get(field.name, "base.DEC")
        names = _NAMES.get(field.name, "nil")
        call = f"ProtoField.{kind}({_lua_string(abbreviation)}, {name}, {base}, {names}, nil, {doc})"
    return DissectorField(field.name, abbreviation, call, field.doc)


def _field(key: str, abbreviation: str, call: str, *arguments: str, protocol: str = PROTOCOL) -> DissectorField:
    """A field beyond the header's; its last argument is its description."""
    full = f"{protocol}.{abbreviation}"
    constructor = f"ProtoField.{call}({', '.join([_lua_string(full), *arguments])})"
    return DissectorField(key, full, constructor, json.loads(arguments[-1]))


def _flag_bits(layout: tuple[FieldLayout, ...], protocol: str) -> tuple[DissectorField, DissectorField]:
    """The REPLY bit and the reserved bits of ``protocol``'s flags byte (the same in RRP/1 and RRP/1-S)."""
    flags = next(f for f in layout if f.name == "flags")
    reply = _field(
        "flags_reply",
        "flags.reply",
        "bool",
        _lua_string(Flag.REPLY.name),
        str(8 * flags.size),
        "nil",
        f"0x{int(Flag.REPLY):02x}",
        _lua_string("set in replies, clear in requests"),
        protocol=protocol,
    )
    reserved = _field(
        "flags_reserved",
        "flags.reserved",
        "uint8",
        _lua_string("Reserved bits"),
        "base.HEX",
        "nil",
        f"0x{RESERVED_FLAG_BITS:02x}",
        _lua_string("reserved, MUST be 0"),
        protocol=protocol,
    )
    return reply, reserved


def dissector_fields() -> tuple[DissectorField, ...]:
    """Every field the dissector shows: the header's, the flag bits, the payload, and the matching fields."""
    payload_doc = next(s for s in MESSAGE_STRUCT.subcons if s.name == "payload").docs
    return (
        *(_header_field(f) for f in HEADER_LAYOUT),
        *_flag_bits(HEADER_LAYOUT, PROTOCOL),
        _field("payload", "payload", "bytes", _lua_string("Payload"), "base.NONE", _lua_string(payload_doc)),
        _field(
            "counter",
            "counter",
            "uint64",
            _lua_string("Counter"),
            "base.DEC",
            "nil",
            "nil",
            _lua_string(f"the server's counter after {Op.INCREMENT.name}, a big-endian u{8 * COUNTER_SIZE}"),
        ),
        _field(
            "request_in",
            "request_in",
            "framenum",
            _lua_string("Request in"),
            "base.NONE",
            "frametype.REQUEST",
            "nil",
            _lua_string("the frame of the request this reply answers (same conversation, same request ID)"),
        ),
        _field(
            "response_in",
            "response_in",
            "framenum",
            _lua_string("Response in"),
            "base.NONE",
            "frametype.RESPONSE",
            "nil",
            _lua_string("the frame of the first reply to this request"),
        ),
        _field(
            "time",
            "time",
            "relative_time",
            _lua_string("Time"),
            _lua_string("time from the request to this reply"),
        ),
        _field(
            "retransmission_of",
            "retransmission_of",
            "framenum",
            _lua_string("Retransmission of"),
            "base.NONE",
            "frametype.NONE",
            "nil",
            _lua_string("the previous request with this ID in this conversation"),
        ),
        _field(
            "amplification",
            "amplification",
            "double",
            _lua_string("Amplification"),
            _lua_string("reply datagram bytes per request datagram byte"),
        ),
    )


def secure_fields() -> tuple[DissectorField, ...]:
    """Every field of the RRP/1-S dissector: the clear header's, its flag bits, and the protected part."""
    on = {"protocol": SECURE_PROTOCOL}
    return (
        *(_header_field(f, SECURE_PROTOCOL) for f in SECURE_HEADER_LAYOUT),
        *_flag_bits(SECURE_HEADER_LAYOUT, SECURE_PROTOCOL),
        _field(
            "sequence_time",
            "sequence.time",
            "absolute_time",
            _lua_string("Sequence as a time"),
            "base.UTC",
            _lua_string("the sequence number read as microseconds since the Unix epoch"),
            **on,
        ),
        _field(
            "protected",
            "protected",
            "bytes",
            _lua_string("Protected part"),
            "base.NONE",
            _lua_string(
                "the sealed RRP/1 message and its tag: encrypted and authenticated, readable only with the key"
            ),
            **on,
        ),
        _field(
            "ciphertext",
            "ciphertext",
            "bytes",
            _lua_string("Ciphertext"),
            "base.NONE",
            _lua_string("the RRP/1 message, encrypted with ChaCha20-Poly1305; as long as the message"),
            **on,
        ),
        _field(
            "tag",
            "tag",
            "bytes",
            _lua_string("Tag"),
            "base.NONE",
            _lua_string(f"the {TAG_SIZE}-byte Poly1305 authentication tag"),
            **on,
        ),
    )


def _lua_bytes(data: bytes) -> str:
    return "".join(f"\\{b}" for b in data)


def _names(members: type[Op] | type[Result]) -> str:
    return "\n".join(f"    [{int(m)}] = {_lua_string(m.name)}," for m in members)


def _expert_lines(rules: tuple[ExpertRule, ...], table: str) -> tuple[str, str]:
    definitions = []
    for rule in rules:
        arguments = ", ".join(
            [
                _lua_string(rule.abbreviation),
                _lua_string(rule.message),
                f"expert.group.{rule.group}",
                f"expert.severity.{rule.severity}",
            ]
        )
        definitions.append(f"    {rule.key} = ProtoExpert.new({arguments}),")
    listing = "\n".join(f"    {table}.{rule.key}," for rule in rules)
    return "\n".join(definitions), listing


def render_dissector() -> str:
    """The whole Lua dissector."""
    check_rules()
    fields = dissector_fields()
    experts, expert_list = _expert_lines(EXPERT_RULES, "experts")
    package = resources.files(__package__)
    plain = Template(package.joinpath("template.lua").read_text())
    secure = Template(package.joinpath("secure.lua").read_text())
    secure_experts, secure_expert_list = _expert_lines(SECURE_EXPERT_RULES, "secure_experts")
    return plain.substitute(
        spec_version=version("rrp-spec"),
        protocol_title="RRP/1, the Request/Reply Protocol",
        header_size=HEADER_SIZE,
        magic=_lua_bytes(MAGIC),
        version=VERSION,
        default_port=DEFAULT_PORT,
        reply_flag=int(Flag.REPLY),
        reserved_flag_bits=RESERVED_FLAG_BITS,
        amplification_factor=AMPLIFICATION_FACTOR,
        max_udp_payload=MAX_UDP_PAYLOAD,
        counter_size=COUNTER_SIZE,
        application_range_start=APPLICATION_RANGE_START,
        op_increment=int(Op.INCREMENT),
        result_ok=int(Result.OK),
        offsets=", ".join(f"{f.name} = {f.offset}" for f in HEADER_LAYOUT),
        widths=", ".join(f"{f.name} = {f.size}" for f in HEADER_LAYOUT),
        operations=_names(Op),
        results=_names(Result),
        fields="\n".join(f"    {f.key} = {f.constructor}," for f in fields),
        field_list="\n".join(f"    hf.{f.key}," for f in fields),
        experts=experts,
        expert_list=expert_list,
        default_tcp_max_payload=DEFAULT_TCP_MAX_PAYLOAD,
    ) + secure.substitute(
        secure_title="RRP/1-S, RRP over UDP with authenticated encryption",
        secure_magic=_lua_bytes(SECURE_MAGIC),
        secure_version=SECURE_VERSION,
        secure_header_size=SECURE_HEADER_SIZE,
        tag_size=TAG_SIZE,
        secure_port=DEFAULT_SECURE_PORT,
        sequence_ticks=SEQUENCE_TICKS_PER_SECOND,
        secure_offsets=", ".join(f"{f.name} = {f.offset}" for f in SECURE_HEADER_LAYOUT),
        secure_widths=", ".join(f"{f.name} = {f.size}" for f in SECURE_HEADER_LAYOUT),
        secure_fields="\n".join(f"    {f.key} = {f.constructor}," for f in secure_fields()),
        secure_field_list="\n".join(f"    shf.{f.key}," for f in secure_fields()),
        secure_experts=secure_experts,
        secure_expert_list=secure_expert_list,
        tls_alpn=TLS_ALPN,
    )
