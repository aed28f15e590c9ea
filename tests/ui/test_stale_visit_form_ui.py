"""No lost update on a visit form opened while someone else saves it (issue 13).

The form's editor is opened from the Visits & forms tab: its answers are read on the worker,
the dialog appears, and its versions (what a save sends) used to be read by a second,
later task. When the worker was busy (a refresh, the watch of the file) and someone else
saved the form in between, those versions already counted his change as seen although the
dialog showed the older answers: the nurse's save then overwrote his answer. The versions
are now read with the answers, before them; later reads never move them on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from gisttracker.services.forms import FormService
from gisttracker.services.policy import trusted_actor
from gisttracker.session import Session
from tests.core.forms_fixtures import TODAY, make_patient, make_visit
from tests.ui.helpers import click_row, when_dialog
from ui.tasks import TaskManager
from ui.visit_forms import FormEditorDialog, VisitFormsTab

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

C30 = {str(i): 1 for i in range(1, 29)} | {"29": 6, "30": 6}


@pytest.fixture
def tasks() -> Iterator[TaskManager]:
    manager = TaskManager()
    yield manager
    manager.shutdown()


def _answer(qtbot: QtBot, dialog: FormEditorDialog, item: str, keys: str) -> None:
    """Click into item ``item``'s field and type ``keys`` there, as a person does."""
    dialog.activateWindow()
    qtbot.mouseClick(dialog.rows[item].editor, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.rows[item].editor,
                    timeout=5000)
    _type(qtbot, keys)


def _type(qtbot: QtBot, keys: str) -> None:
    for key in keys:
        widget = QApplication.focusWidget()
        assert widget is not None
        qtbot.keyClick(widget, key)


def _stored(session: Session, visit_uid: str) -> tuple[Any, Any]:
    values = FormService(session).load(visit_uid, "qlq_c30").values
    return values["9"], values["10"]


def test_a_form_saved_by_someone_else_while_it_opens_is_not_overwritten(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    FormService(session).save_answers(visit.uid, "qlq_c30", C30)
    tab = VisitFormsTab(today=lambda: TODAY)
    qtbot.addWidget(tab)
    tab.set_patient(session, tasks, patient.uid)
    tab.show()
    qtbot.waitUntil(lambda: tab.forms.rowCount() == 11, timeout=10_000)
    qtbot.waitUntil(lambda: not tasks.busy, timeout=10_000)
    row = next(r for r in range(tab.forms.rowCount())
               if tab.forms.item(r, 0).text() == "EORTC QLQ-C30")
    click_row(qtbot, tab.forms, row)

    # The worker is busy with something else right after it read the form for the editor
    # (a refresh, the watch of the file): the next task waits for it.
    gate = threading.Event()
    qtbot.mouseClick(tab.open_button, Qt.MouseButton.LeftButton)
    tasks.run(lambda: gate.wait(10), lambda _r: None, lambda _e: None)
    qtbot.waitUntil(lambda: tab.dialog is not None and tab.dialog.isVisible(), timeout=10_000)
    dialog = tab.dialog
    assert isinstance(dialog, FormEditorDialog)
    dialog.ask_unsaved = lambda: QMessageBox.StandardButton.Discard  # type: ignore
    assert dialog.values["9"] == 1
    # Meanwhile li.wei, at another workstation, answers item 9 differently.
    session.tracker.sign_in(trusted_actor("li.wei"))
    try:
        FormService(session).save_answers(visit.uid, "qlq_c30", {"9": 2})
    finally:
        session.tracker.sign_in(trusted_actor("nurse"))
    gate.set()
    qtbot.waitUntil(lambda: not tasks.busy, timeout=10_000)
    assert dialog.values["9"] == 1  # the dialog still shows what it read

    # The nurse corrects item 9 from her paper form (she sees 1 there) and saves.
    _answer(qtbot, dialog, "9", "3")
    assert dialog.dirty
    seen: list[str] = []

    def reload(box: QWidget) -> None:
        assert isinstance(box, QMessageBox), box
        seen.append(box.text())
        qtbot.mouseClick(next(b for b in box.buttons() if "Reload" in b.text()),
                         Qt.MouseButton.LeftButton)

    when_dialog(reload)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(seen) or _stored(session, visit.uid) != (2, 1),
                    timeout=10_000)
    # Her save, based on the answer she was shown, is refused: li's answer stands (before
    # the fix her 3 silently replaced his 2, which she never saw).
    assert _stored(session, visit.uid) == (2, 1)
    assert "li.wei changed" in seen[0] and "changed by someone else" in seen[0]
    # Reloaded: the dialog shows li's answer; having seen it, she enters hers again.
    qtbot.waitUntil(lambda: dialog.values.get("9") == 2 and not dialog.dirty, timeout=10_000)
    qtbot.waitUntil(lambda: not tasks.busy, timeout=10_000)
    _answer(qtbot, dialog, "9", "3")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _stored(session, visit.uid) == (3, 1), timeout=10_000)
    qtbot.waitUntil(lambda: not dialog.dirty and not tasks.busy, timeout=10_000)
    # And a second save in a row: her own save moved the versions she holds on.
    _answer(qtbot, dialog, "10", "4")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _stored(session, visit.uid) == (3, 4), timeout=10_000)
    qtbot.waitUntil(lambda: not tasks.busy, timeout=10_000)
    dialog.close()
