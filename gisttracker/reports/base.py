"""The shared base of every PDF report: page templates, fonts, header, footer, tables.

A report is two steps: gather the data into plain values (a query step that knows the
store), then lay it out here (no queries). :meth:`Report.render` returns the PDF as bytes.
Every page carries the report title and study in the header and, in the footer, when the
report was made, the application version and "Page N of M".

Two promises hold whatever the data:

* **Long tables cost linear time**: :meth:`Report.table` lays a table out a page at a time
  (:class:`~gisttracker.reports.pieces.PiecewiseTable`), header repeated on every page.
* **Any text fits**: a table cell or particulars value never grows taller than
  :data:`MAX_CELL_HEIGHT` (a third of a page). Longer text — a 10,000-character note, a
  word with no space to break at, Chinese and Latin mixed — is cut where the cell is full
  with a visible mark saying how much was left out, and printed whole in the "Texts cut
  short above" section at the end of the report, so nothing recorded is lost on paper and
  reportlab never meets a cell taller than its frame.
"""

from __future__ import annotations

import gc
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from gisttracker import __version__
from gisttracker.errors import InputError
from gisttracker.files import write_private
from gisttracker.i18n import _, join_list
from gisttracker.reports.fonts import _CJK, fonts, markup
from gisttracker.reports.pieces import Caption, PiecewiseTable

PAPERS = {"a4": A4, "letter": LETTER}
MARGIN = 16 * mm
HEADER_RULE = colors.HexColor("#1f5f8b")
ZEBRA = colors.HexColor("#f2f6f9")
GRID = colors.HexColor("#b8c7d3")
BAND = colors.HexColor("#dde8f0")  # a caption band across a table (a calendar's day)
# The tallest a table cell (or a particulars value) may grow, in points: a third of an A4
# or letter page body, so a row always fits on a page with the header above it.
MAX_CELL_HEIGHT = 230.0
# A title or heading longer than this many characters is cut short (see Report._cut).
MAX_HEADING = 300

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportContext:
    """What every report needs besides its data. ``generated_at`` is passed in (no clock)."""

    generated_at: datetime
    paper: str = "a4"
    site: str = ""
    version: str = __version__

    def __post_init__(self) -> None:
        if self.paper not in PAPERS:
            raise InputError(_("paper must be one of {papers}, not {paper!r}").format(
                papers=join_list(PAPERS), paper=self.paper))


NOTE_PIECE = 1500  # characters per paragraph of a note printed in full


def _pieces(text: str) -> list[str]:
    """``text`` in paragraphs of about :data:`NOTE_PIECE` characters, cut at a space where
    there is one: reportlab breaks a long paragraph of Chinese into lines in time that
    grows faster than its length (60,000 characters took 19 s)."""
    out = []
    while len(text) > NOTE_PIECE:
        cut = text.rfind(" ", NOTE_PIECE // 2, NOTE_PIECE)
        cut = NOTE_PIECE if cut < 0 else cut
        out.append(text[:cut])
        text = text[cut:].lstrip(" ")
    return [*out, text]


class _Paragraph(Paragraph):
    """A Paragraph that keeps its last line breaking: a table cell is wrapped when its page
    is measured, again when the page's table is split off and again when it is drawn,
    always at its column's width (reportlab breaks the lines anew each time)."""

    _wrapped: tuple[float, float, float] | None = None

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        # The height of a paragraph depends on the width only (availHeight is not read);
        # reportlab drops the line breaking (blPara) when it wants the lines broken again.
        if (self._wrapped is not None and self._wrapped[0] == availWidth
                and "blPara" in self.__dict__):
            return self._wrapped[1], self._wrapped[2]
        width, height = super().wrap(availWidth, availHeight)
        self._wrapped = (availWidth, width, height)
        return width, height


def _styles() -> dict[str, ParagraphStyle]:
    f = fonts()
    base = ParagraphStyle("body", fontName=f.regular, fontSize=9, leading=11.5,
                          alignment=TA_LEFT, wordWrap="CJK" if f.has_cjk else None)
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10),
        "cell_head": ParagraphStyle("cell_head", parent=base, fontName=f.bold, fontSize=8,
                                    leading=10, textColor=colors.white),
        "cell_band": ParagraphStyle("cell_band", parent=base, fontName=f.bold, fontSize=8,
                                    leading=10),
        "title": ParagraphStyle("title", parent=base, fontName=f.bold, fontSize=15,
                                leading=19, spaceAfter=4),
        "h2": ParagraphStyle("h2", parent=base, fontName=f.bold, fontSize=11.5, leading=14,
                             spaceBefore=8, spaceAfter=4, textColor=HEADER_RULE),
        "h3": ParagraphStyle("h3", parent=base, fontName=f.bold, fontSize=9.5, leading=12,
                             spaceBefore=6, spaceAfter=2),
    }


def draw_text(canvas: rl_canvas.Canvas, x: float, y: float, text: str, font: str,
              cjk_font: str, size: float, right: bool = False,
              limit: float | None = None) -> None:
    """Draw one line straight on the canvas (header, footer): runs of CJK characters in the
    CJK font, the rest in ``font``; ``right`` aligns the line's end at ``x``. A line wider
    than ``limit`` points (when given) is cut with "…" to fit."""
    runs = text_runs(text, font, cjk_font)
    if limit is not None and sum(canvas.stringWidth(p, f, size) for p, f in runs) > limit:
        runs = _cut_runs(canvas, runs, font, size, limit)
    total = sum(canvas.stringWidth(p, f, size) for p, f in runs)
    # One text object, the font switched between runs: the line is one line to a reader
    # (copying it, or a PDF's text extraction), not a string per run.
    line = canvas.beginText(x - total if right else x, y)
    for i, (piece, f) in enumerate(runs):
        line.setFont(f, size)
        if i < len(runs) - 1:
            line.textOut(piece)
        else:
            line.textLine(piece)  # ends the line, as drawString does
    canvas.drawText(line)


def text_runs(text: str, font: str, cjk_font: str) -> list[tuple[str, str]]:
    """``text`` cut into (piece, font) runs: CJK characters in ``cjk_font``, the rest in
    ``font`` (for text drawn straight on a canvas or in a drawing, not in a Paragraph)."""
    return [(p, cjk_font if _CJK.fullmatch(p) else font) for p in _CJK.split(text) if p]


def _cut_runs(canvas: rl_canvas.Canvas, runs: list[tuple[str, str]], font: str, size: float,
              limit: float) -> list[tuple[str, str]]:
    """``runs`` cut to ``limit`` points wide, "…" (in ``font``) included."""
    room = limit - canvas.stringWidth("…", font, size)
    kept: list[tuple[str, str]] = []
    for piece, f in runs:
        width = canvas.stringWidth(piece, f, size)
        if width <= room:
            kept.append((piece, f))
            room -= width
            continue
        n = int(len(piece) * room / width)
        while n > 0 and canvas.stringWidth(piece[:n], f, size) > room:
            n -= 1
        if n > 0:
            kept.append((piece[:n], f))
        break
    if kept and kept[-1][1] == font:
        kept[-1] = (kept[-1][0] + "…", font)  # one string: read as one line
    else:
        kept.append(("…", font))
    return kept


def text_width(text: str, font: str, cjk_font: str, size: float) -> float:
    """The width in points of ``text`` set as :func:`text_runs` sets it."""
    return float(sum(stringWidth(p, f, size) for p, f in text_runs(text, font, cjk_font)))


def add_text(drawing: Drawing, x: float, y: float, text: str, font: str, cjk_font: str,
             size: float, **style: Any) -> None:
    """Add ``text`` to a reportlab ``drawing`` (charts, diagrams) as :func:`text_runs`:
    a Latin font has no Chinese glyphs, and a missing glyph is silently left out."""
    for piece, run_font in text_runs(text, font, cjk_font):
        drawing.add(String(x, y, piece, fontName=run_font, fontSize=size, **style))
        x += stringWidth(piece, run_font, size)


# One token per CJK character (Chinese breaks between any two), one per Latin word or space.
_CJK_CHARS = _CJK.pattern[2:-3]  # the character ranges inside "([...]+)"
_TOKENS = re.compile(rf"[{_CJK_CHARS}]|[^\s{_CJK_CHARS}]+|\s+")
# Chinese punctuation that must not begin a line (it stays with the character before it).
_NO_LINE_START = set("，。、；：？！）》」』”’%…")


def wrap_text(text: str, font: str, cjk_font: str, size: float, width: float,
              max_lines: int | None = None) -> list[str]:
    """``text`` broken into lines no wider than ``width`` points: at spaces between Latin
    words, and between any two Chinese characters (never before closing punctuation); a
    word wider than a line is broken where the line ends. With ``max_lines``, at most that
    many lines, the last ending in "…" if the text went on (for text in a drawing, which
    cannot break across pages)."""
    # No glyph is narrower than a fifth of the font size: a longer line surely overflows,
    # and a 10,000-character word is never measured whole.
    surely_long = int(5 * width / size) + 2

    def fits(line: str) -> bool:
        return len(line) < surely_long and text_width(line, font, cjk_font, size) <= width

    lines: list[str] = []
    line = ""
    for token in _TOKENS.findall(text):
        candidate = line + token
        if (not line or fits(candidate.rstrip()) or token.isspace()
                or token in _NO_LINE_START):
            line = candidate
        else:
            lines.append(line.rstrip())
            line = token
        # One word alone, wider than a line, with no space to break at: break it where the
        # line ends (a first guess in proportion to the width, then by character).
        one_word = not fits(line) and _TOKENS.fullmatch(line) is not None
        while one_word and len(line) > 1 and not fits(line):
            probe = line[:surely_long]
            n = max(1, int(len(probe) * width / text_width(probe, font, cjk_font, size)))
            while n > 1 and not fits(line[:n]):
                n -= 1
            while n + 1 < len(line) and fits(line[:n + 1]):
                n += 1
            lines.append(line[:n])
            line = line[n:]
            if max_lines is not None and len(lines) > max_lines:
                break
        if max_lines is not None and len(lines) > max_lines:
            break
    lines.append(line.rstrip())
    lines = [x for x in lines if x] or [""]
    if max_lines is not None and len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and not fits(last + "…"):
            last = last[:-1]
        lines = [*lines[:max_lines - 1], last + "…"]
    return lines


def _numbered_canvas(footer_left: str, font: str, cjk_font: str) -> type[rl_canvas.Canvas]:
    """A canvas that writes "Page N of M" once the page count is known."""

    class NumberedCanvas(rl_canvas.Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                width, _height = self._pagesize
                self.setFillColor(colors.HexColor("#555555"))
                label = _("Page {n} of {m}").format(n=self._pageNumber, m=total)
                # A long site name is cut before it reaches the page number.
                room = width - 2 * MARGIN - text_width(label, font, cjk_font, 7.5) - 12
                draw_text(self, MARGIN, 9 * mm, footer_left, font, cjk_font, 7.5, limit=room)
                draw_text(self, width - MARGIN, 9 * mm, label, font, cjk_font, 7.5, right=True)
                super().showPage()
            super().save()

    return NumberedCanvas


class Report(ABC):
    """Base of every report: subclasses set :attr:`title` and build :meth:`story`."""

    title = "Report"

    def __init__(self, context: ReportContext) -> None:
        self.context = context
        self.styles = _styles()
        self._latin = {k: ParagraphStyle(f"{k}_latin", parent=v, wordWrap=None)
                       for k, v in self.styles.items()}
        self.fonts = fonts()
        self.pagesize = PAPERS[context.paper]
        self.cut_texts: list[str] = []  # texts cut short in a cell, printed whole at the end

    @property
    def width(self) -> float:
        """Usable width between the margins (points)."""
        return float(self.pagesize[0] - 2 * MARGIN)

    def subtitle(self) -> str:
        """Second header line (the study, usually)."""
        return ""

    @abstractmethod
    def story(self) -> list[Flowable]:
        """The report's content, laid out from already-gathered data."""

    # ----- building blocks ----------------------------------------------------------------
    def para(self, text: object, style: str = "body") -> Paragraph:
        """A paragraph of plain text; text without CJK characters wraps at spaces (CJK
        wrapping would break words and dates anywhere, and lays out far slower)."""
        plain = "" if text is None else str(text)
        if style in ("title", "h2", "h3") and len(plain) > MAX_HEADING:
            plain = self._cut(plain, MAX_HEADING - 60)  # a title, not a text: kept short
        if _CJK.search(plain):
            return _Paragraph(markup(plain), self.styles[style])
        return _Paragraph(markup(plain), self._latin[style])

    def rich(self, html: str, style: str = "body") -> Paragraph:
        """A paragraph from trusted markup (already escaped by the caller)."""
        return _Paragraph(html, self.styles[style])

    def heading(self, text: object, level: int = 2) -> Paragraph:
        return self.para(text, f"h{level}")

    def _cut(self, text: str, keep: int) -> str:
        """The first ``keep`` characters of ``text`` and the mark saying what was cut; the
        whole text is printed at the end of the report."""
        self.cut_texts.append(text)
        # Short, so that the mark itself does not fill a narrow column.
        return _("{start} … [cut: {left:,} more characters, whole in note {n} at the end]"
                 ).format(start=text[:keep].rstrip(), left=len(text) - keep,
                          n=len(self.cut_texts))

    def fitted(self, text: str, style: str, room: float) -> Paragraph:
        """``text`` as a paragraph ``room`` points wide that is at most
        :data:`MAX_CELL_HEIGHT` tall: cut short (with the mark, see :meth:`_cut`) if the
        whole of it would be taller."""
        ps = self.styles[style]
        room = max(room, 1.0)
        lines = MAX_CELL_HEIGHT / ps.leading
        # Every character is at most 1 em wide, so this bounds the lines without measuring.
        if len(text) * ps.fontSize / room + text.count("\n") + 1 <= lines:
            return self.para(text, style)
        # And at least a quarter of an em: a text longer than this cannot fit, and only this
        # much of it is measured (breaking 60,000 characters into lines takes seconds).
        most = int(lines * room / (0.25 * ps.fontSize)) + 1
        sample = text[:most]
        para = self.para(sample, style)
        _w, height = para.wrap(room, 1e9)
        if len(text) <= most and height <= MAX_CELL_HEIGHT:
            return para
        keep = min(len(sample), int(len(sample) * MAX_CELL_HEIGHT / max(height, 1.0) * 0.9))
        while True:
            shown = self._cut(text, keep)
            para = self.para(shown, style)
            _w, height = para.wrap(room, 1e9)
            if height <= MAX_CELL_HEIGHT or keep <= 1:
                return para
            self.cut_texts.pop()  # measured again shorter; only the last cut counts
            keep = int(keep * 0.8)

    def spacer(self, height_mm: float = 3) -> Spacer:
        return Spacer(1, height_mm * mm)

    def table(self, header: Sequence[object], rows: Sequence[Sequence[object]],
              widths: Sequence[float], *, zebra: bool = True,
              extra_style: Sequence[tuple[Any, ...]] = (), caption: str | None = None,
              continued: str | None = None) -> Flowable:
        """A table of any length whose header row repeats on every page and whose cells
        wrap (each at most :data:`MAX_CELL_HEIGHT` tall), laid out a page at a time.

        ``widths`` are fractions of the usable width. Cells may be text (wrapped in a
        Paragraph here) or ready flowables. ``extra_style`` commands address the rows of
        the whole table (0 the header), as reportlab's do. ``caption`` is a band above the
        header on the table's first page, ``continued`` the band on the pages it runs on
        to (so a page in the middle of a long table says what it continues).
        """
        total = sum(widths)
        col_widths = [self.width * w / total for w in widths]
        # Room for a one-line cell: the column less its padding (3 pt each side).
        room = [w - 6.5 for w in col_widths]
        head = [self.fitted("" if h is None else str(h), "cell_head", room[i])
                for i, h in enumerate(header)]
        data = [[self._cell(c, room[i]) for i, c in enumerate(row)] for row in rows]
        cell = self.styles["cell"]
        style: list[tuple[Any, ...]] = [
            # Plain-text cells (see _cell) use the cell style's font.
            ("FONTNAME", (0, 1), (-1, -1), cell.fontName),
            ("FONTSIZE", (0, 1), (-1, -1), cell.fontSize),
            ("LEADING", (0, 1), (-1, -1), cell.leading),
            ("BACKGROUND", (0, 0), (-1, 0), HEADER_RULE),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, -1), 0.25, GRID),
            ("TOPPADDING", (0, 0), (-1, -1), 2.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ]
        if zebra:
            style.append(("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, ZEBRA]))
        style.extend(extra_style)
        band = None
        if caption is not None or continued is not None:
            room_all = sum(col_widths) - 6.5
            band = Caption(
                None if caption is None else self.fitted(caption, "cell_band", room_all),
                None if continued is None else self.fitted(continued, "cell_band", room_all),
                (("SPAN", (0, 0), (-1, 0)), ("BACKGROUND", (0, 0), (-1, 0), BAND),
                 ("VALIGN", (0, 0), (-1, 0), "TOP"), ("LINEBELOW", (0, 0), (-1, 0), 0.25, GRID),
                 ("TOPPADDING", (0, 0), (-1, 0), 2.5), ("BOTTOMPADDING", (0, 0), (-1, 0), 2.5),
                 ("LEFTPADDING", (0, 0), (-1, 0), 3), ("RIGHTPADDING", (0, 0), (-1, 0), 3)))
        return PiecewiseTable(head, data, col_widths, style, caption=band)

    def _cell(self, value: object, room: float) -> Any:
        """A table cell: flowables as they are; short Latin text that fits on one line as a
        plain string (laid out many times faster than a Paragraph); anything else wrapped,
        and cut short if it would be taller than :data:`MAX_CELL_HEIGHT`.
        """
        if isinstance(value, Flowable):
            return value
        text = "" if value is None else str(value)
        if (len(text) < 60 and "\n" not in text and not _CJK.search(text)
                and stringWidth(text, self.fonts.regular, self.styles["cell"].fontSize)
                <= room):
            return text
        return self.fitted(text, "cell", room)

    def key_values(self, pairs: Sequence[tuple[object, object]]) -> Table:
        """A two-column label/value block (patient or study particulars); labels and values
        are cut short, like table cells, if they would be taller than a third of a page."""
        label_w, value_w = self.width * 0.25, self.width * 0.75
        data = [[self.fitted("" if k is None else str(k), "small", label_w - 6),
                 self.fitted("" if v is None else str(v), "body", value_w - 6)]
                for k, v in pairs]
        table = Table(data, colWidths=[label_w, value_w])
        table.setStyle(TableStyle([
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 1),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ]))
        return table

    # ----- rendering ----------------------------------------------------------------------
    def _decorate(self, canvas: rl_canvas.Canvas, doc: BaseDocTemplate) -> None:
        width, height = self.pagesize
        canvas.saveState()
        canvas.setStrokeColor(HEADER_RULE)
        canvas.setLineWidth(0.8)
        canvas.line(MARGIN, height - 14 * mm, width - MARGIN, height - 14 * mm)
        canvas.setFillColor(colors.HexColor("#333333"))
        self._header_text(canvas, MARGIN, height - 12 * mm, _(self.title), self.fonts.bold, 9)
        sub = self.subtitle()
        if sub:
            self._header_text(canvas, width - MARGIN, height - 12 * mm, sub, self.fonts.regular,
                              8, right=True)
        canvas.restoreState()

    def _header_text(self, canvas: rl_canvas.Canvas, x: float, y: float, text: str, font: str,
                     size: float, right: bool = False) -> None:
        """Draw one header line, cut with "…" to half the page width; CJK characters switch
        to the CJK font."""
        draw_text(canvas, x, y, text, font, self.fonts.cjk_for(text), size, right,
                  limit=self.width / 2 - 6)

    def render(self) -> bytes:
        """The finished PDF."""
        buffer = BytesIO()
        width, height = self.pagesize
        doc = BaseDocTemplate(
            buffer, pagesize=self.pagesize, leftMargin=MARGIN, rightMargin=MARGIN,
            topMargin=20 * mm, bottomMargin=16 * mm, title=_(self.title),
            author="GIST Study Tracker", creator=f"GIST Study Tracker {self.context.version}",
        )
        frame = Frame(MARGIN, 16 * mm, width - 2 * MARGIN, height - 36 * mm, id="body",
                      leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
        doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=self._decorate)])
        made = self.context.generated_at.strftime("%Y-%m-%d %H:%M %Z").strip()
        footer = _("Made {when} · GIST Study Tracker {version}{site}").format(
            when=made, version=self.context.version,
            site=f" · {self.context.site}" if self.context.site else "")
        self.cut_texts = []
        story = self.story() or [self.para(_("Nothing to report."))]
        if self.cut_texts:
            story += self.cut_texts_section()
        # The story of a long report is hundreds of thousands of objects that live until
        # the end; without this, each of Python's full collections during the layout walks
        # them all again, and a report twice as long takes more than twice as long.
        gc.freeze()
        try:
            doc.build(story, canvasmaker=_numbered_canvas(
                footer, self.fonts.regular, self.fonts.cjk_for(footer + _("Page {n} of {m}"))))
        finally:
            gc.unfreeze()
        return buffer.getvalue()

    def cut_texts_section(self) -> list[Flowable]:
        """Every text cut short in a cell, whole, numbered as its mark says (paragraphs,
        which reportlab may split across pages at any line)."""
        out: list[Flowable] = [self.heading(_("Texts cut short above, in full")), self.para(
            _("Each of these texts was too long for its place in a table; it is printed "
              "here whole, under the number its mark gives."), "small")]
        for n, text in enumerate(self.cut_texts, start=1):
            out.append(self.para(_("Note {n}").format(n=n), "h3"))
            out += [self.para(piece) for piece in _pieces(text)]
        return out

    def write(self, path: Path) -> None:
        """Render and write to ``path`` (written whole, via a temporary file), readable by
        its owner only: reports hold patient data."""
        data = self.render()
        write_private(path, data)
        log.info("report written: %s (%d bytes)", path.name, len(data))
