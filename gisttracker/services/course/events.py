"""Course events: progression, recurrence, regrowth, death, last known alive, lost to
follow-up, with the date rules that keep them consistent.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from gisttracker.domain import course as course_rules
from gisttracker.i18n import _, join_sentences
from gisttracker.services.base import ServiceError, Writer
from gisttracker.services.common import as_date as _as_date
from gisttracker.services.common import fk_id as _fk
from gisttracker.services.common import id_column as _col
from gisttracker.services.course.base import CourseServiceBase
from gisttracker.services.course.values import (
    CourseInputError,
    EventInput,
    EventRow,
    _text,
    event_label,
)
from gisttracker.store.models_course import (
    CourseEvent,
    Surgery,
    TumourAssessment,
)
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import Visit

#: Course events that end a patient's participation, with the status they give.
ENDING_EVENTS: dict[str, str] = {"death": "died", "lost_to_follow_up": "lost_to_follow_up"}


class EventsMixin(CourseServiceBase):
    """Course events."""

    def check_event(self, patient_key: str, data: EventInput, *, today: date,
                    uid: str | None = None) -> dict[str, str]:
        """Field errors the save of ``data`` would meet (empty when fine)."""
        patient = self.patient(patient_key)
        errors: dict[str, str] = {}
        if data.kind not in course_rules.EVENT_KINDS:
            return {"kind": _("choose the kind of event")}
        if data.kind == "progression" and data.criterion not in course_rules.PROGRESSION_CRITERIA:
            errors["criterion"] = _("give the criterion of the progression")
        if data.salvage_procedure is not None and (
                data.salvage_procedure not in course_rules.PROCEDURES):
            errors["salvage_procedure"] = _("unknown procedure")
        if data.salvage_margin is not None and data.salvage_margin not in course_rules.MARGINS:
            errors["salvage_margin"] = _("margin must be R0, R1 or R2")
        death = self._death(patient, exclude=uid)
        # A retrospective study enrolls patients whose course is already written in their
        # records: its events come before the enrollment (the day of abstraction).
        retrospective = self.study_of(patient).study_type == "retrospective"
        problems = course_rules.validate_event_date(
            data.kind, data.occurred_on, today=today,
            enrolled_on=None if retrospective else _as_date(patient.enrolled_on),
            surgery_date=self.index_surgery_date(patient_key), death_date=death)
        if problems:
            errors["occurred_on"] = join_sentences(problems)
        if data.kind == "death" and "occurred_on" not in errors:
            later = self._data_after(patient, data.occurred_on, exclude=uid)
            if later:
                errors["occurred_on"] = _("data are recorded after this date: {items}").format(
                    items=join_sentences(later))
        return errors

    def _data_after(self, patient: Patient, on: date, *, exclude: str | None) -> list[str]:
        """What is recorded for ``patient`` after ``on`` (no data may follow a death)."""
        found = []
        for e in CourseEvent.select().where((CourseEvent.patient == patient)
                                            & (CourseEvent.occurred_on > on)):
            if e.uid != exclude:
                found.append(_("{event} on {date}").format(event=event_label(e.kind),
                                                           date=str(e.occurred_on)))
        for a in TumourAssessment.select().where((TumourAssessment.patient == patient)
                                                 & (TumourAssessment.assessed_on > on)):
            found.append(_("tumour assessment on {date}").format(date=str(a.assessed_on)))
        for s in Surgery.select().where((Surgery.patient == patient)
                                        & (Surgery.performed_on > on)):
            found.append(_("surgery on {date}").format(date=str(s.performed_on)))
        for v in Visit.select().where((Visit.patient == patient) & (Visit.done_on > on)):
            found.append(_("visit {name} done on {date}").format(name=v.name,
                                                                 date=str(v.done_on)))
        return found

    def record_event(self, patient_key: str, data: EventInput, *, today: date,
                     uid: str | None = None, reason: str | None = None) -> str:
        """Record (or correct, with ``uid`` and a reason) a course event.

        A death or loss to follow-up ends the participation of an enrolled patient on that
        date (:meth:`PatientService.end_participation`: later visits are cancelled).
        """
        patient = self.patient(patient_key)
        errors = self.check_event(patient_key, data, today=today, uid=uid)
        if errors:
            raise CourseInputError(errors)
        values: dict[str, Any] = {"kind": data.kind, "occurred_on": data.occurred_on,
                  "criterion": data.criterion if data.kind == "progression" else None,
                  "site": _text(data.site), "cause": _text(data.cause),
                  "salvage_procedure": data.salvage_procedure,
                  "salvage_margin": data.salvage_margin, "notes": _text(data.notes)}
        with self.tracker.transaction(reason or event_label(data.kind)) as w:
            if uid is None:
                row = w.insert(CourseEvent, patient_uid=patient.uid, patient=patient, **values)
            else:
                found = CourseEvent.get_or_none((CourseEvent.uid == uid)
                                                & (CourseEvent.patient == patient))
                if found is None:
                    raise ServiceError(_("no course event {uid!r}").format(uid=uid))
                row = found
                w.update(row, values, patient_uid=patient.uid, require_reason=True)
            self._sync_participation(w, patient.uid, today=today,
                                     reason=_text(data.cause) or reason)
        return str(row.uid)

    def _sync_participation(self, w: Writer, patient_uid: str, *, today: date,
                            reason: str | None) -> None:
        """The patient's participation follows the recorded deaths and losses to follow-up
        (inside the caller's transaction): the earliest such event ends it on its date (later
        visits cancelled); when it is corrected, the end date moves; when it is deleted, an
        end it had caused is undone and the visits it cancelled are planned again."""
        patient = Patient.get(Patient.uid == patient_uid)
        ends = [(e.data.occurred_on, e.data.kind) for e in self.events(patient_uid)
                if e.data.kind in ENDING_EVENTS]
        status_of = ENDING_EVENTS
        if ends:
            on, kind = min(ends)
            status = status_of[kind]
            if patient.status == "enrolled":
                from gisttracker.services.patients import PatientService

                PatientService(self.session).end_participation(
                    patient.uid, status, on=on, today=today, reason=reason)
            elif patient.status in status_of.values() and (
                    patient.status != status or _as_date(patient.ended_on) != on):
                w.update(patient, {"status": status, "ended_on": on}, patient_uid=patient.uid)
                from gisttracker.services.visits import VisitService

                VisitService(self.session).replan(w, patient, reason or event_label(kind))
        elif patient.status in status_of.values():
            from gisttracker.services.patients.participation import resume_visits

            resume_visits(w, self.session, patient)

    def events(self, patient_key: str) -> list[EventRow]:
        patient = self.patient(patient_key)
        return [EventRow(e.uid, EventInput(
            e.kind, _as_date(e.occurred_on) or date.min, e.criterion, e.site, e.cause,
            e.salvage_procedure, e.salvage_margin, e.notes))
            for e in CourseEvent.select().where(CourseEvent.patient == patient)
            .order_by(CourseEvent.occurred_on, _col(CourseEvent))]

    def delete_event(self, uid: str, *, reason: str, today: date | None = None) -> None:
        """Remove an event recorded by mistake (``reason`` required); what depended on it
        follows: endpoints are derived from what remains, and a death or loss to follow-up
        that ended the participation no longer does (its visits are planned again)."""
        row = CourseEvent.get_or_none(CourseEvent.uid == uid)
        if row is None:
            raise ServiceError(_("no course event {uid!r}").format(uid=uid))
        if not reason.strip():
            raise ServiceError(_("a reason is required to delete an event"))
        patient = Patient.get_by_id(_fk(row, "patient"))
        with self.tracker.transaction(reason) as w:
            w.delete(row, patient_uid=patient.uid)
            self._sync_participation(w, patient.uid, today=today or date.max, reason=reason)

