"""Issue 10's worst defect: typed dates were silently changed. Each test types a date into
the real field of a real form, as a person does, and reads back what the database holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QLabel, QWidget
from pytestqt.qtbot import QtBot

from gisttracker.services.patients import PatientService
from gisttracker.session import Session
from gisttracker.store.models_course import Surgery
from gisttracker.store.models_patients import PatientIdentity
from gisttracker.store.models_visits import AnchorDate, Visit
from tests.core.course_fixtures import enrolled_patient
from tests.core.patients_helpers import TODAY, set_site
from tests.ui.helpers import when_dialog
from ui.course_tab import CourseTab
from ui.patients import NewPatientDialog
from ui.schedule_tab import DateReasonDialog, ScheduleTab
from ui.tasks import TaskManager

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")


@pytest.fixture
def tasks() -> Iterator[TaskManager]:
    manager = TaskManager()
    yield manager
    manager.shutdown()


def _ok(qtbot: QtBot, dialog: QWidget) -> None:
    buttons = dialog.findChild(QDialogButtonBox)
    assert buttons is not None
    qtbot.mouseClick(buttons.button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)


def test_a_birth_date_typed_as_eight_digits_is_registered_exactly(
        qtbot: QtBot, session: Session) -> None:
    set_site(session)
    dialog = NewPatientDialog(session, session.studies["NCT04933669"], TODAY)
    qtbot.addWidget(dialog)
    assert dialog.dob.text() == ""  # unknown until typed, never 1900-01-01
    dialog.sex_box.setFocus()
    qtbot.keyClicks(dialog.sex_box, "f")
    qtbot.keyClicks(dialog.record, "H-1")
    qtbot.keyClicks(dialog.dob.edit, "19600512")
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.patient_uid is not None, timeout=5000)
    assert PatientIdentity.get().date_of_birth == date(1960, 5, 12)


def test_the_birth_date_is_reached_by_its_label_letter_and_typed_there(
        qtbot: QtBot, session: Session) -> None:
    """Alt+B ("Date of birth") puts the cursor in the date field: a keyboard user's digits
    went into the initials before (the field's container took no focus)."""
    set_site(session)
    dialog = NewPatientDialog(session, session.studies["NCT04933669"], TODAY)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    dialog.initials.setFocus()
    qtbot.keyClicks(dialog.initials, "AB")
    qtbot.keyClick(dialog.initials, Qt.Key.Key_B, Qt.KeyboardModifier.AltModifier)
    assert dialog.dob.edit.hasFocus()
    qtbot.keyClicks(dialog.dob.edit, "19620704")
    qtbot.keyClick(dialog.dob.edit, Qt.Key.Key_R, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClicks(dialog.record, "H-2")
    qtbot.keyClick(dialog.record, Qt.Key.Key_X, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClicks(dialog.sex_box, "f")
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.patient_uid is not None, timeout=5000)
    identity = PatientIdentity.get()
    assert (identity.initials, identity.date_of_birth, identity.record_number) == (
        "AB", date(1962, 7, 4), "H-2")


def test_an_anchor_and_a_visit_date_of_another_year_are_saved_as_typed(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = enrolled_patient(session, "RECTAL-LE", arm="LE", enrolled_on=date(2024, 10, 1))
    tab = ScheduleTab(today=lambda: TODAY)
    qtbot.addWidget(tab)
    with qtbot.waitSignal(tab.loaded, timeout=10_000):
        tab.set_patient(session, tasks, patient.uid)

    prompts: list[str] = []

    def type_date(text: str) -> None:
        def answer(dialog: QWidget) -> None:
            assert isinstance(dialog, DateReasonDialog)
            prompts.append(" ".join(label.text() for label in dialog.findChildren(QLabel)))
            dialog.date.edit.selectAll()
            qtbot.keyClicks(dialog.date.edit, text)
            _ok(qtbot, dialog)
        when_dialog(answer)

    type_date("2024-11-03")  # the field starts at today, 2026-03-14: another year
    with qtbot.waitSignal(tab.loaded, timeout=10_000):
        tab.ask_anchor("surgery")
    assert AnchorDate.get(AnchorDate.anchor_key == "surgery").date == date(2024, 11, 3)
    assert tab.anchor_labels["surgery"].text() == "2024-11-03"

    tab.select_visit("Local resection")
    type_date("20241103")
    with qtbot.waitSignal(tab.loaded, timeout=10_000):
        tab.ask_done()
    visit = Visit.get(Visit.visit_key == "surgery")
    assert (visit.state, visit.done_on) == ("done", date(2024, 11, 3))
    # The mark-done dialog shows the visit's window beside the date being confirmed.
    assert "Its window: 2024-11-03 to 2024-11-03 (target 2024-11-03)." in prompts[-1]


def test_a_date_refused_in_the_dialog_keeps_it_open_with_the_reason(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = enrolled_patient(session, "RECTAL-LE", arm="LE")
    tab = ScheduleTab(today=lambda: TODAY)
    qtbot.addWidget(tab)
    with qtbot.waitSignal(tab.loaded, timeout=10_000):
        tab.set_patient(session, tasks, patient.uid)
    tab.select_visit("Baseline (before imatinib)")
    seen: list[str] = []

    def answer(dialog: QWidget) -> None:
        assert isinstance(dialog, DateReasonDialog)
        dialog.date.edit.selectAll()
        qtbot.keyClicks(dialog.date.edit, "0001-01-01")
        _ok(qtbot, dialog)
        seen.append(dialog.error.text())
        assert dialog.isVisible()
        dialog.reject()

    when_dialog(answer)
    tab.ask_done()
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert "before 1900" in seen[0]
    assert Visit.get(Visit.visit_key == "baseline").state == "planned"


def test_a_surgery_typed_in_another_year_is_recorded_on_that_day(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = enrolled_patient(session, "NCT04933669", arm="NEO")
    tab = CourseTab()
    tab.today_fn = lambda: TODAY
    qtbot.addWidget(tab)
    tab.set_patient(session, tasks, patient.uid)
    qtbot.waitUntil(lambda: not tasks.busy, timeout=5000)
    qtbot.keyClicks(tab.performed_on.edit, "2016-01-05")  # type: ignore[attr-defined]
    tab.procedure.setFocus()
    qtbot.keyClicks(tab.procedure, "gastr")  # a drop-down picks by the letters typed
    assert tab.procedure.currentData() == "gastrectomy"
    qtbot.mouseClick(tab.add_surgery_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: Surgery.select().count() == 1, timeout=5000)
    assert Surgery.get().performed_on == date(2016, 1, 5)
    assert PatientService(session).get(patient.uid).status == "enrolled"


@pytest.mark.parametrize("reason", ["none", "required"])
def test_nothing_hides_the_date_being_confirmed(qtbot: QtBot, reason: str) -> None:
    """The mark-done and anchor-date dialogs showed a blank box over their date field."""
    dialog = DateReasonDialog("Month 3: done on", None, day=TODAY, reason=reason,
                              today=lambda: TODAY)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    edit = dialog.date.edit
    for x in (2, edit.width() // 2, edit.width() - 3):
        point = edit.mapTo(dialog, edit.rect().topLeft()) + type(edit.pos())(x, 5)
        assert dialog.childAt(point) is edit, x  # the date's own box is what is there
    assert edit.text() == "2026-03-14"
