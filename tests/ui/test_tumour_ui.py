"""The Tumour assessments and Treatment & course tabs: entering data and seeing the results."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from pytestqt.qtbot import QtBot

from gisttracker.services.course import CourseService
from gisttracker.services.tumour import TumourService
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient
from tests.core.course_fixtures import TODAY, enrolled_patient
from ui.course_tab import CourseTab
from ui.patient_view import PATIENT_TABS
from ui.tasks import TaskManager
from ui.tumour_tab import TumourTab


@pytest.fixture
def tasks() -> Iterator[TaskManager]:
    manager = TaskManager()
    yield manager
    manager.shutdown()


def open_tab(qtbot: QtBot, tab: TumourTab | CourseTab, session: Session, tasks: TaskManager,
             patient: Patient) -> None:
    if isinstance(tab, CourseTab):
        tab.today_fn = lambda: TODAY
    else:
        tab.today = TODAY
    qtbot.addWidget(tab)
    tab.set_patient(session, tasks, patient.uid)
    qtbot.waitUntil(lambda: not tasks.busy, timeout=5000)


def _type_date(qtbot: QtBot, tab: TumourTab, text: str) -> None:
    """Type the assessment date over what the field holds, as a person would."""
    tab.date.edit.selectAll()
    qtbot.keyClicks(tab.date.edit, text)


def test_patient_window_lists_both_tabs() -> None:
    keys = [tab.key for tab in PATIENT_TABS]
    assert "tumour" in keys and "course" in keys


def test_enter_baseline_and_follow_up_and_see_the_responses(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = enrolled_patient(session, "NCT04933669")
    tab = TumourTab()
    open_tab(qtbot, tab, session, tasks, patient)
    assert tab.editing_baseline and tab.new_button.text() == "New baseline"

    _type_date(qtbot, tab, "2024-01-05")
    tab.add_lesion_row()
    tab.set_lesion(0, label="T1", organ="stomach", diameter="60", hu="80")
    tab.add_lesion_row()
    tab.set_lesion(1, label="T2", organ="liver", diameter="8", hu="70")
    assert "T2" in tab.problems.text() and "10 mm" in tab.problems.text()
    assert tab.results["sum"].text() == "68 mm"

    asked: list[tuple[str, ...]] = []
    tab.confirm_selection = lambda problems: asked.append(problems) or False  # type: ignore
    tab.submit()
    qtbot.waitUntil(lambda: bool(asked) and not tasks.busy, timeout=5000)
    assert TumourService(session).assessments(patient.uid) == []  # refused, nothing lost
    assert tab.lesions.item(1, 3).text() == "8"

    tab.set_lesion(1, diameter="12")
    assert tab.problems.text() == ""
    tab.submit()
    qtbot.waitUntil(lambda: tab.list.rowCount() == 1 and not tasks.busy, timeout=5000)

    tab.new_assessment()
    assert not tab.editing_baseline
    assert [tab.lesions.item(r, 0).text() for r in range(tab.lesions.rowCount())] == [
        "T1", "T2"]
    _type_date(qtbot, tab, "2024-04-05")
    tab.set_lesion(0, diameter="66", hu="40")
    tab.set_lesion(1, diameter="14", hu="35")
    # 80 mm: +11 % in size, but density fell from 75 to 37.5 HU.
    assert tab.results["baseline"].text() == "+11.1 %"
    assert tab.results["target"].text() == "SD"
    assert tab.results["overall"].text() == "SD"
    assert tab.results["choi"].text() == "PR"
    tab.submit()
    qtbot.waitUntil(lambda: tab.list.rowCount() == 2 and not tasks.busy, timeout=5000)
    row = [tab.list.item(1, c).text() for c in range(tab.list.columnCount())]
    assert row[:3] == ["2024-04-05", "Follow-up", "80"]
    assert row[7:] == ["SD", "PR"]
    assert "Choi PR" in tab.best.text() and "primary criterion: Choi" in tab.best.text()


def test_pd_against_the_nadir_is_shown_while_below_baseline(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = enrolled_patient(session)
    tab = TumourTab()
    open_tab(qtbot, tab, session, tasks, patient)
    _type_date(qtbot, tab, "2024-01-05")
    tab.add_lesion_row()
    tab.set_lesion(0, label="T1", organ="liver", diameter="100")
    tab.submit()
    qtbot.waitUntil(lambda: tab.list.rowCount() == 1 and not tasks.busy, timeout=5000)
    tab.new_assessment()
    _type_date(qtbot, tab, "2024-04-05")
    tab.set_lesion(0, diameter="50")
    assert tab.results["overall"].text() == "PR"
    tab.submit()
    qtbot.waitUntil(lambda: tab.list.rowCount() == 2 and not tasks.busy, timeout=5000)
    tab.new_assessment()
    _type_date(qtbot, tab, "2024-07-05")
    tab.set_lesion(0, diameter="61")
    assert tab.results["baseline"].text() == "-39.0 %"
    assert tab.results["nadir"].text() == "+22.0 % (nadir 50 mm)"
    assert tab.results["overall"].text() == "PD"
    tab.set_lesion(0, diameter="abc")
    assert "not a number" in tab.problems.text()


def test_course_tab_shows_messages_beside_fields_and_recorded_data(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = enrolled_patient(session, "RECTAL-LE", arm="LE")
    tab = CourseTab()
    open_tab(qtbot, tab, session, tasks, patient)
    tab.kind.setCurrentIndex(tab.kind.findData("death"))
    qtbot.keyClicks(tab.occurred_on.edit, "2026-04-01")  # type: ignore[attr-defined]
    tab.add_event()
    qtbot.waitUntil(lambda: not tasks.busy, timeout=5000)
    assert "in the future" in tab.event_form.messages["occurred_on"].text()
    assert tab.events_table.rowCount() == 0

    qtbot.keyClicks(tab.performed_on.edit, "20240701")  # type: ignore[attr-defined]
    tab.procedure.setCurrentIndex(tab.procedure.findData("tme"))
    tab.margin.setCurrentIndex(tab.margin.findData("R0"))
    tab.add_surgery()
    qtbot.waitUntil(lambda: tab.surgery_table.rowCount() == 1 and not tasks.busy,
                    timeout=5000)
    assert tab.surgery_table.item(0, 1).text() == "total mesorectal excision"
    assert "not preserved" in tab.preservation.text()
    assert "TME" in tab.preservation.text()

    tab.size.setText("6")  # type: ignore[attr-defined]
    tab.mitoses.setText("3")
    tab.site.setCurrentIndex(tab.site.findData("rectum"))
    tab.pathology_rupture.setCurrentIndex(tab.pathology_rupture.findData("no"))
    assert tab.live_risk.text() == "high"  # non-gastric 5.1–10 cm
    tab.add_pathology()
    qtbot.waitUntil(lambda: tab.pathology_table.rowCount() == 1 and not tasks.busy,
                    timeout=5000)
    assert tab.pathology_table.item(0, 7).text() == "high"
    assert CourseService(session).pathology(patient.uid)[0].risk == "high"
    assert CourseService(session).surgeries(patient.uid)[0].data.performed_on == date(
        2024, 7, 1)


def test_a_late_answer_after_saving_never_swaps_the_editor_under_the_user(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    """Saving a baseline, then at once starting the follow-up: the reload that answers the
    save used to select the baseline back into the editor, so the follow-up being typed was
    saved as a correction of the baseline (the window then asked for a reason)."""
    patient = enrolled_patient(session, "NCT04933669")
    tab = TumourTab()
    open_tab(qtbot, tab, session, tasks, patient)
    _type_date(qtbot, tab, "2024-01-05")
    tab.add_lesion_row()
    tab.set_lesion(0, label="T1", organ="stomach", diameter="60")
    tab.submit()
    qtbot.waitUntil(lambda: len(tab.records) == 1 and not tasks.busy, timeout=5000)
    saved = tab.editing_uid
    assert saved is not None
    tab.new_assessment()  # the user moves on to the follow-up and types
    _type_date(qtbot, tab, "2024-04-05")
    tab.reload(select_uid=saved)  # the answer to the save arrives only now
    qtbot.waitUntil(lambda: not tasks.busy, timeout=5000)
    assert tab.editing_uid is None and not tab.editing_baseline
    assert tab.date.text() == "2024-04-05"
