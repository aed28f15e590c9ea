"""Visit schedules in the store: planning at enrollment, anchor dates, marking visits, the
site worklist and month view, and calendar export.

Planned dates are materialized in the ``visit`` table (target and window, recomputed by the
schedule engine when an anchor date is entered or corrected) so the site worklist is one
indexed range query even with a million visits. The engine
(:mod:`gisttracker.domain.schedule`) decides every date and status; this module stores and
reads them. "Today" is always a parameter.

Date conventions: calendar dates (:class:`datetime.date`), stored as ISO text; windows are
inclusive at both ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import peewee
from dateutil.relativedelta import relativedelta

from gisttracker import __version__
from gisttracker.domain.plausibility import date_problem
from gisttracker.domain.schedule import (
    MovedVisit,
    PlannedVisit,
    TimingCheck,
    VisitStatus,
    WorklistEntry,
    WorklistReason,
    check_timing,
    plan,
    status,
    status_label,
    worklist,
)
from gisttracker.errors import InputError
from gisttracker.i18n import _, join_list, local
from gisttracker.ical import CalendarVisit, calendar_bytes, write_calendar
from gisttracker.protocols import Study
from gisttracker.services.base import ServiceError, Writer, service
from gisttracker.services.claims import claim, lock_row
from gisttracker.services.common import SiteService, as_date, check_patient_date, date_context
from gisttracker.session import Session
from gisttracker.store.models import Record
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import AnchorDate, Visit
from gisttracker.validation import check_date

__all__ = [
    "REASONS",
    "AnchorChange",
    "DayCount",
    "ScheduleRow",
    "VisitService",
    "WorklistItem",
    "WorklistQuery",
    "end_participation_visits",
    "plan_for_enrollment",
    "plan_many",
    "window_slack",
]

#: States a person decided; only ``planned`` visits move when an anchor moves.
SETTLED = ("done", "missed", "cancelled", "not_applicable")
#: Unscheduled visits sort after the protocol visits of the same day.
UNSCHEDULED_SEQ = 10_000


def _study(session: Session, key: str) -> Study:
    """The study ``key``; ServiceError if unknown, StudyUnavailable if its file was refused."""
    try:
        return session.study(key)
    except KeyError as exc:
        raise ServiceError(str(exc.args[0])) from None


_as_date = as_date


def _id(record: Record, field: str = "id") -> int:
    """The integer key of ``record`` (or of its foreign key ``field``)."""
    value = record.__data__[field]
    return int(value)


def _fetch(session: Session, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
    """Rows of a read-only SQL query on the session's database."""
    cursor = session.db.execute_sql(sql, list(params))
    return list(cursor.fetchall())


def _anchor_dates(patient_id: int) -> dict[str, date]:
    rows = AnchorDate.select(AnchorDate.anchor_key, AnchorDate.date).where(
        AnchorDate.patient == patient_id)
    out: dict[str, date] = {}
    for row in rows:
        day = _as_date(row.date)
        if day is not None:
            out[row.anchor_key] = day
    return out


def _cancel_after_end(pv: PlannedVisit, ended_on: date | None) -> bool:
    """A visit not yet due when participation ended is not expected any more."""
    if ended_on is None:
        return False
    return pv.window_start is None or pv.window_start > ended_on


def _visit_values(pv: PlannedVisit, seq: int) -> dict[str, Any]:
    return {"visit_key": pv.visit_key, "name": pv.name, "anchor_key": pv.anchor, "seq": seq,
            "planned_on": pv.target, "window_start": pv.window_start,
            "window_end": pv.window_end}


def _enrollment_anchor_rows(study: Study, patient: Patient,
                            known: Mapping[str, date]) -> list[dict[str, Any]]:
    enrolled = _as_date(patient.enrolled_on)
    if enrolled is None:
        return []
    return [{"patient": _id(patient), "anchor_key": a.key, "date": enrolled}
            for a in study.anchors if a.source == "enrollment" and a.key not in known]


def _new_visit_rows(study: Study, patient: Patient, anchors: Mapping[str, date],
                    existing: set[str]) -> list[dict[str, Any]]:
    ended = _as_date(patient.ended_on)
    rows = []
    for seq, pv in enumerate(plan(study, anchors)):
        if pv.visit_key in existing:
            continue
        row = {"patient": _id(patient), **_visit_values(pv, seq)}
        if _cancel_after_end(pv, ended):
            row["state"] = "cancelled"
            row["reason"] = _("participation ended")
        rows.append(row)
    return rows


def plan_for_enrollment(writer: Writer, session: Session, patient: Patient) -> None:
    """Record the enrollment anchors and create the patient's planned visits.

    Called inside the enrollment transaction. Anchors whose protocol ``source`` is
    ``enrollment`` get the patient's ``enrolled_on`` date; one visit row per protocol
    visit, with NULL dates while its anchor is unknown. Visits already present are kept.
    """
    study = _study(session, patient.study_key)
    known = _anchor_dates(_id(patient))
    anchor_rows = _enrollment_anchor_rows(study, patient, known)
    if anchor_rows:
        writer.insert_many(AnchorDate, anchor_rows, patient_uids=[patient.uid] * len(anchor_rows))
    anchors = {**known, **{r["anchor_key"]: r["date"] for r in anchor_rows}}
    existing = {v.visit_key for v in Visit.select(Visit.visit_key).where(
        Visit.patient == _id(patient)) if v.visit_key}
    rows = _new_visit_rows(study, patient, anchors, existing)
    if rows:
        writer.insert_many(Visit, rows, patient_uids=[patient.uid] * len(rows))


def plan_many(writer: Writer, session: Session, patients: Sequence[Patient]) -> int:
    """Bulk variant of :func:`plan_for_enrollment` for new patients (the demo generator).

    The patients must have no anchors or visits yet. Returns the number of visits created.
    """
    anchor_rows: list[dict[str, Any]] = []
    anchor_uids: list[str | None] = []
    visit_rows: list[dict[str, Any]] = []
    visit_uids: list[str | None] = []
    for patient in patients:
        study = _study(session, patient.study_key)
        rows = _enrollment_anchor_rows(study, patient, {})
        anchor_rows.extend(rows)
        anchor_uids.extend([patient.uid] * len(rows))
        anchors = {r["anchor_key"]: r["date"] for r in rows}
        new = _new_visit_rows(study, patient, anchors, set())
        visit_rows.extend(new)
        visit_uids.extend([patient.uid] * len(new))
    writer.insert_many(AnchorDate, anchor_rows, patient_uids=anchor_uids)
    writer.insert_many(Visit, visit_rows, patient_uids=visit_uids)
    return len(visit_rows)


def end_participation_visits(writer: Writer, session: Session, patient: Patient) -> None:
    """Cancel (audited, with a reason) the planned visits not yet due when participation ended.

    A planned visit whose window starts after ``patient.ended_on`` — or that has no window
    yet — is no longer expected; visits already due keep their status (overdue stays
    overdue, the site still has to close it).
    """
    ended = _as_date(patient.ended_on)
    if ended is None:
        return
    if patient.end_reason:
        why = _("participation ended on {date}: {reason}").format(
            date=ended.isoformat(), reason=patient.end_reason)
    else:
        why = _("participation ended on {date}").format(date=ended.isoformat())
    query = Visit.select().where((Visit.patient == _id(patient)) & (Visit.state == "planned"))
    for visit in query:
        start = _as_date(visit.window_start)
        if start is None or start > ended:
            writer.update(visit, {"state": "cancelled", "reason": why},
                          patient_uid=patient.uid, reason=why)


# --------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class AnchorChange:
    """What entering or correcting an anchor date did: the visits that moved (or were
    cancelled because participation had ended) and the protocol timing checks."""

    anchor_key: str
    old_date: date | None
    new_date: date
    moved: tuple[MovedVisit, ...]
    timing: tuple[TimingCheck, ...]

    @property
    def problems(self) -> tuple[TimingCheck, ...]:
        return tuple(t for t in self.timing if t.problem)


@dataclass(frozen=True)
class ScheduleRow:
    """One visit of a patient's schedule as seen on a given day."""

    uid: str
    visit_key: str | None
    name: str
    anchor_key: str | None
    anchor_label: str
    seq: int
    target: date | None
    window_start: date | None
    window_end: date | None
    state: str
    status: VisitStatus
    done_on: date | None
    reason: str | None
    unscheduled: bool
    assessments: tuple[str, ...]

    @property
    def status_code(self) -> str:
        return self.status.status

    @property
    def deviation_days(self) -> int:
        return self.status.deviation_days

    def describe(self) -> str:
        """A short status sentence, e.g. ``Done 3 days after the window``."""
        planned = PlannedVisit(self.visit_key or "", self.name, self.anchor_key or "", None,
                               self.target, self.window_start, self.window_end,
                               self.assessments, anchor_label=self.anchor_label)
        return self.status.describe(planned)


@dataclass(frozen=True)
class WorklistItem:
    """One line of the site worklist. Carries the study identifier, never a name."""

    visit_uid: str
    patient_uid: str
    patient_study_id: str
    study_key: str
    visit_key: str | None
    visit_name: str
    target: date | None
    window_start: date | None
    window_end: date | None
    status: VisitStatus
    reason: WorklistReason
    done_on: date | None
    assessments: tuple[str, ...]

    @property
    def status_code(self) -> str:
        return self.status.status

    def describe(self) -> str:
        return self.status.describe()


@dataclass(frozen=True)
class DayCount:
    """Visits on one day of the month view: still open (by target date) and done."""

    open: int = 0
    done: int = 0


# --------------------------------------------------------------------------------------
# The worklist query

_COLUMNS = ("v.uid, p.uid, p.study_id, p.study_key, v.visit_key, v.name, v.anchor_key, "
            "v.planned_on, v.window_start, v.window_end, v.state, v.done_on, p.ended_on")

_YEAR = relativedelta(months=12)

#: The worklist's sections, in the order it lists them.
REASONS: tuple[WorklistReason, ...] = ("overdue", "due", "done_out_of_window")


@dataclass(frozen=True)
class WorklistQuery:
    """The site worklist for ``[start, end]`` on ``today`` as SQL, one statement per section.

    Each section is an index range scan in target-date order (``visit_planned`` holds
    state, target and window, so the filters run on the index alone; ``visit_done`` for
    visits done in the period), so the first page of a long list comes back without reading
    the rest. ``slack`` bounds the target dates a window can reach from the period: every
    window lies within ``slack`` of its target.
    """

    start: date
    end: date
    today: date
    study_key: str | None = None
    slack: relativedelta = _YEAR
    #: Planned visits that are never due: ``(study, visit keys, ending anchor or None)``;
    #: with an anchor, only once it has a date before the visit's window (see
    #: :func:`never_due`).
    never_due: tuple[tuple[str, tuple[str, ...], str | None], ...] = ()

    def _not_due(self) -> tuple[str, list[str]]:
        """SQL excluding the planned visits :attr:`never_due` lists (cheap: only rows of
        those visit keys reach the anchor look-up)."""
        parts: list[str] = []
        params: list[str] = []
        for study, keys, anchor in self.never_due:
            if self.study_key and study != self.study_key:
                continue
            marks = ", ".join("?" for _k in keys)
            # An unscheduled visit has no visit key: NULL IN (…) is NULL, and NOT NULL would
            # drop it from the worklist, so the key must be there to match.
            clause = f"v.study_key = ? AND v.visit_key IS NOT NULL AND v.visit_key IN ({marks})"
            params += [study, *keys]
            if anchor is not None:
                clause += (" AND EXISTS (SELECT 1 FROM anchor_date a WHERE a.patient_id = "
                           "v.patient_id AND a.anchor_key = ? AND a.date < v.window_start)")
                params.append(anchor)
            parts.append(f" AND NOT ({clause})")
        return "".join(parts), params

    def _where(self, reason: WorklistReason) -> tuple[str, list[str]]:
        # A set of the study's patients, probed from the index entries alone (patient_id is
        # in visit_planned), is faster than joining every candidate visit to its patient.
        # One study: the study is the leading column of the visit_study_* indexes.
        only = " AND v.study_key = ?" if self.study_key else ""
        extra = [self.study_key] if self.study_key else []
        today = self.today.isoformat()
        skip, skipped = self._not_due()
        if reason == "overdue":
            return ("v.state = 'planned' AND v.planned_on <= ? AND v.window_end < ?" + only
                    + skip, [today, today, *extra, *skipped])
        if reason == "due":
            low = max(self.start, self.today)
            return ("v.state = 'planned' AND v.planned_on BETWEEN ? AND ?"
                    " AND v.window_start <= ? AND v.window_end >= ?" + only + skip,
                    [(low - self.slack).isoformat(), (self.end + self.slack).isoformat(),
                     self.end.isoformat(), low.isoformat(), *extra, *skipped])
        return ("v.state = 'done' AND v.done_on BETWEEN ? AND ?"
                " AND (v.done_on < v.window_start OR v.done_on > v.window_end)" + only,
                [self.start.isoformat(), self.end.isoformat(), *extra])

    def _from(self, reason: WorklistReason) -> str:
        index = "visit_done" if reason == "done_out_of_window" else "visit_planned"
        if self.study_key:
            index = index.replace("visit_", "visit_study_")
        return f"FROM visit v INDEXED BY {index} JOIN patient p ON p.id = v.patient_id"

    def rows(self, reason: WorklistReason, offset: int = 0,
             limit: int | None = None) -> tuple[str, list[Any]]:
        """SQL and parameters for the rows of one section, in worklist order."""
        where, params = self._where(reason)
        page = " LIMIT ? OFFSET ?" if limit is not None else ""
        sql = (f"SELECT {_COLUMNS} {self._from(reason)} WHERE {where}"
               f" ORDER BY v.planned_on, p.study_id, v.visit_key{page}")
        return sql, [*params, *((limit, offset) if limit is not None else ())]

    def count(self, reason: WorklistReason) -> tuple[str, list[Any]]:
        """SQL and parameters counting one section (an index-only scan without a study)."""
        where, params = self._where(reason)
        return f"SELECT count(*) {self._from(reason).split(' JOIN')[0]} WHERE {where}", params


def never_due(studies: Iterable[Study]) -> tuple[tuple[str, tuple[str, ...], str | None], ...]:
    """The visits of ``studies`` that a worklist never lists as due or overdue, declared in
    their protocol files: abstraction points of a retrospective study, and visits that end
    at an anchor (``until``) once that anchor's date is before their window."""
    out: list[tuple[str, tuple[str, ...], str | None]] = []
    for study in sorted(studies, key=lambda s: s.key):
        abstraction = tuple(v.key for v in study.visits if v.abstraction)
        if abstraction:
            out.append((study.key, abstraction, None))
        ends: dict[str, list[str]] = {}
        for visit in study.visits:
            if visit.until and not visit.abstraction:
                ends.setdefault(visit.until, []).append(visit.key)
        out += [(study.key, tuple(keys), anchor) for anchor, keys in sorted(ends.items())]
    return tuple(out)


def window_slack(studies: Iterable[Study]) -> relativedelta:
    """How far any window of these studies reaches from its target (plus a few days for
    month-end clipping); unscheduled visits have a one-day window."""
    widest = relativedelta()
    day = date(2001, 1, 31)
    for study in studies:
        for visit in study.visits:
            for period in (visit.window_before, visit.window_after):
                reach = relativedelta(months=period.months, days=period.weeks * 7 + period.days)
                if day + reach > day + widest:
                    widest = reach
    return widest + relativedelta(days=4)


# --------------------------------------------------------------------------------------
# The service


@service
class VisitService(SiteService):
    """Schedules of one open site: reads for the window and CLI, audited writes."""

    # ----- lookups ------------------------------------------------------------------------

    def _visit(self, uid: str) -> tuple[Visit, Patient]:
        visit = Visit.get_or_none(Visit.uid == uid)
        if visit is None:
            raise ServiceError(_("no visit {uid!r}").format(uid=uid))
        return visit, Patient.get_by_id(_id(visit, 'patient'))

    def anchors(self, patient_key: str) -> dict[str, date]:
        """The patient's known anchor dates by anchor key."""
        return _anchor_dates(_id(self.patient(patient_key)))

    def timing(self, patient_key: str) -> tuple[TimingCheck, ...]:
        """The study's timing rules checked against the patient's anchor dates."""
        patient = self.patient(patient_key)
        return check_timing(self.study_of(patient), _anchor_dates(_id(patient)))

    # ----- anchors ------------------------------------------------------------------------
    def set_anchor(self, patient_key: str, anchor_key: str, on: date, *,
                   reason: str | None = None, today: date | None = None) -> AnchorChange:
        """Enter or correct an anchor date and replan the visits counted from it.

        Correcting a date already entered needs a ``reason`` (ReasonRequired otherwise).
        Planned visits move (each move audited with the anchor change as its reason); visits
        done, missed, cancelled or not applicable keep their dates. Visits that would now
        fall after the end of participation are cancelled instead. A date before 1900 or
        before the patient's birth is refused; with ``today``, so is one more than two
        years ahead (an anchor may be a planned date, such as an operation).
        """
        patient = self.patient(patient_key)
        study = self.study_of(patient)
        try:
            anchor = study.anchor(anchor_key)
        except KeyError:
            raise ServiceError(_("unknown anchor {key!r} for {study} (known: {known})").format(
                key=anchor_key, study=study.key,
                known=join_list(a.key for a in study.anchors))) from None
        if isinstance(on, datetime) or not isinstance(on, date):
            raise ServiceError(_("{anchor}: not a date").format(anchor=local(anchor.label)))
        ctx = date_context(patient, today or on)
        problem = date_problem(on, today=today or on, label=local(anchor.label), past=False,
                               birth=ctx.birth)
        if problem:
            raise ServiceError(problem)
        row = AnchorDate.get_or_none((AnchorDate.patient == _id(patient))
                                     & (AnchorDate.anchor_key == anchor_key))
        old = _as_date(row.date) if row is not None else None
        if old == on:
            return AnchorChange(anchor_key, old, on, (), check_timing(
                study, _anchor_dates(_id(patient))))
        with self.tracker.transaction(reason) as w:
            if row is None:
                # Entered meanwhile on another workstation (read again inside the
                # transaction; on a server the unique index waits for the other's commit):
                # then this is a correction of it, not a second row.
                row = AnchorDate.get_or_none((AnchorDate.patient == _id(patient))
                                             & (AnchorDate.anchor_key == anchor_key))
                old = _as_date(row.date) if row is not None else None
            if row is None:
                w.insert(AnchorDate, patient=_id(patient), anchor_key=anchor_key, date=on,
                         patient_uid=patient.uid)
            else:
                w.update(row, {"date": on}, patient_uid=patient.uid, require_reason=True)
            why = (_("{anchor} {old} → {new}: {reason}") if reason
                   else _("{anchor} {old} → {new}")).format(
                anchor=local(anchor.label), old=old.isoformat() if old else "—",
                new=on.isoformat(), reason=reason)
            moved = self._replan(w, study, patient, why)
        return AnchorChange(anchor_key, old, on, moved, check_timing(
            study, _anchor_dates(_id(patient))))

    def replan(self, w: Writer, patient: Patient, why: str) -> tuple[MovedVisit, ...]:
        """Replan the patient's planned (and end-cancelled) visits from the stored anchors,
        inside the caller's transaction (after an anchor or the end of participation
        changed)."""
        return self._replan(w, self.study_of(patient), patient, why)

    def clear_anchor(self, patient_key: str, anchor_key: str, *, reason: str) -> AnchorChange:
        """Remove an anchor date entered by mistake (``reason`` required): the visits counted
        from it wait for it again; visits already done keep their dates."""
        patient = self.patient(patient_key)
        study = self.study_of(patient)
        try:
            anchor = study.anchor(anchor_key)
        except KeyError:
            raise ServiceError(_("unknown anchor {key!r} for {study}").format(
                key=anchor_key, study=study.key)) from None
        if anchor.source != "entered":
            raise ServiceError(_("{anchor} follows from the enrollment and cannot be removed")
                               .format(anchor=local(anchor.label)))
        if not (reason and reason.strip()):
            raise ServiceError(_("a reason is required to remove an anchor date"))
        row = AnchorDate.get_or_none((AnchorDate.patient == _id(patient))
                                     & (AnchorDate.anchor_key == anchor_key))
        if row is None:
            raise ServiceError(_("{anchor} has no date to remove").format(
                anchor=local(anchor.label)))
        old = _as_date(row.date)
        with self.tracker.transaction(reason.strip()) as w:
            w.delete(row, patient_uid=patient.uid)
            why = _("{anchor} {old} removed: {reason}").format(
                anchor=local(anchor.label), old=old.isoformat() if old else "—",
                reason=reason.strip())
            moved = self._replan(w, study, patient, why)
        return AnchorChange(anchor_key, old, old or date.min, moved, check_timing(
            study, _anchor_dates(_id(patient))))

    def delete_unscheduled(self, visit_uid: str, *, reason: str) -> None:
        """Remove an unscheduled visit added by mistake (``reason`` required). A visit of the
        protocol cannot be removed (mark it missed or not applicable), nor one with forms."""
        visit, patient = self._visit(visit_uid)
        if not visit.unscheduled:
            name = self.study_of(patient).visit_name(visit.visit_key, visit.name)
            raise ServiceError(_("{name} is a visit of the protocol: mark it missed or not "
                                 "applicable instead").format(name=name))
        if not (reason and reason.strip()):
            raise ServiceError(_("a reason is required to remove a visit"))
        from gisttracker.store.models_forms import Form

        with self.tracker.transaction(reason.strip()) as w:
            # Inside the transaction, with the visit's row held (a form saved for it on
            # another workstation meanwhile waits, or is waited for and seen here): it
            # would otherwise go with the visit, by its cascade.
            lock_row(w, "visit", _id(visit))
            if Form.select().where(Form.visit == _id(visit)).exists():
                raise ServiceError(_("{name} has forms: correct or clear them first").format(
                    name=visit.name))
            w.delete(visit, patient_uid=patient.uid)

    def _replan(self, w: Writer, study: Study, patient: Patient,
                why: str) -> tuple[MovedVisit, ...]:
        anchors = _anchor_dates(_id(patient))
        rows = {v.visit_key: v for v in Visit.select().where(
            (Visit.patient == _id(patient)) & Visit.visit_key.is_null(False))}
        ended = _as_date(patient.ended_on)
        moved = []
        new_rows = []
        for seq, pv in enumerate(plan(study, anchors)):
            visit = rows.get(pv.visit_key)
            if visit is None:
                new_rows.append({"patient": _id(patient), **_visit_values(pv, seq)})
                continue
            # Only the end of participation cancels visits: re-judge those against it.
            if visit.state not in ("planned", "cancelled"):
                continue
            old_target = _as_date(visit.planned_on)
            old_start, old_end = _as_date(visit.window_start), _as_date(visit.window_end)
            change: dict[str, Any] = {"planned_on": pv.target, "window_start": pv.window_start,
                                      "window_end": pv.window_end}
            if _cancel_after_end(pv, ended):
                change.update(state="cancelled", reason=visit.reason or _("participation ended"))
            elif visit.state == "cancelled":
                change.update(state="planned", reason=None)
            if w.update(visit, change, patient_uid=patient.uid, reason=why):
                old_window = (old_start, old_end) if old_start and old_end else None
                new_window = ((pv.window_start, pv.window_end)
                              if pv.window_start and pv.window_end else None)
                if old_target != pv.target or old_window != new_window:
                    moved.append(MovedVisit(pv.visit_key, pv.name, old_target, pv.target,
                                            old_window, new_window))
        if new_rows:
            w.insert_many(Visit, new_rows, patient_uids=[patient.uid] * len(new_rows),
                          reason=why)
        return tuple(moved)

    # ----- marking visits -----------------------------------------------------------------
    def mark_done(self, visit_uid: str, done_on: date, *, today: date,
                  reason: str | None = None) -> ScheduleRow:
        """Record the day a visit took place.

        A day after ``today`` is refused. A day outside the window is accepted and shown as
        a protocol deviation (with its days). Changing a visit already settled (done on
        another day, missed, …) needs a ``reason``.
        """
        visit, patient = self._visit(visit_uid)
        if isinstance(done_on, date) and not isinstance(done_on, datetime) \
                and done_on > today:
            raise ServiceError(_("{name}: the visit date {date} is after today").format(
                name=self.study_of(patient).visit_name(visit.visit_key, visit.name),
                date=done_on.isoformat()))
        check_patient_date(patient, done_on, today=today,
                           label=self.study_of(patient).visit_name(visit.visit_key, visit.name))
        settled = visit.state != "planned"
        with self.tracker.transaction(reason) as w:
            # The reason is passed on: inside a caller's transaction (a form settling the
            # visit) the writer carries the caller's reason, not this one.
            changed = w.update(visit, {"state": "done", "done_on": done_on, "reason": None},
                               patient_uid=patient.uid, require_reason=settled,
                               reason=reason)
            if changed:
                # When it was entered, kept apart from the day it took place.
                w.update(visit, {"done_recorded_at": w.at}, patient_uid=patient.uid,
                         reason=reason)
        return self._row(visit, patient, today)

    def suggested_visit_date(self, visit_uid: str, *, today: date) -> tuple[date, str]:
        """The date to offer as the day a visit took place, and why (a sentence).

        The visit's date is the day the patient was seen, not the day the data are entered,
        which is often later; so, in this order:

        * the date of the visit's own dated records (a laboratory sample, a tumour
          assessment linked to the visit), the latest when they differ;
        * today, when today is inside the visit's window (data entered on the day) or
          before it (the visit is early: a real deviation, shown as such);
        * the target date, when today is after the window: the data are entered after the
          fact, and today would be a false out-of-window deviation. The person entering
          confirms or corrects it (the window asks).

        A visit without a window (its anchor unknown, or unscheduled) is offered today.
        """
        visit, _patient = self._visit(visit_uid)
        from gisttracker.store.models_course import TumourAssessment
        from gisttracker.store.models_patients import LabResult

        evidence = [as_date(r.sampled_on) for r in LabResult.select(LabResult.sampled_on)
                    .where(LabResult.visit_id == _id(visit))]
        evidence += [as_date(r.assessed_on) for r in TumourAssessment.select(
            TumourAssessment.assessed_on).where(TumourAssessment.visit == _id(visit))]
        dated = [d for d in evidence if d is not None and d <= today]
        if dated:
            return max(dated), _("the date of the visit's own records")
        start, end = as_date(visit.window_start), as_date(visit.window_end)
        target = as_date(visit.planned_on)
        if start is None or end is None or target is None or today <= end:
            return today, _("today")
        return min(target, today), _("the target date: today is after the visit's window")

    def mark_missed(self, visit_uid: str, reason: str, *, today: date) -> ScheduleRow:
        """Record that a visit did not take place; ``reason`` is required."""
        if not (reason and reason.strip()):
            raise ServiceError(_("a reason is required to mark a visit missed"))
        return self._settle(visit_uid, "missed", reason.strip(), today)

    def mark_not_applicable(self, visit_uid: str, reason: str | None = None, *,
                            today: date) -> ScheduleRow:
        """Record that a visit does not apply to this patient (e.g. an optional visit)."""
        return self._settle(visit_uid, "not_applicable", (reason or "").strip() or None, today)

    def reopen(self, visit_uid: str, reason: str, *, today: date) -> ScheduleRow:
        """Put a settled visit back to planned (a correction; ``reason`` is required)."""
        visit, patient = self._visit(visit_uid)
        with self.tracker.transaction(reason) as w:
            w.update(visit, {"state": "planned", "done_on": None, "reason": None},
                     patient_uid=patient.uid, require_reason=True)
        return self._row(visit, patient, today)

    def _settle(self, visit_uid: str, state: str, reason: str | None,
                today: date) -> ScheduleRow:
        visit, patient = self._visit(visit_uid)
        settled = visit.state != "planned"
        with self.tracker.transaction(reason) as w:
            w.update(visit, {"state": state, "done_on": None, "reason": reason},
                     patient_uid=patient.uid, require_reason=settled)
        return self._row(visit, patient, today)

    def add_unscheduled(self, patient_key: str, name: str, on: date, *, today: date,
                        reason: str | None = None) -> ScheduleRow:
        """Add an unscheduled visit on ``on``: done if that day has passed, else planned."""
        patient = self.patient(patient_key)
        name = (name or "").strip()
        if not name:
            raise ServiceError(_("an unscheduled visit needs a name"))
        if patient.status != "enrolled" and on > today:
            raise ServiceError(_("{patient} is no longer followed: no new visits").format(
                patient=patient.study_id))
        check_patient_date(patient, on, today=today, label=name, past=False)
        with self.tracker.transaction(reason) as w:
            # The next number, read under the patient's claim inside the transaction: two
            # workstations adding a visit at once take two numbers. After the highest one
            # (not the count): a removed visit's number is not given again while later ones
            # are still there.
            claim(w, "unscheduled_visits", patient.uid)
            last = Visit.select(peewee.fn.MAX(Visit.seq)).where(
                (Visit.patient == _id(patient)) & (Visit.unscheduled == 1)).scalar()
            seq = UNSCHEDULED_SEQ if last is None else int(last) + 1
            visit = w.insert(
                Visit, patient=_id(patient), visit_key=None, name=name, anchor_key=None,
                seq=seq, planned_on=on, window_start=on, window_end=on,
                state="done" if on <= today else "planned",
                done_on=on if on <= today else None, reason=reason, unscheduled=True,
                done_recorded_at=w.at if on <= today else None, patient_uid=patient.uid)
        return self._row(visit, patient, today)

    # ----- reading ------------------------------------------------------------------------
    def _row(self, visit: Visit, patient: Patient, today: date,
             study: Study | None = None,
             anchors: Mapping[str, date] | None = None) -> ScheduleRow:
        study = study or self.study_of(patient)
        if anchors is None:
            anchors = _anchor_dates(_id(patient))
        by_key = {v.key: v for v in study.visits}
        labels = {a.key: local(a.label) for a in study.anchors}
        spec = by_key.get(visit.visit_key or "")
        target = _as_date(visit.planned_on)
        start, end = _as_date(visit.window_start), _as_date(visit.window_end)
        done_on = _as_date(visit.done_on)
        pv = PlannedVisit(visit.visit_key or visit.uid, visit.name, visit.anchor_key or "",
                          None, target, start, end,
                          spec.assessments if spec else (),
                          anchor_label=labels.get(visit.anchor_key or "", ""))
        st = _status(pv, visit.state, done_on, _as_date(patient.ended_on), today,
                     ends_on=anchors.get(spec.until) if spec and spec.until else None,
                     abstraction=bool(spec and spec.abstraction))
        return ScheduleRow(
            uid=visit.uid, visit_key=visit.visit_key,
            name=study.visit_name(visit.visit_key, visit.name),
            anchor_key=visit.anchor_key, anchor_label=pv.anchor_label, seq=visit.seq,
            target=target, window_start=start, window_end=end, state=visit.state, status=st,
            done_on=done_on, reason=visit.reason, unscheduled=bool(visit.unscheduled),
            assessments=pv.assessments)

    def schedule(self, patient_key: str, *, today: date) -> list[ScheduleRow]:
        """Every visit of the patient, by date (visits waiting for an anchor last)."""
        patient = self.patient(patient_key)
        study = self.study_of(patient)
        visits = Visit.select().where(Visit.patient == _id(patient)).order_by(Visit.seq)
        anchors = _anchor_dates(_id(patient))
        rows = [self._row(v, patient, today, study, anchors) for v in visits]
        rows.sort(key=lambda r: ((r.target or r.done_on) is None,
                                 r.target or r.done_on or date.max, r.seq))
        return rows

    def worklist_query(self, start: date, end: date, *, today: date,
                       study_key: str | None = None) -> WorklistQuery:
        if start > end:
            raise ServiceError(_("the period starts ({start}) after it ends ({end})").format(
                start=start.isoformat(), end=end.isoformat()))
        if study_key is not None:
            _study(self.session, study_key)
        return WorklistQuery(start, end, today, study_key,
                             window_slack(self.session.studies.values()),
                             never_due(self.session.studies.values()))

    def worklist_counts(self, start: date, end: date, *, today: date,
                        study_key: str | None = None) -> dict[str, int]:
        """How many visits each worklist section holds (overdue, due, done out of window)."""
        query = self.worklist_query(start, end, today=today, study_key=study_key)
        return {reason: int(_fetch(self.session, *query.count(reason))[0][0])
                for reason in REASONS}

    def worklist(self, start: date, end: date, *, today: date,
                 study_key: str | None = None, reasons: Iterable[str] = REASONS,
                 offset: int = 0, limit: int | None = None) -> list[WorklistItem]:
        """The site worklist for ``[start, end]`` seen on ``today``: every overdue visit,
        visits whose window overlaps the period, and visits done out of window in it.

        Listed by section (overdue, due, done out of window), then target date, patient and
        visit; ``reasons`` picks sections, ``offset``/``limit`` a page of the whole list.
        Each section is one indexed SQL query (:class:`WorklistQuery`); the schedule engine
        decides each status.
        """
        query = self.worklist_query(start, end, today=today, study_key=study_key)
        assessments = {(s.key, v.key): v.assessments for s in self.session.studies.values()
                       for v in s.visits}
        wanted = set(reasons)
        out: list[WorklistItem] = []
        skip = offset
        for reason in REASONS:
            if reason not in wanted or (limit is not None and len(out) >= limit):
                continue
            room = None if limit is None else limit - len(out)
            if skip:
                # Skip whole sections without reading them.
                total = int(_fetch(self.session, *query.count(reason))[0][0])
                if skip >= total:
                    skip -= total
                    continue
            found = _fetch(self.session, *query.rows(reason, skip, room))
            skip = 0
            out.extend(self._items(found, query, assessments, self.session.studies))
        return out

    def iter_worklist(self, start: date, end: date, *, today: date,
                      study_key: str | None = None, chunk: int = 1000
                      ) -> Iterator[WorklistItem]:
        """The whole of :meth:`worklist`, in the same order, read and judged ``chunk`` rows
        at a time as the caller consumes it (one query per section): a listing of any
        length is written out as it is read and never held whole."""
        query = self.worklist_query(start, end, today=today, study_key=study_key)
        assessments = {(s.key, v.key): v.assessments for s in self.session.studies.values()
                       for v in s.visits}
        for reason in REASONS:
            cursor = self.session.db.execute_sql(*query.rows(reason))
            while found := cursor.fetchmany(chunk):
                yield from self._items(found, query, assessments, self.session.studies)

    @staticmethod
    def _items(found: list[tuple[Any, ...]], query: WorklistQuery,
               assessments: Mapping[tuple[str, str], tuple[str, ...]],
               studies: Mapping[str, Study]) -> list[WorklistItem]:
        entries = []
        ids: dict[int, tuple[str, str]] = {}
        for (vuid, puid, study_id, skey, vkey, name, anchor, planned_on, wstart, wend, _state,
             done_on, ended_on) in found:
            study = studies.get(skey)
            if study is not None:
                name = study.visit_name(vkey, name)
            pv = PlannedVisit(vkey or vuid, name, anchor or "", None, _as_date(planned_on),
                              _as_date(wstart), _as_date(wend),
                              assessments.get((skey, vkey), ()))
            entry = WorklistEntry(study_id, skey, pv, done_on=_as_date(done_on),
                                  ended_on=_as_date(ended_on))
            ids[id(entry)] = (vuid, puid)
            entries.append(entry)
        out = []
        for row in worklist(entries, start=query.start, end=query.end, today=query.today):
            vuid, puid = ids[id(row.entry)]
            pv = row.entry.planned
            out.append(WorklistItem(
                visit_uid=vuid, patient_uid=puid, patient_study_id=row.entry.patient_study_id,
                study_key=row.entry.study_key, visit_key=None if pv.visit_key == vuid
                else pv.visit_key, visit_name=pv.name, target=pv.target,
                window_start=pv.window_start, window_end=pv.window_end, status=row.status,
                reason=row.reason, done_on=row.entry.done_on, assessments=pv.assessments))
        return out

    def month(self, year: int, month: int, *,
              study_key: str | None = None) -> dict[date, DayCount]:
        """Visits per day of a month: open visits by target date, done visits by done date."""
        if not 1 <= month <= 12:
            raise InputError(_("month must be 1 to 12, not {month}").format(month=month),
                             field="month")
        first = check_date(date(max(1, min(year, 9998)), month, 1), "year")
        last = date(year + (month == 12), month % 12 + 1, 1)
        only = " AND v.study_key = ?" if study_key else ""
        extra = [study_key] if study_key else []
        # Open visits leave out those never due (abstraction points, visits ended).
        skip, skipped = WorklistQuery(first, last, first, study_key,
                                      never_due=never_due(self.session.studies.values())
                                      )._not_due()
        counts: dict[date, list[int]] = {}
        for column, state, slot in (("planned_on", "planned", 0), ("done_on", "done", 1)):
            more, more_params = (skip, skipped) if state == "planned" else ("", [])
            sql = (f"SELECT v.{column}, count(*) FROM visit v WHERE v.state = ? "
                   f"AND v.{column} >= ? AND v.{column} < ?{only}{more} GROUP BY v.{column}")
            for day, n in _fetch(self.session, sql, [state, first.isoformat(),
                                                     last.isoformat(), *extra, *more_params]):
                counts.setdefault(date.fromisoformat(day), [0, 0])[slot] = n
        return {day: DayCount(*c) for day, c in sorted(counts.items())}

    # ----- calendars ----------------------------------------------------------------------
    def patient_calendar(self, patient_key: str, *, today: date) -> list[CalendarVisit]:
        """The patient's visits as calendar events (study identifier only)."""
        patient = self.patient(patient_key)
        return [CalendarVisit(
            uid=r.uid, patient_study_id=patient.study_id, study_key=patient.study_key,
            visit_name=r.name, target=r.target or r.done_on, window_start=r.window_start,
            window_end=r.window_end, assessments=r.assessments, status=r.status_code)
            for r in self.schedule(patient_key, today=today)]

    def worklist_calendar(self, start: date, end: date, *, today: date,
                          study_key: str | None = None) -> list[CalendarVisit]:
        """The worklist for a period as calendar events."""
        return [CalendarVisit(
            uid=i.visit_uid, patient_study_id=i.patient_study_id, study_key=i.study_key,
            visit_name=i.visit_name, target=i.target, window_start=i.window_start,
            window_end=i.window_end, assessments=i.assessments, status=i.status_code)
            for i in self.worklist(start, end, today=today, study_key=study_key)]

    def calendar_bytes(self, events: Iterable[CalendarVisit], name: str | None = None) -> bytes:
        """The iCalendar text of ``events``, stamped with the session clock."""
        return calendar_bytes(events, prodid_version=__version__, stamp=self.tracker.now(),
                              name=name)

    def write_calendar(self, path: str, events: Iterable[CalendarVisit],
                       name: str | None = None) -> int:
        """Write ``events`` to ``path`` as an iCalendar file; returns the number of events."""
        target = Path(path)
        if not path.strip() or target.is_dir() or (target.exists() and not target.is_file()):
            raise InputError(_("cannot write {path}: it is not an ordinary file").format(
                path=path), field="path")
        try:
            return write_calendar(path, events, prodid_version=__version__,
                                  stamp=self.tracker.now(), name=name)
        except OSError as exc:
            raise ServiceError(_("cannot write {path}: {error}").format(
                path=path, error=exc.strerror or exc)) from exc


def _status(pv: PlannedVisit, state: str, done_on: date | None, ended_on: date | None,
            today: date, *, ends_on: date | None = None,
            abstraction: bool = False) -> VisitStatus:
    """The visit's status on ``today``; a planned visit that its protocol ends at an anchor
    (``ends_on``, the anchor's date) is not applicable once its window would open after it,
    and a planned abstraction point of a retrospective study is "to abstract", never due."""
    if state == "planned" and ended_on is None and pv.window_start is not None:
        if ends_on is not None and pv.window_start > ends_on:
            return VisitStatus(pv.visit_key, "not_applicable")
        if abstraction:
            return VisitStatus(pv.visit_key, "to_abstract")
    if state == "done" and done_on is not None and done_on > today:
        # "Today" given earlier than a recorded visit (a preview): judge as of that visit.
        today = done_on
    return status(pv, today=today, done_on=done_on if state == "done" else None,
                  missed=state == "missed", cancelled=state == "cancelled",
                  not_applicable=state == "not_applicable", ended_on=ended_on)


def status_text(code: str) -> str:
    """The translated label of a status code (for tables and the CLI)."""
    return status_label(code)
