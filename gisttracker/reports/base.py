"""The shared base of every PDF report: page templates, fonts, header, footer, tables.

A report is two steps: gather the data into plain values (a query step that knows the
store), then lay it out here (no queries). :meth:`Report.render` returns the PDF as bytes.
Every page carries the report title and study in the header and, in the footer, when the
report was made, the application version and "Page N of M".
"""

from __future__ import annotations

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
    LongTable,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from gisttracker import __version__
from gisttracker.errors import InputError
from gisttracker.i18n import _, join_list
from gisttracker.reports.fonts import _CJK, fonts, markup

PAPERS = {"a4": A4, "letter": LETTER}
MARGIN = 16 * mm
HEADER_RULE = colors.HexColor("#1f5f8b")
ZEBRA = colors.HexColor("#f2f6f9")
GRID = colors.HexColor("#b8c7d3")

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
        "title": ParagraphStyle("title", parent=base, fontName=f.bold, fontSize=15,
                                leading=19, spaceAfter=4),
        "h2": ParagraphStyle("h2", parent=base, fontName=f.bold, fontSize=11.5, leading=14,
                             spaceBefore=8, spaceAfter=4, textColor=HEADER_RULE),
        "h3": ParagraphStyle("h3", parent=base, fontName=f.bold, fontSize=9.5, leading=12,
                             spaceBefore=6, spaceAfter=2),
    }


def draw_text(canvas: rl_canvas.Canvas, x: float, y: float, text: str, font: str,
              cjk_font: str, size: float, right: bool = False) -> None:
    """Draw one line straight on the canvas (header, footer): runs of CJK characters in the
    CJK font, the rest in ``font``; ``right`` aligns the line's end at ``x``."""
    pieces = [p for p in _CJK.split(text) if p]
    runs = [(p, cjk_font if _CJK.fullmatch(p) else font) for p in pieces]
    total = sum(canvas.stringWidth(p, f, size) for p, f in runs)
    cursor = x - total if right else x
    for piece, f in runs:
        canvas.setFont(f, size)
        canvas.drawString(cursor, y, piece)
        cursor += canvas.stringWidth(piece, f, size)


def text_runs(text: str, font: str, cjk_font: str) -> list[tuple[str, str]]:
    """``text`` cut into (piece, font) runs: CJK characters in ``cjk_font``, the rest in
    ``font`` (for text drawn straight on a canvas or in a drawing, not in a Paragraph)."""
    return [(p, cjk_font if _CJK.fullmatch(p) else font) for p in _CJK.split(text) if p]


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


def wrap_text(text: str, font: str, cjk_font: str, size: float, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width`` points: at spaces between Latin
    words, and between any two Chinese characters (never before closing punctuation)."""
    lines: list[str] = []
    line = ""
    for token in _TOKENS.findall(text):
        candidate = line + token
        if (not line or text_width(candidate.rstrip(), font, cjk_font, size) <= width
                or token.isspace() or token in _NO_LINE_START):
            line = candidate
        else:
            lines.append(line.rstrip())
            line = token
    lines.append(line.rstrip())
    return [x for x in lines if x] or [""]


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
                draw_text(self, MARGIN, 9 * mm, footer_left, font, cjk_font, 7.5)
                draw_text(self, width - MARGIN, 9 * mm, _("Page {n} of {m}").format(
                    n=self._pageNumber, m=total), font, cjk_font, 7.5, right=True)
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
        if _CJK.search(plain):
            return Paragraph(markup(plain), self.styles[style])
        return Paragraph(markup(plain), self._latin[style])

    def rich(self, html: str, style: str = "body") -> Paragraph:
        """A paragraph from trusted markup (already escaped by the caller)."""
        return Paragraph(html, self.styles[style])

    def heading(self, text: object, level: int = 2) -> Paragraph:
        return self.para(text, f"h{level}")

    def spacer(self, height_mm: float = 3) -> Spacer:
        return Spacer(1, height_mm * mm)

    def table(self, header: Sequence[object], rows: Sequence[Sequence[object]],
              widths: Sequence[float], *, zebra: bool = True,
              extra_style: Sequence[tuple[Any, ...]] = ()) -> Table:
        """A table whose header row repeats on every page and whose cells wrap.

        ``widths`` are fractions of the usable width. Cells may be text (wrapped in a
        Paragraph here) or ready flowables.
        """
        total = sum(widths)
        col_widths = [self.width * w / total for w in widths]
        data: list[list[Any]] = [[self.para(h, "cell_head") for h in header]]
        # Room for a one-line cell: the column less its padding (3 pt each side).
        room = [w - 6.5 for w in col_widths]
        for row in rows:
            data.append([self._cell(c, room[i]) for i, c in enumerate(row)])
        table_class = LongTable if len(data) > 200 else Table
        table = table_class(data, colWidths=col_widths, repeatRows=1, splitByRow=True)
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
        table.setStyle(TableStyle(style))
        return table

    def _cell(self, value: object, room: float) -> Any:
        """A table cell: flowables as they are; short Latin text that fits on one line as a
        plain string (laid out many times faster than a Paragraph); anything else wrapped.
        """
        if isinstance(value, Flowable):
            return value
        text = "" if value is None else str(value)
        if (len(text) < 60 and "\n" not in text and not _CJK.search(text)
                and stringWidth(text, self.fonts.regular, self.styles["cell"].fontSize)
                <= room):
            return text
        return self.para(text, "cell")

    def key_values(self, pairs: Sequence[tuple[object, object]]) -> Table:
        """A two-column label/value block (patient or study particulars)."""
        data = [[self.para(k, "small"), self.para(v)] for k, v in pairs]
        table = Table(data, colWidths=[self.width * 0.25, self.width * 0.75])
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
        """Draw one header line; CJK characters switch to the CJK font."""
        draw_text(canvas, x, y, text, font, self.fonts.cjk, size, right)

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
        story = self.story() or [self.para(_("Nothing to report."))]
        doc.build(story, canvasmaker=_numbered_canvas(footer, self.fonts.regular,
                                                      self.fonts.cjk))
        return buffer.getvalue()

    def write(self, path: Path) -> None:
        """Render and write to ``path`` (written whole, via a temporary file)."""
        data = self.render()
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        log.info("report written: %s (%d bytes)", path.name, len(data))
