"""Imatinib exposure: days on drug, pre- and postoperative durations, duration groups.

Units: doses in mg per day; durations in calendar days, in calendar months (computed with
``dateutil.relativedelta``, so 31 January + 1 month = 29 February in a leap year) and in
"average" months of 30.4375 days (365.25 / 12).

Conventions:

* an exposure runs from ``start`` to ``stop`` both inclusive (``stop`` is the day of the
  last dose); ``stop=None`` means still on drug;
* an interruption runs from ``start`` to ``end`` both inclusive (``end`` is the last day
  without drug; the drug is taken again the day after); ``end=None`` means still
  interrupted. Interruptions apply to whichever exposure covers those days;
* overlapping exposures (a dose change recorded with the same day twice) count each day
  once.

Every limit on a treatment is a study rule and lives in the study's protocol file: the
retrospective cohort's duration groups (``[allocation] groups``, decided by
:func:`gisttracker.domain.allocation.duration_group` in calendar months), the time between
two anchor dates (``[[timing_rules]]``, checked by
:func:`gisttracker.domain.schedule.check_timing`) and the length of a treatment phase
(``[[treatment_rules]]``, checked by :func:`check_treatment_rule`). The day counts and
``months = days_on_drug / 30.4375`` are for reporting only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from dateutil.relativedelta import relativedelta

from gisttracker.errors import InputError
from gisttracker.i18n import _, join_list
from gisttracker.protocols.catalogue import TREATMENT_PHASES
from gisttracker.protocols.model import Period, TreatmentRule

#: The phases of a treatment exposure (the protocol catalogue's vocabulary).
PHASES: Final = TREATMENT_PHASES

#: Average length of a month in days (365.25 / 12).
DAYS_PER_MONTH: Final = 30.4375


@dataclass(frozen=True)
class Exposure:
    """A period on one drug at one daily dose (mg/day); ``stop`` is the last dose day."""

    drug: str
    dose_mg_per_day: float
    start: dt.date
    stop: dt.date | None
    phase: str

    def __post_init__(self) -> None:
        if not self.dose_mg_per_day > 0:
            raise InputError(_("dose_mg_per_day must be > 0, got {value}").format(
                value=f"{self.dose_mg_per_day:g}"))
        if self.stop is not None and self.stop < self.start:
            raise InputError(_("stop ({stop}) must not be before start ({start})").format(
                stop=self.stop.isoformat(), start=self.start.isoformat()))
        if self.phase not in PHASES:
            raise InputError(_("phase must be one of {choices}, got {value!r}").format(
                choices=join_list(PHASES), value=self.phase))


@dataclass(frozen=True)
class Interruption:
    """Days off drug, ``start`` to ``end`` inclusive (``end=None``: still interrupted)."""

    start: dt.date
    end: dt.date | None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.end is not None and self.end < self.start:
            raise InputError(_("end ({end}) must not be before start ({start})").format(
                end=self.end.isoformat(), start=self.start.isoformat()))


@dataclass(frozen=True)
class PhaseDuration:
    """Duration of one treatment phase.

    ``first_start``/``last_stop``: first and last dose days of the phase. ``days_on_drug``:
    calendar days on drug between them, interruptions removed. ``calendar_months`` and
    ``extra_days``: whole calendar months and remaining days from ``first_start`` to
    ``last_stop`` (``relativedelta``; interruptions not removed) — what
    :func:`duration_group` uses. ``months``: ``days_on_drug / 30.4375``.
    """

    first_start: dt.date
    last_stop: dt.date
    days_on_drug: int
    calendar_months: int
    extra_days: int
    months: float


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def days_on_drug(exposures: Iterable[Exposure], interruptions: Iterable[Interruption], *,
                 until: dt.date) -> int:
    """Calendar days on drug up to and including ``until``, interruptions removed.

    Each exposure counts ``start`` … ``stop`` inclusive (an open exposure up to ``until``);
    days covered by several exposures count once; days of an interruption (``start`` …
    ``end`` inclusive, an open one up to ``until``) are removed. Nothing after ``until``
    counts.
    """
    last = until.toordinal()
    on = _merge(
        (e.start.toordinal(), min(last, (e.stop or until).toordinal()))
        for e in exposures if e.start.toordinal() <= last)
    off = _merge(
        (i.start.toordinal(), min(last, (i.end or until).toordinal()))
        for i in interruptions if i.start.toordinal() <= last)
    total = 0
    for low, high in on:
        total += high - low + 1
        for off_low, off_high in off:
            overlap = min(high, off_high) - max(low, off_low) + 1
            if overlap > 0:
                total -= overlap
    return total


def calendar_months_between(start: dt.date, stop: dt.date) -> tuple[int, int]:
    """Whole calendar months and remaining days from ``start`` to ``stop`` (relativedelta).

    Adding months to a day missing from the target month lands on that month's last day,
    so 31 January → 29 February 2024 is exactly 1 month and 31 August 2024 → 28 February
    2025 exactly 6 months (as is 30 August → 28 February). Raises InputError when ``stop``
    is before ``start``.
    """
    if stop < start:
        raise InputError(_("stop ({stop}) must not be before start ({start})").format(
            stop=stop.isoformat(), start=start.isoformat()))
    delta = relativedelta(stop, start)
    months = delta.years * 12 + delta.months
    return months, (stop - (start + relativedelta(months=months))).days


def _phase_duration(exposures: Sequence[Exposure], interruptions: Iterable[Interruption],
                    last_stop: dt.date) -> PhaseDuration:
    first_start = min(e.start for e in exposures)
    days = days_on_drug(exposures, interruptions, until=last_stop)
    months, extra = calendar_months_between(first_start, last_stop)
    return PhaseDuration(first_start, last_stop, days, months, extra, days / DAYS_PER_MONTH)


def preoperative_duration(exposures: Iterable[Exposure],
                          interruptions: Iterable[Interruption],
                          surgery_date: dt.date) -> PhaseDuration | None:
    """Duration of the exposures of phase "preoperative"; None when there are none.

    Every preoperative exposure must start before ``surgery_date`` and have a stop date
    (InputError otherwise: the last dose must be recorded to know the duration). A stop on
    or after the surgery day is kept as recorded; the protocol's timing rules report it.
    """
    preop = [e for e in exposures if e.phase == "preoperative"]
    if not preop:
        return None
    stops: list[dt.date] = []
    for e in preop:
        if e.start >= surgery_date:
            raise InputError(_("preoperative exposure to {drug} starts on {start}, not before "
                               "the surgery ({surgery})").format(
                drug=e.drug, start=e.start.isoformat(), surgery=surgery_date.isoformat()))
        if e.stop is None:
            raise InputError(_("preoperative exposure to {drug} from {start} has no stop "
                               "date").format(drug=e.drug, start=e.start.isoformat()))
        stops.append(e.stop)
    return _phase_duration(preop, interruptions, max(stops))


def postoperative_duration(exposures: Iterable[Exposure],
                           interruptions: Iterable[Interruption], surgery_date: dt.date, *,
                           until: dt.date) -> PhaseDuration | None:
    """Duration of the exposures of phase "postoperative" up to ``until`` (normally today).

    An exposure without stop, or stopping after ``until``, counts up to ``until``; the last
    stop is then ``until``. None when there is no postoperative exposure or none started by
    ``until``. An exposure starting before ``surgery_date`` raises InputError.
    """
    postop = [e for e in exposures if e.phase == "postoperative"]
    for e in postop:
        if e.start < surgery_date:
            raise InputError(_("postoperative exposure to {drug} starts on {start}, before "
                               "the surgery ({surgery})").format(
                drug=e.drug, start=e.start.isoformat(), surgery=surgery_date.isoformat()))
    postop = [e for e in postop if e.start <= until]
    if not postop:
        return None
    last_stop = max(min(e.stop or until, until) for e in postop)
    return _phase_duration(postop, interruptions, last_stop)


def check_treatment_rule(rule: TreatmentRule, exposures: Iterable[Exposure], *,
                         until: dt.date) -> str | None:
    """The problem with one protocol treatment rule (``[[treatment_rules]]``), or None.

    The rule bounds the time on ``rule.drug`` in ``rule.phase``: from the first dose day of
    the phase's exposures to the last one (an open exposure, or one stopping after
    ``until``, counts up to ``until``), in calendar periods (:class:`Period`, so "at most 36
    months" allows exactly 36 months and refuses 36 months and a day). A minimum is judged
    only once every exposure of the phase has stopped: a course still running is not yet
    too short. No exposure of the phase: None.
    """
    chosen = [e for e in exposures
              if e.drug == rule.drug and e.phase == rule.phase and e.start <= until]
    if not chosen:
        return None
    first = min(e.start for e in chosen)
    running = any(e.stop is None or e.stop > until for e in chosen)
    last = until if running else max(e.stop for e in chosen if e.stop is not None)
    months, days = calendar_months_between(first, last)
    elapsed = Period(months, 0, days).describe()
    if rule.max is not None and last > rule.max.after(first):
        return _("{rule}: it lasted {elapsed}, longer than {limit}").format(
            rule=rule.description, elapsed=elapsed, limit=rule.max.describe())
    if rule.min is not None and not running and last < rule.min.after(first):
        return _("{rule}: it lasted {elapsed}, shorter than {limit}").format(
            rule=rule.description, elapsed=elapsed, limit=rule.min.describe())
    return None
