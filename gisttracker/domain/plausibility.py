"""Plausibility bounds shared by the services and the window: dates, doses and counts that
cannot be right, refused where they are typed and again where they are saved.

Nothing here is clinical judgement. These are the limits outside which a value is a typing
mistake (a visit on 0001-01-01, imatinib 10^30 mg/day, a mitotic count of 10^9): the window
says so beside the field, and the service refuses the same value with the same sentence
when it comes from the command line or a script. Each function returns the message for the
user, or None when the value is plausible; callers decide how to raise it (a field error in
a form, a :class:`~gisttracker.services.base.ServiceError` in a service).

Date conventions: calendar dates (:class:`datetime.date`); "today" is always a parameter.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime

from dateutil.relativedelta import relativedelta

from gisttracker.errors import InputError
from gisttracker.i18n import _

#: No date of a patient's life or care recorded here is earlier than this.
EARLIEST = date(1900, 1, 1)
#: How far ahead a date of something planned (an operation, an anchor) may lie.
PLANNING_HORIZON = relativedelta(years=2)
#: The oldest a patient can plausibly be (years).
MAX_AGE_YEARS = 120

#: Highest plausible daily dose (mg/day) of the drugs these studies use. Each is at or above
#: the highest daily dose in the drug's label (imatinib 800 mg/day, 400 mg twice daily, for
#: progressing GIST; sunitinib 50 mg/day on 4/2 or 37.5 mg/day continuous; regorafenib
#: 160 mg/day; ripretinib 150 mg twice daily after progression; avapritinib 300 mg/day),
#: with room for a dose typed in the wrong unit to still be caught. Other drugs: 5,000 mg/day.
MAX_DAILY_DOSE_MG: dict[str, float] = {
    "imatinib": 1000.0,
    "sunitinib": 100.0,
    "regorafenib": 200.0,
    "ripretinib": 300.0,
    "avapritinib": 400.0,
}
ANY_DRUG_MAX_DAILY_DOSE_MG = 5000.0
#: Mitoses per 50 high-power fields or per 5 mm² (NIH-2008 uses > 10 as its top band).
MAX_MITOTIC_COUNT = 1000.0
#: Largest plausible tumour diameter (cm) — larger is a value typed in mm.
MAX_TUMOUR_SIZE_CM = 100.0

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


class DateTextError(InputError):
    """Text that is not a calendar date; the message says how to type one."""


def parse_date(text: str) -> date | None:
    """The date typed as ``text``: ISO ``YYYY-MM-DD`` (also ``YYYY/MM/DD`` and
    ``YYYY.MM.DD``) or eight digits ``YYYYMMDD``. Empty text gives None.

    Exactly the date typed, or :class:`DateTextError` — never a guess (no two-digit years,
    no day/month swaps, no "nearest valid day").
    """
    value = text.strip()
    if not value:
        return None
    value = value.replace("/", "-").replace(".", "-")
    match = _ISO.match(value) or _COMPACT.match(value)
    if match is None:
        raise DateTextError(_("{text!r} is not a date: type it as YYYY-MM-DD").format(
            text=text.strip()))
    year, month, day = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise DateTextError(_("{text!r} is not a day of the calendar").format(
            text=text.strip())) from None


@dataclass(frozen=True)
class DateContext:
    """What a date of one patient is judged against: today, birth and death (if known)."""

    today: date
    birth: date | None = None
    death: date | None = None


def date_problem(value: date, *, today: date, label: str = "", past: bool = True,
                 birth: date | None = None, death: date | None = None,
                 after: tuple[date, str] | None = None,
                 before: tuple[date, str] | None = None) -> str | None:
    """Why ``value`` cannot be the date of this field, or None when it can.

    * never before 1900 (:data:`EARLIEST`);
    * ``past``: the field records something that happened, so not after ``today``;
      otherwise (a planned date) not more than :data:`PLANNING_HORIZON` ahead;
    * not before the patient's ``birth`` and not after their ``death``;
    * ``after=(day, what)``: not before ``day`` (e.g. the enrollment);
      ``before=(day, what)``: not after ``day``.

    ``label`` names the field at the start of the message (the service's messages need
    it; beside a field in the window it may be left out).
    """
    if isinstance(value, datetime) or not isinstance(value, date):
        return _with(label, _("not a date"))
    when = value.isoformat()
    if value < EARLIEST:
        return _with(label, _("{date} is before 1900: check the year").format(date=when))
    if past and value > today:
        return _with(label, _("{date} is in the future (today is {today})").format(
            date=when, today=today.isoformat()))
    if not past and value > today + PLANNING_HORIZON:
        return _with(label, _("{date} is more than two years ahead: check the year").format(
            date=when))
    if birth is not None and value < birth:
        return _with(label, _("{date} is before the date of birth ({birth})").format(
            date=when, birth=birth.isoformat()))
    if death is not None and value > death:
        return _with(label, _("{date} is after the death ({death})").format(
            date=when, death=death.isoformat()))
    if after is not None and value < after[0]:
        return _with(label, _("{date} is before {what} ({other})").format(
            date=when, what=after[1], other=after[0].isoformat()))
    if before is not None and value > before[0]:
        return _with(label, _("{date} is after {what} ({other})").format(
            date=when, what=before[1], other=before[0].isoformat()))
    return None


def birth_date_problem(value: date, *, today: date, label: str = "") -> str | None:
    """A date of birth: not in the future, not more than :data:`MAX_AGE_YEARS` ago."""
    problem = date_problem(value, today=today, label=label)
    if problem is not None:
        return problem
    if value < today - relativedelta(years=MAX_AGE_YEARS):
        return _with(label, _("{date} is more than {years} years ago").format(
            date=value.isoformat(), years=MAX_AGE_YEARS))
    return None


def dose_problem(drug: str, mg_per_day: float, *, label: str = "") -> str | None:
    """A daily dose in mg: more than 0 and not above the drug's plausible ceiling."""
    if isinstance(mg_per_day, bool) or not isinstance(mg_per_day, int | float) \
            or not math.isfinite(mg_per_day):
        return _with(label, _("the dose must be a number of mg/day"))
    if mg_per_day <= 0:
        return _with(label, _("the dose must be more than 0 mg/day"))
    name = drug.strip().lower()
    ceiling = MAX_DAILY_DOSE_MG.get(name, ANY_DRUG_MAX_DAILY_DOSE_MG)
    if mg_per_day > ceiling:
        return _with(label, _("{dose:g} mg/day is not a plausible daily dose of {drug} "
                              "(at most {ceiling:g} mg/day): check the number and the "
                              "unit").format(dose=mg_per_day, drug=name or _("a drug"),
                                             ceiling=ceiling))
    return None


def count_problem(value: float, *, maximum: float, label: str = "",
                  unit: str = "") -> str | None:
    """A count or size that must be a finite number from 0 to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value):
        return _with(label, _("not a number"))
    if value < 0:
        return _with(label, _("must be 0 or more"))
    if value > maximum:
        shown = f"{maximum:g} {unit}".strip()
        return _with(label, _("{value:g} is not plausible (at most {maximum})").format(
            value=value, maximum=shown))
    return None


def _with(label: str, message: str) -> str:
    return _("{field}: {problem}").format(field=label, problem=message) if label else message
