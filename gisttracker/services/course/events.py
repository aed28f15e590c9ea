"""Course events: progression, recurrence, regrowth, death, last known alive, lost to
follow-up, with the date rules that keep them consistent.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from gisttracker.domain import course as course_rules
from gisttracker.i18n import _, join_sentences
from gisttracker.services.base import ServiceError
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
        problems = course_rules.validate_event_date(
            data.kind, data.occurred_on, today=today,
            enrolled_on=_as_date(patient.enrolled_on),
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
            status = {"death": "died", "lost_to_follow_up": "lost_to_follow_up"}.get(data.kind)
            if status is not None and patient.status == "enrolled":
                from gisttracker.services.patients import PatientService

                PatientService(self.session).end_participation(
                    patient.uid, status, on=data.occurred_on, today=today,
                    reason=_text(data.cause) or reason)
        return str(row.uid)

    def events(self, patient_key: str) -> list[EventRow]:
        patient = self.patient(patient_key)
        return [EventRow(e.uid, EventInput(
            e.kind, _as_date(e.occurred_on) or date.min, e.criterion, e.site, e.cause,
            e.salvage_procedure, e.salvage_margin, e.notes))
            for e in CourseEvent.select().where(CourseEvent.patient == patient)
            .order_by(CourseEvent.occurred_on, _col(CourseEvent))]

    def delete_event(self, uid: str, *, reason: str) -> None:
        row = CourseEvent.get_or_none(CourseEvent.uid == uid)
        if row is None:
            raise ServiceError(_("no course event {uid!r}").format(uid=uid))
        if not reason.strip():
            raise ServiceError(_("a reason is required to delete an event"))
        with self.tracker.transaction(reason) as w:
            w.delete(row, patient_uid=Patient.get_by_id(_fk(row, "patient")).uid)

