"""Values that cannot be right are refused by the services too, whatever sends them (the
window, the command line, a script): dates before 1900, before birth or after death, doses
and counts far outside anything plausible. Nothing is written when they are refused."""

from __future__ import annotations

from datetime import date

import pytest

from gisttracker.domain import plausibility
from gisttracker.domain.plausibility import DateTextError, parse_date
from gisttracker.errors import UserError
from gisttracker.services.base import ServiceError
from gisttracker.services.course import (
    CourseInputError,
    CourseService,
    ExposureInput,
    PathologyInput,
)
from gisttracker.services.forms import AdverseEventInput, FormInputError, FormService
from gisttracker.services.patients import Identity, PatientService
from gisttracker.services.visits import VisitService
from gisttracker.session import Session
from gisttracker.store.models import AuditLog
from gisttracker.store.models_course import Pathology, TreatmentExposure
from gisttracker.store.models_patients import PatientIdentity
from gisttracker.store.models_visits import Visit
from tests.core.course_fixtures import enrolled_patient
from tests.core.patients_helpers import TODAY, eligible_patient, good_data, new_patient, set_site


@pytest.mark.parametrize(("text", "expected"), [
    ("2027-05-20", date(2027, 5, 20)), ("20270520", date(2027, 5, 20)),
    ("2027/5/20", date(2027, 5, 20)), (" 2016-01-05 ", date(2016, 1, 5)), ("", None)])
def test_parse_date_reads_exactly_the_date_typed(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["27-05-20", "2027-02-30", "05/20/2027", "2027052", "—"])
def test_parse_date_never_guesses(text: str) -> None:
    with pytest.raises(DateTextError):
        parse_date(text)


def test_date_problem_names_each_limit() -> None:
    today = date(2026, 3, 14)
    assert "before 1900" in (plausibility.date_problem(date(1, 1, 1), today=today) or "")
    assert "in the future" in (plausibility.date_problem(date(2026, 3, 15), today=today) or "")
    assert plausibility.date_problem(date(2026, 3, 15), today=today, past=False) is None
    assert "two years ahead" in (plausibility.date_problem(date(2029, 1, 1), today=today,
                                                          past=False) or "")
    assert plausibility.date_problem(date(1960, 1, 1), today=today,
                                     birth=date(1961, 1, 1)) == \
        "1960-01-01 is before the date of birth (1961-01-01)"
    assert plausibility.date_problem(date(2025, 1, 2), today=today, label="Visit",
                                     death=date(2025, 1, 1)) == \
        "Visit: 2025-01-02 is after the death (2025-01-01)"


def test_doses_and_counts_have_ceilings() -> None:
    assert plausibility.dose_problem("imatinib", 400) is None
    assert plausibility.dose_problem("imatinib", 800) is None
    assert "not a plausible daily dose of imatinib" in (
        plausibility.dose_problem("Imatinib", 1e30) or "")
    assert "more than 0" in (plausibility.dose_problem("sunitinib", 0) or "")
    assert plausibility.dose_problem("sunitinib", 37.5) is None
    assert "not a plausible" in (plausibility.dose_problem("sunitinib", 375) or "")
    assert plausibility.dose_problem("sunitinib", float("nan")) is not None
    assert plausibility.count_problem(1e9, maximum=1000) is not None


def test_a_visit_done_on_0001_01_01_is_refused(session: Session) -> None:
    patient = enrolled_patient(session)
    visit = Visit.select().where(Visit.patient == patient.id).first()
    service = VisitService(session)
    before = AuditLog.select().count()
    # Refused where the service is entered (gisttracker.validation), before any rule runs.
    with pytest.raises(UserError, match="outside the dates this program accepts"):
        service.mark_done(visit.uid, date(1, 1, 1), today=TODAY)
    assert AuditLog.select().count() == before
    assert Visit.get_by_id(visit.id).state == "planned"


def test_a_visit_or_an_anchor_before_birth_is_refused(session: Session) -> None:
    set_site(session)
    patients = PatientService(session)
    patient = eligible_patient(patients, "RECTAL-LE")
    patients.enroll(patient.uid, today=TODAY)
    visits = VisitService(session)
    with pytest.raises(ServiceError, match="before the date of birth"):
        visits.set_anchor(patient.uid, "surgery", date(1950, 1, 1), today=TODAY)
    with pytest.raises(ServiceError, match="two years ahead"):
        visits.set_anchor(patient.uid, "surgery", date(2031, 1, 1), today=TODAY)
    baseline = Visit.get((Visit.patient == patient.id) & (Visit.visit_key == "baseline"))
    with pytest.raises(ServiceError, match="before the date of birth"):
        visits.mark_done(baseline.uid, date(1950, 1, 1), today=TODAY)
    assert visits.anchors(patient.uid).get("surgery") is None


def test_imatinib_10_to_the_30_mg_a_day_is_refused(session: Session) -> None:
    patient = enrolled_patient(session)
    service = CourseService(session)
    # 10^30 is refused where the service is entered (gisttracker.validation: far too large);
    # 40 000 mg/day (400 mg typed in the wrong unit, say) by the drug's plausible ceiling.
    with pytest.raises(UserError, match="far too large"):
        service.add_exposure(patient.uid, ExposureInput("imatinib", 1e30, "palliative",
                                                        date(2025, 1, 1)), today=TODAY)
    with pytest.raises(CourseInputError) as refused:
        service.add_exposure(patient.uid, ExposureInput("imatinib", 40_000, "palliative",
                                                        date(2025, 1, 1)), today=TODAY)
    assert "not a plausible daily dose" in refused.value.errors["dose_mg_per_day"]
    uid = service.add_exposure(patient.uid, ExposureInput(
        "imatinib", 400, "palliative", date(2025, 1, 1)), today=TODAY)
    with pytest.raises(CourseInputError):
        service.change_dose(uid, date(2025, 6, 1), 4e6, today=TODAY, reason="escalation")
    assert [r.dose_mg_per_day for r in TreatmentExposure.select()] == [400.0]


def test_a_mitotic_count_of_10_to_the_9_is_refused_at_screening_and_pathology(
        session: Session) -> None:
    set_site(session)
    patients = PatientService(session)
    patient = new_patient(patients, "NCT04933669")
    data = good_data(patients.study("NCT04933669"))
    data.values["mitotic_count"] = 1e9
    with pytest.raises(ServiceError, match="not plausible"):
        patients.save_screening(patient.uid, data, today=TODAY)
    with pytest.raises(CourseInputError):
        CourseService(session).record_pathology(patient.uid, PathologyInput(
            date(2026, 1, 1), "stomach", 5.0, 1e9, "50hpf"), today=TODAY)
    assert Pathology.select().count() == 0


def test_dates_of_forms_labs_and_adverse_events_have_the_same_limits(
        session: Session) -> None:
    patient = enrolled_patient(session, "RECTAL-LE", arm="LE")
    visit = Visit.get((Visit.patient == patient.id) & (Visit.visit_key == "baseline"))
    forms = FormService(session)
    with pytest.raises(UserError, match=r"before 1900|outside the dates this program accepts"):
        forms.save_lab(visit.uid, "alt", 30, "U/L", uln=40, sampled_on=date(1899, 12, 31),
                       today=TODAY)
    with pytest.raises(UserError, match=r"before 1900|outside the dates this program accepts"):
        forms.save_adverse_event(patient.uid, AdverseEventInput(
            term="diarrhoea", grade=2, onset=date(1800, 1, 1)), today=TODAY)
    # A date the entry check lets through is held to the same plausibility rule: not more
    # than two years ahead.
    with pytest.raises(FormInputError) as refused:
        forms.save_adverse_event(patient.uid, AdverseEventInput(
            term="diarrhoea", grade=2, onset=date(2031, 1, 1)), today=TODAY)
    assert refused.value.errors.get("onset")


def test_a_date_of_birth_after_what_is_recorded_for_the_patient_is_refused(
        session: Session) -> None:
    set_site(session)
    patients = PatientService(session)
    patient = eligible_patient(patients, "NCT04933669")  # screened on TODAY, consent 03-10
    with pytest.raises(ServiceError, match="after the consent recorded on 2026-03-10"):
        patients.update_identity(patient.uid, Identity("H-1", "Test Patient", "TP",
                                                       date(2026, 3, 12)), today=TODAY,
                                 reason="typo")
    assert PatientIdentity.get().date_of_birth == date(1966, 3, 15)


def test_the_end_of_participation_before_1900_is_refused(session: Session) -> None:
    set_site(session)
    patients = PatientService(session)
    patient = eligible_patient(patients, "RECTAL-LE")
    patients.enroll(patient.uid, today=TODAY)
    with pytest.raises(UserError):
        patients.end_participation(patient.uid, "withdrawn", on=date(1, 1, 1), today=TODAY,
                                   reason="moved away")
    assert patients.get(patient.uid).status == "enrolled"
