"""Each printed report over demo data: the PDF opens, has the pages it says, shows the
right patients, dates, counts and scores, and leaves out personal identifiers."""

from __future__ import annotations

import re
from datetime import date

import pytest

from gisttracker.reports import ReportRequest, build
from gisttracker.reports.calendar import gather_calendar
from gisttracker.reports.casebook import gather_casebook
from gisttracker.reports.enrollment import gather_enrollment
from gisttracker.reports.screening import gather_screening
from gisttracker.services.base import ServiceError
from gisttracker.services.forms import AdverseEventInput, FormService
from gisttracker.services.patients import PatientService
from gisttracker.services.tumour import TumourService
from gisttracker.services.visits import VisitService
from gisttracker.session import Session
from gisttracker.store.models_course import LesionMeasurement, TumourAssessment
from gisttracker.store.models_patients import Patient, PatientIdentity
from tests.core.reports_fixtures import MADE, TODAY, assert_no_identifiers, demo, pdf_text

__all__ = ["demo"]

C30_BEST = {str(i): 1 for i in range(1, 29)} | {"29": 7, "30": 7}


def render(session: Session, **kwargs: object) -> tuple[int, str]:
    report = build(session, ReportRequest(**kwargs), today=TODAY,  # type: ignore[arg-type]
                   generated_at=MADE)
    pages, text = pdf_text(report.render())
    # The footer's "Page N of M" agrees with the real page count on every page.
    assert re.findall(r"Page (\d+) of (\d+)", text) == [
        (str(n), str(pages)) for n in range(1, pages + 1)]
    return pages, text


def enrolled(study_key: str) -> Patient:
    return (Patient.select().where((Patient.study_key == study_key)
                                   & (Patient.status == "enrolled")).order_by(Patient.id).first())


def test_schedule_lists_every_visit_with_dates_and_no_identifiers(demo: Session) -> None:
    patient = enrolled("NCT03862768")
    rows = VisitService(demo).schedule(patient.uid, today=TODAY)
    pages, text = render(demo, kind="schedule", patient=patient.study_id)
    assert pages >= 1
    flat = " ".join(text.split())
    assert patient.study_id in flat and "NCT03862768" in flat
    for row in rows:
        assert row.name in flat
        if row.target:
            assert row.target.isoformat() in flat
    assert "Initials" in flat and "☐" in text
    assert "Made 2026-03-14 09:30 UTC" in flat
    assert_no_identifiers(text)


def test_identifiers_only_when_asked(demo: Session) -> None:
    patient = enrolled("NCT03862768")
    ident = PatientIdentity.get(PatientIdentity.patient == patient.id)
    _pages, text = render(demo, kind="schedule", patient=patient.study_id,
                          include_identifiers=True)
    assert ident.name in text and ident.record_number in text
    _pages, text = render(demo, kind="casebook", patient=patient.study_id)
    assert ident.name not in text and ident.record_number not in text


def test_calendar_groups_due_visits_by_day_and_lists_overdue(demo: Session) -> None:
    start, end = date(2026, 3, 1), date(2026, 3, 31)
    data = gather_calendar(demo, start, end, today=TODAY)
    assert data.due_count > 0 and data.overdue
    _pages, text = render(demo, kind="calendar", start=start, end=end)
    flat = " ".join(text.split())
    for on, lines in data.days:
        assert on.isoformat() in flat
        for line in lines:
            assert line.patient in flat
    assert f"Overdue visits {len(data.overdue)}" in flat
    assert data.overdue[0].patient in flat
    assert_no_identifiers(text)
    # One study only: the other studies' patients are not in it.
    only = gather_calendar(demo, start, end, today=TODAY, study_key="RECTAL-LE")
    shown = ({x.study_key for _d, lines in only.days for x in lines}
             | {x.study_key for x in only.overdue})
    assert shown == {"RECTAL-LE"}


def test_screening_log_has_every_patient_the_consort_counts_and_the_diagram(
        demo: Session) -> None:
    log = PatientService(demo).screening_log("NCT04933669")
    data = gather_screening(demo, "NCT04933669")
    assert data.counts.assessed == log.screened > 0
    _pages, text = render(demo, kind="screening", study_key="NCT04933669")
    flat = " ".join(text.split())
    for entry in log.entries:
        assert entry.patient in flat
    assert f"Assessed for eligibility (n = {log.screened})" in flat
    assert f"Excluded (n = {log.screen_failed})" in flat
    assert f"Enrolled (n = {log.enrolled})" in flat
    for code, _name, n, *_rest in data.counts.arms:
        assert f"Allocated to {code} (n = {n})" in flat
    assert sum(arm[2] for arm in data.counts.arms) == log.enrolled
    assert_no_identifiers(text, "NCT04933669")
    _names_pages, names_text = render(demo, kind="screening", study_key="NCT04933669",
                                     include_identifiers=True)
    some = PatientIdentity.select().join(Patient).where(
        Patient.study_key == "NCT04933669").first()
    assert some.name in " ".join(names_text.split())


def test_enrollment_counts_by_arm_and_month(demo: Session) -> None:
    data = gather_enrollment(demo, "NCT03862768")
    accrual = PatientService(demo).accrual("NCT03862768")
    assert data.enrolled == accrual.enrolled > 0
    assert data.months[-1][3] == accrual.enrolled
    assert sum(m[2] for m in data.months) == accrual.enrolled
    _pages, text = render(demo, kind="enrollment", study_key="NCT03862768")
    flat = " ".join(text.split())
    assert f"Enrolled {accrual.enrolled} (" in flat
    assert f"Target enrollment {accrual.target}" in flat
    for month, _n in accrual.by_month:
        assert month in flat
    assert "cumulative enrolled" in flat


@pytest.mark.parametrize("kind", ["screening", "enrollment"])
def test_empty_study_gives_one_page(session: Session, kind: str) -> None:
    pages, text = render(session, kind=kind, study_key="RECTAL-LE")
    assert pages == 1
    assert "yet" in text and "RECTAL-LE" in text


def test_empty_calendar_is_one_page(session: Session) -> None:
    pages, text = render(session, kind="calendar", start=date(2026, 3, 1),
                         end=date(2026, 3, 7))
    assert pages == 1 and "No visit is due in this period." in text


def test_casebook_has_forms_scores_labs_aes_tumour_chinese_and_the_audit(
        demo: Session) -> None:
    patient = enrolled("RECTAL-LE")
    forms = FormService(demo)
    # A questionnaire visit the demo has not filled in yet (filled ones need a reason).
    visit = next(v for v in forms.visits(patient.uid)
                 if any(f.kind == "qlq_c30" and f.state == "not_started" for f in v.forms)
                 and all(f.state == "not_started" for f in v.forms if f.kind == "lars"))
    forms.save_answers(visit.visit_uid, "qlq_c30", C30_BEST)
    forms.complete(visit.visit_uid, "qlq_c30", today=TODAY)
    forms.save_answers(visit.visit_uid, "lars", {"flatus": 2, "liquid": 2, "frequency": 3,
                                         "clustering": 2, "urgency": 2})
    forms.save_lab(visit.visit_uid, "haemoglobin", 7.5, "g/dL", lln=12, sampled_on=TODAY,
                   today=TODAY)
    note = "患者诉恶心，已缓解"
    forms.save_adverse_event(patient.uid, AdverseEventInput(
        term="nausea", grade=2, onset=date(2026, 3, 1), notes=note,
        visit_uid=visit.visit_uid), today=TODAY)
    tumour = TumourService(demo)
    for record in tumour.assessments(patient.uid):  # the demo's own imaging makes way
        tumour.delete(record.uid, reason="test: imaging entered again")
    with demo.tracker.transaction("test imaging") as w:
        for on, sizes in ((date(2025, 6, 1), (40.0, 30.0)), (date(2025, 9, 1), (20.0, 15.0))):
            a = w.insert(TumourAssessment, patient=patient.id, assessed_on=on,
                         modality="MRI", is_baseline=on == date(2025, 6, 1),
                         patient_uid=patient.uid)
            for k, mm in enumerate(sizes):
                w.insert(LesionMeasurement, assessment=a.id, label=f"T{k + 1}",
                         organ="rectum" if k == 0 else "liver", diameter_mm=mm,
                         patient_uid=patient.uid)
    from gisttracker.services.course import CourseService, SurgeryInput

    if not CourseService(demo).surgeries(patient.uid):
        CourseService(demo).record_surgery(patient.uid, SurgeryInput(
            date(2025, 7, 1), "local_excision_tamis", "R0", False, "none"), today=TODAY)
    data = gather_casebook(demo, patient.study_id, today=TODAY)
    assert data.tumour[0][4] == "70" and data.tumour[1][4] == "35"
    assert data.tumour[1][5] == "-50.0 %" and data.tumour[1][6] == "PR"
    _pages, text = render(demo, kind="casebook", patient=patient.study_id)
    flat = " ".join(text.split())
    assert note in text
    assert "Summary score 100.0" in flat and "Physical functioning 100.0" in flat
    assert "major LARS" in flat and "42" in flat
    # Answers are numbered as they are typed (1 = first option), not by their LARS score
    # index: flatus "at least once per week" is the third option.
    assert "3 · Yes, at least once per week" in flat
    assert "2 · Yes, at least once per week" not in flat
    # Procedures by their names, not their codes (the demo's "apr", "tme"…).
    from gisttracker.services.course.values import procedure_label

    code = CourseService(demo).surgeries(patient.uid)[0].data.procedure
    assert procedure_label(code) in flat
    assert f" {code} " not in flat
    assert "Haemoglobin 7.5 g/dL 75 g/L" in flat and "Nausea" in flat
    assert "PR" in flat and "-50.0 %" in flat
    assert "Audit trail" in flat and "tumour_assessment assessed_on" in flat
    assert "patient_identity name •••" in flat
    assert_no_identifiers(text)


def test_unknown_patient_or_study_is_a_clear_error(session: Session) -> None:
    with pytest.raises(ServiceError, match="no patient 'ZJU-9999'"):
        build(session, ReportRequest("schedule", patient="ZJU-9999"), today=TODAY,
              generated_at=MADE)
    with pytest.raises(ServiceError, match="unknown study 'NOPE'"):
        build(session, ReportRequest("screening", study_key="NOPE"), today=TODAY,
              generated_at=MADE)


def test_letter_paper(demo: Session) -> None:
    from io import BytesIO

    from pypdf import PdfReader

    patient = enrolled("NCT03862768")
    report = build(demo, ReportRequest("schedule", patient=patient.study_id, paper="letter"),
                   today=TODAY, generated_at=MADE)
    box = PdfReader(BytesIO(report.render())).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)
