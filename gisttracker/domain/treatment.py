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

The retrospective cohort's duration group is taken from the *calendar* months between the
first preoperative dose and the last one (:func:`duration_group`); the day counts and
``months = days_on_drug / 30.4375`` are for reporting only.

The neoadjuvant timing window (3–12 months of preoperative imatinib, surgery within 7 days of
the last dose) is the one specified for study NCT04933669 in this project.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from dateutil.relativedelta import relativedelta

from gisttracker.i18n import _, join_list
from gisttracker.protocols.model import Period

PHASES: Final = ("preoperative", "postoperative", "palliative", "other")
DurationGroup = Literal["SHORT", "MID", "LONG"]

#: Average length of a month in days (365.25 / 12).
DAYS_PER_MONTH: Final = 30.4375
#: Neoadjuvant window of NCT04933669.
MIN_PREOP_MONTHS: Final = 3
MAX_PREOP_MONTHS: Final = 12
MAX_DAYS_LAST_DOSE_TO_SURGERY: Final = 7


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
            raise ValueError(_("dose_mg_per_day must be > 0, got {value}").format(
                value=f"{self.dose_mg_per_day:g}"))
        if self.stop is not None and self.stop < self.start:
            raise ValueError(_("stop ({stop}) must not be before start ({start})").format(
                stop=self.stop.isoformat(), start=self.start.isoformat()))
        if self.phase not in PHASES:
            raise ValueError(_("phase must be one of {choices}, got {value!r}").format(
                choices=join_list(PHASES), value=self.phase))


@dataclass(frozen=True)
class Interruption:
    """Days off drug, ``start`` to ``end`` inclusive (``end=None``: still interrupted)."""

    start: dt.date
    end: dt.date | None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.end is not None and self.end < self.start:
            raise ValueError(_("end ({end}) must not be before start ({start})").format(
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
    2025 exactly 6 months (as is 30 August → 28 February). Raises ValueError when ``stop``
    is before ``start``.
    """
    if stop < start:
        raise ValueError(_("stop ({stop}) must not be before start ({start})").format(
            stop=stop.isoformat(), start=start.isoformat()))
    delta = relativedelta(stop, start)
    months = delta.years * 12 + delta.months
    return months, (stop - (start + relativedelta(months=months))).days


def duration_group(start: dt.date, stop: dt.date) -> DurationGroup:
    """Duration group of preoperative imatinib from its first to its last dose day.

    From the calendar-month difference ``relativedelta(stop, start)``: up to exactly 6
    months → "SHORT"; more than 6 months (6 months + 1 day, "just over 6") up to exactly
    12 months → "MID"; more than 12 months → "LONG". Raises ValueError when ``stop`` is
    before ``start``.
    """
    months, days = calendar_months_between(start, stop)
    if months < 6 or (months == 6 and days == 0):
        return "SHORT"
    if months < 12 or (months == 12 and days == 0):
        return "MID"
    return "LONG"


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
    (ValueError otherwise: the last dose must be recorded to know the duration). A stop on
    or after the surgery day is kept as recorded; :func:`check_neoadjuvant_timing` reports
    it.
    """
    preop = [e for e in exposures if e.phase == "preoperative"]
    if not preop:
        return None
    stops: list[dt.date] = []
    for e in preop:
        if e.start >= surgery_date:
            raise ValueError(_("preoperative exposure to {drug} starts on {start}, not before "
                               "the surgery ({surgery})").format(
                drug=e.drug, start=e.start.isoformat(), surgery=surgery_date.isoformat()))
        if e.stop is None:
            raise ValueError(_("preoperative exposure to {drug} from {start} has no stop "
                               "date").format(drug=e.drug, start=e.start.isoformat()))
        stops.append(e.stop)
    return _phase_duration(preop, interruptions, max(stops))


def postoperative_duration(exposures: Iterable[Exposure],
                           interruptions: Iterable[Interruption], surgery_date: dt.date, *,
                           until: dt.date) -> PhaseDuration | None:
    """Duration of the exposures of phase "postoperative" up to ``until`` (normally today).

    An exposure without stop, or stopping after ``until``, counts up to ``until``; the last
    stop is then ``until``. None when there is no postoperative exposure or none started by
    ``until``. An exposure starting before ``surgery_date`` raises ValueError.
    """
    postop = [e for e in exposures if e.phase == "postoperative"]
    for e in postop:
        if e.start < surgery_date:
            raise ValueError(_("postoperative exposure to {drug} starts on {start}, before "
                               "the surgery ({surgery})").format(
                drug=e.drug, start=e.start.isoformat(), surgery=surgery_date.isoformat()))
    postop = [e for e in postop if e.start <= until]
    if not postop:
        return None
    last_stop = max(min(e.stop or until, until) for e in postop)
    return _phase_duration(postop, interruptions, last_stop)


def check_neoadjuvant_timing(preop_start: dt.date, last_preop_dose: dt.date,
                             surgery: dt.date) -> list[str]:
    """Problems with the preoperative imatinib window of NCT04933669; empty if fine.

    * the last dose must not be before the first;
    * preoperative imatinib, first to last dose in calendar months, must last at least 3
      months (exactly 3 is fine) and at most 12 (exactly 12 is fine, 12 months + 1 day is
      not);
    * surgery must not be before the last preoperative dose (the same day is allowed) and
      not more than 7 days after it (exactly 7 is fine).
    """
    problems: list[str] = []
    if last_preop_dose < preop_start:
        problems.append(_("the last preoperative dose ({last}) is before the first "
                          "({first})").format(last=last_preop_dose.isoformat(),
                                              first=preop_start.isoformat()))
    else:
        months, days = calendar_months_between(preop_start, last_preop_dose)
        if months < MIN_PREOP_MONTHS:
            problems.append(_("preoperative imatinib lasted {duration}, shorter than "
                              "{limit}").format(duration=Period(months, 0, days).describe(),
                                                limit=Period(MIN_PREOP_MONTHS).describe()))
        elif months > MAX_PREOP_MONTHS or (months == MAX_PREOP_MONTHS and days > 0):
            problems.append(_("preoperative imatinib lasted {duration}, longer than "
                              "{limit}").format(duration=Period(months, 0, days).describe(),
                                                limit=Period(MAX_PREOP_MONTHS).describe()))
    gap = (surgery - last_preop_dose).days
    if gap < 0:
        problems.append(_("surgery ({surgery}) is before the last preoperative dose "
                          "({last})").format(surgery=surgery.isoformat(),
                                             last=last_preop_dose.isoformat()))
    elif gap > MAX_DAYS_LAST_DOSE_TO_SURGERY:
        problems.append(_("surgery is {days} days after the last preoperative dose; at most "
                          "{max} are allowed").format(days=gap,
                                                      max=MAX_DAYS_LAST_DOSE_TO_SURGERY))
    return problems
