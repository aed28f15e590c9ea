"""Bugs in the window: whether raised in a background task or in a slot, a crash report is
saved and the user is told where, never shown the bug's own message; expected errors are
shown as they are. Help > Open log folder opens the folder a site sends us files from."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

import ui.errors
from gisttracker.errors import UserError
from gisttracker.logs import log_dir
from gisttracker.services.forms import FormService
from gisttracker.session import Session
from tests.core.forms_fixtures import TODAY, make_patient, make_visit
from ui.errors import error_message, install_excepthook, show_error
from ui.tasks import TaskManager
from ui.visit_forms import FormEditorDialog

# Offscreen Qt cannot raise windows, pass size hints or grab the keyboard for a menu; the
# warnings say nothing about the widgets under test.
pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints",
                                       "does not support raise", "does not support grabbing")


@pytest.fixture
def tasks() -> Iterator[TaskManager]:
    manager = TaskManager()
    yield manager
    manager.shutdown()


def reports() -> set[Path]:
    return set(log_dir().glob("crash-*.txt"))


@pytest.mark.expect_log(r"^bug while")
def test_a_bug_in_a_background_task_saves_a_report_without_blocking(
        qtbot: QtBot, tasks: TaskManager) -> None:
    before, shown = reports(), len(ui.errors.shown)

    def work() -> None:
        raise ZeroDivisionError("a bug on the worker thread")

    tasks.run(work, lambda _result: None)  # nobody handles its failure: show_error does
    qtbot.waitUntil(lambda: len(ui.errors.shown) == shown + 1, timeout=5000)
    new = reports() - before
    assert len(new) == 1 and ui.errors.shown[-1] == next(iter(new))
    text = next(iter(new)).read_text(encoding="utf-8")
    assert "ZeroDivisionError: a bug on the worker thread" in text and "in work" in text


class _Broken(QObject):
    @Slot()
    def clicked(self) -> None:
        raise KeyError("a bug in a slot")


@pytest.mark.qt_no_exception_capture  # our own hook must see it, as in the application
@pytest.mark.expect_log(r"^bug while an event of the window")
def test_a_bug_in_a_slot_reaches_the_crash_report(qtbot: QtBot,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored afterwards
    install_excepthook()
    button = QPushButton("Save")
    qtbot.addWidget(button)
    broken = _Broken()
    button.clicked.connect(broken.clicked)
    before = reports()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(reports() - before) == 1, timeout=5000)
    text = next(iter(reports() - before)).read_text(encoding="utf-8")
    assert "KeyError: 'a bug in a slot'" in text and "while: an event of the window" in text


@pytest.mark.expect_log(r"^bug while testing the dialog")
def test_the_crash_dialog_says_where_the_report_is(qtbot: QtBot,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui.errors, "HEADLESS", False)
    seen: list[str] = []

    def close_the_box() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen.append(box.text())
        box.button(QMessageBox.StandardButton.Close).click()

    QTimer.singleShot(200, close_the_box)
    show_error(None, RuntimeError("secret internals"), context="testing the dialog")
    path = ui.errors.shown[-1]
    assert path is not None and path.exists()
    assert len(seen) == 1 and str(path) in seen[0] and "secret internals" not in seen[0]
    assert seen[0].startswith("Something went wrong inside the program")


def test_an_expected_error_is_its_own_message_and_writes_no_report() -> None:
    before = reports()
    assert error_message(UserError("no patient 'ZJU-0099'")) == "no patient 'ZJU-0099'"
    assert reports() == before


@pytest.mark.expect_log(r"^bug while saving a form")
def test_a_bug_while_saving_a_form_shows_where_the_report_is_not_the_bug(
        qtbot: QtBot, session: Session, tasks: TaskManager,
        monkeypatch: pytest.MonkeyPatch) -> None:
    patient = make_patient(session)
    visit = make_visit(session, patient, "baseline")
    dialog = FormEditorDialog(session, tasks, FormService(session).load(visit.uid, "qlq_c30"),
                              TODAY)
    dialog.ask_unsaved = lambda: QMessageBox.StandardButton.Discard  # type: ignore
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()  # the Ctrl+S shortcut works in the active window
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.rows["1"].editor)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'uid'")

    monkeypatch.setattr(FormService, "save_answers", broken)
    qtbot.keyClick(dialog.rows["1"].editor, "2")
    qtbot.keyClick(dialog, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "report was saved" in dialog.status.text(), timeout=5000)
    assert "NoneType" not in dialog.status.text()
    assert dialog.dirty  # what was typed is still there to save again


class _Opened(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_help_open_log_folder_opens_the_folder_of_the_log(
        qtbot: QtBot, tmp_path: Path) -> None:
    from PySide6.QtCore import QSettings

    from ui.main_window import MainWindow

    opened = _Opened()
    QDesktopServices.setUrlHandler("file", opened, "open")
    tasks = TaskManager()
    try:
        window = MainWindow(QSettings(str(tmp_path / "prefs.ini"),
                                      QSettings.Format.IniFormat), tasks)
        window.setProperty("headless", True)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        bar = window.menuBar()
        help_action = next(a for a in bar.actions() if a.text() == "&Help")
        qtbot.mouseClick(bar, Qt.MouseButton.LeftButton,
                         pos=bar.actionGeometry(help_action).center())
        menu = help_action.menu()
        qtbot.waitUntil(menu.isVisible, timeout=3000)
        qtbot.keyClick(menu, Qt.Key.Key_L)  # the mnemonic of "Open &log folder"
        qtbot.waitUntil(lambda: bool(opened.urls), timeout=3000)
        assert Path(opened.urls[0].toLocalFile()) == log_dir()
    finally:
        QDesktopServices.unsetUrlHandler("file")
        tasks.shutdown()


def test_a_pasted_name_with_an_invisible_control_character_is_refused_in_the_dialog(
        qtbot: QtBot, session: Session) -> None:
    from ui.patients import NewPatientDialog

    dialog = NewPatientDialog(session, session.studies["RECTAL-LE"], TODAY)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    QApplication.clipboard().setText("Chen\x1bJie")  # copied from a terminal, say
    dialog.name.setFocus()
    qtbot.keyClick(dialog.name, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert dialog.name.text() == "Chen\x1bJie"
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "name contains an invisible control character (U+001B) at "
                    "position 5" in dialog.message.text(), timeout=5000)  # refused on the worker
    assert dialog.patient_uid is None and dialog.name.text() == "Chen\x1bJie"
    assert session.db.execute_sql("SELECT count(*) FROM patient").fetchone()[0] == 0
