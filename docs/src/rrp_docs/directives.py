"""Expanding the page sources' directives into Markdown computed from the spec.

Three forms, all expanded before Markdown sees the page:

* a line holding only ``<!-- rrp:NAME key=value key="quoted value" -->``: a generated block, indented
  like the directive;
* ``[[UDP-SRV-5]]``: a link to the requirement's anchor on the requirements page;
* ``{{ NAME }}`` or ``{{ NAME.attr:format }}``: a value of :mod:`rrp_spec` (or of :data:`EXTRA_VALUES`); the
  format ``KiB``, ``MiB`` or ``GiB`` writes a size in that unit (``{{ DEFAULT_MEMORY_BUDGET:MiB }}``: 256 MiB).

Anything unknown raises :class:`DirectiveError`, which fails the build.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping

import rrp_spec
from rrp_spec import DEFAULT_RETRY_POLICY, REQUIREMENTS, Op, Result, secure_wire

from . import (
    bench_pages,
    conformance_pages,
    diagrams,
    includes,
    precedence,
    reference_pages,
    requirement_tables,
    retry,
    spec_tables,
    timing_audit_table,
    wireshark_pages,
)
from . import vector_tables as vt
from .markdown import PageContext, requirement_link


class DirectiveError(ValueError):
    """A page uses a directive, requirement ID or value that does not exist, or misuses one."""


Generator = Callable[[Mapping[str, str], PageContext], str]


def _figure(svg: str, caption: str) -> str:
    return f'<figure class="rrp-figure" markdown="0">\n{svg}\n<figcaption>{caption}</figcaption>\n</figure>'


def _registry(args: Mapping[str, str], ctx: PageContext) -> str:
    kinds = {"operations": (Op, "operations"), "results": (Result, "result codes")}
    codes, noun = kinds[args["of"]]
    return spec_tables.registry_table(codes, noun)


#: Every block directive, by name.
BLOCKS: dict[str, Generator] = {
    "header-table": lambda a, c: spec_tables.header_table(a.get("header", "rrp")),
    "header-source": lambda a, c: spec_tables.header_source(a.get("header", "rrp")),
    "secure-vectors": lambda a, c: spec_tables.secure_vector_table(),
    "secure-packet-diagram": lambda a, c: _figure(
        diagrams.packet_diagram(
            secure_wire.SECURE_HEADER_LAYOUT,
            f"sealed RRP/1 message, then the {secure_wire.TAG_SIZE}-byte tag",
            f"RRP/1-S clear header: {secure_wire.SECURE_HEADER_SIZE} bytes, 32 bits per row",
        ),
        a.get("caption", ""),
    ),
    "packet-diagram": lambda a, c: _figure(diagrams.packet_diagram(), a.get("caption", "")),
    "flag-table": lambda a, c: spec_tables.flag_table(),
    "operation-table": lambda a, c: spec_tables.operation_table(),
    "result-table": lambda a, c: spec_tables.result_table(),
    "registry": _registry,
    "limits": lambda a, c: spec_tables.limits_table(defaults={"protocol": False, "defaults": True}[a["kind"]]),
    "precedence": lambda a, c: precedence.precedence_table(c),
    "retry-table": lambda a, c: retry.schedule_table(DEFAULT_RETRY_POLICY),
    "retry-timeline": lambda a, c: _figure(diagrams.retry_timeline(DEFAULT_RETRY_POLICY), a.get("caption", "")),
    "dedup-window": lambda a, c: retry.dedup_derivation(DEFAULT_RETRY_POLICY),
    "requirements": lambda a, c: requirement_tables.requirement_list(a["area"], c),
    "catalogue": lambda a, c: requirement_tables.catalogue_tables(conformance_pages.checks_by_requirement()),
    "catalogue-summary": lambda a, c: requirement_tables.catalogue_summary(),
    "vectors": lambda a, c: vt.vector_table(a["group"], c),
    "hex-legend": lambda a, c: vt.hex_legend(),
    "cli-usage": lambda a, c: reference_pages.cli_usage(),
    "server-settings": lambda a, c: reference_pages.server_settings_table(),
    "api-reference": lambda a, c: reference_pages.api_reference(a["package"], root_members=a.get("root") == "members"),
    "conformance-checks": lambda a, c: conformance_pages.checks_by_area(c),
    "conformance-cli": lambda a, c: conformance_pages.cli_usage(),
    "conformance-outcomes": lambda a, c: conformance_pages.outcome_table(),
    "conformance-timing": lambda a, c: timing_audit_table.timing_audit(c),
    "include": lambda a, c: includes.include(a["path"], int(a.get("shift", "0")), a.get("section")),
    "example": lambda a, c: includes.code_region(a["path"], a["region"]),
    "conformance-report": lambda a, c: conformance_pages.reference_report(c),
    "bench": lambda a, c: bench_pages.bench_table(a["table"]),
    "bench-summary": lambda a, c: bench_pages.summary(c),
    "bench-chart": lambda a, c: bench_pages.chart(c),
    "bench-secure": lambda a, c: bench_pages.secure_table(),
    "rrp-load-usage": lambda a, c: bench_pages.load_usage(),
    "wireshark-fields": lambda a, c: wireshark_pages.fields_table(secure=a.get("profile") == "secure"),
    "wireshark-experts": lambda a, c: wireshark_pages.experts_table(c, secure=a.get("profile") == "secure"),
    "wireshark-decoded": lambda a, c: wireshark_pages.decoded_exchange(a["check"]),
}

#: Values ``{{ ... }}`` may name besides the attributes of :mod:`rrp_spec`.
EXTRA_VALUES: dict[str, Callable[[], object]] = {
    "VECTOR_COUNT": vt.vector_count,
    "REQUIREMENT_COUNT": lambda: len(REQUIREMENTS),
}

_BLOCK = re.compile(r"^([ \t]*)<!--[ \t]*rrp:([a-z-]+)(.*?)-->[ \t]*$", re.MULTILINE)
_REQUIREMENT = re.compile(r"\[\[([A-Z]+(?:-[A-Z]+)?-\d+)\]\]")
_VALUE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?::\s*([^}]*?))?\s*\}\}")


def _block(match: re.Match[str], ctx: PageContext) -> str:
    indent, name, raw_args = match.group(1), match.group(2), match.group(3)
    if name not in BLOCKS:
        raise DirectiveError(f"unknown directive rrp:{name}")
    args: dict[str, str] = {}
    for token in shlex.split(raw_args):
        key, sep, value = token.partition("=")
        if not sep:
            raise DirectiveError(f"rrp:{name}: argument {token!r} is not key=value")
        args[key] = value
    try:
        generated = BLOCKS[name](args, ctx)
    except KeyError as missing:
        raise DirectiveError(f"rrp:{name} {raw_args.strip()}: {missing}") from None
    # A directive indented into an admonition or list item keeps all its lines at that indentation.
    return "\n".join(indent + line if line else line for line in generated.splitlines())


def value_of(dotted: str) -> object:
    """The value ``{{ dotted }}`` names."""
    head, _, rest = dotted.partition(".")
    if head in EXTRA_VALUES and not rest:
        return EXTRA_VALUES[head]()
    if head not in rrp_spec.__all__:
        raise DirectiveError(f"{{{{ {dotted} }}}}: {head} is not exported by rrp_spec")
    value: object = getattr(rrp_spec, head)
    for attribute in rest.split(".") if rest else ():
        if not hasattr(value, attribute):
            raise DirectiveError(f"{{{{ {dotted} }}}}: no attribute {attribute!r}")
        value = getattr(value, attribute)
    return value


#: ``{{ NAME:MiB }}``: a size in bytes in a binary unit, which it must divide exactly.
_BINARY_UNITS = {"KiB": 10, "MiB": 20, "GiB": 30}


def _value(match: re.Match[str]) -> str:
    value = value_of(match.group(1))
    spec = match.group(2) or ""
    if isinstance(value, int) and not spec:
        return str(int(value))  # IntEnum members render as their number unless asked otherwise
    if spec in _BINARY_UNITS:
        shift = _BINARY_UNITS[spec]
        if not isinstance(value, int) or value % (1 << shift):
            raise DirectiveError(f"{match.group(0)}: {value!r} is not a whole number of {spec}")
        return f"{value >> shift} {spec}"
    try:
        return format(value, spec)
    except (TypeError, ValueError) as error:
        raise DirectiveError(f"{match.group(0)}: {error}") from None


def _link(match: re.Match[str], ctx: PageContext) -> str:
    try:
        return requirement_link(match.group(1), ctx)
    except KeyError as error:
        raise DirectiveError(str(error)) from None


def expand(markdown: str, ctx: PageContext) -> str:
    """The page's Markdown with every directive replaced by what it generates."""
    markdown = _BLOCK.sub(lambda m: _block(m, ctx), markdown)
    markdown = _REQUIREMENT.sub(lambda m: _link(m, ctx), markdown)
    return _VALUE.sub(_value, markdown)
