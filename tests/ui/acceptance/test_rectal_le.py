"""RECTAL-LE, a nurse's whole day at the keyboard: register three patients, screen them (one
eligible, one ineligible, one who declines consent), enroll, enter and correct the surgery
date and watch the schedule move, mark the baseline done, type its questionnaires and labs,
measure the tumour, record and correct an event, print the schedule, close and reopen."""

from __future__ import annotations

from datetime import date

import pytest
from pypdf import PdfReader
from pytestqt.qtbot import QtBot

from gisttracker.services.patients import ScreeningData
from gisttracker.store.models import AuditLog
from gisttracker.store.models_course import CourseEvent, LesionMeasurement, TumourAssessment
from gisttracker.store.models_forms import Form, FormValue
from gisttracker.store.models_patients import LabResult, Patient, PatientIdentity, Screening
from gisttracker.store.models_visits import AnchorDate, Visit
from tests.core.patients_helpers import good_data, set_site
from tests.ui.acceptance.nurse import Nurse
from ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "support raise",
                                       "grabbing the keyboard")


def test_a_day_of_rectal_le(qtbot: QtBot, window: MainWindow,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    nurse = Nurse(qtbot, window)
    session = window.session
    assert session is not None
    nurse.db(lambda: set_site(session))
    window.show()
    study = session.studies["RECTAL-LE"]

    # --- register and screen: eligible ------------------------------------------------
    first = nurse.register("RECTAL-LE", sex="female", record="H-1001", name="Li Na",
                           initials="LN", dob="19660315")
    assert first.header.text() == "ZJU-0001 · RECTAL-LE · arm — · screened"
    ident = nurse.db(lambda: PatientIdentity.get())
    assert (ident.record_number, ident.name, ident.initials, ident.date_of_birth) == (
        "H-1001", "Li Na", "LN", date(1966, 3, 15))
    nurse.screen(first, good_data(study))
    screening = nurse.db(lambda: Screening.get())
    assert (screening.outcome, screening.ecog, screening.asa, screening.primary_site,
            screening.tumour_size_cm, screening.mutation, screening.consent_date) == (
        "eligible", 1, 2, "rectum", 4.0, "KIT_11", date(2026, 3, 10))
    labs = nurse.db(lambda: {r.analyte: (r.value, r.unit, r.uln) for r in LabResult.select()})
    assert labs["alt"] == (30.0, "U/L", 40.0) and labs["creatinine"] == (80.0, "µmol/L", 104.0)
    tab = first.pages["screening"]
    assert tab.outcome.text() == "Eligible"  # type: ignore[attr-defined]

    # --- the second is not eligible (ECOG 3), the third declines consent ----------------
    second = nurse.register("RECTAL-LE", sex="male", record="H-1002", name="Wang Lei",
                            initials="WL", dob="1958-11-02")
    poor = good_data(study)
    poor.values["ecog"] = 3
    nurse.screen(second, poor)
    assert second.pages["screening"].outcome.text().startswith("Not eligible")  # type: ignore[attr-defined]
    nurse.screen_failure(second, criteria=("I4",))
    third = nurse.register("RECTAL-LE", sex="female", record="H-1003", name="Zhao Min",
                           initials="ZM", dob="1971-06-30")
    nurse.screen_failure(third, reason="consent declined")
    statuses = nurse.db(lambda: {p.study_id: p.status for p in Patient.select()})
    assert statuses == {"ZJU-0001": "screened", "ZJU-0002": "screen_failed",
                        "ZJU-0003": "screen_failed"}
    reasons = nurse.db(lambda: {s.patient.study_id: s.reasons for s in Screening.select()})
    assert '"consent declined"' in reasons["ZJU-0003"]
    assert '"I4"' in reasons["ZJU-0002"]
    # The closed screening says why it failed, as recorded.
    third_tab = third.pages["screening"]
    nurse.wait(lambda: "consent declined" in third_tab.status_line.text())  # type: ignore[attr-defined]
    assert third_tab.status_line.text() == (  # type: ignore[attr-defined]
        "This screening is closed: screen failure (consent declined).")
    for other in (second, third):
        nurse.close(other)

    # --- enroll; the schedule waits for the surgery, then follows it --------------------
    result = nurse.enroll(first)
    assert (result.arm_code, result.enrolled_on) == ("LE", date(2026, 3, 14))
    nurse.wait(lambda: first.header.text() == "ZJU-0001 · RECTAL-LE · arm LE · enrolled")
    nurse.wait(lambda: "Month 3 after surgery" in nurse.schedule_rows(first))
    rows = nurse.schedule_rows(first)
    assert rows["Baseline (before imatinib)"][2] == "2026-03-14"
    assert rows["Month 3 after surgery"][2] == "waiting"
    nurse.enter_anchor(first, "surgery", "20260901")
    nurse.wait(lambda: nurse.schedule_rows(first)["Month 3 after surgery"][2] == "2026-12-01")
    rows = nurse.schedule_rows(first)
    assert rows["Preoperative imatinib month 9"][4] == "Not applicable"  # after the surgery
    assert rows["Preoperative imatinib month 3"][4] == "Upcoming"
    nurse.enter_anchor(first, "surgery", "2026-10-01", reason="operation moved by a month")
    nurse.wait(lambda: nurse.schedule_rows(first)["Month 3 after surgery"][2] == "2027-01-01")
    anchor = nurse.db(lambda: AnchorDate.get(AnchorDate.anchor_key == "surgery"))
    assert anchor.date == date(2026, 10, 1)
    assert nurse.db(lambda: AuditLog.get((AuditLog.table_name == "anchor_date")
                                         & (AuditLog.action == "update")).reason) == \
        "operation moved by a month"

    # --- the baseline visit: done, questionnaires, labs ---------------------------------
    nurse.mark_done(first, "Baseline (before imatinib)", "20260314")
    baseline = nurse.db(lambda: Visit.get(Visit.visit_key == "baseline"))
    assert (baseline.state, baseline.done_on) == ("done", date(2026, 3, 14))
    c30 = nurse.open_form(first, "Baseline (before imatinib)", "EORTC QLQ-C30")
    nurse.answer_questionnaire(c30, "1" * 28 + "77")
    assert c30.score_text("SUMSC") == "100.0"
    nurse.complete_form(c30)
    nurse.close_form(c30)
    lars = nurse.open_form(first, "Baseline (before imatinib)", "LARS score")
    nurse.answer_questionnaire(lars, "11411")
    nurse.complete_form(lars)
    nurse.close_form(lars)
    forms = nurse.db(lambda: {f.kind: f.state for f in Form.select()})
    assert forms["qlq_c30"] == "complete" and forms["lars"] == "complete"
    answers = nurse.db(lambda: {v.item: v.value for v in FormValue.select()
                                .join(Form).where(Form.kind == "lars")})
    assert answers == {"flatus": "0", "liquid": "0", "frequency": "3", "clustering": "0",
                       "urgency": "0"}
    lab_form = nurse.open_form(first, "Baseline (before imatinib)", "Laboratory values")
    nurse.type_labs(lab_form, {"haemoglobin": ("128", None, "115", "150"),
                               "platelets": ("40", None, "125", "350")})
    assert lab_form.grade_text("platelets") == "Grade 3"
    nurse.close_form(lab_form)
    visit_labs = nurse.db(lambda: {r.analyte: (r.value, r.lln, r.uln) for r in
                                   LabResult.select().where(LabResult.visit_id.is_null(False))})
    assert visit_labs == {"haemoglobin": (128.0, 115.0, 150.0),
                          "platelets": (40.0, 125.0, 350.0)}

    # --- tumour: the baseline measured ---------------------------------------------------
    nurse.tumour_assessment(first, "2026-03-12", [("T1", "rectum", "42")])
    assessment = nurse.db(lambda: TumourAssessment.get())
    lesion = nurse.db(lambda: LesionMeasurement.get())
    assert (assessment.assessed_on, assessment.is_baseline) == (date(2026, 3, 12), True)
    assert (lesion.label, lesion.organ, lesion.diameter_mm) == ("T1", "rectum", 42.0)

    # --- an event recorded, then corrected ------------------------------------------------
    nurse.record_event(first, "last_known_alive", "2026-03-14", site="clinic")
    nurse.correct_event(first, 0, "seen at the ward, not the clinic", site="ward")
    event = nurse.db(lambda: CourseEvent.get())
    assert (event.kind, event.occurred_on, event.site) == ("last_known_alive",
                                                           date(2026, 3, 14), "ward")
    assert nurse.db(lambda: AuditLog.get((AuditLog.field == "site")
                                         & (AuditLog.action == "update")).reason) == \
        "seen at the ward, not the clinic"

    # --- the schedule printed ------------------------------------------------------------
    pdf = nurse.print_schedule(first, monkeypatch)
    text = "".join(page.extract_text() for page in PdfReader(str(pdf)).pages)
    assert "ZJU-0001" in text and "Li Na" not in text

    # --- closed and opened again: every tab shows what was saved --------------------------
    nurse.close(first)
    again = nurse.open_from_list("ZJU-0001")
    nurse.wait(lambda: again.header.text() == "ZJU-0001 · RECTAL-LE · arm LE · enrolled")
    nurse.wait(lambda: "Month 3 after surgery" in nurse.schedule_rows(again))
    rows = nurse.schedule_rows(again)
    assert rows["Baseline (before imatinib)"][4:6] == ["Done", "2026-03-14"]
    assert rows["Month 3 after surgery"][2] == "2027-01-01"
    visits_tab = again.pages["visit_forms"]
    nurse.wait(lambda: visits_tab.visits.rowCount() > 0)  # type: ignore[attr-defined]
    nurse.click_cell(visits_tab.visits, nurse.row_of(  # type: ignore[attr-defined]
        visits_tab.visits, "Baseline (before imatinib)"))  # type: ignore[attr-defined]
    states = {visits_tab.forms.item(r, 0).text(): visits_tab.forms.item(r, 1).text()  # type: ignore[attr-defined]
              for r in range(visits_tab.forms.rowCount())}  # type: ignore[attr-defined]
    assert states["EORTC QLQ-C30"] == "Complete" and states["LARS score"] == "Complete"
    tumour = again.pages["tumour"]
    nurse.wait(lambda: tumour.list.rowCount() == 1)  # type: ignore[attr-defined]
    assert tumour.list.item(0, 2).text() == "42"  # type: ignore[attr-defined]
    course = again.pages["course"]
    nurse.wait(lambda: course.events_table.rowCount() == 1)  # type: ignore[attr-defined]
    assert course.events_table.item(0, 3).text() == "ward"  # type: ignore[attr-defined]
    screening_tab = again.pages["screening"]
    nurse.wait(lambda: screening_tab.outcome.text() == "Eligible")  # type: ignore[attr-defined]
    assert "Enrolled on 2026-03-14 in arm LE" in screening_tab.enrollment_line.text()  # type: ignore[attr-defined]
    assert isinstance(ScreeningData(), ScreeningData)
    nurse.close(again)
