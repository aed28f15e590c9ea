"""Every Alt+letter of a window does one thing: Alt+S saves, it does not move the focus
between three widgets that claim the same letter (issue 10)."""

from __future__ import annotations

import random

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from gisttracker.services.forms import FormService
from gisttracker.services.patients import PatientService
from gisttracker.store.models_forms import FormValue
from gisttracker.store.models_visits import Visit
from tests.core.patients_helpers import TODAY, eligible_patient, set_site
from tests.ui.conftest import on_worker
from tests.ui.helpers import mnemonic_clashes
from ui.main_window import MainWindow
from ui.patients import NewPatientDialog
from ui.visit_forms import AdverseEventsDialog, FormEditorDialog, LabsDialog

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "support raise")


def test_no_letter_is_claimed_twice_in_any_window(qtbot: QtBot, window: MainWindow) -> None:
    session = window.session
    assert session is not None and window.context is not None
    window.show()
    for row in range(window.nav.count()):
        window.nav.setCurrentRow(row)
        assert mnemonic_clashes(window) == {}, window.nav.item(row).text()
    dialog = NewPatientDialog(session, None, TODAY, window, window.tasks)
    dialog.show()
    assert mnemonic_clashes(dialog) == {}
    dialog.reject()

    def make() -> str:
        set_site(session)
        service = PatientService(session)
        patient = eligible_patient(service, "RECTAL-LE")
        service.enroll(patient.uid, today=TODAY, rng=random.Random(1))
        return patient.uid

    uid = on_worker(qtbot, window, make)
    opened = window.context.open_patient(uid)
    qtbot.waitUntil(lambda: opened.header.text().startswith("ZJU-0001"), timeout=5000)
    qtbot.waitUntil(lambda: opened.pages["screening"].correct_button.isVisible(),  # type: ignore[attr-defined]
                    timeout=5000)
    for index in range(opened.tabs.count()):
        opened.tabs.setCurrentIndex(index)
        assert mnemonic_clashes(opened) == {}, opened.tabs.tabText(index)
    opened.pages["screening"].start_correction()  # type: ignore[attr-defined]
    opened.tabs.setCurrentIndex(0)
    assert mnemonic_clashes(opened) == {}

    visit = on_worker(qtbot, window, lambda: Visit.get(Visit.visit_key == "baseline").uid)
    forms = FormService(session)
    for kind, cls in (("qlq_c30", FormEditorDialog), ("labs", LabsDialog),
                      ("adverse_events", AdverseEventsDialog)):
        data = on_worker(qtbot, window, lambda k=kind: forms.load(visit, k))
        if cls is LabsDialog:
            editor = LabsDialog(session, window.tasks, data, TODAY, [], {})
        elif cls is AdverseEventsDialog:
            editor = AdverseEventsDialog(session, window.tasks, data, TODAY, [])
        else:
            editor = FormEditorDialog(session, window.tasks, data, TODAY)
        qtbot.addWidget(editor)
        editor.show()
        assert mnemonic_clashes(editor) == {}, kind
        editor.ask_unsaved = lambda: QMessageBox.StandardButton.Discard  # type: ignore
        editor.close()
    opened.pages["screening"].dirty = False  # type: ignore[attr-defined]
    opened.close()


def test_alt_s_saves_a_form(qtbot: QtBot, window: MainWindow) -> None:
    session = window.session
    assert session is not None

    def make() -> str:
        set_site(session)
        service = PatientService(session)
        patient = eligible_patient(service, "RECTAL-LE")
        service.enroll(patient.uid, today=TODAY)
        return str(Visit.get(Visit.visit_key == "baseline").uid)

    visit = on_worker(qtbot, window, make)
    data = on_worker(qtbot, window, lambda: FormService(session).load(visit, "lars"))
    editor = FormEditorDialog(session, window.tasks, data, TODAY)
    qtbot.addWidget(editor)
    editor.show()
    qtbot.waitExposed(editor)
    editor.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_2)  # the first answer
    assert editor.dirty
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_S, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: not editor.dirty, timeout=5000)
    assert on_worker(qtbot, window, lambda: FormValue.select().count()) == 1
    editor.close()
