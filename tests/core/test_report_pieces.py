"""Long tables laid out a page at a time (issue 17): every row once, in order, under a
repeated header, and each page as full as reportlab's own split of one long table."""

from __future__ import annotations

from io import BytesIO

import pytest
from pypdf import PdfReader
from reportlab.lib.pagesizes import A4
from reportlab.platypus import SimpleDocTemplate, Table

from gisttracker.reports.pieces import PiecewiseTable

HEADER = ["Patient", "Visit", "Due"]


def _rows(n: int) -> list[list[str]]:
    # Rows of different heights (a second line now and then), as report cells are.
    return [[f"P-{i:05d}", "Month 3\nwindow" if i % 7 == 0 else "Month 3",
             f"2026-03-{i % 28 + 1:02d}"] for i in range(n)]


def _pages(story: list) -> list[list[str]]:  # type: ignore[type-arg]
    out = BytesIO()
    SimpleDocTemplate(out, pagesize=A4).build(story)
    return [page.extract_text().splitlines() for page in PdfReader(BytesIO(out.getvalue())).pages]


@pytest.mark.parametrize("count", [1, 40, 333])
def test_every_row_once_in_order_with_the_header_on_each_page(count: int) -> None:
    rows = _rows(count)
    ours = _pages([PiecewiseTable(HEADER, rows, [120, 120, 120])])
    theirs = _pages([Table([HEADER, *rows], colWidths=[120, 120, 120], repeatRows=1)])
    found = [line.split()[0] for page in ours for line in page if line.startswith("P-")]
    assert found == [r[0] for r in rows]
    assert all(page[:3] == HEADER for page in ours)  # (one line per cell)
    # The same page breaks as reportlab's own split of the whole table.
    assert [[line for line in page if line.startswith("P-")] for page in ours] == [
        [line for line in page if line.startswith("P-")] for page in theirs]
