"""File > Settings…: the site settings typed into the dialog are what the database holds; a
site-code change once patients exist asks first and renumbers nobody (issue 10, point 4)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from gisttracker.services.patients import PatientService
from gisttracker.services.settings import SettingsService
from gisttracker.store.models import AuditLog
from gisttracker.store.models_patients import Patient
from tests.core.patients_helpers import eligible_patient, set_site
from tests.ui.conftest import on_worker
from tests.ui.helpers import click_ok, retype, when_dialog
from ui.main_window import MainWindow
from ui.settings_dialog import SettingsDialog

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "support raise")


def _open(qtbot: QtBot, window: MainWindow) -> SettingsDialog:
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: isinstance(window.settings_dialog, SettingsDialog)
                    and window.settings_dialog.isVisible(), timeout=5000)
    dialog = window.settings_dialog
    assert isinstance(dialog, SettingsDialog)
    return dialog


def test_the_settings_typed_are_saved_and_audited(qtbot: QtBot, window: MainWindow) -> None:
    dialog = _open(qtbot, window)
    assert dialog.site_code.text() == "SITE"
    retype(qtbot, dialog.site_code, "zju")
    qtbot.keyClicks(dialog.site_name, "First Affiliated Hospital, Zhejiang University")
    dialog.paper.setFocus()
    qtbot.keyClicks(dialog.paper, "L")
    dialog.language.setFocus()
    qtbot.keyClick(dialog.language, Qt.Key.Key_End)  # the last language: 简体中文
    click_ok(qtbot, dialog)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    session = window.session
    assert session is not None
    values = on_worker(qtbot, window, lambda: SettingsService(session.tracker).all())
    assert {k: values[k] for k in ("site_code", "site_name", "paper", "language")} == {
        "site_code": "ZJU", "site_name": "First Affiliated Hospital, Zhejiang University",
        "paper": "letter", "language": "zh_CN"}


def test_a_bad_site_code_is_refused_beside_the_field(qtbot: QtBot, window: MainWindow) -> None:
    dialog = _open(qtbot, window)
    retype(qtbot, dialog.site_code, "1-A")
    click_ok(qtbot, dialog)
    assert "capital letters" in dialog.messages["site_code"].text()
    assert dialog.isVisible()
    dialog.reject()


def test_changing_the_site_code_with_patients_asks_first_and_renumbers_nobody(
        qtbot: QtBot, window: MainWindow) -> None:
    session = window.session
    assert session is not None
    on_worker(qtbot, window, lambda: (set_site(session), eligible_patient(
        PatientService(session), "NCT03862768")))
    dialog = _open(qtbot, window)
    retype(qtbot, dialog.site_code, "FJC")
    asked: list[str] = []

    def cancel(box: QWidget) -> None:
        assert isinstance(box, QMessageBox)
        asked.append(box.text())
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Cancel),
                         Qt.MouseButton.LeftButton)

    when_dialog(cancel)
    click_ok(qtbot, dialog)
    qtbot.waitUntil(lambda: bool(asked), timeout=5000)
    assert "Existing patients keep their study identifiers (ZJU-0001…)" in asked[0]
    assert "stratum site=FJC" in asked[0]
    assert dialog.isVisible()  # cancelled: nothing saved

    def yes(box: QWidget) -> None:
        assert isinstance(box, QMessageBox)
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)

    when_dialog(yes)
    click_ok(qtbot, dialog)
    qtbot.waitUntil(lambda: "reason" in dialog.messages["reason"].text(), timeout=5000)
    assert dialog.reason is not None
    qtbot.keyClicks(dialog.reason, "code mistyped at installation")
    when_dialog(yes)
    click_ok(qtbot, dialog)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    assert on_worker(qtbot, window, lambda: SettingsService(session.tracker).get(
        "site_code")) == "FJC"
    assert on_worker(qtbot, window, lambda: Patient.get().study_id) == "ZJU-0001"
    assert on_worker(qtbot, window, lambda: AuditLog.select().where(
        AuditLog.reason == "code mistyped at installation").count()) >= 1
