"""Treatment exposure through the service: durations across interruptions and dose changes,
anchors and the derived duration group following the dates, the neoadjuvant timing flags."""

from __future__ import annotations

from datetime import date

import pytest

from gisttracker.services.course import (
    CourseInputError,
    CourseService,
    ExposureInput,
    SurgeryInput,
)
from gisttracker.services.visits import VisitService
from gisttracker.session import Session
from gisttracker.store.models import AuditLog
from gisttracker.store.models_patients import Patient
from tests.core.course_fixtures import TODAY, enrolled_patient


def imatinib(phase: str, start: date, stop: date | None, dose: float = 400) -> ExposureInput:
    return ExposureInput("imatinib", dose, phase, start, stop)


def test_durations_across_interruptions_and_a_dose_change(session: Session) -> None:
    patient = enrolled_patient(session, "RECTAL-LE", arm="LE")
    service = CourseService(session)
    pre = service.add_exposure(patient.uid, imatinib("preoperative", date(2024, 1, 1),
                                                     date(2024, 3, 31)), today=TODAY)
    service.add_interruption(pre, date(2024, 2, 1), date(2024, 2, 10), reason="neutropenia",
                             today=TODAY)
    service.change_dose(pre, date(2024, 3, 1), 300, today=TODAY, reason="oedema")
    service.record_surgery(patient.uid, SurgeryInput(date(2024, 4, 5), "local_excision_tamis",
                                                     "R0"), today=TODAY)
    post = service.add_exposure(patient.uid, imatinib("postoperative", date(2024, 5, 1),
                                                      date(2024, 5, 31)), today=TODAY)
    service.add_interruption(post, date(2024, 5, 11), date(2024, 5, 20), reason="surgery wound",
                             today=TODAY)

    summary = service.treatment(patient.uid, today=TODAY)
    assert [(e.data.dose_mg_per_day, e.data.start_on, e.data.stop_on)
            for e in summary.exposures[:2]] == [
        (400, date(2024, 1, 1), date(2024, 2, 29)), (300, date(2024, 3, 1), date(2024, 3, 31))]
    assert summary.exposures[1].data.reason == "oedema"
    assert summary.exposures[0].interruptions[0].reason == "neutropenia"
    assert summary.preoperative is not None and summary.postoperative is not None
    # 1 Jan – 31 Mar 2024 is 91 days, 10 of them off drug; the dose change loses no day.
    assert summary.preoperative.days_on_drug == 81
    assert (summary.preoperative.calendar_months, summary.preoperative.extra_days) == (2, 30)
    assert summary.postoperative.days_on_drug == 21
    assert summary.group is None  # only the duration cohort groups by it


def test_bad_exposures_are_refused_beside_their_fields(session: Session) -> None:
    patient = enrolled_patient(session)
    service = CourseService(session)
    with pytest.raises(CourseInputError) as refused:
        service.add_exposure(patient.uid, ExposureInput("", 0, "preoperative",
                                                        date(2026, 5, 1), date(2026, 4, 1)),
                             today=TODAY)
    assert set(refused.value.errors) >= {"drug", "dose_mg_per_day", "stop_on", "start_on"}
    exposure = service.add_exposure(patient.uid, imatinib("palliative", date(2024, 1, 1),
                                                          date(2024, 6, 1)), today=TODAY)
    with pytest.raises(CourseInputError) as outside:
        service.add_interruption(exposure, date(2024, 7, 1), None, reason="", today=TODAY)
    assert set(outside.value.errors) == {"reason", "start_on"}


def test_neoadjuvant_dates_set_anchors_and_timing_flags(session: Session) -> None:
    patient = enrolled_patient(session, "NCT04933669")
    service = CourseService(session)
    service.add_exposure(patient.uid, imatinib("preoperative", date(2024, 1, 15),
                                               date(2024, 3, 1)), today=TODAY)
    service.record_surgery(patient.uid, SurgeryInput(date(2024, 3, 20), "gastrectomy", "R0"),
                           today=TODAY)
    anchors = VisitService(session).anchors(patient.uid)
    assert anchors["imatinib_start"] == date(2024, 1, 15)
    assert anchors["last_preop_dose"] == date(2024, 3, 1)
    assert anchors["surgery"] == date(2024, 3, 20)
    flags = " ".join(service.treatment(patient.uid, today=TODAY).flags)
    # The protocol file's timing rules, worded by the schedule engine.
    assert ("“Last preoperative imatinib dose” is only 1 month 15 days after “Start of "
            "neoadjuvant imatinib” (at least 3 months)") in flags
    assert ("“Surgery” is 19 days after “Last preoperative imatinib dose” (at most 7 days)"
            in flags)

    post = imatinib("postoperative", date(2024, 3, 25), None)
    service.add_exposure(patient.uid, post, today=date(2027, 5, 1))
    flags = " ".join(service.treatment(patient.uid, today=date(2027, 5, 1)).flags)
    assert ("Adjuvant imatinib for 36 months after complete resection: it lasted 37 months "
            "6 days, longer than 36 months") in flags


def test_corrected_preoperative_dates_move_the_duration_group(session: Session) -> None:
    patient = enrolled_patient(session, "PREOP-DURATION", arm="SHORT")
    service = CourseService(session)
    uid = service.add_exposure(patient.uid, imatinib("preoperative", date(2023, 1, 1),
                                                     date(2023, 5, 1)), today=TODAY)
    assert Patient.get_by_id(patient.id).arm_code == "SHORT"
    service.update_exposure(uid, imatinib("preoperative", date(2023, 1, 1), date(2023, 9, 1)),
                            today=TODAY, reason="last dose misread in the chart")
    assert Patient.get_by_id(patient.id).arm_code == "MID"
    assert service.treatment(patient.uid, today=TODAY).group == "MID"
    change = AuditLog.get((AuditLog.field == "arm_code") & (AuditLog.action == "update")
                          & (AuditLog.new_value == '"MID"'))
    assert change.reason == ("group SHORT → MID by the protocol's rules: last dose misread in "
                             "the chart")
