"""Clinical course after treatment: events, their date checks, rectal organ preservation.

Events (dates are calendar dates): progression (criterion, site), local or distant
recurrence (site), locoregional regrowth, death (cause), last known alive, lost to
follow-up. Event kinds use the codes of the ``course_event`` table.

Organ preservation (rectal GIST organ-preservation study): the composite end point at the
horizon the protocol declares for it (RECTAL-LE: 18 calendar months, counted with
``relativedelta``; the horizon day itself is inside the window) is met when, within that
window,

* the rectum is intact: no total mesorectal excision (TME) and no abdominoperineal
  resection (APR);
* there is no locoregional regrowth, unless it was salvaged by a local excision
  (transanal or TAMIS) with an R0 margin;
* there is no permanent stoma; a temporary (protective) stoma not reversed by the 18-month
  day counts as permanent.

Everything is judged as of ``today``: facts dated after ``today`` are ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Final, TypeAlias

from dateutil.relativedelta import relativedelta

from gisttracker.errors import InputError
from gisttracker.i18n import _, join_list, join_sentences

# The vocabulary lives in the protocol catalogue (protocol files name these codes).
from gisttracker.protocols.catalogue import EVENT_KINDS as EVENT_KINDS
from gisttracker.protocols.catalogue import PROCEDURES as PROCEDURES

#: Kinds that can only follow a resection.
RECURRENCE_KINDS: Final = ("local_recurrence", "distant_recurrence", "regrowth")
PROGRESSION_CRITERIA: Final = ("recist", "choi", "clinical", "other")
LOCAL_EXCISIONS: Final = ("local_excision_transanal", "local_excision_tamis")
RECTUM_REMOVING: Final = ("tme", "apr")
MARGINS: Final = ("R0", "R1", "R2")
STOMA_KINDS: Final = ("temporary", "permanent")


def _check_choice(name: str, value: str | None, choices: tuple[str, ...], *,
                  optional: bool = False) -> None:
    if value is None and optional:
        return
    if value not in choices:
        raise InputError(_("{name} must be one of {choices}, got {value!r}").format(
            name=name, choices=join_list(choices), value=value))


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progression:
    """Progression on ``date`` by ``criterion`` (recist, choi, clinical, other)."""

    kind: ClassVar[str] = "progression"
    date: dt.date
    criterion: str
    site: str | None = None

    def __post_init__(self) -> None:
        _check_choice("criterion", self.criterion, PROGRESSION_CRITERIA)


@dataclass(frozen=True)
class LocalRecurrence:
    kind: ClassVar[str] = "local_recurrence"
    date: dt.date
    site: str | None = None


@dataclass(frozen=True)
class DistantRecurrence:
    kind: ClassVar[str] = "distant_recurrence"
    date: dt.date
    site: str | None = None


@dataclass(frozen=True)
class Death:
    kind: ClassVar[str] = "death"
    date: dt.date
    cause: str | None = None


@dataclass(frozen=True)
class LastKnownAlive:
    kind: ClassVar[str] = "last_known_alive"
    date: dt.date


@dataclass(frozen=True)
class LostToFollowUp:
    kind: ClassVar[str] = "lost_to_follow_up"
    date: dt.date


#: Any course event of this module.
CourseEvent: TypeAlias = (Progression | LocalRecurrence | DistantRecurrence | Death
                          | LastKnownAlive | LostToFollowUp)


def validate_event_date(kind: str, event_date: dt.date, *, today: dt.date,
                        enrolled_on: dt.date | None = None,
                        surgery_date: dt.date | None = None,
                        death_date: dt.date | None = None) -> list[str]:
    """Problems with the date of a course event of ``kind``; empty if fine.

    * the date is after ``today``;
    * it is before ``enrolled_on``;
    * a recurrence or regrowth is on or before ``surgery_date`` (it can only follow the
      resection; the surgery day itself is rejected too);
    * an event other than death is after ``death_date`` (the day of death is allowed);
      a death dated differently from an already recorded ``death_date`` is reported too.

    Raises InputError for an unknown ``kind``.
    """
    _check_choice("kind", kind, EVENT_KINDS)
    problems: list[str] = []
    when = event_date.isoformat()
    if event_date > today:
        problems.append(_("{date} is in the future (today is {today})").format(
            date=when, today=today.isoformat()))
    if enrolled_on is not None and event_date < enrolled_on:
        problems.append(_("{date} is before enrollment ({enrolled})").format(
            date=when, enrolled=enrolled_on.isoformat()))
    if kind in RECURRENCE_KINDS and surgery_date is not None and event_date <= surgery_date:
        problems.append(_("a recurrence on {date} must come after the surgery "
                          "({surgery})").format(date=when, surgery=surgery_date.isoformat()))
    if death_date is not None:
        if kind == "death":
            if event_date != death_date:
                problems.append(_("a death is already recorded on {death}").format(
                    death=death_date.isoformat()))
        elif event_date > death_date:
            problems.append(_("{date} is after the death ({death})").format(
                date=when, death=death_date.isoformat()))
    return problems


# --- organ preservation ------------------------------------------------------------------


@dataclass(frozen=True)
class Surgery:
    """An operation on ``date``: a code of :data:`PROCEDURES`, margin R0/R1/R2 or None."""

    date: dt.date
    procedure: str
    margin: str | None = None

    def __post_init__(self) -> None:
        _check_choice("procedure", self.procedure, PROCEDURES)
        _check_choice("margin", self.margin, MARGINS, optional=True)


@dataclass(frozen=True)
class Stoma:
    """A stoma created on ``created``, "temporary" (protective) or "permanent"."""

    created: dt.date
    kind: str
    reversed_on: dt.date | None = None

    def __post_init__(self) -> None:
        _check_choice("kind", self.kind, STOMA_KINDS)
        if self.reversed_on is not None:
            if self.kind == "permanent":
                raise InputError(_("a permanent stoma cannot have reversed_on"))
            if self.reversed_on < self.created:
                raise InputError(_("reversed_on ({reversed}) must not be before created "
                                   "({created})").format(reversed=self.reversed_on.isoformat(),
                                                         created=self.created.isoformat()))


@dataclass(frozen=True)
class Regrowth:
    """A locoregional regrowth on ``date`` and its salvage (procedure code and margin)."""

    date: dt.date
    salvage_procedure: str | None = None
    salvage_margin: str | None = None

    def __post_init__(self) -> None:
        _check_choice("salvage_procedure", self.salvage_procedure, PROCEDURES, optional=True)
        _check_choice("salvage_margin", self.salvage_margin, MARGINS, optional=True)

    @property
    def salvaged(self) -> bool:
        """True when salvaged by a local excision with an R0 margin."""
        return self.salvage_procedure in LOCAL_EXCISIONS and self.salvage_margin == "R0"


@dataclass(frozen=True)
class OrganPreservation:
    """The composite at the protocol's horizon (RECTAL-LE: 18 months).

    ``preserved``: True (met), False (failed), None (not failed yet, but follow-up shorter
    than the horizon). ``reason``: why, for display. ``failed_on``: date of the first failing
    fact (for an unreversed temporary stoma, the horizon day). ``horizon``: that day.
    """

    preserved: bool | None
    reason: str
    horizon: dt.date
    failed_on: dt.date | None = None


def organ_preservation(surgeries: Iterable[Surgery], stomas: Iterable[Stoma],
                       regrowths: Iterable[Regrowth], *, surgery_date: dt.date,
                       today: dt.date, horizon_months: int) -> OrganPreservation:
    """Rectal organ preservation ``horizon_months`` calendar months after ``surgery_date``
    (the date the protocol counts it from; see module doc).

    Failures, the earliest of which is reported: a TME or APR dated from ``surgery_date``
    to the horizon day; a permanent stoma created by the horizon day; a temporary stoma
    created by then and not reversed by then (known once ``today`` reaches the horizon day
    or a later reversal is recorded); a regrowth by the horizon day that was salvaged
    otherwise than by an R0 local excision, or not salvaged at all once ``today`` reaches
    the horizon day (before that an unsalvaged regrowth leaves the result open).

    Without a failure: True when ``today`` is on or after the horizon day, else None.
    Raises InputError when ``today`` is before ``surgery_date``, ValueError (a bug: the
    protocol loader refuses it) when the horizon is not a positive number of months.
    """
    if isinstance(horizon_months, bool) or not isinstance(horizon_months, int) or (
            horizon_months <= 0):
        raise ValueError(_("the organ-preservation horizon must be a positive number of "
                           "months"))
    if today < surgery_date:
        raise InputError(_("today ({today}) is before the surgery ({surgery})").format(
            today=today.isoformat(), surgery=surgery_date.isoformat()))
    horizon = surgery_date + relativedelta(months=horizon_months)
    complete = today >= horizon
    failures: list[tuple[dt.date, str]] = []
    pending: list[str] = []

    for surgery in surgeries:
        if (surgery.procedure in RECTUM_REMOVING
                and surgery_date <= surgery.date <= min(horizon, today)):
            failures.append((surgery.date, _("rectum removed: {procedure} on {date}").format(
                procedure=surgery.procedure.upper(), date=surgery.date.isoformat())))

    for stoma in stomas:
        if stoma.created > min(horizon, today):
            continue
        if stoma.kind == "permanent":
            failures.append((stoma.created, _("permanent stoma created on {date}").format(
                date=stoma.created.isoformat())))
            continue
        reversed_on = stoma.reversed_on if (
            stoma.reversed_on is not None and stoma.reversed_on <= today) else None
        if reversed_on is not None and reversed_on <= horizon:
            continue
        if complete:
            failures.append((horizon, _("temporary stoma created on {date} not reversed "
                                        "within {months} months").format(
                date=stoma.created.isoformat(), months=horizon_months)))
        else:
            pending.append(_("temporary stoma created on {date} not reversed yet").format(
                date=stoma.created.isoformat()))

    for regrowth in regrowths:
        if regrowth.date > min(horizon, today) or regrowth.salvaged:
            continue
        if regrowth.salvage_procedure is not None:
            failures.append((regrowth.date, _("regrowth on {date} salvaged by {procedure} "
                                              "with margin {margin}, not an R0 local "
                                              "excision").format(
                date=regrowth.date.isoformat(), procedure=regrowth.salvage_procedure,
                margin=regrowth.salvage_margin or "?")))
        elif complete:
            failures.append((regrowth.date, _("regrowth on {date} not salvaged").format(
                date=regrowth.date.isoformat())))
        else:
            pending.append(_("regrowth on {date} awaiting salvage").format(
                date=regrowth.date.isoformat()))

    if failures:
        failed_on, reason = min(failures, key=lambda failure: failure[0])
        return OrganPreservation(False, reason, horizon, failed_on)
    if not complete:
        reason = _("follow-up shorter than {months} months (until {horizon})").format(
            months=horizon_months, horizon=horizon.isoformat())
        if pending:
            reason = join_sentences([reason, *pending])
        return OrganPreservation(None, reason, horizon)
    return OrganPreservation(True, _("rectum intact, no permanent stoma and no unsalvaged "
                                     "regrowth at {months} months").format(
        months=horizon_months), horizon)
