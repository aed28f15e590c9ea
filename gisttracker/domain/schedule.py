"""The visit schedule engine: planned dates, windows, visit status, anchor timing, worklists.

Pure functions over a :class:`~gisttracker.protocols.model.Study` and dates: no Qt, no
database, no clock. "Today" is always a parameter.

Date conventions
----------------
* Every date is a calendar date (:class:`datetime.date`, never a ``datetime``: no time of
  day, no time zone). Passing a ``datetime`` is refused with :class:`TypeError`, because
  comparing it with a date would fail later, far from the mistake.
* A visit's target is its anchor date plus the visit's offset, **always counted from the
  anchor**, never by stepping from the previous visit (31 Jan + 3 months = 30 Apr, although
  stepping through 28 Feb would give 28 Apr).
* Months are calendar months (:mod:`dateutil.relativedelta`), clipped to the end of the
  month: 31 Jan + 1 month = 28 Feb 2025 / 29 Feb 2024; 29 Feb 2024 + 12 months = 28 Feb 2025.
* A window is ``[target - window_before, target + window_after]``, **both ends inclusive**:
  a visit on the last day of its window is in window; the next day is one day late.
* An unknown anchor date (surgery not yet entered) gives a visit with no dates at all
  (status ``waiting``): nothing is ever invented.
* Deviations and overdue counts are whole days.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Literal

from dateutil.relativedelta import relativedelta

from gisttracker.errors import InputError
from gisttracker.i18n import N_, _, join_list, local, ngettext
from gisttracker.protocols.model import Period, Study, TimingRule

__all__ = [
    "STATUS_LABELS",
    "MovedVisit",
    "PlannedVisit",
    "StatusCode",
    "TimingCheck",
    "TimingState",
    "VisitStatus",
    "WorklistEntry",
    "WorklistReason",
    "WorklistRow",
    "check_timing",
    "moved_visits",
    "plan",
    "status",
    "status_label",
    "timing_problems",
    "worklist",
]

StatusCode = Literal[
    "waiting",
    "upcoming",
    "due",
    "overdue",
    "done",
    "done_out_of_window",
    "missed",
    "cancelled",
    "not_applicable",
    "to_abstract",
]

#: Display label of each status (translated when shown, see :func:`status_label`).
STATUS_LABELS: Final[dict[str, str]] = {
    "waiting": N_("Waiting for anchor date"),
    "upcoming": N_("Upcoming"),
    "due": N_("Due"),
    "overdue": N_("Overdue"),
    "done": N_("Done"),
    "done_out_of_window": N_("Done outside the window"),
    "missed": N_("Missed"),
    "cancelled": N_("Cancelled"),
    "not_applicable": N_("Not applicable"),
    "to_abstract": N_("To abstract"),
}


def status_label(code: str) -> str:
    """The translated label of a status code (the code itself if it is not one)."""
    label = STATUS_LABELS.get(code)
    return _(label) if label is not None else code


def _require_date(value: object, what: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{what} must be a datetime.date, not {type(value).__name__}")
    return value


# --------------------------------------------------------------------------------------
# Planning


@dataclass(frozen=True)
class PlannedVisit:
    """One protocol visit for one patient, with its dates when the anchor date is known.

    ``target``, ``window_start`` and ``window_end`` are all set or all None (anchor unknown).
    """

    visit_key: str
    name: str
    anchor: str
    anchor_date: date | None
    target: date | None
    window_start: date | None
    window_end: date | None
    assessments: tuple[str, ...]
    required: bool = True
    anchor_label: str = ""

    @property
    def scheduled(self) -> bool:
        """True when the dates are known (the anchor date has been entered)."""
        return self.target is not None

    def deviation(self, day: date) -> int:
        """Signed days ``day`` lies outside the window: negative early, positive late, 0 in.

        Raises ValueError (a caller's bug) if the visit has no window yet.
        """
        if self.window_start is None or self.window_end is None:
            raise ValueError(f"visit {self.visit_key!r} has no window: its anchor date is unknown")
        day = _require_date(day, "day")
        if day < self.window_start:
            return (day - self.window_start).days
        if day > self.window_end:
            return (day - self.window_end).days
        return 0


def plan(study: Study, anchors: Mapping[str, date | None]) -> tuple[PlannedVisit, ...]:
    """One :class:`PlannedVisit` per visit of ``study``, in protocol order.

    ``anchors`` maps anchor keys to dates; a missing key or None means not known yet, and
    the visits counted from it get no dates. Keys the study does not use are ignored.
    Replanning after an anchor is entered or moved is simply calling this again.
    """
    labels = {a.key: a.label for a in study.anchors}
    out = []
    for visit in study.visits:
        raw = anchors.get(visit.anchor)
        anchor_date = None if raw is None else _require_date(raw, f"anchor {visit.anchor!r}")
        if anchor_date is None:
            target = start = end = None
        else:
            target = visit.target(anchor_date)
            start, end = visit.window(anchor_date)
        out.append(PlannedVisit(
            visit_key=visit.key, name=visit.name, anchor=visit.anchor, anchor_date=anchor_date,
            target=target, window_start=start, window_end=end,
            assessments=visit.assessments, required=visit.required,
            anchor_label=labels.get(visit.anchor, visit.anchor),
        ))
    return tuple(out)


# --------------------------------------------------------------------------------------
# Status


@dataclass(frozen=True)
class VisitStatus:
    """Where a planned visit stands on a given day.

    ``deviation_days`` (≥ 0) and ``deviation`` (``"early"``/``"late"``) are set only for
    ``done_out_of_window``; ``overdue_days`` (≥ 1) only for ``overdue``.
    """

    visit_key: str
    status: StatusCode
    done_on: date | None = None
    deviation_days: int = 0
    deviation: Literal["early", "late"] | None = None
    overdue_days: int = 0

    @property
    def label(self) -> str:
        """The translated status label."""
        return status_label(self.status)

    def describe(self, planned: PlannedVisit | None = None) -> str:
        """A short sentence for the user, e.g. ``Done 3 days after the window``."""
        if self.status == "done_out_of_window":
            if self.deviation == "early":
                text = ngettext("Done {n} day before the window", "Done {n} days before the window",
                                self.deviation_days)
            else:
                text = ngettext("Done {n} day after the window", "Done {n} days after the window",
                                self.deviation_days)
            return text.format(n=self.deviation_days)
        if self.status == "overdue":
            return ngettext("Overdue by {n} day", "Overdue by {n} days",
                            self.overdue_days).format(n=self.overdue_days)
        if self.status == "waiting" and planned is not None and planned.anchor_label:
            return _("Waiting for the date of: {anchor}").format(
                anchor=local(planned.anchor_label))
        return self.label


def status(
    planned: PlannedVisit,
    *,
    today: date,
    done_on: date | None = None,
    missed: bool = False,
    cancelled: bool = False,
    not_applicable: bool = False,
    ended_on: date | None = None,
) -> VisitStatus:
    """The status of ``planned`` on ``today``.

    What a person decided comes first and is exclusive (at most one of ``done_on``,
    ``missed``, ``cancelled``, ``not_applicable``; ValueError, a caller's bug, otherwise):

    * ``not_applicable`` / ``missed`` / ``cancelled`` as marked (reasons are stored
      elsewhere);
    * ``done_on`` given: ``done`` if inside the window (edges inclusive), otherwise
      ``done_out_of_window`` with the deviation in days. A visit done while its anchor is
      still unknown is ``done`` (there is no window to judge it by yet).

    Then, for a visit not done:

    * ``ended_on`` (the patient's participation ended that day): a visit whose window starts
      after it, or that has no window yet, is ``cancelled``; an earlier one keeps its status;
    * ``waiting``: anchor date unknown;
    * ``upcoming``: today before the window; ``due``: inside it; ``overdue``: after it.

    A ``done_on`` after ``today`` is accepted here (a worklist judged "as of" an earlier day);
    the visit service refuses entering one.
    """
    today = _require_date(today, "today")
    decided = sum((done_on is not None, missed, cancelled, not_applicable))
    if decided > 1:
        raise ValueError("at most one of done_on, missed, cancelled, not_applicable")
    key = planned.visit_key
    if not_applicable:
        return VisitStatus(key, "not_applicable")
    if missed:
        return VisitStatus(key, "missed")
    if cancelled:
        return VisitStatus(key, "cancelled")
    if done_on is not None:
        done_on = _require_date(done_on, "done_on")
        # A done date after ``today`` cannot be entered (the service refuses it), but a report
        # or worklist judged "as of" an earlier day still sees the visit as done.
        if not planned.scheduled:
            return VisitStatus(key, "done", done_on)
        offset = planned.deviation(done_on)
        if offset == 0:
            return VisitStatus(key, "done", done_on)
        return VisitStatus(key, "done_out_of_window", done_on, deviation_days=abs(offset),
                           deviation="early" if offset < 0 else "late")
    if ended_on is not None:
        ended_on = _require_date(ended_on, "ended_on")
        if planned.window_start is None or planned.window_start > ended_on:
            return VisitStatus(key, "cancelled")
    if planned.window_start is None or planned.window_end is None:
        return VisitStatus(key, "waiting")
    if today < planned.window_start:
        return VisitStatus(key, "upcoming")
    if today <= planned.window_end:
        return VisitStatus(key, "due")
    return VisitStatus(key, "overdue", overdue_days=(today - planned.window_end).days)


# --------------------------------------------------------------------------------------
# Replanning


@dataclass(frozen=True)
class MovedVisit:
    """A not-done visit whose dates changed when an anchor was entered or moved.

    Old dates are None when the visit was waiting for its anchor; new dates are None when
    the anchor date was cleared.
    """

    visit_key: str
    name: str
    old_target: date | None
    new_target: date | None
    old_window: tuple[date, date] | None
    new_window: tuple[date, date] | None


def _window(p: PlannedVisit) -> tuple[date, date] | None:
    if p.window_start is None or p.window_end is None:
        return None
    return p.window_start, p.window_end


def moved_visits(
    old_plan: Iterable[PlannedVisit],
    new_plan: Iterable[PlannedVisit],
    done_keys: Collection[str],
) -> tuple[MovedVisit, ...]:
    """The visits of ``new_plan`` whose target or window differs from ``old_plan``.

    Visits in ``done_keys`` are left out: a done visit keeps its actual date, whatever the
    anchor does (the caller may add other settled visits, e.g. missed ones). Visits present
    in only one of the plans (a protocol change) are not moves and are left out too.
    Returned in the order of ``new_plan``, for the audit trail.
    """
    old = {p.visit_key: p for p in old_plan}
    out = []
    for new in new_plan:
        before = old.get(new.visit_key)
        if before is None or new.visit_key in done_keys:
            continue
        if before.target != new.target or _window(before) != _window(new):
            out.append(MovedVisit(new.visit_key, new.name, before.target, new.target,
                                  _window(before), _window(new)))
    return tuple(out)


# --------------------------------------------------------------------------------------
# Timing rules between anchor dates


TimingState = Literal["ok", "violated", "unknown"]


@dataclass(frozen=True)
class TimingCheck:
    """The result of one protocol timing rule for one patient.

    ``state`` is ``ok``, ``violated`` (``message`` says why) or ``unknown`` when a date is
    not entered yet (``missing`` names the anchors; nothing is reported as a problem).
    """

    rule: TimingRule
    start_date: date | None
    end_date: date | None
    state: TimingState
    message: str = ""
    missing: tuple[str, ...] = ()

    @property
    def checkable(self) -> bool:
        return self.state != "unknown"

    @property
    def problem(self) -> bool:
        return self.state == "violated"


def _describe_period(months: int, days: int) -> str:
    return Period(months=months, days=days).describe()


def _describe_limit(period: Period) -> str:
    return _describe_period(period.months, period.weeks * 7 + period.days)


def _describe_elapsed(start: date, end: date, in_months: bool) -> str:
    """Time from ``start`` to ``end`` (end ≥ start): months and days, or days only."""
    if not in_months:
        return _describe_period(0, (end - start).days)
    delta = relativedelta(end, start)
    return _describe_period(delta.years * 12 + delta.months, delta.days)


def check_timing(study: Study, anchors: Mapping[str, date | None]) -> tuple[TimingCheck, ...]:
    """Check every timing rule of ``study`` against the patient's anchor dates.

    The end must fall on or after ``start + min`` and on or before ``start + max``
    (calendar periods, edges inclusive: exactly 3 months is within "at least 3 months"),
    and never before the start. One :class:`TimingCheck` per rule, in protocol order.
    """
    labels = {a.key: a.label for a in study.anchors}
    out = []
    for rule in study.timing_rules:
        raw_start, raw_end = anchors.get(rule.start), anchors.get(rule.end)
        start = None if raw_start is None else _require_date(raw_start, f"anchor {rule.start!r}")
        end = None if raw_end is None else _require_date(raw_end, f"anchor {rule.end!r}")
        if start is None or end is None:
            missing = tuple(k for k, v in ((rule.start, start), (rule.end, end)) if v is None)
            names = join_list(local(labels.get(k, k)) for k in missing)
            out.append(TimingCheck(rule, start, end, "unknown",
                                   _("Not checkable yet: no date for {anchors}").format(
                                       anchors=names), missing))
            continue
        # Anchor labels are names here (quoted), never lower-cased into the sentence.
        start_name = local(labels.get(rule.start, rule.start))
        end_name = local(labels.get(rule.end, rule.end))
        in_months = any(p is not None and p.months for p in (rule.min, rule.max))
        message = ""
        if end < start:
            message = _("“{end}” is {elapsed} before “{start}”: it must not come before it").format(
                end=end_name, start=start_name,
                elapsed=_describe_elapsed(end, start, in_months))
        elif rule.min is not None and end < rule.min.after(start):
            message = _("“{end}” is only {elapsed} after “{start}” (at least {limit})").format(
                end=end_name, start=start_name, elapsed=_describe_elapsed(start, end, in_months),
                limit=_describe_limit(rule.min))
        elif rule.max is not None and end > rule.max.after(start):
            message = _("“{end}” is {elapsed} after “{start}” (at most {limit})").format(
                end=end_name, start=start_name, elapsed=_describe_elapsed(start, end, in_months),
                limit=_describe_limit(rule.max))
        out.append(TimingCheck(rule, start, end, "violated" if message else "ok", message))
    return tuple(out)


def timing_problems(study: Study, anchors: Mapping[str, date | None]) -> tuple[TimingCheck, ...]:
    """Only the violated rules of :func:`check_timing`."""
    return tuple(c for c in check_timing(study, anchors) if c.problem)


# --------------------------------------------------------------------------------------
# Worklist (small sets; the site-scale worklist is an SQL query in the store)


@dataclass(frozen=True)
class WorklistEntry:
    """One planned visit of one patient, with what has been recorded about it.

    ``patient_study_id`` is the pseudonymous study identifier, never the patient's name.
    """

    patient_study_id: str
    study_key: str
    planned: PlannedVisit
    done_on: date | None = None
    missed: bool = False
    cancelled: bool = False
    not_applicable: bool = False
    ended_on: date | None = None


WorklistReason = Literal["overdue", "due", "done_out_of_window"]
_REASON_ORDER: Final = {"overdue": 0, "due": 1, "done_out_of_window": 2}


@dataclass(frozen=True)
class WorklistRow:
    """A worklist line: the entry, its status on ``today``, and why it is listed."""

    entry: WorklistEntry
    status: VisitStatus
    reason: WorklistReason


def worklist(
    entries: Iterable[WorklistEntry], *, start: date, end: date, today: date
) -> tuple[WorklistRow, ...]:
    """The site calendar for the period ``[start, end]`` (inclusive) as seen on ``today``.

    Lists, in this order (then by target date, patient, visit):

    * ``overdue``: every visit overdue on ``today``, whatever the period;
    * ``due``: visits not done (upcoming or due on ``today``) whose window overlaps the
      period — "who is due this week";
    * ``done_out_of_window``: visits done outside their window on a day in the period.
    """
    start, end = _require_date(start, "start"), _require_date(end, "end")
    if start > end:
        raise InputError(_("the period starts ({start}) after it ends ({end})").format(
            start=start, end=end))
    rows = []
    for entry in entries:
        planned = entry.planned
        st = status(planned, today=today, done_on=entry.done_on, missed=entry.missed,
                    cancelled=entry.cancelled, not_applicable=entry.not_applicable,
                    ended_on=entry.ended_on)
        reason: WorklistReason | None = None
        if st.status == "overdue":
            reason = "overdue"
        elif st.status in ("upcoming", "due"):
            assert planned.window_start is not None and planned.window_end is not None
            if planned.window_start <= end and planned.window_end >= start:
                reason = "due"
        elif st.status == "done_out_of_window":
            assert entry.done_on is not None
            if start <= entry.done_on <= end:
                reason = "done_out_of_window"
        if reason is not None:
            rows.append(WorklistRow(entry, st, reason))
    rows.sort(key=lambda r: (_REASON_ORDER[r.reason], r.entry.planned.target or date.max,
                             r.entry.patient_study_id, r.entry.planned.visit_key))
    return tuple(rows)
