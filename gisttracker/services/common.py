"""What every feature service shares: the session, patient look-up, stored dates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from gisttracker.domain.plausibility import DateContext, date_problem
from gisttracker.i18n import _
from gisttracker.protocols import Study
from gisttracker.services.base import ServiceError
from gisttracker.session import Session
from gisttracker.store.models import Record
from gisttracker.store.models_patients import Patient
from gisttracker.validation import check_text


def as_date(value: object) -> date | None:
    """A stored date as ``date`` (peewee gives dates, raw SQL ISO text); None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def fk_id(record: Record, name: str) -> int | None:
    """The id a foreign key of ``record`` holds, without loading the referenced row."""
    value = record.__data__.get(name)
    return None if value is None else int(value)


def pk(record: Record) -> int:
    """The local integer key of ``record``."""
    return int(record.__data__["id"])


def id_column(model: type[Record]) -> Any:
    """The ``id`` column of ``model`` (for ``IN`` queries and ordering)."""
    return model._meta.primary_key


def find_patient(ref: str) -> Patient:
    """The patient whose study identifier or uid is ``ref``: the one look-up every command,
    report and screen uses. Surrounding spaces are ignored and case does not matter
    (``zju-0007`` finds ZJU-0007). ServiceError with one clear line when there is none."""
    if not isinstance(ref, str):
        raise ServiceError(_("a patient is named by a study identifier such as ZJU-0007"))
    text = check_text(ref, _("patient")).strip()
    patient = None
    if text:
        patient = Patient.get_or_none((Patient.study_id == text.upper())
                                      | (Patient.uid == text.lower()))
    if patient is None:
        raise ServiceError(_("no patient {ref!r}").format(ref=text or ref))
    return patient


def date_context(patient: Patient, today: date) -> DateContext:
    """``today`` and the patient's date of birth and of death (when recorded): what every
    date recorded for the patient is checked against
    (:func:`gisttracker.domain.plausibility.date_problem`)."""
    from gisttracker.store.models_course import CourseEvent
    from gisttracker.store.models_patients import PatientIdentity

    ident = PatientIdentity.get_or_none(PatientIdentity.patient == patient)
    death = (CourseEvent.select(CourseEvent.occurred_on)
             .where((CourseEvent.patient == patient) & (CourseEvent.kind == "death"))
             .order_by(CourseEvent.occurred_on).first())
    return DateContext(today, as_date(ident.date_of_birth) if ident else None,
                       as_date(death.occurred_on) if death else None)


def check_patient_date(patient: Patient, value: date, *, today: date, label: str,
                       past: bool = True, death: bool = True,
                       after: tuple[date, str] | None = None) -> None:
    """Refuse (ServiceError naming ``label``) a date that cannot be one of this patient's:
    before 1900, in the future for something that happened (``past``), before birth, after
    death (unless ``death`` is False: the date of death itself)."""
    ctx = date_context(patient, today)
    problem = date_problem(value, today=today, label=label, past=past, birth=ctx.birth,
                           death=ctx.death if death else None, after=after)
    if problem:
        raise ServiceError(problem)


class SiteService:
    """Base of the feature services: one open site, its tracker, patients by key."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.tracker = session.tracker

    def patient(self, key: str) -> Patient:
        """The patient with uid or study identifier ``key`` (:func:`find_patient`)."""
        return find_patient(key)

    def study_of(self, patient: Patient) -> Study:
        """The patient's study protocol; ServiceError if this site no longer loads it."""
        try:
            return self.session.study(patient.study_key)
        except KeyError as exc:
            raise ServiceError(str(exc.args[0])) from None
