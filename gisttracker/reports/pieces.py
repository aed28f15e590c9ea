"""A long table laid out one page at a time, so its cost grows linearly with its rows.

reportlab's own :class:`~reportlab.platypus.Table` splits a long table at each page break
by measuring every remaining row again and copying them into a new table, so a table of
``n`` rows over ``p`` pages costs ``n × p``: a month's calendar of a 100,000-patient site
(26,000 rows, 540 pages) took 43 s. :class:`PiecewiseTable` keeps the rows itself and, for
each page, builds a reportlab ``Table`` of only the rows that can reach that page (the
header row first, so it repeats on every page), lets reportlab split that one, and keeps
the rest for the next page. Each page costs the same, whatever the length of the table.

Style commands are given for the whole table (row 0 the header, rows 1… the data, negative
indexes from the end, as reportlab takes them); each page's table gets them shifted to its
own rows, alternating row colours continuing where the previous page stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reportlab.platypus import Flowable, Table, TableStyle

StyleCommand = tuple[Any, ...]

# Rows tried for one page at first; doubled while they all fit (a page of one-line rows
# holds about 50).
FIRST_TRY = 64


class _Styles:
    """The table's style commands, sorted once so that a page's share is found quickly:
    commands over many rows are few and checked for every page; commands of one data row
    (a calendar's day bands) are looked up by row."""

    def __init__(self, commands: Sequence[StyleCommand], n_rows: int) -> None:
        self.ranges: list[tuple[str, int, int, Any, Any, tuple[Any, ...]]] = []
        self.single: dict[int, list[tuple[str, Any, Any, tuple[Any, ...]]]] = {}
        for name, (c0, r0), (c1, r1), *args in commands:
            top = r0 if r0 >= 0 else n_rows + 1 + r0
            bottom = r1 if r1 >= 0 else n_rows + 1 + r1
            if top == bottom and top > 0:
                self.single.setdefault(top, []).append((name, c0, c1, tuple(args)))
            else:
                self.ranges.append((name, top, bottom, c0, c1, tuple(args)))

    def for_rows(self, first: int, last: int) -> list[StyleCommand]:
        """Commands for a page table holding the header and data rows ``first``…``last``
        (1-based, inclusive) as its rows 1…``last - first + 1``."""
        out: list[StyleCommand] = []
        shift = first - 1
        for name, top, bottom, c0, c1, args in self.ranges:
            if top == 0:
                out.append((name, (c0, 0), (c1, 0), *args))
            low, high = max(top, first, 1), min(bottom, last)
            if low > high:
                continue
            if name == "ROWBACKGROUNDS":
                # Keep the alternation of the whole table: start where row `low` is in it.
                colours = list(args[0])
                turn = (low - max(top, 1)) % len(colours)
                args = (colours[turn:] + colours[:turn], *args[1:])
            out.append((name, (c0, low - shift), (c1, high - shift), *args))
        for row in range(first, last + 1):
            for name, c0, c1, args in self.single.get(row, ()):
                out.append((name, (c0, row - shift), (c1, row - shift), *args))
        return out


@dataclass(frozen=True)
class Caption:
    """A band across the table above its header row: ``text`` on the table's first page
    (None: not there), ``continued`` on the pages it runs on to (None: not there)."""

    text: Any
    continued: Any
    style: tuple[StyleCommand, ...]  # for a one-row table: the band is row 0


class PiecewiseTable(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """A table of any length: ``header`` (one row of cells) repeated on every page above
    the ``rows`` that page holds, under an optional ``caption`` band that says which table
    a page continues. Cells are what reportlab's Table takes (text or flowables);
    ``col_widths`` in points."""

    def __init__(self, header: Sequence[Any], rows: Sequence[Sequence[Any]],
                 col_widths: Sequence[float], style: Sequence[StyleCommand] = (), *,
                 caption: Caption | None = None, _styles: _Styles | None = None,
                 _start: int = 0, _try: int = FIRST_TRY) -> None:
        super().__init__()
        self.header = list(header)
        self.rows = rows
        self.col_widths = list(col_widths)
        self.styles = _styles or _Styles(style, len(rows))
        self.caption = caption
        self.start = _start  # the first row (0-based) not yet laid out
        self.first_try = _try  # rows tried for a page: a few more than the last page held
        # The last page tried: its width and height, the table, whether it holds every
        # remaining row, and the size that table measured (reportlab measures again at
        # every wrap; the frame asks for wrap, then split, of the same page).
        self._tried: tuple[float, float, Table, bool, float, float] | None = None
        self._current: Table | None = None

    def _band(self) -> Any:
        if self.caption is None:
            return None
        return self.caption.text if self.start == 0 else self.caption.continued

    def piece(self, end: int) -> tuple[list[Sequence[Any]], list[StyleCommand], int]:
        """The cells (head rows first), the style commands and the number of head rows of
        the table of rows ``start``…``end - 1`` (what one page's Table is made of)."""
        band = self._band()
        head: list[Sequence[Any]] = [self.header] if band is None else [
            [band, *[""] * (len(self.header) - 1)], self.header]
        style = self.styles.for_rows(self.start + 1, end)
        if band is not None:
            assert self.caption is not None
            # Everything moves down one row under the band.
            style = [*self.caption.style, *[
                (name, (c0, r0 + 1 if r0 >= 0 else r0), (c1, r1 + 1 if r1 >= 0 else r1), *args)
                for name, (c0, r0), (c1, r1), *args in style]]
        return [*head, *self.rows[self.start:end]], style, len(head)

    def _table(self, end: int) -> Table:
        cells, style, heads = self.piece(end)
        table = Table(cells, colWidths=self.col_widths, repeatRows=heads, splitByRow=True)
        table.setStyle(TableStyle(style))
        return table

    def _page(self, width: float, height: float) -> tuple[Table, bool, float, float]:
        """The table of the rows that can reach a page of ``height`` points, whether it
        holds every remaining row, and its measured width and height."""
        if self._tried is not None and self._tried[:2] == (width, height):
            return self._tried[2:]
        count = self.first_try
        while True:
            end = min(len(self.rows), self.start + count)
            table = self._table(end)
            w, h = table.wrap(width, height)
            if h > height or end == len(self.rows):
                self._tried = (width, height, table, end == len(self.rows), w, h)
                return self._tried[2:]
            count *= 2  # all of them fit with room to spare: try more

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        table, everything, width, height = self._page(availWidth, availHeight)
        self._current = table
        # More rows than the page holds: say so, and the frame asks for a split.
        return width, height if everything else max(height, availHeight + 1)

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:
        table, everything, _w, height = self._page(availWidth, availHeight)
        if height <= availHeight and everything:
            return [table]
        # The rows that fit, from the heights the tried table has just measured (where
        # reportlab's own split would cut: data rows have no spans), and one table of
        # exactly those: reportlab's split would build and style two more tables per page.
        heads = 1 if self._band() is None else 2
        used = sum(table._rowHeights[:heads])
        placed = 0
        for row_height in table._rowHeights[heads:]:
            if used + row_height > availHeight:
                break
            used += row_height
            placed += 1
        if placed <= 0:
            return []  # not even one row fits below what is already on this page
        page = self._table(self.start + placed)
        # Rows tried for the next page: what this one held and a few more (rows that do
        # not fit are measured for nothing), never fewer than a dozen.
        rest = PiecewiseTable(self.header, self.rows, self.col_widths, caption=self.caption,
                              _styles=self.styles, _start=self.start + placed,
                              _try=max(12, placed + 6))
        return [page, rest]

    def drawOn(self, canvas: Any, x: float, y: float, _sW: float = 0) -> None:
        # Reached only when wrap said every remaining row fits where the frame puts it.
        assert self._current is not None, "drawn before it was wrapped"
        self._current.drawOn(canvas, x, y, _sW)
