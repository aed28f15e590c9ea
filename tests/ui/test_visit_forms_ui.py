"""The visit forms in the window: keyboard entry of a whole QLQ-C30 with live scores, the
reason asked for changing a completed form, the guard on unsaved changes, labs and AEs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from gisttracker.services.forms import FormService
from gisttracker.session import Session
from gisttracker.store.models import AuditLog
from gisttracker.store.models_forms import AdverseEvent, FormValue
from tests.core.forms_fixtures import TODAY, make_patient, make_visit
from ui.tasks import TaskManager
from ui.visit_forms import (
    AdverseEventDialog,
    FormEditorDialog,
    LabsDialog,
    VisitFormsTab,
)

# Showing a top-level window offscreen makes Qt warn that the platform cannot pass size
# hints; it is harmless and says nothing about the widgets under test.
pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

C30_BEST = {str(i): 1 for i in range(1, 29)} | {"29": 7, "30": 7}


@pytest.fixture
def tasks() -> Iterator[TaskManager]:
    manager = TaskManager()
    yield manager
    manager.shutdown()


def _editor(qtbot: QtBot, session: Session, tasks: TaskManager, visit_uid: str,
            kind: str) -> FormEditorDialog:
    data = FormService(session).load(visit_uid, kind)
    dialog = FormEditorDialog(session, tasks, data, TODAY)
    # Closed at teardown: a test that leaves changes must not block on a real message box.
    dialog.ask_unsaved = lambda: QMessageBox.StandardButton.Discard  # type: ignore
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    return dialog


def _type(qtbot: QtBot, keys: str) -> None:
    """Type each key into whichever widget has the focus (as a person would)."""
    for key in keys:
        widget = QApplication.focusWidget()
        assert widget is not None
        qtbot.keyClick(widget, key)


def test_whole_qlq_c30_entered_from_the_keyboard_shows_the_scores(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    dialog = _editor(qtbot, session, tasks, visit.uid, "qlq_c30")
    assert QApplication.focusWidget() is dialog.rows["1"].editor

    _type(qtbot, "1" * 28 + "77")  # each digit moves the focus on by itself
    assert dialog.score_text("SUMSC") == "100.0"
    assert dialog.score_text("PF2") == "100.0" and dialog.score_text("FA") == "0.0"
    assert dialog.rows["30"].answer.text() == "Excellent"
    assert QApplication.focusWidget() is dialog.save_button

    # A key outside the scale is refused beside the field, and the focus stays.
    dialog.rows["12"].editor.setFocus()
    _type(qtbot, "5")
    assert dialog.rows["12"].message.text() == "type 1 to 4"
    assert QApplication.focusWidget() is dialog.rows["12"].editor
    _type(qtbot, "3")  # fatigue now (items 10, 12, 18 = 1, 3, 1) → 22.2
    assert dialog.rows["12"].message.text() == ""
    assert dialog.score_text("FA") == "22.2"
    assert QApplication.focusWidget() is dialog.rows["13"].editor

    qtbot.keyClick(dialog, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not dialog.dirty and dialog.data.state == "in_progress")
    stored = {r.item: json.loads(r.value) for r in FormValue.select()}
    assert stored == C30_BEST | {"12": 3}


def test_tab_moves_through_the_items_in_paper_order(qtbot: QtBot, session: Session,
                                                    tasks: TaskManager) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    dialog = _editor(qtbot, session, tasks, visit.uid, "qlq_c30")
    seen = []
    for _i in range(4):
        seen.append(QApplication.focusWidget())
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert seen == [dialog.rows[k].editor for k in ("1", "2", "3", "4")]


def test_cr29_stoma_answer_switches_the_version_of_items_49_to_54(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = make_patient(session, sex="male")
    visit = make_visit(session, patient, "baseline")
    dialog = _editor(qtbot, session, tasks, visit.uid, "qlq_cr29")
    _type(qtbot, "2" * 17)  # items 31-47
    assert QApplication.focusWidget() is dialog.rows["48"].editor
    _type(qtbot, "2")  # no stoma
    assert QApplication.focusWidget() is dialog.rows["49"].editor  # stoma version skipped
    assert not dialog.rows["49s"].editor.isEnabled()
    assert not dialog.rows["58"].editor.isEnabled()  # a man is not asked the women's items
    _type(qtbot, "111111" + "11")  # 49-54, then 56-57
    assert QApplication.focusWidget() is dialog.save_button
    assert dialog.score_text("UF") == "33.3" and dialog.score_text("IMP") == "0.0"
    assert dialog.score_text("STO") == "—"


def test_changing_a_completed_form_asks_for_a_reason(qtbot: QtBot, session: Session,
                                                     tasks: TaskManager) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    service = FormService(session)
    service.save_answers(visit.uid, "qlq_c30", C30_BEST)
    service.complete(visit.uid, "qlq_c30", today=TODAY)
    dialog = _editor(qtbot, session, tasks, visit.uid, "qlq_c30")
    assert "Complete" in dialog.state_label.text()

    asked: list[bool] = []
    dialog.ask_reason = lambda: asked.append(True) or None  # type: ignore[method-assign]
    dialog.rows["9"].editor.setFocus()
    _type(qtbot, "3")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert asked == [True]
    assert "reason is needed" in dialog.status.text()
    assert service.load(visit.uid, "qlq_c30").values["9"] == 1  # nothing saved

    dialog.ask_reason = lambda: "transcription error"  # type: ignore[method-assign]
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.dirty)
    assert service.load(visit.uid, "qlq_c30").values["9"] == 3
    row = FormValue.get(FormValue.item == "9")
    audit = AuditLog.get((AuditLog.record_uid == row.uid) & (AuditLog.action == "update"))
    assert (audit.old_value, audit.new_value) == (json.dumps("1"), json.dumps("3"))
    assert audit.reason == "transcription error" and audit.user == "nurse"


def test_closing_with_unsaved_changes_asks_first(qtbot: QtBot, session: Session,
                                                 tasks: TaskManager) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    dialog = _editor(qtbot, session, tasks, visit.uid, "physical_exam")
    qtbot.keyClicks(dialog.rows["weight_kg"].editor, "68.5")
    assert dialog.dirty

    answers = [QMessageBox.StandardButton.Cancel]
    dialog.ask_unsaved = lambda: answers.pop()  # type: ignore[method-assign]
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.isVisible() and answers == []  # asked; cancel keeps the dialog open

    answers.append(QMessageBox.StandardButton.Save)
    dialog.close()
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert FormService(session).load(visit.uid, "physical_exam").values == {"weight_kg": 68.5}

    # Discard closes without saving.
    other = _editor(qtbot, session, tasks, visit.uid, "physical_exam")
    qtbot.keyClicks(other.rows["ecog"].editor, "2")
    other.ask_unsaved = lambda: QMessageBox.StandardButton.Discard  # type: ignore[method-assign]
    other.close()
    assert not other.isVisible()
    assert "ecog" not in FormService(session).load(visit.uid, "physical_exam").values


def test_out_of_range_value_is_shown_beside_the_field(qtbot: QtBot, session: Session,
                                                      tasks: TaskManager) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    dialog = _editor(qtbot, session, tasks, visit.uid, "physical_exam")
    qtbot.keyClicks(dialog.rows["ecog"].editor, "7")
    assert dialog.rows["ecog"].message.text() == "must be from 0 to 5"
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "ECOG" in dialog.status.text())
    assert dialog.rows["ecog"].message.text() == "must be from 0 to 5"
    assert FormValue.select().count() == 0


def test_visit_tab_lists_forms_and_opens_one(qtbot: QtBot, session: Session,
                                            tasks: TaskManager) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    FormService(session).mark_not_done(visit.uid, "lars", "Patient refused", today=TODAY)
    tab = VisitFormsTab(today=lambda: TODAY)
    qtbot.addWidget(tab)
    tab.set_patient(session, tasks, patient.uid)
    tab.show()
    qtbot.waitUntil(lambda: tab.forms.rowCount() == 11)
    rows = {tab.forms.item(r, 0).text(): (tab.forms.item(r, 1).text(),
                                          tab.forms.item(r, 2).text())
            for r in range(tab.forms.rowCount())}
    assert rows["LARS score"] == ("Not done", "Patient refused")
    assert rows["EORTC QLQ-C30"] == ("Not started", "")
    assert tab.visits.item(0, 3).text() == "1/11"
    assert tab.visits.item(0, 2).text() == "planned"
    tab.forms.selectRow(list(rows).index("EORTC QLQ-C30"))
    tab.open_form()
    qtbot.waitUntil(lambda: tab.dialog is not None and tab.dialog.isVisible())
    assert isinstance(tab.dialog, FormEditorDialog) and tab.dialog.data.kind == "qlq_c30"
    tab.dialog.ask_unsaved = lambda: QMessageBox.StandardButton.Discard  # type: ignore
    tab.dialog.close()


def test_lab_grade_is_live_and_grade_3_offers_an_adverse_event(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    service = FormService(session)
    dialog = LabsDialog(session, tasks, service.load(visit.uid, "labs"), TODAY, [],
                        {"platelets": None}, )
    qtbot.addWidget(dialog)
    dialog.show()
    row = [a.key for a in dialog.analytes].index("platelets")
    value = dialog.rows[row].value
    qtbot.keyClicks(value, "40")
    assert dialog.grade_text("platelets") == "Grade 3"
    assert row in dialog.ae_buttons  # suggested, but nothing recorded
    qtbot.keyClicks(value, "0000")
    assert dialog.grade_text("platelets") == "check"
    assert "Check the unit" in dialog.status.text()
    for _i in range(4):
        qtbot.keyClick(value, Qt.Key.Key_Backspace)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.dirty)
    assert AdverseEvent.select().count() == 0
    qtbot.mouseClick(dialog.ae_buttons[row], Qt.MouseButton.LeftButton)
    editor = dialog.findChild(AdverseEventDialog)
    assert editor is not None
    assert editor.term.currentText() == "Platelet count decreased"
    assert editor.grade.value() == 3
    ok = next(b for b in editor.findChildren(QPushButton) if b.text() == "Save")
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: AdverseEvent.select().count() == 1)
    qtbot.waitUntil(lambda: dialog.ae_text("platelets") == "adverse event recorded")


def test_a_protocols_own_lab_is_a_row_of_the_lab_form_without_a_grade(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    import dataclasses

    from gisttracker.protocols.model import LabAnalyteSpec
    from gisttracker.store.models_patients import LabResult

    session.studies["RECTAL-LE"] = dataclasses.replace(
        session.studies["RECTAL-LE"], labs=(LabAnalyteSpec("albumin", "Albumin", "g/L"),))
    visit = make_visit(session, make_patient(session), "baseline")
    service = FormService(session)
    dialog = LabsDialog(session, tasks, service.load(visit.uid, "labs"), TODAY, [],
                        {"albumin": None}, analytes=service.analytes(visit.uid))
    qtbot.addWidget(dialog)
    dialog.show()
    row = [a.key for a in dialog.analytes].index("albumin")
    assert dialog.rows[row].name.text() == "Albumin"
    qtbot.keyClicks(dialog.rows[row].value, "31")
    assert dialog.grade_text("albumin") == "no CTCAE grade"
    assert row not in dialog.ae_buttons
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.dirty)
    assert LabResult.get(LabResult.analyte == "albumin").value == 31.0


def test_lab_rows_tab_in_the_order_of_their_columns(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    service = FormService(session)
    dialog = LabsDialog(session, tasks, service.load(visit.uid, "labs"), TODAY, [], {})
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    first, second = dialog.rows[0], dialog.rows[1]
    first.value.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is first.value)
    seen = []
    for text in ("3.2", None, "1.8", "6.3"):
        widget = QApplication.focusWidget()
        seen.append(widget)
        if text:
            qtbot.keyClicks(widget, text)
        qtbot.keyClick(widget, Qt.Key.Key_Tab)
    assert seen == [first.value, first.unit, first.lln, first.uln]
    assert QApplication.focusWidget() is second.value
    assert (first.value.text(), first.lln.text(), first.uln.text()) == ("3.2", "1.8", "6.3")
    dialog.ask_unsaved = lambda: QMessageBox.StandardButton.Discard  # type: ignore
