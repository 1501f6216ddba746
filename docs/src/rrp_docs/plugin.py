"""The mkdocs plugin (``plugins: [rrp-spec]``): expands directives and publishes the vector files."""

from __future__ import annotations

from mkdocs.config.base import Config
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from rrp_spec.vectors import SCHEMA_NAME, VECTORS_NAME, data_file
from rrp_wireshark import render_dissector

from .bench_pages import CHART_DOWNLOAD, PUBLISHED_CHART, PUBLISHED_RESULTS, RESULTS_DOWNLOAD
from .conformance_pages import REFERENCE_REPORT_MD, REFERENCE_REPORT_NAME, RESULTS_SCHEMA_NAME, results_schema_text
from .directives import DirectiveError, expand
from .markdown import PageContext
from .table_labels import label_table_cells
from .wireshark_pages import DISSECTOR_DOWNLOAD

#: Where the vector file and its schema are published in the built site.
DOWNLOADS_DIR = "downloads"


class RrpSpecConfig(Config):  # type: ignore[no-untyped-call]  # mkdocs leaves __init_subclass__ untyped
    """The plugin takes no options."""


class RrpSpecPlugin(BasePlugin[RrpSpecConfig]):  # type: ignore[no-untyped-call]
    """Renders the spec's tables and figures into the pages, and copies the test vectors into the site."""

    def on_files(self, files: Files, /, *, config: MkDocsConfig) -> Files:
        """Add ``downloads/rrp-v1.json`` and its schema, straight from the ``rrp_spec`` package, and the published
        benchmark run's ``results.json`` and chart from ``bench/published/``."""
        for name in (VECTORS_NAME, SCHEMA_NAME):
            content = data_file(name).read_bytes()
            files.append(File.generated(config, f"{DOWNLOADS_DIR}/{name}", content=content))
        # The published benchmark run: its raw numbers, and the chart the Performance page shows.
        for source, name in ((PUBLISHED_RESULTS, RESULTS_DOWNLOAD), (PUBLISHED_CHART, CHART_DOWNLOAD)):
            if source.is_file():
                files.append(File.generated(config, f"{DOWNLOADS_DIR}/{name}", abs_src_path=str(source)))
        # The Wireshark dissector, generated from the spec now, as `make wireshark` writes it.
        files.append(File.generated(config, f"{DOWNLOADS_DIR}/{DISSECTOR_DOWNLOAD}", content=render_dissector()))
        # The JSON Schema of the suite's results.json, from inside the suite's package.
        files.append(File.generated(config, f"{DOWNLOADS_DIR}/{RESULTS_SCHEMA_NAME}", content=results_schema_text()))
        if REFERENCE_REPORT_MD.is_file():
            # Published as .txt: a .md file in the docs would be rendered as a page.
            report = f"{DOWNLOADS_DIR}/{REFERENCE_REPORT_NAME}"
            files.append(File.generated(config, report, content=REFERENCE_REPORT_MD.read_text()))
        return files

    def on_page_markdown(self, markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
        """Replace every directive of the page with what it generates; an unknown one fails the build."""
        try:
            return expand(markdown, PageContext(page.file.src_uri))
        except DirectiveError as error:
            raise PluginError(f"{page.file.src_uri}: {error}") from error

    def on_page_content(self, html: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
        """Label every table cell with its column, for the phone-width card layout of ``assets/rrp.css``."""
        return label_table_cells(html)
