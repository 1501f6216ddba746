"""The generators on their own: directives, values, links, and tables computed from the spec."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rrp_docs import (
    bench_pages,
    conformance_pages,
    diagrams,
    includes,
    precedence,
    reference_pages,
    retry,
    source_docs,
    spec_tables,
    sphinx_roles,
    table_labels,
    vector_tables,
)
from rrp_docs.directives import DirectiveError, expand
from rrp_docs.markdown import PageContext, requirement_link
from rrp_spec import (
    DEFAULT_MEMORY_BUDGET,
    DEFAULT_RETRY_POLICY,
    HEADER_LAYOUT,
    HEADER_SIZE,
    MAX_SMALL_PAYLOAD,
    MIN_DEDUP_WINDOW,
    REQUIREMENTS,
    Op,
    Result,
    RetryPolicy,
    limits,
)

REPO = Path(__file__).resolve().parents[2]
SPEC_PAGE = PageContext("specification.md")


def test_values_come_from_the_spec_with_format_specs() -> None:
    text = expand("{{ HEADER_SIZE }} {{ Op.ECHO:#06x }} {{ Op.ECHO.name }} {{ MIN_DEDUP_WINDOW:g }}", SPEC_PAGE)
    assert text == f"{HEADER_SIZE} {int(Op.ECHO):#06x} ECHO {MIN_DEDUP_WINDOW:g}"


def test_sizes_render_in_the_binary_unit_asked_for() -> None:
    text = expand("{{ DEFAULT_MEMORY_BUDGET:MiB }} {{ MAX_SMALL_PAYLOAD:KiB }}", SPEC_PAGE)
    assert text == f"{DEFAULT_MEMORY_BUDGET >> 20} MiB {MAX_SMALL_PAYLOAD >> 10} KiB"


@pytest.mark.parametrize(
    "source",
    [
        "{{ NO_SUCH_CONSTANT }}",
        "{{ Op.NO_SUCH_OP }}",
        "{{ HEADER_SIZE:q }}",
        "{{ HEADER_SIZE:KiB }}",  # not a whole number of KiB
        "{{ MIN_DEDUP_WINDOW:MiB }}",  # not a size
        f"[[UDP-SRV-{len(REQUIREMENTS) + 1}]]",  # no area has that many requirements
        "<!-- rrp:no-such-directive -->",
        "<!-- rrp:requirements -->",
        "<!-- rrp:requirements area=NOPE -->",
        "<!-- rrp:vectors group=none -->",
    ],
)
def test_anything_unknown_fails_the_page(source: str) -> None:
    with pytest.raises(DirectiveError):
        expand(f"text\n{source}\nmore", SPEC_PAGE)


def test_requirement_links_are_relative_to_the_page() -> None:
    assert "(requirements.md#udp-srv-5 " in requirement_link("UDP-SRV-5", SPEC_PAGE)
    assert "(#udp-srv-5 " in requirement_link("UDP-SRV-5", PageContext("requirements.md"))
    assert "(../requirements.md#udp-srv-5 " in requirement_link("UDP-SRV-5", PageContext("guide/deep.md"))


def test_a_block_directive_keeps_the_blank_line_after_it() -> None:
    text = expand("<!-- rrp:flag-table -->\n\n## Next\n", SPEC_PAGE)
    assert text.endswith("|\n\n## Next\n")


def test_documented_names_reads_every_enum_member_in_order() -> None:
    assert list(source_docs.documented_names(Op)) == [op.name for op in Op]
    assert list(source_docs.documented_names(Result)) == [r.name for r in Result]
    assert all(source_docs.documented_names(Result).values())


def test_documented_names_skips_class_bodies_in_a_module() -> None:
    names = source_docs.documented_names(limits)
    assert "HEADER_SIZE" in names and "MIN_DEDUP_WINDOW" in names
    assert "initial_timeout" not in names  # a RetryPolicy field, not a module constant


def test_limits_tables_keep_protocol_and_reference_defaults_apart() -> None:
    """The spec page's two limits tables: normative values only, then the reference's defaults only."""
    protocol, defaults = spec_tables.limits_table(defaults=False), spec_tables.limits_table(defaults=True)
    assert "`MAX_REQUEST_DEADLINE`" in protocol and "`DEFAULT_" not in protocol
    assert "`DEFAULT_REQUEST_DEADLINE`" in defaults and "`MAX_" not in defaults
    assert "1 024 (1 KiB)" not in defaults  # a count of connections is not a size


def test_server_settings_table_lists_every_setting_with_its_flag() -> None:
    """The reference page's settings table is read from the one declaration: one row per setting."""
    from rrp._sansio.settings import SETTINGS

    rows = reference_pages.server_settings_table().splitlines()[2:]
    assert len(rows) == len(SETTINGS)
    assert all(f"<code>{entry.flag}</code>" in row for entry, row in zip(SETTINGS, rows, strict=True))


def test_precedence_rows_follow_the_spec_judge() -> None:
    table = precedence.precedence_table(SPEC_PAGE)
    body = table.splitlines()[2:]
    assert len(body) == len(precedence.PROBES) + 1
    assert "drop silently" in body[0] and "UDP-SRV-1" in body[0]
    version_row = next(row for row in body if "version is not" in row)
    assert "reply `UNSUPPORTED_VERSION`, then close" in version_row


def test_retry_schedule_adds_up_to_the_policy_spans() -> None:
    policy = RetryPolicy(initial_timeout=0.5, backoff=3, max_timeout=2, max_attempts=4, jitter_max=1.25)
    timings = retry.schedule(policy)
    assert [t.attempt for t in timings] == [1, 2, 3, 4]
    assert [t.base_timeout for t in timings] == [0.5, 1.5, 2, 2]
    assert timings[-1].earliest_expiry == pytest.approx(policy.best_case_span())
    assert timings[-1].latest_expiry == pytest.approx(policy.worst_case_span())
    assert timings[1].latest_send == pytest.approx(0.5 * 1.25)


def test_dedup_derivation_states_the_minimum_window() -> None:
    assert f"**{MIN_DEDUP_WINDOW:g} s**" in retry.dedup_derivation(DEFAULT_RETRY_POLICY)


def test_packet_diagram_lays_fields_out_proportionally() -> None:
    svg = diagrams.packet_diagram()
    rects = re.findall(
        r"<rect x='(\d+)' y='(\d+)' width='(\d+)' height='(\d+)' class='rrp-field[^']*' data-field='(\w+)'", svg
    )
    assert [name for *_, name in rects] == [f.name for f in HEADER_LAYOUT]
    for (x, y, w, h, _), field in zip(rects, HEADER_LAYOUT, strict=True):
        byte_width = 8 * diagrams._BIT_WIDTH
        row, column = divmod(field.offset, diagrams.ROW_BYTES)
        assert int(x) == diagrams._LEFT + column * byte_width
        assert int(y) == diagrams._TOP + row * diagrams._ROW_HEIGHT
        area = int(w) * int(h)
        assert area == field.size * byte_width * diagrams._ROW_HEIGHT, field.name


def test_retry_timeline_has_one_row_per_attempt() -> None:
    svg = diagrams.retry_timeline(DEFAULT_RETRY_POLICY)
    assert svg.count("class='rrp-send'") == DEFAULT_RETRY_POLICY.max_attempts
    assert "\n\n" not in svg  # a blank line would end Markdown's raw HTML block


def test_annotated_hex_marks_each_field_and_cuts_long_payloads() -> None:
    data = bytes(range(HEADER_SIZE)) + bytes(100)
    html = vector_tables.annotated_hex(data)
    for f in HEADER_LAYOUT:
        assert f'rrp-f-{f.name}" title="{f.name} ' in html
    assert "84 more bytes" in html
    short = vector_tables.annotated_hex(data[:3])
    assert "rrp-f-version" in short and "rrp-f-flags" not in short


@pytest.mark.parametrize(
    ("docstring", "rendered"),
    [
        (":class:`~rrp_spec.codes.Op` members", "`Op` members"),
        ("see :mod:`rrp_spec.validate`.", "see `rrp_spec.validate`."),
        (":meth:`the reader <Reader.read>`", "`the reader`"),
        ("plain `code` stays", "plain `code` stays"),
    ],
)
def test_sphinx_roles_become_inline_code(docstring: str, rendered: str) -> None:
    assert sphinx_roles.plain_roles(docstring) == rendered


def test_reference_report_shows_failures_first_with_their_details(tmp_path: Path) -> None:
    results = {
        "suite": "server",
        "started": "2026-01-01T00:00:00+00:00",
        "duration_s": 1.5,
        "exit_status": 1,
        "target": {"udp": "127.0.0.1:1"},
        "counts": {"PASS": 1, "FAIL": 1},
        "checks": [
            {"name": "udp/fine", "outcome": "PASS", "requirements": ["SRV-9"], "failures": [], "skip_reason": ""},
            {
                "name": "tcp/slow-reader",
                "outcome": "FAIL",
                "requirements": ["TCP-SRV-10"],
                "failures": [{"requirement": "TCP-SRV-10", "expected": "a close", "observed": "nothing"}],
                "skip_reason": "",
            },
        ],
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    text = conformance_pages.reference_report(PageContext("conformance.md"), path)
    body = text.splitlines()
    fail_row = next(i for i, line in enumerate(body) if "tcp/slow-reader" in line)
    pass_row = next(i for i, line in enumerate(body) if "udp/fine" in line)
    assert fail_row < pass_row
    assert "TCP-SRV-10: expected a close, observed nothing" in body[fail_row]
    assert "exit status 1" in text


def test_missing_reference_results_are_said_not_invented(tmp_path: Path) -> None:
    text = conformance_pages.reference_report(PageContext("conformance.md"), tmp_path / "absent.json")
    assert text.startswith('!!! note "No report in this build"')


def _commands(page: str, program: str) -> list[list[str]]:
    """The ``program`` command lines of a page's examples, comments stripped, split like a shell."""
    lines = (REPO / "docs" / "pages" / page).read_text().splitlines()
    return [shlex.split(line.split("#", 1)[0])[1:] for line in lines if line.startswith(f"{program} ")]


@pytest.mark.parametrize(
    ("page", "program", "module", "at_least"),
    [
        ("index.md", "rrp", "rrp._cli.main", 3),
        ("conformance.md", "rrp-conformance", "rrp_conformance.cli", 5),
    ],
)
def test_example_commands_are_accepted_by_their_parsers(page: str, program: str, module: str, at_least: int) -> None:
    parser = pytest.importorskip(module, reason=f"{module} is not importable").build_parser()
    commands = _commands(page, program)
    assert len(commands) >= at_least
    for arguments in commands:
        parser.parse_args(arguments)  # a rejected example exits with status 2, failing the test


def test_home_page_uses_the_servers_default_address() -> None:
    cli_serve = pytest.importorskip("rrp._cli.serve", reason="rrp._cli.serve is not importable")
    home = (REPO / "docs" / "pages" / "index.md").read_text()
    addresses = set(re.findall(r"127\.0\.0\.1:(\d+)", home.split("## Who it is for")[0]))
    assert addresses == {str(cli_serve.DEFAULT_PORT)}


def test_an_indented_directive_stays_inside_its_block() -> None:
    text = expand('??? info "Source"\n\n    <!-- rrp:header-source -->\n', SPEC_PAGE)
    body = text.split("\n\n", 1)[1].rstrip("\n").splitlines()
    assert body[0] == "    ```python"
    assert body[1].startswith("    HEADER_STRUCT = Struct(")
    assert all(line.startswith("    ") for line in body if line)


def test_doc_comments_above_an_attribute_become_its_docstring() -> None:
    lines = ["x = 1", "    #: first line", "    #: second line", "    NAME = 2", "", "OTHER = 3"]
    assert sphinx_roles.doc_comment_above(lines, 4) == "first line second line"
    assert sphinx_roles.doc_comment_above(lines, 6) is None
    assert sphinx_roles.doc_comment_above(lines, 1) is None


def test_included_markdown_moves_headings_but_not_code_comments() -> None:
    source = "# Title\n\ntext\n\n```sh\n# a shell comment\n```\n\n## Part\n###### Deepest\n"
    assert includes.shift_headings(source, 1).splitlines() == [
        "## Title",
        "",
        "text",
        "",
        "```sh",
        "# a shell comment",
        "```",
        "",
        "### Part",
        "###### Deepest",
    ]


def test_includes_stay_inside_the_repository() -> None:
    with pytest.raises(ValueError, match="outside the repository"):
        includes.include("../../etc/passwd", 0)


def test_home_page_make_commands_run_the_suite_as_shown() -> None:
    cli = pytest.importorskip("rrp_conformance.cli", reason="the conformance suite's CLI is not importable")
    home = (REPO / "docs" / "pages" / "index.md").read_text()
    commands = [line.split("#", 1)[0].split() for line in home.splitlines() if line.startswith("make conformance")]
    assert len(commands) == 2
    for command in commands:
        dry_run = subprocess.run(
            [*command, "-n", "--always-make", "-o", ".venv/.installed"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        invocation = next(line for line in dry_run.splitlines() if "rrp-conformance " in line)
        arguments = shlex.split(invocation.split("rrp-conformance ", 1)[1])
        cli.build_parser().parse_args(arguments)
        if any(word.startswith("UDP=") for word in command):
            assert arguments[0] == "server" and "--udp" in arguments and "--tcp" in arguments
        else:
            assert arguments[0] == "reference"


def _snapshot(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the published benchmark snapshot, changed by ``change``."""
    data = json.loads(bench_pages.PUBLISHED_RESULTS.read_text())
    change(data)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    return path


def test_bench_tables_show_the_snapshots_numbers(tmp_path: Path) -> None:
    def distinctive(data: dict[str, Any]) -> None:
        data["machine"]["cpu"] = "Test CPU 9000"
        for run in data["runs"]:
            if run["config"] == "udp-k64" and run["server"] == "reference":
                run["result"]["rps"] = 123456.0

    path = _snapshot(tmp_path, distinctive)
    row = next(line for line in bench_pages.bench_table("throughput", path).splitlines() if "UDP, K=64" in line)
    assert row.split(" | ")[1] == "123,456"
    assert "| CPU model (/proc/cpuinfo) | Test CPU 9000 |" in bench_pages.bench_table("facts", path)


def test_an_unknown_bench_table_fails_the_page() -> None:
    with pytest.raises(DirectiveError, match="no benchmark table 'nope'"):
        expand("<!-- rrp:bench table=nope -->", PageContext("performance.md"))


def test_without_a_published_run_the_page_says_so(tmp_path: Path) -> None:
    for text in (
        bench_pages.bench_table("throughput", tmp_path / "absent.json"),
        bench_pages.summary(PageContext("performance.md"), tmp_path / "absent.json"),
    ):
        assert text.startswith('!!! note "No published benchmark"')


def test_a_shortened_or_uncommitted_run_is_flagged(tmp_path: Path) -> None:
    def full_and_clean(data: dict[str, Any]) -> None:
        data["options"] |= {"duration": 2.0, "rounds": 3}
        data["machine"]["git_changes"] = "none"

    def short_and_dirty(data: dict[str, Any]) -> None:
        data["options"] |= {"duration": 0.5, "rounds": 3}
        data["machine"]["git_changes"] = "python-ref/src/rrp/x.py"

    ctx = PageContext("performance.md")
    assert "!!!" not in bench_pages.summary(ctx, _snapshot(tmp_path, full_and_clean))
    flagged = bench_pages.summary(ctx, _snapshot(tmp_path, short_and_dirty))
    assert '!!! warning "A shortened run"' in flagged
    assert "0.5 s per run" in flagged
    assert "python-ref/src/rrp/x.py" in flagged


def test_rrp_load_usage_is_the_programs_own() -> None:
    load = pytest.importorskip("rrp_bench.load", reason="the benchmark package is not importable")
    block = bench_pages.load_usage()
    assert block.startswith("```text\n$ rrp-load --help\nusage: rrp-load ")
    assert load.usage_text().rstrip() in block


def test_a_section_is_included_without_its_heading_up_to_the_next_of_its_level() -> None:
    source = "# T\n\n## One\n\nfirst\n\n```sh\n## not a heading\n```\n\n### Inner\n\ndeep\n\n## Two\n\nsecond\n"
    assert includes.section(source, "One").splitlines() == [
        "first",
        "",
        "```sh",
        "## not a heading",
        "```",
        "",
        "### Inner",
        "",
        "deep",
    ]
    assert includes.section(source, "Two") == "second"
    with pytest.raises(KeyError):
        includes.section(source, "not a heading")


def test_table_cells_get_their_column_header_as_label() -> None:
    page = (
        "<p>x</p><table><thead><tr><th>ID</th><th>Say &amp; do</th></tr></thead>"
        '<tbody><tr><td>A</td><td align="left"><b>b</b></td></tr><tr><td>C</td><td>d</td></tr></tbody></table>'
        "<table><tr><td>no header</td></tr></table>"
    )
    labelled = table_labels.label_table_cells(page)
    assert labelled.count('<td data-label="ID">') == 2
    assert labelled.count('<td data-label="Say &amp; do"') == 2 and 'align="left"' in labelled
    assert "<td>no header</td>" in labelled
