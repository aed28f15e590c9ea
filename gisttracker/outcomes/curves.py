"""The geometry of survival and incidence curves, for every drawing of them.

The window (QPainter) and the PDF (reportlab graphics) draw the same curves from these plain
values, so they cannot disagree: the step function's vertices, the censoring marks, the
confidence band as a polygon, the time axis' ticks and the numbers at risk under it.
Times in months; curve values between 0 and 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gisttracker.outcomes.analyse import SurvivalSummary

__all__ = ["Curve", "curve_of", "nice_ticks"]

Point = tuple[float, float]


@dataclass(frozen=True)
class Curve:
    """One group's curve: ``steps`` (vertices of the step function from time 0),
    ``marks`` (censored observations on the curve), ``band`` (the confidence band as a
    closed polygon, empty when there is none) and ``at_risk`` (numbers at risk at each of
    ``ticks``)."""

    group: str | None
    steps: tuple[Point, ...]
    marks: tuple[Point, ...]
    band: tuple[Point, ...]
    ticks: tuple[float, ...]
    at_risk: tuple[int, ...]
    end: float


def _finite(x: float) -> bool:
    return not math.isnan(x) and not math.isinf(x)


def _steps(times: Any, values: Any, start: float) -> list[Point]:
    out: list[Point] = [(0.0, start)]
    level = start
    for t, v in zip(times, values, strict=True):
        t, v = float(t), float(v)
        if not _finite(v):
            break
        if v != level:
            out.append((t, level))
            out.append((t, v))
            level = v
    return out


def _band(times: Any, lower: Any, upper: Any, start: float) -> list[Point]:
    """The band between the lower and upper step functions, while both are defined."""
    top: list[Point] = [(0.0, start)]
    bottom: list[Point] = [(0.0, start)]
    last_up, last_low = start, start
    end = 0.0
    for t, lo, up in zip(times, lower, upper, strict=True):
        t, lo, up = float(t), float(lo), float(up)
        if not (_finite(lo) and _finite(up)):
            if len(top) == 1:
                # Before the first event a cumulative incidence is 0 with no interval
                # (NaN); the band starts at the first event rather than never.
                continue
            break
        top += [(t, last_up), (t, up)]
        bottom += [(t, last_low), (t, lo)]
        last_up, last_low, end = up, lo, t
    if len(top) < 2:
        return []
    top.append((end, last_up))
    bottom.append((end, last_low))
    return top + bottom[::-1]


def nice_ticks(end: float, count: int = 6) -> tuple[float, ...]:
    """Ticks from 0 past ``end`` (months) at a round step: 1, 3, 6, 12, 24… months."""
    if end <= 0:
        return (0.0, 1.0)
    for step in (1, 2, 3, 6, 12, 24, 36, 60, 120):
        if end / step <= count:
            break
    # A curve that ends a day or two past a round time (a 36-month horizon of 1,096 days)
    # ends at that tick rather than adding an empty one.
    n = max(1, math.ceil(end / step - 0.01))
    return tuple(float(step * i) for i in range(n + 1))


def curve_of(summary: SurvivalSummary, *, incidence: bool = False,
             ticks: tuple[float, ...] | None = None) -> Curve | None:
    """The curve of a group's Kaplan–Meier estimate, or (``incidence``) of its cumulative
    incidence of the event; None when the group has none."""
    km = summary.km
    if km is None:
        return None
    end = float(km.time[-1]) if km.time.size else 0.0
    axis = ticks if ticks is not None else nice_ticks(end)
    at_risk = tuple(km.n_risk_at(axis))
    if incidence:
        cif = summary.cif
        if cif is None:
            return None
        steps = _steps(cif.time, cif.estimate, 0.0)
        if steps[-1][0] < end:
            steps.append((end, steps[-1][1]))
        band = _band(cif.time, cif.lower, cif.upper, 0.0)
        marks: list[Point] = []
        return Curve(summary.group, tuple(steps), tuple(marks), tuple(band), axis, at_risk,
                     end)
    steps = _steps(km.time, km.survival, 1.0)
    band = _band(km.time, km.lower, km.upper, 1.0)
    marks = [(float(t), float(s)) for t, s, c in zip(km.time, km.survival, km.n_censor,
                                                     strict=True) if c > 0]
    if steps[-1][0] < end:
        steps.append((end, steps[-1][1]))
    return Curve(summary.group, tuple(steps), tuple(marks), tuple(band), axis, at_risk, end)
