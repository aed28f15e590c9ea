"""The services behind the Tumour assessments and Treatment & course tabs refuse a save based
on versions someone else has changed since (issue 13), whoever calls them: what the window
sends (:meth:`Tracker.expect`) is checked inside the write transaction.

The command line does not edit these records (only the centre import writes them, with no
form shown), so no command sends versions for them; without versions nothing changes."""

from __future__ import annotations

from datetime import date

import pytest

from gisttracker import i18n
from gisttracker.services.base import StaleRecordError
from gisttracker.services.course import CourseService, ExposureInput
from gisttracker.services.policy import trusted_actor
from gisttracker.services.scopes import course_versions, tumour_versions
from gisttracker.services.tumour import AssessmentInput, LesionInput, TumourService
from gisttracker.session import Session
from gisttracker.store.models_course import (
    LesionMeasurement,
    TreatmentExposure,
    TreatmentInterruption,
    TumourAssessment,
)
from tests.core.course_fixtures import TODAY, enrolled_patient

BASE = date(2024, 1, 5)


def _lesions(*diameters: float) -> tuple[LesionInput, ...]:
    organs = ("stomach", "liver", "peritoneum")
    return tuple(LesionInput(f"T{i}", organs[i - 1], d)
                 for i, d in enumerate(diameters, start=1))


def _stored(uid: str) -> dict[str, float | None]:
    row = TumourAssessment.get(TumourAssessment.uid == uid)
    return {m.label: m.diameter_mm
            for m in LesionMeasurement.select().where(LesionMeasurement.assessment == row)}


def test_tumour_versions_cover_the_assessment_and_its_lesions(session: Session) -> None:
    patient = enrolled_patient(session, "NCT04933669")
    service = TumourService(session)
    uid = service.record(patient.uid, AssessmentInput(BASE, _lesions(60, 30), is_baseline=True),
                         today=TODAY)
    versions = tumour_versions(session.db, patient.uid)
    assert list(versions) == [uid] and len(versions[uid]) == 3
    assert set(versions[uid].values()) == {1}
    service.record(patient.uid, AssessmentInput(BASE, _lesions(61, 30), is_baseline=True),
                   today=TODAY, uid=uid, reason="re-measured")
    assert sorted(tumour_versions(session.db, patient.uid)[uid].values()) == [1, 1, 2]


def test_a_stale_tumour_correction_or_delete_is_refused_and_writes_nothing(
        session: Session) -> None:
    patient = enrolled_patient(session, "NCT04933669")
    service = TumourService(session)
    uid = service.record(patient.uid, AssessmentInput(BASE, _lesions(60, 30), is_baseline=True),
                         today=TODAY)
    shown = tumour_versions(session.db, patient.uid)[uid]
    session.tracker.sign_in(trusted_actor("li.wei"))
    service.record(patient.uid, AssessmentInput(BASE, _lesions(62, 30), is_baseline=True),
                   today=TODAY, uid=uid, reason="re-measured")
    session.tracker.sign_in(trusted_actor("nora"))
    changed = r"li\.wei changed Diameter from 60\.0 mm to 62\.0 mm"
    with pytest.raises(StaleRecordError, match=changed), session.tracker.expect(shown):
        service.record(patient.uid, AssessmentInput(BASE, _lesions(60, 35), is_baseline=True),
                       today=TODAY, uid=uid, reason="T2")
    with pytest.raises(StaleRecordError), session.tracker.expect(shown):
        service.delete(uid, reason="twice")
    assert _stored(uid) == {"T1": 62.0, "T2": 30.0}
    # With the versions as they are now, both go through; the first moves them on.
    now = tumour_versions(session.db, patient.uid)[uid]
    with session.tracker.expect(now):
        service.record(patient.uid, AssessmentInput(BASE, _lesions(62, 35), is_baseline=True),
                       today=TODAY, uid=uid, reason="T2")
        service.delete(uid, reason="twice")
    assert not TumourAssessment.select().exists()


def test_the_refusal_reads_in_chinese_under_zh_cn(session: Session) -> None:
    """A Chinese-speaking nurse reads the record, the field and its unit in Chinese."""
    patient = enrolled_patient(session, "NCT04933669")
    service = TumourService(session)
    uid = service.record(patient.uid, AssessmentInput(BASE, _lesions(60, 30), is_baseline=True),
                         today=TODAY)
    shown = tumour_versions(session.db, patient.uid)[uid]
    session.tracker.sign_in(trusted_actor("li.wei"))
    service.record(patient.uid, AssessmentInput(BASE, _lesions(62, 30), is_baseline=True),
                   today=TODAY, uid=uid, reason="re-measured")
    session.tracker.sign_in(trusted_actor("nora"))
    assert i18n.install("zh_CN") == "zh_CN"
    try:
        with pytest.raises(StaleRecordError) as refused, session.tracker.expect(shown):
            service.record(patient.uid, AssessmentInput(BASE, _lesions(60, 35),
                                                        is_baseline=True),
                           today=TODAY, uid=uid, reason="T2")
    finally:
        i18n.install(None)
    head, change = str(refused.value).split("\n")
    assert head == ("病灶（肿瘤测量）：在您打开此记录后，其他人更改了它；未保存任何内容。"
                    "请重新载入以查看当前数据。")
    assert change.startswith("li.wei 于 ") and "将 径线 从 60.0 mm 改为 62.0 mm" in change
    assert "lesion_measurement" not in head and "diameter_mm" not in change
    assert _stored(uid) == {"T1": 62.0, "T2": 30.0}


def test_a_lesion_added_meanwhile_refuses_a_save_that_would_delete_it(session: Session) -> None:
    patient = enrolled_patient(session, "NCT04933669")
    service = TumourService(session)
    uid = service.record(patient.uid, AssessmentInput(BASE, _lesions(60, 30), is_baseline=True),
                         today=TODAY)
    shown = tumour_versions(session.db, patient.uid)[uid]
    session.tracker.sign_in(trusted_actor("li.wei"))
    service.record(patient.uid, AssessmentInput(BASE, _lesions(60, 30, 21), is_baseline=True),
                   today=TODAY, uid=uid, reason="third target")
    session.tracker.sign_in(trusted_actor("nora"))
    with pytest.raises(StaleRecordError) as refused, session.tracker.expect(shown):
        service.record(patient.uid, AssessmentInput(BASE, _lesions(60, 31), is_baseline=True),
                       today=TODAY, uid=uid, reason="T2")
    message = str(refused.value)
    assert message.startswith(
        "Lesion (tumour measurement): a record was added by someone else")
    assert "li.wei added it at" in message and "third target" in message
    assert refused.value.table == "lesion_measurement" and refused.value.current_version == 1
    with pytest.raises(StaleRecordError), session.tracker.expect(shown):
        service.delete(uid, reason="twice")
    assert _stored(uid) == {"T1": 60.0, "T2": 30.0, "T3": 21.0}
    # Without versions sent (no form shown: an import, a script) the save is as before.
    service.record(patient.uid, AssessmentInput(BASE, _lesions(60, 31), is_baseline=True),
                   today=TODAY, uid=uid, reason="T2")
    assert _stored(uid) == {"T1": 60.0, "T2": 31.0}


def test_stale_course_saves_are_refused(session: Session) -> None:
    patient = enrolled_patient(session, "RECTAL-LE", arm="LE")
    service = CourseService(session)
    exposure = ExposureInput("imatinib", 400, "preoperative", date(2024, 1, 15),
                             date(2024, 6, 30))
    uid = service.add_exposure(patient.uid, exposure, today=TODAY)
    shown = course_versions(session.db, patient.uid)
    assert shown == {uid: 1}
    session.tracker.sign_in(trusted_actor("li.wei"))
    service.add_interruption(uid, date(2024, 3, 1), date(2024, 3, 7), reason="neutropenia",
                             today=TODAY)
    session.tracker.sign_in(trusted_actor("nora"))
    # Deleting the exposure would take an interruption never shown.
    with pytest.raises(StaleRecordError, match=r"li\.wei added it"), session.tracker.expect(shown):
        service.delete_exposure(uid, reason="wrong patient")
    assert TreatmentInterruption.select().count() == 1
    session.tracker.sign_in(trusted_actor("li.wei"))
    service.update_exposure(uid, ExposureInput("imatinib", 300, "preoperative",
                                               date(2024, 1, 15), date(2024, 6, 30)),
                            today=TODAY, reason="dose reduced")
    session.tracker.sign_in(trusted_actor("nora"))
    for save in (lambda: service.update_exposure(uid, exposure, today=TODAY, reason="x"),
                 lambda: service.change_dose(uid, date(2024, 5, 1), 600, today=TODAY,
                                             reason="x"),
                 lambda: service.add_interruption(uid, date(2024, 4, 1), None, reason="x",
                                                  today=TODAY)):
        with pytest.raises(StaleRecordError,
                           match=r"li\.wei changed Dose from 400\.0 mg/day to 300\.0 mg/day"), \
                session.tracker.expect({uid: shown[uid]}):
            save()
    assert [(e.dose_mg_per_day, e.stop_on) for e in TreatmentExposure.select()] == [
        (300.0, date(2024, 6, 30))]
    assert TreatmentInterruption.select().count() == 1
