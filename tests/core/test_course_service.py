"""Surgery, pathology, course events, organ preservation and the per-patient endpoints."""

from __future__ import annotations

from datetime import date

import pytest

from gisttracker.services.course import (
    CourseInputError,
    CourseService,
    EventInput,
    PathologyInput,
    SurgeryInput,
)
from gisttracker.services.tumour import AssessmentInput, LesionInput, TumourService
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import Visit
from tests.core.course_fixtures import ENROLLED, TODAY, enrolled_patient


def endpoint(service: CourseService, patient: Patient, key: str, today: date = TODAY):
    return next(e for e in service.endpoints(patient.uid, today=today) if e.key == key)


# --- event dates ---------------------------------------------------------------------------


def test_event_dates_in_the_future_or_before_enrollment_are_refused(session: Session) -> None:
    patient = enrolled_patient(session)
    service = CourseService(session)
    with pytest.raises(CourseInputError) as future:
        service.record_event(patient.uid, EventInput("progression", date(2026, 3, 15),
                                                     "recist"), today=TODAY)
    assert "in the future" in future.value.errors["occurred_on"]
    with pytest.raises(CourseInputError) as early:
        service.record_event(patient.uid, EventInput("progression", date(2024, 1, 9),
                                                     "recist"), today=TODAY)
    assert "before enrollment" in early.value.errors["occurred_on"]
    with pytest.raises(CourseInputError) as no_criterion:
        service.record_event(patient.uid, EventInput("progression", date(2024, 5, 1)),
                             today=TODAY)
    assert "criterion" in no_criterion.value.errors
    assert service.events(patient.uid) == []


def test_recurrence_must_follow_the_surgery(session: Session) -> None:
    patient = enrolled_patient(session, "RECTAL-LE", arm="LE")
    service = CourseService(session)
    service.record_surgery(patient.uid, SurgeryInput(date(2024, 6, 1), "local_excision_tamis",
                                                     "R0"), today=TODAY)
    with pytest.raises(CourseInputError, match="after the surgery"):
        service.record_event(patient.uid, EventInput("local_recurrence", date(2024, 6, 1)),
                             today=TODAY)
    service.record_event(patient.uid, EventInput("local_recurrence", date(2024, 6, 2)),
                         today=TODAY)


def test_death_ends_participation_and_nothing_may_follow_it(session: Session) -> None:
    patient = enrolled_patient(session)
    service = CourseService(session)
    service.record_event(patient.uid, EventInput("death", date(2024, 8, 1),
                                                 cause="disease progression"), today=TODAY)
    patient = Patient.get_by_id(patient.id)
    assert patient.status == "died" and patient.ended_on == date(2024, 8, 1)
    later = Visit.select().where((Visit.patient == patient.id)
                                 & (Visit.window_start > date(2024, 8, 1)))
    assert later.count() > 0 and all(v.state == "cancelled" for v in later)

    with pytest.raises(CourseInputError, match="after the death"):
        service.record_event(patient.uid, EventInput("last_known_alive", date(2024, 9, 1)),
                             today=TODAY)
    with pytest.raises(CourseInputError, match="already recorded"):
        service.record_event(patient.uid, EventInput("death", date(2024, 7, 1)), today=TODAY)
    with pytest.raises(CourseInputError, match="after the recorded death"):
        service.record_surgery(patient.uid, SurgeryInput(date(2024, 9, 1), "other"),
                               today=TODAY)


def test_a_death_before_data_already_recorded_is_refused(session: Session) -> None:
    patient = enrolled_patient(session)
    TumourService(session).record(patient.uid, AssessmentInput(
        date(2024, 6, 1), (LesionInput("T1", "liver", 30),), is_baseline=True), today=TODAY)
    with pytest.raises(CourseInputError, match="tumour assessment on 2024-06-01"):
        CourseService(session).record_event(patient.uid, EventInput("death", date(2024, 5, 1)),
                                            today=TODAY)


# --- surgery and pathology -----------------------------------------------------------------


def test_surgery_sets_the_anchor_and_the_visits_follow(session: Session) -> None:
    patient = enrolled_patient(session, "RECTAL-LE", arm="LE")
    service = CourseService(session)
    service.record_surgery(patient.uid, SurgeryInput(date(2024, 7, 1), "local_excision_tamis",
                                                     "R0", stoma="temporary"), today=TODAY)
    m3 = Visit.get((Visit.patient == patient.id) & (Visit.visit_key == "fu_m3"))
    assert m3.planned_on == date(2024, 10, 1)
    with pytest.raises(CourseInputError) as refused:
        service.record_surgery(patient.uid, SurgeryInput(
            date(2024, 8, 1), "tme", "R4", stoma="permanent",
            stoma_reversed_on=date(2024, 9, 1)), today=TODAY)
    assert set(refused.value.errors) == {"margin", "stoma_reversed_on"}


def test_pathology_shows_the_nih_risk_when_everything_is_known(session: Session) -> None:
    patient = enrolled_patient(session, "NCT04933669")
    service = CourseService(session)
    surgery = service.record_surgery(patient.uid, SurgeryInput(date(2024, 7, 1),
                                                               "gastrectomy", "R0",
                                                               ruptured=True), today=TODAY)
    service.record_pathology(patient.uid, PathologyInput(
        date(2024, 7, 10), "stomach", 4.0, 8, "50hpf", "KIT_11", None, "grade 2",
        surgery_uid=surgery), today=TODAY)
    service.record_pathology(patient.uid, PathologyInput(
        date(2024, 7, 11), "stomach", 4.0, 8, "5mm2", "KIT_11", False), today=TODAY)
    service.record_pathology(patient.uid, PathologyInput(
        date(2024, 7, 12), "small_intestine", 4.0, None), today=TODAY)
    rows = service.pathology(patient.uid)
    assert rows[0].risk == "high"            # rupture recorded at surgery
    assert rows[1].risk == "intermediate"    # gastric 2.1–5 cm, > 5 mitoses
    assert rows[2].risk is None and "mitotic count" in rows[2].risk_missing
    with pytest.raises(CourseInputError) as refused:
        service.record_pathology(patient.uid, PathologyInput(tumour_size_cm=-1,
                                                             mitotic_unit="hpf"), today=TODAY)
    assert set(refused.value.errors) == {"tumour_size_cm", "mitotic_unit"}


# --- organ preservation --------------------------------------------------------------------


def rectal(session: Session, seq: int = 1) -> tuple[Patient, CourseService]:
    return enrolled_patient(session, "RECTAL-LE", seq=seq, arm="LE"), CourseService(session)


def test_organ_preserved_after_local_excision_and_reversed_stoma(session: Session) -> None:
    patient, service = rectal(session)
    service.record_surgery(patient.uid, SurgeryInput(
        date(2024, 7, 1), "local_excision_transanal", "R0", stoma="temporary",
        stoma_reversed_on=date(2024, 12, 1)), today=TODAY)
    service.record_event(patient.uid, EventInput("regrowth", date(2025, 1, 5),
                                                 salvage_procedure="local_excision_tamis",
                                                 salvage_margin="R0"), today=TODAY)
    result = service.organ_preservation(patient.uid, today=TODAY)
    assert result is not None and result.preserved is True
    assert result.horizon == date(2025, 7, 10)  # 18 months from enrollment (protocol)
    assert endpoint(service, patient, "organ_preservation").value == "met"
    # Before the 18-month day the composite is still open.
    early = service.organ_preservation(patient.uid, today=date(2025, 3, 1))
    assert early is not None and early.preserved is None


def test_organ_preservation_fails_on_tme_or_unreversed_stoma(session: Session) -> None:
    patient, service = rectal(session)
    service.record_surgery(patient.uid, SurgeryInput(date(2024, 7, 1), "local_excision_tamis",
                                                     "R1"), today=TODAY)
    service.record_surgery(patient.uid, SurgeryInput(date(2024, 10, 1), "tme", "R0"),
                           today=TODAY)
    result = service.organ_preservation(patient.uid, today=TODAY)
    assert result is not None and result.preserved is False
    assert result.failed_on == date(2024, 10, 1) and "TME" in result.reason

    other, service = rectal(session, seq=2)
    service.record_surgery(other.uid, SurgeryInput(date(2024, 7, 1), "local_excision_tamis",
                                                   "R0", stoma="temporary"), today=TODAY)
    result = service.organ_preservation(other.uid, today=TODAY)
    assert result is not None and result.preserved is False
    assert "not reversed" in result.reason


def test_unsalvaged_regrowth_fails_organ_preservation(session: Session) -> None:
    patient, service = rectal(session)
    service.record_surgery(patient.uid, SurgeryInput(date(2024, 7, 1), "local_excision_tamis",
                                                     "R0"), today=TODAY)
    service.record_event(patient.uid, EventInput("regrowth", date(2025, 2, 1),
                                                 salvage_procedure="apr",
                                                 salvage_margin="R0"), today=TODAY)
    result = service.organ_preservation(patient.uid, today=TODAY)
    assert result is not None and result.preserved is False


# --- endpoints -----------------------------------------------------------------------------


def test_pfs_and_os_events_and_censoring(session: Session) -> None:
    patient = enrolled_patient(session)  # NCT03862768: PFS/OS from randomization, 12 months
    service = CourseService(session)
    service.record_event(patient.uid, EventInput("last_known_alive", date(2024, 11, 1)),
                         today=TODAY)
    # The protocol censors OS at the last contact and PFS at the last tumour assessment.
    os_ = endpoint(service, patient, "os")
    assert (os_.start, os_.event, os_.on) == (ENROLLED, False, date(2024, 11, 1))
    assert os_.months == pytest.approx((date(2024, 11, 1) - ENROLLED).days / 30.4375)
    assert endpoint(service, patient, "pfs").on == ENROLLED  # no assessment yet
    tumour = TumourService(session)
    tumour.record(patient.uid, AssessmentInput(date(2024, 1, 5), (LesionInput("T1", "liver", 50),),
                                             is_baseline=True), today=TODAY)
    tumour.record(patient.uid, AssessmentInput(date(2024, 7, 5), (LesionInput("T1", "liver", 49),)),
                  today=TODAY)
    pfs = endpoint(service, patient, "pfs")
    assert (pfs.start, pfs.event, pfs.on) == (ENROLLED, False, date(2024, 7, 5))

    service.record_event(patient.uid, EventInput("progression", date(2024, 9, 1), "recist",
                                                 "liver"), today=TODAY)
    pfs, os_ = endpoint(service, patient, "pfs"), endpoint(service, patient, "os")
    assert (pfs.event, pfs.on) == (True, date(2024, 9, 1))
    assert os_.event is False

    service.record_event(patient.uid, EventInput("death", date(2025, 6, 1)), today=TODAY)
    os_ = endpoint(service, patient, "os")
    # Death after the 12-month horizon: censored at the horizon.
    assert (os_.event, os_.on) == (False, date(2025, 1, 10))


def test_imaging_progression_counts_for_pfs(session: Session) -> None:
    patient = enrolled_patient(session)
    tumour = TumourService(session)
    tumour.record(patient.uid, AssessmentInput(date(2024, 1, 5), (LesionInput("T1", "liver", 50),),
                                             is_baseline=True), today=TODAY)
    tumour.record(patient.uid, AssessmentInput(date(2024, 4, 5), (LesionInput("T1", "liver", 61),)),
                today=TODAY)
    pfs = endpoint(CourseService(session), patient, "pfs")
    assert (pfs.event, pfs.on) == (True, date(2024, 4, 5))


def test_orr_by_choi_and_r0_for_the_neoadjuvant_study(session: Session) -> None:
    patient = enrolled_patient(session, "NCT04933669")
    tumour = TumourService(session)
    tumour.record(patient.uid, AssessmentInput(date(2024, 1, 5),
                                             (LesionInput("T1", "stomach", 80, 70),),
                                             is_baseline=True), today=TODAY)
    tumour.record(patient.uid, AssessmentInput(date(2024, 4, 5),
                                             (LesionInput("T1", "stomach", 76, 50),)),
                today=TODAY)
    service = CourseService(session)
    orr = endpoint(service, patient, "orr_choi")
    assert (orr.value, orr.event) == ("PR", True)  # RECIST would say SD
    assert endpoint(service, patient, "r0").value is None
    service.record_surgery(patient.uid, SurgeryInput(date(2024, 6, 1), "gastrectomy", "R1"),
                           today=TODAY)
    r0 = endpoint(service, patient, "r0")
    assert (r0.value, r0.event) == ("R1", False)
