"""Column labels on table cells, so that a narrow screen can show each row as a card.

Every body cell of a table gets ``data-label="<its column's header text>"``; at phone
width the stylesheet (``assets/rrp.css``) lays rows out as blocks and prints the label
before each cell, so a seven-column table reads top to bottom instead of scrolling
sideways. Wide screens ignore the attribute.
"""

from __future__ import annotations

import html
import re

_TABLE = re.compile(r"<table\b[^>]*>.*?</table>", re.S)
_HEAD_CELL = re.compile(r"<th\b[^>]*>(.*?)</th>", re.S)
_THEAD = re.compile(r"<thead\b[^>]*>.*?</thead>", re.S)
_ROW = re.compile(r"<tr\b[^>]*>.*?</tr>", re.S)
_BODY_CELL_OPEN = re.compile(r"<td\b")
_TAG = re.compile(r"<[^>]+>")


def _text(fragment: str) -> str:
    return html.unescape(_TAG.sub("", fragment)).strip()


def _label_table(table: str) -> str:
    head = _THEAD.search(table)
    if head is None:
        return table
    labels = [_text(cell) for cell in _HEAD_CELL.findall(head.group(0))]

    def label_row(row: re.Match[str]) -> str:
        cells = iter(labels)

        def label_cell(_: re.Match[str]) -> str:
            label = next(cells, "")
            return f'<td data-label="{html.escape(label)}"' if label else "<td"

        return _BODY_CELL_OPEN.sub(label_cell, row.group(0))

    body_start = head.end()
    return table[:body_start] + _ROW.sub(label_row, table[body_start:])


def label_table_cells(page_html: str) -> str:
    """``page_html`` with every body cell of every table with a header row labelled by its column's header."""
    return _TABLE.sub(lambda table: _label_table(table.group(0)), page_html)
