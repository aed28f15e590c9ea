"""PREOP-DURATION (retrospective cohort), a nurse abstracting records at the keyboard: three
patients screened (eligible, never on imatinib, consent declined), enrollment with the dates
of preoperative imatinib that decide the group, abstraction points that are "to abstract" and
never flood the worklist, the surgery date entered and corrected, the tumour before and after
imatinib, the surgery and a recurrence from years ago recorded and corrected, the schedule
printed, the window closed and reopened."""

from __future__ import annotations

from datetime import date

import pytest
from pypdf import PdfReader
from pytestqt.qtbot import QtBot

from gisttracker.store.models import AuditLog
from gisttracker.store.models_course import CourseEvent, Surgery
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import AnchorDate, Visit
from tests.core.patients_helpers import good_data, set_site
from tests.ui.acceptance.nurse import Nurse
from ui.calendar import CalendarPage
from ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "support raise",
                                       "grabbing the keyboard")
STUDY = "PREOP-DURATION"


def test_a_day_of_preop_duration(qtbot: QtBot, window: MainWindow,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    nurse = Nurse(qtbot, window)
    session = window.session
    assert session is not None
    study = session.studies[STUDY]
    nurse.db(lambda: set_site(session))
    window.show()

    first = nurse.register(STUDY, sex="male", record="P-4001", name="Guo Qiang",
                           initials="GQ", dob="1955-08-20")
    nurse.screen(first, good_data(study))
    never = nurse.register(STUDY, sex="female", record="P-4002", name="Lin Fang",
                           initials="LF", dob="1962-12-01")
    untreated = good_data(study)
    untreated.values["prior_imatinib"] = False
    nurse.screen(never, untreated)
    assert never.pages["screening"].outcome.text().startswith("Not eligible")  # type: ignore[attr-defined]
    nurse.screen_failure(never, criteria=None)  # the criteria not met, as ticked
    declined = nurse.register(STUDY, sex="male", record="P-4003", name="Tang Wei",
                              initials="TW", dob="1960-03-03")
    nurse.screen_failure(declined, reason="no consent for record review")
    nurse.close(never)
    nurse.close(declined)
    assert nurse.db(lambda: Patient.get(Patient.study_id == "ZJU-0002").status) == \
        "screen_failed"

    # --- enrolled from the records: seven months of preoperative imatinib ----------------
    result = nurse.enroll(first, preop=("2014-02-01", "20140901"))
    assert result.arm_code == "MID"
    anchors = nurse.db(lambda: {a.anchor_key: a.date for a in AnchorDate.select()})
    assert anchors == {"imatinib_start": date(2014, 2, 1),
                       "last_preop_dose": date(2014, 9, 1)}
    nurse.wait(lambda: "Before imatinib (abstraction)" in nurse.schedule_rows(first))
    rows = nurse.schedule_rows(first)
    assert rows["Before imatinib (abstraction)"][4] == "To abstract"  # never "overdue"
    assert rows["Year 1 after surgery (abstraction)"][2] == "waiting"

    nurse.enter_anchor(first, "surgery", "2014-09-05")
    nurse.wait(lambda: nurse.schedule_rows(first)["Year 1 after surgery (abstraction)"][2]
               == "2015-09-05")
    nurse.enter_anchor(first, "surgery", "2014-09-08", reason="date from the operation note")
    nurse.wait(lambda: nurse.schedule_rows(first)["Year 1 after surgery (abstraction)"][2]
               == "2015-09-08")
    assert nurse.schedule_rows(first)["Year 1 after surgery (abstraction)"][4] == \
        "To abstract"
    nurse.mark_done(first, "Before imatinib (abstraction)", "2014-01-25")
    assert nurse.db(lambda: Visit.get(Visit.visit_key == "pre_imatinib").done_on) == date(
        2014, 1, 25)

    # --- the worklist is not flooded with "overdue by 4,283 days" ------------------------
    calendar = window.pages["calendar"]
    assert isinstance(calendar, CalendarPage)
    nurse.click_cell(window.nav, 2)  # Schedule & calendar, clicked in the list
    nurse.pick(calendar.study_box, STUDY)
    nurse.wait(lambda: calendar.summary.text() == "0 overdue · 0 due · 0 done out of window")
    assert calendar.model.rowCount() == 0

    # --- tumour before and after imatinib, the operation, a recurrence --------------------
    nurse.tumour_assessment(first, "2014-01-25", [("T1", "stomach", "120")])
    nurse.tumour_assessment(first, "2014-08-25", [("T1", "stomach", "70")], follow_up=True)
    tumour = first.pages["tumour"]
    nurse.wait(lambda: tumour.list.rowCount() == 2)  # type: ignore[attr-defined]
    assert tumour.list.item(1, 7).text() == "PR"  # type: ignore[attr-defined]
    nurse.record_surgery(first, "2014-09-08", "gastrectomy")
    assert nurse.db(lambda: Surgery.get().performed_on) == date(2014, 9, 8)
    nurse.record_event(first, "distant_recurrence", "2016-05-01", site="liver")
    nurse.correct_event(first, 0, "date of the CT, not of the clinic letter",
                        day="2016-04-18")
    event = nurse.db(lambda: CourseEvent.get())
    assert (event.kind, event.occurred_on, event.site) == ("distant_recurrence",
                                                           date(2016, 4, 18), "liver")
    assert nurse.db(lambda: AuditLog.get((AuditLog.field == "occurred_on")
                                         & (AuditLog.action == "update")).reason) == \
        "date of the CT, not of the clinic letter"

    pdf = nurse.print_schedule(first, monkeypatch)
    assert "ZJU-0001" in "".join(p.extract_text() for p in PdfReader(str(pdf)).pages)

    nurse.close(first)
    again = nurse.open_from_list("ZJU-0001")
    nurse.wait(lambda: again.header.text() == "ZJU-0001 · PREOP-DURATION · arm MID · "
                                              "enrolled")
    nurse.wait(lambda: "Surgery (abstraction)" in nurse.schedule_rows(again))
    rows = nurse.schedule_rows(again)
    assert rows["Before imatinib (abstraction)"][4:6] == ["Done", "2014-01-25"]
    assert rows["Surgery (abstraction)"][2] == "2014-09-08"
    course = again.pages["course"]
    nurse.wait(lambda: course.events_table.rowCount() == 1)  # type: ignore[attr-defined]
    assert course.events_table.item(0, 0).text() == "2016-04-18"  # type: ignore[attr-defined]
    assert course.surgery_table.item(0, 0).text() == "2014-09-08"  # type: ignore[attr-defined]
    assert course.surgery_table.item(0, 1).text() == "gastrectomy"  # type: ignore[attr-defined]
    nurse.close(again)
