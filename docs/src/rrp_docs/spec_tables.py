"""Tables of the specification page: header fields, flags, operations, result codes, registries, limits.

Every value comes from :mod:`rrp_spec`; every description from the ``#:`` comment or
construct doc string it is defined with.
"""

from __future__ import annotations

from enum import IntEnum

from rrp_spec import (
    APPLICATION_RANGE_END,
    APPLICATION_RANGE_START,
    HEADER_LAYOUT,
    RESERVED_FLAG_BITS,
    Flag,
    Op,
    Result,
    limits,
    reference_defaults,
    secure_wire,
    wire,
)

from .markdown import cell, code, hex_int, table
from .source_docs import assignment_source, documented_names

#: Hex digits of a 16-bit code.
_CODE_DIGITS = 4


#: The headers the site lays out: RRP/1's, and the clear header of RRP/1-S (module, construct name, layout,
#: what follows the header).
HEADERS = {
    "rrp": (wire, "HEADER_STRUCT", HEADER_LAYOUT, "followed by `size` payload bytes"),
    "secure": (
        secure_wire,
        "SECURE_HEADER_STRUCT",
        secure_wire.SECURE_HEADER_LAYOUT,
        f"followed by the sealed RRP/1 message and its {secure_wire.TAG_SIZE}-byte tag",
    ),
}


def header_table(which: str = "rrp") -> str:
    """A header, field by field: offset, size, type, name, meaning."""
    _, _, layout, after = HEADERS[which]
    rows = [[str(f.offset), str(f.size), code(f.type_name), f"`{f.name}`", cell(f.doc)] for f in layout]
    size = sum(f.size for f in layout)
    rows.append(["", str(size), "", "", f"**{size} bytes in all**, {after}"])
    return table(["Offset", "Size", "Type", "Field", "Meaning"], rows)


def header_source(which: str = "rrp") -> str:
    """The construct definition of a header, as written in its module: what the table is computed from."""
    module, name, _, _ = HEADERS[which]
    return f"```python\n{assignment_source(module, name)}\n```"


def flag_table() -> str:
    """Bits of the flags field."""
    docs = documented_names(Flag)
    rows = [[hex_int(int(bit), 2), f"`{bit.name}`", cell(docs.get(bit.name or "", ""))] for bit in Flag]
    reserved = [n for n in range(8) if RESERVED_FLAG_BITS >> n & 1]
    rows.append(
        [
            hex_int(RESERVED_FLAG_BITS, 2),
            f"bits {reserved[0]}-{reserved[-1]}",
            "Reserved: a sender MUST set them to 0; a server answers a request with any of them set with MALFORMED.",
        ]
    )
    return table(["Mask", "Bit", "Meaning"], rows)


def _code_rows(codes: type[IntEnum]) -> list[list[str]]:
    docs = documented_names(codes)
    return [[hex_int(int(c), _CODE_DIGITS), str(int(c)), f"`{c.name}`", cell(docs[c.name])] for c in codes]


def operation_table() -> str:
    """The operations RRP/1 defines."""
    return table(["Code", "Decimal", "Operation", "Meaning"], _code_rows(Op))


def result_table() -> str:
    """The result codes RRP/1 defines."""
    return table(["Code", "Decimal", "Result", "Meaning"], _code_rows(Result))


def registry_table(codes: type[IntEnum], noun: str) -> str:
    """An IANA-style registry of a 16-bit code space: defined values, the reserved gap, the application range."""
    defined = sorted(int(c) for c in codes)
    first_free = defined[-1] + 1
    rows = [[hex_int(int(c), _CODE_DIGITS), f"`{c.name}`", "RRP/1 (this document)", "Assigned"] for c in codes]
    rows.append(
        [
            f"{hex_int(first_free, _CODE_DIGITS)}-{hex_int(APPLICATION_RANGE_START - 1, _CODE_DIGITS)}",
            "Unassigned",
            "A future version of this specification",
            "Standards Action (RFC 8126 section 4.9): assigned only by a new version of this specification; "
            "MUST NOT be used until assigned",
        ]
    )
    rows.append(
        [
            f"{hex_int(APPLICATION_RANGE_START, _CODE_DIGITS)}-{hex_int(APPLICATION_RANGE_END, _CODE_DIGITS)}",
            f"Application-defined {noun}",
            "Each deployment",
            "Private Use (RFC 8126 section 4.1): never registered, meaning agreed between the peers",
        ]
    )
    return table(["Value", "Name", "Defined by", "Policy"], rows)


def _format_limit(name: str, value: object) -> str:
    """A limit's value for a reader: seconds for floats, grouped digits, and binary units for sizes in bytes."""
    if isinstance(value, bytes):
        return code(repr(value)) + " (" + " ".join(f"0x{b:02x}" for b in value) + ")"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"no rendering for limit value {value!r}")
    if isinstance(value, float):
        # Every float in rrp_spec.limits and rrp_spec.reference_defaults is a duration in seconds.
        return f"{value:g} s"
    if name.endswith("_PORT"):  # a port number is a name, not a quantity: no digit grouping
        return str(value)
    text = f"{value:,}".replace(",", " ")
    if not name.endswith(("_PAYLOAD", "_BYTES", "_SIZE", "_BUDGET")):  # a count of connections is not 1 KiB of anything
        return text
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if value >= 1 << shift and value % (1 << shift) == 0:
            return f"{text} ({value >> shift} {unit})"
    return text


def limits_table(*, defaults: bool) -> str:
    """The normative limits (:mod:`rrp_spec.limits`), or with ``defaults`` the reference implementation's
    defaults that the spec quotes (:mod:`rrp_spec.reference_defaults`): two modules, so never mixed up."""
    module = reference_defaults if defaults else limits
    rows = []
    for name, doc in documented_names(module).items():
        value = getattr(module, name)
        if isinstance(value, limits.RetryPolicy):  # the schedule has tables of its own
            continue
        rows.append([f"`{name}`", _format_limit(name, value), cell(doc)])
    return table(["Name", "Value", "Meaning"], rows)


def secure_vector_table() -> str:
    """The RRP/1-S vectors: derived keys, the sealed request and reply, and each tampered datagram's fate."""
    from rrp_spec.secure_vectors import build_secure_vectors  # needs the cryptography package

    document = build_secure_vectors()
    rows = [
        ["master secret", f"`{document['master_secret_hex']}`"],
        ["key ID", f"`{document['key_id']}`"],
        *[[name.removesuffix("_hex").replace("_", " "), f"`{value}`"] for name, value in document["derived"].items()],
    ]
    for side in ("request", "reply"):
        for name, value in document[side].items():
            rows.append([f"{side} {name.removesuffix('_hex').replace('_', ' ')}", f"`{value}`"])
    for vector in document["dropped"]:
        rows.append([cell(vector["description"]), f"dropped: `{vector['drop']}`"])
    return table(["Value", "Bytes (hex) or outcome"], rows)
