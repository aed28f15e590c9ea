"""Everything recorded can be corrected or removed, with a reason, audited, and with what
depended on it recomputed (issue 10, point 3)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

import pytest

from gisttracker.services.base import ServiceError
from gisttracker.services.course import CourseService, EventInput, PathologyInput, SurgeryInput
from gisttracker.services.patients import Identity, PatientService
from gisttracker.services.visits import VisitService
from gisttracker.session import Session
from gisttracker.store.models import AuditLog
from gisttracker.store.models_course import Pathology, Surgery
from gisttracker.store.models_patients import Patient, PatientIdentity
from gisttracker.store.models_visits import AnchorDate, Visit
from tests.core.patients_helpers import TODAY, eligible_patient, good_data, new_patient, set_site


@pytest.fixture
def patients(session: Session) -> PatientService:
    set_site(session)
    return PatientService(session)


def _enrolled(patients: PatientService, study: str = "RECTAL-LE", *,
              screened: date = TODAY, enrolled: date = TODAY) -> Patient:
    patient = new_patient(patients, study)
    result = patients.save_screening(patient.uid, good_data(patients.study(study)),
                                     today=TODAY, screened_on=screened)
    assert result.outcome == "eligible"
    patients.enroll(patient.uid, today=enrolled)
    return patients.get(patient.uid)


def _audited(field: str, reason: str) -> bool:
    return AuditLog.select().where((AuditLog.field == field)
                                   & (AuditLog.reason == reason)).exists()


def test_a_registration_is_corrected_in_one_audited_change(patients: PatientService) -> None:
    patient = eligible_patient(patients, "NCT04933669")
    with pytest.raises(ServiceError, match="reason is required"):
        patients.correct_registration(patient.uid, sex="male", identity=Identity(
            "H-2", "Wang Fang", "WF", date(1961, 4, 2)), today=TODAY, reason=" ")
    changed = patients.correct_registration(
        patient.uid, sex="male", identity=Identity("H-2", "Wang Fang", "WF", date(1961, 4, 2)),
        today=TODAY, reason="typed from the wrong chart")
    assert sorted(changed) == ["date_of_birth", "initials", "name", "record_number", "sex"]
    ident = PatientIdentity.get()
    assert (ident.record_number, ident.name, ident.date_of_birth) == (
        "H-2", "Wang Fang", date(1961, 4, 2))
    assert patients.get(patient.uid).sex == "male"
    assert patients.get(patient.uid).study_id == "ZJU-0001"  # never renumbered
    assert _audited("date_of_birth", "typed from the wrong chart")
    assert _audited("sex", "typed from the wrong chart")


def test_a_patient_registered_without_a_birth_date_can_pass_the_age_criterion_later(
        patients: PatientService) -> None:
    patient = patients.register("NCT04933669", sex="female", identity=Identity(
        "H-9", "No Birthday", "NB", None), today=TODAY)
    data = good_data(patients.study("NCT04933669"))
    assert patients.save_screening(patient.uid, data, today=TODAY).outcome == "incomplete"
    patients.correct_registration(patient.uid, sex="female", identity=Identity(
        "H-9", "No Birthday", "NB", date(1970, 1, 1)), today=TODAY, reason="birth date found")
    assert patients.save_screening(patient.uid, data, today=TODAY).outcome == "eligible"


def test_an_enrolled_patients_screening_is_corrected_and_evaluated_again(
        patients: PatientService) -> None:
    patient = _enrolled(patients)
    data = good_data(patients.study("RECTAL-LE"))
    data.values["ecog"] = 3
    result = patients.correct_screening(patient.uid, data, today=TODAY,
                                        reason="ECOG misread")
    assert result.outcome == "ineligible"  # the window says so; the enrollment stands
    screening = patients.latest_screening(patient.uid)
    assert screening is not None and (screening.ecog, screening.outcome) == (3, "ineligible")
    assert patients.get(patient.uid).status == "enrolled"
    assert _audited("ecog", "ECOG misread")
    with pytest.raises(ServiceError, match="reason is required"):
        patients.correct_screening(patient.uid, data, today=TODAY, reason="")


def test_arm_b_choice_is_recorded_after_randomization_and_corrected_with_a_reason(
        patients: PatientService) -> None:
    seed = 0
    while True:  # a randomization to arm B
        session_patient = eligible_patient(patients, "NCT03862768")
        result = patients.enroll(session_patient.uid, today=TODAY, rng=random.Random(seed))
        if result.arm_code == "B":
            break
        seed += 1
    patients.record_arm_option(session_patient.uid, "IM600")
    assert patients.get(session_patient.uid).arm_option == "IM600"
    with pytest.raises(ServiceError, match="reason"):
        patients.record_arm_option(session_patient.uid, "SU37.5")
    patients.record_arm_option(session_patient.uid, "SU37.5", reason="patient changed mind")
    assert patients.get(session_patient.uid).arm_option == "SU37.5"
    assert "SU37.5" in patients.header(session_patient.uid)


def test_the_enrollment_date_is_corrected_and_its_visits_move(
        patients: PatientService) -> None:
    patient = _enrolled(patients, screened=date(2026, 3, 1))
    baseline = Visit.get((Visit.patient == patient.id) & (Visit.visit_key == "preop_q3m_1"))
    assert baseline.planned_on == date(2026, 6, 14)
    patients.correct_enrollment_date(patient.uid, date(2026, 3, 12), today=TODAY,
                                     reason="enrolled two days earlier")
    assert patients.get(patient.uid).enrolled_on == date(2026, 3, 12)
    assert AnchorDate.get(AnchorDate.anchor_key == "enrollment").date == date(2026, 3, 12)
    assert Visit.get_by_id(baseline.id).planned_on == date(2026, 6, 12)


def test_a_surgery_deleted_moves_the_surgery_anchor_and_the_visits_wait_again(
        session: Session, patients: PatientService) -> None:
    patient = _enrolled(patients)
    course = CourseService(session)
    uid = course.record_surgery(patient.uid, SurgeryInput(
        date(2026, 3, 1), "local_excision_tamis", "R0", False, "none"), today=TODAY)
    report = course.record_pathology(patient.uid, PathologyInput(
        date(2026, 3, 5), "rectum", 3.0, 2.0, "50hpf", surgery_uid=uid), today=TODAY)
    month3 = Visit.get((Visit.patient == patient.id) & (Visit.visit_key == "fu_m3"))
    assert month3.planned_on == date(2026, 6, 1)
    course.delete_surgery(uid, reason="recorded on the wrong patient")
    assert Surgery.select().count() == 0
    assert VisitService(session).anchors(patient.uid).get("surgery") is None
    assert Visit.get_by_id(month3.id).planned_on is None  # waiting for the surgery again
    kept = Pathology.get(Pathology.uid == report)
    assert kept.surgery is None and kept.tumour_size_cm == 3.0
    course.delete_pathology(report, reason="recorded on the wrong patient")
    assert Pathology.select().count() == 0
    assert AuditLog.select().where((AuditLog.table_name == "surgery")
                                   & (AuditLog.action == "delete")
                                   & (AuditLog.reason == "recorded on the wrong patient")).exists()


def test_a_mistaken_death_deleted_gives_the_patient_back_their_visits(
        session: Session, patients: PatientService) -> None:
    patient = _enrolled(patients)
    course = CourseService(session)
    death = course.record_event(patient.uid, EventInput("death", date(2026, 3, 14),
                                                        cause="unknown"), today=TODAY)
    assert patients.get(patient.uid).status == "died"
    later = Visit.get((Visit.patient == patient.id) & (Visit.visit_key == "preop_q3m_2"))
    assert later.state == "cancelled"
    with pytest.raises(ServiceError, match="correct or delete that event"):
        patients.resume_participation(patient.uid, reason="mistake")
    course.delete_event(death, reason="another patient's death", today=TODAY)
    back = patients.get(patient.uid)
    assert (back.status, back.ended_on) == ("enrolled", None)
    assert Visit.get_by_id(later.id).state == "planned"


def test_a_death_corrected_to_another_day_moves_the_end_of_participation(
        session: Session, patients: PatientService) -> None:
    patient = _enrolled(patients, screened=date(2026, 3, 1), enrolled=date(2026, 3, 5))
    course = CourseService(session)
    data = EventInput("death", date(2026, 3, 14))
    uid = course.record_event(patient.uid, data, today=TODAY)
    course.record_event(patient.uid, replace(data, occurred_on=date(2026, 3, 13)),
                        today=TODAY, uid=uid, reason="date from the certificate")
    assert patients.get(patient.uid).ended_on == date(2026, 3, 13)


def test_a_withdrawal_recorded_by_mistake_is_undone(
        session: Session, patients: PatientService) -> None:
    patient = _enrolled(patients)
    patients.end_participation(patient.uid, "withdrawn", on=TODAY, today=TODAY,
                               reason="moved away")
    cancelled = Visit.select().where((Visit.patient == patient.id)
                                     & (Visit.state == "cancelled")).count()
    assert cancelled > 0
    patients.resume_participation(patient.uid, reason="wrong patient withdrawn")
    assert patients.get(patient.uid).status == "enrolled"
    assert Visit.select().where((Visit.patient == patient.id)
                                & (Visit.state == "cancelled")).count() == 0


def test_an_anchor_entered_by_mistake_is_removed(session: Session,
                                                 patients: PatientService) -> None:
    patient = _enrolled(patients)
    visits = VisitService(session)
    visits.set_anchor(patient.uid, "surgery", date(2026, 3, 1), today=TODAY)
    with pytest.raises(ServiceError, match="follows from the enrollment"):
        visits.clear_anchor(patient.uid, "enrollment", reason="no")
    visits.clear_anchor(patient.uid, "surgery", reason="operation postponed")
    assert "surgery" not in visits.anchors(patient.uid)
    month3 = Visit.get((Visit.patient == patient.id) & (Visit.visit_key == "fu_m3"))
    assert month3.planned_on is None


def test_an_unscheduled_visit_added_by_mistake_is_removed(
        session: Session, patients: PatientService) -> None:
    patient = _enrolled(patients)
    visits = VisitService(session)
    row = visits.add_unscheduled(patient.uid, "Phone call", TODAY, today=TODAY)
    baseline = Visit.get((Visit.patient == patient.id) & (Visit.visit_key == "baseline"))
    with pytest.raises(ServiceError, match="visit of the protocol"):
        visits.delete_unscheduled(baseline.uid, reason="no")
    visits.delete_unscheduled(row.uid, reason="added to the wrong patient")
    assert Visit.get_or_none(Visit.uid == row.uid) is None


def test_a_progression_deleted_changes_the_endpoint(
        session: Session, patients: PatientService) -> None:
    # Endpoints are derived from what is recorded: a progression entered by mistake, once
    # deleted, no longer ends the patient's progression-free survival.
    patient = eligible_patient(patients, "NCT03862768")
    patients.enroll(patient.uid, today=TODAY, rng=random.Random(1))
    course = CourseService(session)
    later = date(2026, 9, 1)
    uid = course.record_event(patient.uid, EventInput("progression", date(2026, 6, 1),
                                                      criterion="recist"), today=later)
    pfs = next(e for e in course.endpoints(patient.uid, today=later) if e.key == "pfs")
    assert (pfs.event, pfs.on) == (True, date(2026, 6, 1))
    course.delete_event(uid, reason="another patient's scan", today=later)
    pfs = next(e for e in course.endpoints(patient.uid, today=later) if e.key == "pfs")
    assert pfs.event is False and pfs.on != date(2026, 6, 1)  # censored, not progressed
    assert AuditLog.select().where((AuditLog.action == "delete")
                                   & (AuditLog.reason == "another patient's scan")).exists()
