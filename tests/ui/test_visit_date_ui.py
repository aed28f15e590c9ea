"""Completing the last form of a visit asks the day the visit took place: the suggested date
is offered (the target date for a visit entered after its window), the nurse types another
one or confirms, and that is the visit's date in the database — never the day of entry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from gisttracker.services.forms import FormService
from gisttracker.session import Session
from gisttracker.store.models_forms import Form
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import Visit
from tests.core.forms_fixtures import TODAY, make_patient
from ui.tasks import TaskManager
from ui.visit_forms import FormEditorDialog
from ui.visit_forms.visit_date import VisitDateDialog

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

TARGET = date(2026, 1, 10)


@pytest.fixture
def tasks() -> Iterator[TaskManager]:
    manager = TaskManager()
    yield manager
    manager.shutdown()


def _visit_with_one_form_left(session: Session, patient: Patient) -> Visit:
    """RECTAL-LE's surgery visit, its window long past; all but the pathology form settled."""
    with session.tracker.transaction("test visit") as w:
        visit = w.insert(Visit, patient=patient.__data__["id"], visit_key="surgery",
                         name="Local resection", planned_on=TARGET,
                         window_start=TARGET, window_end=TARGET, state="planned")
    forms = FormService(session)
    for kind in ("surgery", "adverse_events", "treatment"):
        forms.mark_not_done(visit.uid, kind, "Not performed at this visit", today=TODAY)
    forms.save_answers(visit.uid, "pathology", {"report_received": False})
    return visit


def _editor(qtbot: QtBot, session: Session, tasks: TaskManager,
            visit_uid: str) -> FormEditorDialog:
    dialog = FormEditorDialog(session, tasks, FormService(session).load(visit_uid, "pathology"),
                              TODAY)
    dialog.ask_unsaved = lambda: QMessageBox.StandardButton.Discard  # type: ignore
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def _when_asked(act: Callable[[VisitDateDialog], None]) -> QTimer:
    """Answer the visit-date dialog once it is up (it runs its own event loop)."""
    timer = QTimer()
    timer.setInterval(20)

    def poll() -> None:
        modal = QApplication.activeModalWidget()
        if isinstance(modal, VisitDateDialog):
            timer.stop()
            act(modal)

    timer.timeout.connect(poll)
    timer.start()
    return timer


def test_the_visit_is_dated_the_day_the_nurse_types_not_the_day_of_entry(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = make_patient(session)
    visit = _visit_with_one_form_left(session, patient)
    dialog = _editor(qtbot, session, tasks, visit.uid)
    offered: list[str] = []

    def answer(asked: VisitDateDialog) -> None:
        offered.append(asked.field.text())
        asked.field.selectAll()
        qtbot.keyClicks(asked.field, "2026-01-12")
        qtbot.mouseClick(asked.ok_button, Qt.MouseButton.LeftButton)

    timer = _when_asked(answer)
    qtbot.mouseClick(dialog.complete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.data.state == "complete", timeout=5000)
    timer.stop()
    assert offered == [TARGET.isoformat()]  # entered after the window: the target is offered
    stored = Visit.get_by_id(visit.id)
    assert (stored.state, stored.done_on) == ("done", date(2026, 1, 12))
    assert stored.done_recorded_at is not None  # when it was typed, kept apart
    assert Form.get((Form.visit == visit) & (Form.kind == "pathology")).state == "complete"


def test_a_future_day_is_refused_beside_the_field_and_cancel_completes_nothing(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = make_patient(session)
    visit = _visit_with_one_form_left(session, patient)
    dialog = _editor(qtbot, session, tasks, visit.uid)
    messages: list[str] = []

    def answer(asked: VisitDateDialog) -> None:
        asked.field.selectAll()
        qtbot.keyClicks(asked.field, "2026-04-01")
        qtbot.keyClick(asked.field, Qt.Key.Key_Return)
        messages.append(asked.message.text())
        assert asked.isVisible()
        qtbot.keyClick(asked, Qt.Key.Key_Escape)

    timer = _when_asked(answer)
    qtbot.mouseClick(dialog.complete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "date of the visit is needed" in dialog.status.text(),
                    timeout=5000)
    timer.stop()
    assert messages == ["2026-04-01 is after today: a visit cannot have taken place yet."]
    assert Visit.get_by_id(visit.id).state == "planned"
    assert Form.get((Form.visit == visit) & (Form.kind == "pathology")).state == "in_progress"
