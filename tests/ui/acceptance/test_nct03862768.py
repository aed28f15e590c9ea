"""NCT03862768 (surgery for focally progressive GIST, randomized), a nurse's day at the
keyboard: three patients screened (eligible, too old, consent declined), a randomization to
arm B with the patient's choice recorded afterwards, the randomization date corrected and the
schedule moving with it, the baseline visit and its labs, two CT readings giving progression,
an event recorded and corrected, the schedule printed, the window closed and reopened."""

from __future__ import annotations

from datetime import date

import pytest
from pypdf import PdfReader
from pytestqt.qtbot import QtBot

from gisttracker.domain import allocation as alloc
from gisttracker.store.models import AuditLog
from gisttracker.store.models_course import CourseEvent, LesionMeasurement, TumourAssessment
from gisttracker.store.models_patients import (
    LabResult,
    Patient,
    Randomization,
    RandomizationSeed,
    Screening,
)
from gisttracker.store.models_visits import AnchorDate, Visit
from tests.core.patients_helpers import good_data, set_site
from tests.ui.acceptance.nurse import Nurse
from tests.ui.helpers import click_ok
from ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "support raise",
                                       "grabbing the keyboard")
STUDY = "NCT03862768"


def test_a_day_of_nct03862768(qtbot: QtBot, window: MainWindow,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    nurse = Nurse(qtbot, window)
    session = window.session
    assert session is not None
    study = session.studies[STUDY]

    def prepare() -> None:
        # The study's secret list is seeded once; this seed puts the first ZJU patient in
        # arm B, so the day can record the patient's choice after randomization.
        set_site(session)
        arms = [a.code for a in study.arms]
        seed = next(f"{n:032x}" for n in range(200) if alloc.allocation_at(
            study.allocation, arms, f"{n:032x}", "site=ZJU", 0) == "B")
        from gisttracker.services.concealment import Keyring

        # Sealed as the first randomization would seal it (services.concealment).
        with session.tracker.transaction("test: study seed") as w:
            w.insert(RandomizationSeed, **Keyring(session.tracker).sealed_row(STUDY, seed),
                     created_at=w.at, created_by=w.user)

    nurse.db(prepare)
    window.show()

    first = nurse.register(STUDY, sex="male", record="Z-2001", name="Chen Hao",
                           initials="CH", dob="1966-03-15")
    nurse.screen(first, good_data(study))
    assert nurse.db(lambda: Screening.get().outcome) == "eligible"
    judged = first.pages["screening"].judgement_boxes  # type: ignore[attr-defined]
    assert judged["I2b"].text() == "yes" and judged["E1"].text() == "no"

    old = nurse.register(STUDY, sex="female", record="Z-2002", name="Sun Li", initials="SL",
                         dob="19400101")
    nurse.screen(old, good_data(study))
    assert "I3" in old.pages["screening"].outcome.text()  # type: ignore[attr-defined]
    nurse.screen_failure(old, criteria=("I3",))
    declined = nurse.register(STUDY, sex="male", record="Z-2003", name="Zhou Bo",
                              initials="ZB", dob="1980-02-29")
    nurse.screen_failure(declined, reason="declined randomization")
    assert nurse.db(lambda: {p.study_id: p.status for p in Patient.select()}) == {
        "ZJU-0001": "screened", "ZJU-0002": "screen_failed", "ZJU-0003": "screen_failed"}
    nurse.close(old)
    nurse.close(declined)

    # --- randomized: arm B, the choice recorded after -----------------------------------
    result = nurse.enroll(first)  # "not decided yet"
    assert (result.arm_code, result.randomization_number, result.stratum) == (
        "B", "R-0001", "site=ZJU")
    row = nurse.db(lambda: Randomization.get())
    assert (row.arm_code, row.number, row.randomized_by) == ("B", "R-0001",
                                                           session.tracker.user)
    tab = first.pages["screening"]
    nurse.wait(lambda: tab.choice_button.isVisible())  # type: ignore[attr-defined]
    nurse.click(tab.choice_button)  # type: ignore[attr-defined]
    dialog = tab.dialog  # type: ignore[attr-defined]
    nurse.pick(dialog.fields["option"], "SU37.5")
    click_ok(qtbot, dialog)
    nurse.wait(lambda: "(SU37.5)" in first.header.text())
    assert nurse.db(lambda: Patient.get(Patient.study_id == "ZJU-0001").arm_option) == "SU37.5"

    # --- the randomization date corrected: the schedule moves ---------------------------
    nurse.wait(lambda: "Month 3" in nurse.schedule_rows(first))
    assert nurse.schedule_rows(first)["Month 3"][2] == "2026-06-14"
    nurse.enter_anchor(first, "randomization", "2026-03-13",
                       reason="randomized the evening before")
    nurse.wait(lambda: nurse.schedule_rows(first)["Month 3"][2] == "2026-06-13")
    assert nurse.db(lambda: AnchorDate.get().date) == date(2026, 3, 13)

    # --- baseline: done and its labs -----------------------------------------------------
    nurse.mark_done(first, "Baseline", "2026-03-13")
    assert nurse.db(lambda: Visit.get(Visit.visit_key == "baseline").done_on) == date(
        2026, 3, 13)
    labs = nurse.open_form(first, "Baseline", "Laboratory values")
    nurse.type_labs(labs, {"alt": ("35", None, None, "40"), "ast": ("30", None, None, "35")})
    nurse.close_form(labs)
    assert nurse.db(lambda: {r.analyte: r.value for r in LabResult.select().where(
        LabResult.visit_id.is_null(False))}) == {"alt": 35.0, "ast": 30.0}

    # --- tumour: baseline and a follow-up 25 % larger: RECIST progression ----------------
    nurse.tumour_assessment(first, "2026-02-20", [("T1", "liver", "50"),
                                                  ("T2", "liver", "30")])
    nurse.tumour_assessment(first, "2026-03-14", [("T1", "liver", "60"),
                                                  ("T2", "liver", "40")], follow_up=True)
    tumour = first.pages["tumour"]
    nurse.wait(lambda: tumour.list.rowCount() == 2)  # type: ignore[attr-defined]
    assert [tumour.list.item(1, c).text() for c in (2, 3, 7)] == [  # type: ignore[attr-defined]
        "100", "+25.0 %", "PD"]
    follow = nurse.db(lambda: TumourAssessment.get(TumourAssessment.is_baseline == False))  # noqa: E712
    assert follow.assessed_on == date(2026, 3, 14)
    assert nurse.db(lambda: sorted(m.diameter_mm for m in LesionMeasurement.select())) == [
        30.0, 40.0, 50.0, 60.0]

    # --- progression recorded, its site corrected ----------------------------------------
    course = first.pages["course"]
    first.tabs.setCurrentWidget(course)
    nurse.pick(course.criterion, "recist")  # type: ignore[attr-defined]
    nurse.record_event(first, "progression", "2026-03-14", site="liver")
    nurse.correct_event(first, 0, "segment from the CT report", site="liver segment 7")
    event = nurse.db(lambda: CourseEvent.get())
    assert (event.kind, event.criterion, event.site) == ("progression", "recist",
                                                         "liver segment 7")
    assert nurse.db(lambda: AuditLog.get((AuditLog.field == "site")
                                         & (AuditLog.action == "update")).reason) == \
        "segment from the CT report"

    pdf = nurse.print_schedule(first, monkeypatch)
    assert "ZJU-0001" in "".join(p.extract_text() for p in PdfReader(str(pdf)).pages)

    nurse.close(first)
    again = nurse.open_from_list("ZJU-0001")
    nurse.wait(lambda: again.header.text() == "ZJU-0001 · NCT03862768 · arm B (SU37.5) · "
                                              "enrolled")
    nurse.wait(lambda: "Month 3" in nurse.schedule_rows(again))
    assert nurse.schedule_rows(again)["Baseline"][4:6] == ["Done", "2026-03-13"]
    tumour = again.pages["tumour"]
    nurse.wait(lambda: tumour.list.rowCount() == 2)  # type: ignore[attr-defined]
    assert tumour.list.item(1, 7).text() == "PD"  # type: ignore[attr-defined]
    course = again.pages["course"]
    nurse.wait(lambda: course.events_table.rowCount() == 1)  # type: ignore[attr-defined]
    assert course.events_table.item(0, 3).text() == "liver segment 7"  # type: ignore[attr-defined]
    screening = again.pages["screening"]
    nurse.wait(lambda: "randomization R-0001" in screening.enrollment_line.text())  # type: ignore[attr-defined]
    assert "patient's choice: Sunitinib 37.5 mg/d" in screening.enrollment_line.text()  # type: ignore[attr-defined]
    nurse.close(again)
