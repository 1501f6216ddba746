"""The strict build: it passes, it fails on a broken link, and its generated tables match the spec."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from rrp_docs import bench_pages, conformance_pages
from rrp_docs.built_site import BuiltSite, build_site, page_names
from rrp_docs.requirement_tables import areas, in_area
from rrp_spec import HEADER_LAYOUT, HEADER_SIZE, REQUIREMENTS, Op, Result, vectors

REPO = Path(__file__).resolve().parents[2]
#: The header as issue 5 states it, independently of the generator: field offsets in wire order.
EXPECTED_OFFSETS = [0, 2, 3, 4, 6, 8, 16]


def test_strict_build_writes_every_page(site: BuiltSite) -> None:
    assert len(page_names()) > 1
    for page in page_names():
        assert site.path(page).is_file(), page
    assert not any(p.is_dir() and (p / "index.html").exists() for p in site.root.iterdir()), "directory URLs"


def test_broken_internal_link_and_anchor_fail_the_strict_build(tmp_path: Path) -> None:
    # The repository's own mkdocs.yml, unchanged, over a copy of the pages with two broken links added.
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(REPO / "docs" / "pages", tmp_path / "docs" / "pages")
    for linked in ("python-ref", "spec"):  # the mkdocstrings paths, relative to mkdocs.yml
        (tmp_path / linked).symlink_to(REPO / linked)
    index = tmp_path / "docs" / "pages" / "index.md"
    index.write_text(
        index.read_text() + "\n[gone](no-such-page.md) and [no anchor](requirements.md#no-such-requirement)\n"
    )
    result = build_site(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 2, result.stderr
    assert "'no-such-page.md'" in warnings[0]
    assert "'#no-such-requirement'" in warnings[1]


def test_every_requirement_has_an_anchor_on_the_requirements_page(site: BuiltSite) -> None:
    ids = set(site.page("requirements").ids)
    assert [r.id for r in REQUIREMENTS if r.id.lower() not in ids] == []


def test_requirement_rows_carry_the_catalogue(site: BuiltSite) -> None:
    rows = site.page("requirements").rows_of_tables_with("Prevents")
    assert [row[0] for row in rows] == [r.id for area in areas() for r in in_area(area)]
    by_id = {row[0]: row for row in rows}
    for r in REQUIREMENTS:
        assert by_id[r.id][1:4] == [r.level.value, r.side.value, r.transport.value], r.id
        assert by_id[r.id][4].startswith(r.text), r.id
        assert by_id[r.id][5] == r.prevents, r.id


def test_header_table_matches_the_layout(site: BuiltSite) -> None:
    rows = site.page("specification").table_with_header("Offset", "Field")
    fields = [row for row in rows if row["Field"]]
    assert [int(row["Offset"]) for row in fields] == EXPECTED_OFFSETS
    assert [(row["Field"], int(row["Offset"]), int(row["Size"]), row["Type"]) for row in fields] == [
        (f.name, f.offset, f.size, f.type_name) for f in HEADER_LAYOUT
    ]
    assert rows[-1]["Size"] == str(HEADER_SIZE)


@pytest.mark.parametrize(("codes", "column"), [(Op, "Operation"), (Result, "Result")])
def test_code_tables_match_the_enums(site: BuiltSite, codes: type[Op] | type[Result], column: str) -> None:
    rows = site.page("specification").table_with_header("Code", column)
    assert [(int(row["Code"], 16), row[column]) for row in rows] == [(int(c), c.name) for c in codes]


def test_packet_diagram_is_inline_svg_with_every_field(site: BuiltSite) -> None:
    html = site.html("specification")
    assert "class='rrp-svg rrp-packet'" in html
    for f in HEADER_LAYOUT:
        assert f"data-field='{f.name}'" in html, f.name


def test_every_vector_is_listed_once_with_an_anchor(site: BuiltSite) -> None:
    page = site.page("vectors")
    names = [v["name"] for v in vectors.load()]
    assert [row[0] for row in page.rows_of_tables_with("Bytes (hex)")] == names
    assert {f"vector-{n}" for n in names} <= set(page.ids)


def test_vector_files_are_published_unchanged(site: BuiltSite) -> None:
    for name in (vectors.VECTORS_NAME, vectors.SCHEMA_NAME):
        assert (site.root / "downloads" / name).read_bytes() == vectors.data_file(name).read_bytes()
    json.loads((site.root / "downloads" / vectors.SCHEMA_NAME).read_text())


#: A script, stylesheet, font or image fetched from another host.
REMOTE_ASSET = re.compile(r"""(?:<script[^>]*\ssrc|<link[^>]*\shref|<img[^>]*\ssrc)=["']?(?:https?:)?//""", re.I)
REMOTE_CSS = re.compile(r"""(?:url\(\s*["']?|@import\s+["']?)(?:https?:)?//""", re.I)


def test_no_page_or_stylesheet_loads_from_another_host(site: BuiltSite) -> None:
    # The browser test proves it for three pages at view time; this covers every page and stylesheet.
    for path in site.root.rglob("*.html"):
        assert not REMOTE_ASSET.search(path.read_text()), path.relative_to(site.root)
    for path in site.root.rglob("*.css"):
        assert not REMOTE_CSS.search(path.read_text()), path.relative_to(site.root)


def test_coverage_column_comes_from_the_check_registry(site: BuiltSite) -> None:
    coverage = conformance_pages.checks_by_requirement()
    if coverage is None:
        pytest.skip("the conformance suite is not importable, so the page leaves the coverage column out")
    rows = site.page("requirements").rows_of_tables_with("Conformance checks")
    assert len(rows) == len(REQUIREMENTS)
    for row in rows:
        listed = row[6]
        checks = coverage.get(row[0], [])
        assert all(name in listed for name in checks), row[0]
        if not checks:
            assert listed.startswith("none"), row[0]


def test_performance_page_shows_the_published_snapshot(site: BuiltSite) -> None:
    report = pytest.importorskip("rrp_bench.report", reason="the benchmark package is not importable")
    load = pytest.importorskip("rrp_bench.load", reason="the benchmark package is not importable")
    results = report.read_json(bench_pages.PUBLISHED_RESULTS)
    page = site.page("performance")

    throughput = {row["configuration"]: row for row in page.table_with_header("configuration", "reference", "c")}
    for config in results.options.configs:
        for server in results.options.servers:
            median = report.median_metric(results, config, server, "rps")
            assert median is not None
            assert throughput[load.BY_NAME[config].describe()][server] == f"{median:,.0f}", (config, server)

    verdicts = page.table_with_header("target", "bound", "verdict")
    assert [(row["target"], row["verdict"]) for row in verdicts] == [
        (t.description, t.verdict) for t in report.targets(results)
    ]
    facts = {row["what"]: row["value"] for row in page.table_with_header("what", "value")}
    assert facts["git commit measured"] == results.machine["git_commit"]
    assert facts["CPU model (/proc/cpuinfo)"] == results.machine["cpu"]

    html = site.html("performance")
    assert load.usage_text().splitlines()[0] in html
    downloads = site.root / "downloads"
    assert (downloads / bench_pages.RESULTS_DOWNLOAD).read_bytes() == bench_pages.PUBLISHED_RESULTS.read_bytes()
    if bench_pages.PUBLISHED_CHART.is_file():
        assert (downloads / bench_pages.CHART_DOWNLOAD).read_bytes() == bench_pages.PUBLISHED_CHART.read_bytes()
        assert f'src="downloads/{bench_pages.CHART_DOWNLOAD}"' in html


def test_conformance_reports_link_to_anchors_that_exist(site: BuiltSite) -> None:
    """report.md and report.html link each requirement ID to the site: the page and every anchor must be there."""
    links = pytest.importorskip("rrp_conformance.reports.links")
    assert (site.root / links.REQUIREMENTS_PAGE).is_file()
    ids = set(site.page("requirements").ids)
    assert [r.id for r in REQUIREMENTS if links.requirement_anchor(r.id) not in ids] == []


def test_every_table_cell_is_labelled_with_its_column(site: BuiltSite) -> None:
    """The phone layout prints each cell under its column's name: every body cell of the catalogue has one."""
    html = site.html("requirements")
    cells = re.findall(r"<td\b[^>]*>", html)
    assert cells and all('data-label="' in cell for cell in cells)
    assert 'data-label="Conformance checks"' in html
