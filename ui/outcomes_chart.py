"""Charts of the Outcomes area, painted with QPainter (PySide6-Essentials has no QtCharts).

* :class:`CurveChart` — Kaplan–Meier (or cumulative incidence) step curves by group, with
  censoring marks, the confidence band on request and the numbers at risk under the time
  axis. The geometry is :mod:`gisttracker.outcomes.curves`, the same the PDF draws.
* :class:`ScoreChart` — a questionnaire scale's mean at each visit, with its 95% interval.
* :class:`RateChart` — a proportion per group with its exact 95% interval.

The charts hold plain values and paint them; nothing here reads the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from gisttracker.i18n import _

if TYPE_CHECKING:
    from gisttracker.outcomes.curves import Curve

#: Group colours (Okabe–Ito, colour-blind safe), as the PDF uses them.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
GRID = QColor("#e3e3e3")
AXIS = QColor("#777777")


@dataclass(frozen=True)
class Series:
    """One group's curve with its name and colour."""

    name: str
    colour: str
    curve: Curve


class _Chart(QWidget):
    """Shared look: white background, a small font, an empty message."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(220)
        self.empty = _("Nothing to draw yet.")

    def sizeHint(self) -> QSize:
        return QSize(640, 340)

    def _begin(self) -> QPainter:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("white"))
        font = QFont(self.font())
        font.setPointSizeF(max(7.5, font.pointSizeF() * 0.9))
        painter.setFont(font)
        return painter

    def _empty(self, painter: QPainter) -> None:
        painter.setPen(AXIS)
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.empty)


class CurveChart(_Chart):
    """Step curves by group, censoring marks, optional bands, numbers at risk."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series: list[Series] = []
        self.incidence = False
        self.bands = False
        self.setAccessibleName(_("Survival curves"))

    def set_series(self, series: Sequence[Series], *, incidence: bool, bands: bool) -> None:
        self.series = list(series)
        self.incidence = incidence
        self.bands = bands
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = self._begin()
        try:
            if not self.series:
                self._empty(painter)
                return
            self._paint(painter)
        finally:
            painter.end()

    def _paint(self, painter: QPainter) -> None:
        small = QFont(painter.font())
        metrics = QFontMetrics(small)
        line = metrics.height()
        ticks = self.series[0].curve.ticks
        bold = QFont(painter.font())
        bold.setBold(True)
        heading = QFontMetrics(bold).horizontalAdvance(_("Number at risk"))
        left = max([metrics.horizontalAdvance(s.name) for s in self.series] + [heading]) + 16
        left = min(max(left, 56), 200)
        risk = line * (len(self.series) + 1) + 8
        top, right = line + 10, 16
        bottom = risk + 2 * line + 8
        plot = QRectF(left, top, max(10.0, self.width() - left - right),
                      max(10.0, self.height() - top - bottom))
        tmax = ticks[-1] or 1.0

        def x(t: float) -> float:
            return plot.left() + plot.width() * min(t, tmax) / tmax

        def y(v: float) -> float:
            return plot.bottom() - plot.height() * v

        painter.setPen(QPen(GRID, 1))
        for v in (0.25, 0.5, 0.75, 1.0):
            painter.drawLine(QPointF(plot.left(), y(v)), QPointF(plot.right(), y(v)))
        painter.setPen(QPen(AXIS, 1))
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        painter.drawLine(plot.bottomLeft(), plot.topLeft())
        for v in (0.0, 0.25, 0.5, 0.75, 1.0):
            label = f"{100 * v:.0f}%"
            painter.drawText(QRectF(0, y(v) - line / 2, plot.left() - 6, line),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
        for t in ticks:
            painter.drawLine(QPointF(x(t), plot.bottom()), QPointF(x(t), plot.bottom() + 4))
            painter.drawText(QRectF(x(t) - 30, plot.bottom() + 4, 60, line),
                             Qt.AlignmentFlag.AlignHCenter, f"{t:g}")
        painter.drawText(QRectF(plot.left(), plot.bottom() + 4 + line, plot.width(), line),
                         Qt.AlignmentFlag.AlignRight, _("Months from the origin"))
        for s in self.series:
            colour = QColor(s.colour)
            if self.bands and s.curve.band:
                fill = QColor(colour)
                fill.setAlpha(40)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(fill)
                painter.drawPolygon(QPolygonF([QPointF(x(t), y(v)) for t, v in s.curve.band]))
                painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(colour, 2))
            points = [QPointF(x(t), y(v)) for t, v in s.curve.steps]
            painter.drawPolyline(QPolygonF(points))
            painter.setPen(QPen(colour, 1.2))
            for t, v in s.curve.marks:
                painter.drawLine(QPointF(x(t), y(v) - 4), QPointF(x(t), y(v) + 4))
        # Legend along the top.
        cursor = plot.left() + 4
        for s in self.series:
            painter.setPen(QPen(QColor(s.colour), 3))
            painter.drawLine(QPointF(cursor, line / 2 + 3), QPointF(cursor + 18, line / 2 + 3))
            painter.setPen(QColor("#222222"))
            width = metrics.horizontalAdvance(s.name)
            painter.drawText(QRectF(cursor + 22, 2, width + 4, line),
                             Qt.AlignmentFlag.AlignLeft, s.name)
            cursor += 34 + width
        # Numbers at risk.
        base = self.height() - risk
        painter.setFont(bold)
        painter.setPen(QColor("#222222"))
        painter.drawText(QRectF(0, base, plot.left(), line), Qt.AlignmentFlag.AlignLeft,
                         _("Number at risk"))
        painter.setFont(small)
        for i, s in enumerate(self.series, start=1):
            row = base + i * line
            painter.setPen(QColor(s.colour))
            painter.drawText(QRectF(0, row, plot.left() - 6, line),
                             Qt.AlignmentFlag.AlignLeft,
                             metrics.elidedText(s.name, Qt.TextElideMode.ElideRight,
                                                int(plot.left() - 8)))
            painter.setPen(QColor("#222222"))
            for t, n in zip(s.curve.ticks, s.curve.at_risk, strict=True):
                painter.drawText(QRectF(x(t) - 30, row, 60, line),
                                 Qt.AlignmentFlag.AlignHCenter, str(n))


@dataclass(frozen=True)
class ScorePoint:
    """A scale at one visit: its name, n, mean and interval (None when unknown)."""

    label: str
    n: int
    mean: float | None
    lower: float | None
    upper: float | None


class ScoreChart(_Chart):
    """Mean score at each visit with its 95% interval, joined by a line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[ScorePoint] = []
        self.top = 100.0
        self.setAccessibleName(_("Scores over time"))

    def set_points(self, points: Sequence[ScorePoint], top: float) -> None:
        self.points = list(points)
        self.top = top
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = self._begin()
        try:
            if not any(p.mean is not None for p in self.points):
                self._empty(painter)
                return
            metrics = QFontMetrics(painter.font())
            line = metrics.height()
            plot = QRectF(48, line, max(10.0, self.width() - 64),
                          max(10.0, self.height() - 4 * line - 8))

            def y(v: float) -> float:
                return plot.bottom() - plot.height() * max(0.0, min(v, self.top)) / self.top

            painter.setPen(QPen(GRID, 1))
            for v in (self.top / 4, self.top / 2, 3 * self.top / 4, self.top):
                painter.drawLine(QPointF(plot.left(), y(v)), QPointF(plot.right(), y(v)))
            painter.setPen(QPen(AXIS, 1))
            painter.drawLine(plot.bottomLeft(), plot.bottomRight())
            painter.drawLine(plot.bottomLeft(), plot.topLeft())
            for v in (0.0, self.top / 2, self.top):
                painter.drawText(QRectF(0, y(v) - line / 2, plot.left() - 6, line),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                                 f"{v:g}")
            step = plot.width() / len(self.points)
            colour = QColor(PALETTE[0])
            joined: list[QPointF] = []
            for i, p in enumerate(self.points):
                cx = plot.left() + step * (i + 0.5)
                painter.setPen(QColor("#222222"))
                painter.drawText(QRectF(cx - step / 2, plot.bottom() + 4, step, line),
                                 Qt.AlignmentFlag.AlignHCenter,
                                 metrics.elidedText(p.label, Qt.TextElideMode.ElideRight,
                                                    int(step - 4)))
                painter.drawText(QRectF(cx - step / 2, plot.bottom() + 4 + line, step, line),
                                 Qt.AlignmentFlag.AlignHCenter, _("n = {n}").format(n=p.n))
                if p.mean is None:
                    continue
                painter.setPen(QPen(colour, 1.5))
                if p.lower is not None and p.upper is not None:
                    painter.drawLine(QPointF(cx, y(p.lower)), QPointF(cx, y(p.upper)))
                    painter.drawLine(QPointF(cx - 4, y(p.lower)), QPointF(cx + 4, y(p.lower)))
                    painter.drawLine(QPointF(cx - 4, y(p.upper)), QPointF(cx + 4, y(p.upper)))
                painter.setBrush(colour)
                painter.drawEllipse(QPointF(cx, y(p.mean)), 3.5, 3.5)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                joined.append(QPointF(cx, y(p.mean)))
            if len(joined) > 1:
                painter.setPen(QPen(colour, 1.5))
                painter.drawPolyline(QPolygonF(joined))
        finally:
            painter.end()


@dataclass(frozen=True)
class Rate:
    """A group's proportion with its interval (None: no evaluable patient)."""

    name: str
    colour: str
    estimate: float | None
    lower: float | None
    upper: float | None
    text: str


class RateChart(_Chart):
    """One horizontal bar per group (the rate) with its exact interval as a whisker."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rates: list[Rate] = []
        self.setMinimumHeight(140)
        self.setAccessibleName(_("Rates"))

    def set_rates(self, rates: Sequence[Rate]) -> None:
        self.rates = list(rates)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = self._begin()
        try:
            if not self.rates:
                self._empty(painter)
                return
            metrics = QFontMetrics(painter.font())
            line = metrics.height()
            left = min(max(metrics.horizontalAdvance(r.name) for r in self.rates) + 14,
                       self.width() // 3)
            right = max(metrics.horizontalAdvance(r.text) for r in self.rates) + 16
            plot = QRectF(left, line, max(10.0, self.width() - left - right),
                          max(10.0, self.height() - 3 * line))
            band = plot.height() / len(self.rates)

            def x(v: float) -> float:
                return plot.left() + plot.width() * v

            painter.setPen(QPen(GRID, 1))
            for v in (0.25, 0.5, 0.75, 1.0):
                painter.drawLine(QPointF(x(v), plot.top()), QPointF(x(v), plot.bottom()))
            painter.setPen(QPen(AXIS, 1))
            painter.drawLine(plot.bottomLeft(), plot.bottomRight())
            for v in (0.0, 0.5, 1.0):
                painter.drawText(QRectF(x(v) - 30, plot.bottom() + 2, 60, line),
                                 Qt.AlignmentFlag.AlignHCenter, f"{100 * v:.0f}%")
            for i, r in enumerate(self.rates):
                top = plot.top() + band * i
                mid = top + band / 2
                painter.setPen(QColor("#222222"))
                painter.drawText(QRectF(0, mid - line / 2, left - 8, line),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                                 metrics.elidedText(r.name, Qt.TextElideMode.ElideRight,
                                                    int(left - 10)))
                painter.drawText(QRectF(plot.right() + 8, mid - line / 2, right, line),
                                 Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                                 r.text)
                if r.estimate is None:
                    continue
                colour = QColor(r.colour)
                fill = QColor(colour)
                fill.setAlpha(150)
                height = min(band * 0.55, 26.0)
                painter.fillRect(QRectF(plot.left(), mid - height / 2,
                                        plot.width() * r.estimate, height), fill)
                if r.lower is not None and r.upper is not None:
                    painter.setPen(QPen(QColor("#222222"), 1.5))
                    painter.drawLine(QPointF(x(r.lower), mid), QPointF(x(r.upper), mid))
                    painter.drawLine(QPointF(x(r.lower), mid - 5), QPointF(x(r.lower), mid + 5))
                    painter.drawLine(QPointF(x(r.upper), mid - 5), QPointF(x(r.upper), mid + 5))
        finally:
            painter.end()
