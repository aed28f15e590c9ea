"""The Help menu as a user meets it: F1 opens the guide, the shortcut list comes from the real
actions, About lists the licences of the shipped fonts and libraries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu, QPlainTextEdit, QTableWidget, QWidget
from pytestqt.qtbot import QtBot

from ui.help import ShortcutsDialog, TextDialog, shipped_libraries
from ui.main_window import MainWindow
from ui.tasks import TaskManager

# What the offscreen platform cannot do (resize hints, raising a window, grabbing the keyboard
# for a menu) it says as a warning; a real display does all three.
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise",
                                       "grabbing the keyboard")


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path, db_path: Path) -> Iterator[MainWindow]:
    """The main window on a new site database (a file, or on the server run a server
    database: the Help menu is the same on both)."""
    tasks = TaskManager()
    win = MainWindow(QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat), tasks)
    win.setProperty("headless", True)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.ready, timeout=10_000):
        win.open_database(db_path)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win)
    yield win
    tasks.shutdown()
    if win.session is not None:
        win.session.close()


def open_help_menu(qtbot: QtBot, window: MainWindow) -> QMenu:
    QTest.keyClick(window, Qt.Key.Key_H, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu))
    menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu)
    return menu


def dialog_named(window: QWidget, name: str) -> TextDialog:
    found = window.findChild(TextDialog, name)
    assert found is not None, f"no {name} dialog"
    return found


def test_f1_opens_the_user_guide(qtbot: QtBot, window: MainWindow) -> None:
    QTest.keyClick(window, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: window.findChild(TextDialog, "help_guide") is not None
                    and dialog_named(window, "help_guide").isVisible())
    text = dialog_named(window, "help_guide").text.toPlainText()
    assert "user guide" in text
    for area in ("Study (Ctrl+1)", "Patients (Ctrl+2)", "Schedule & calendar (Ctrl+3)",
                 "Reports (Ctrl+4)"):
        assert area in text  # built from the window's areas, with their real shortcuts
    assert "A research nurse’s day" in text
    assert "New patient (Ctrl+Shift+N)" in text
    assert "File > Back up" in text and "gisttracker export package" in text
    assert "study identifier" in text  # reports are pseudonymous


def test_f1_reaches_the_guide_from_another_window(qtbot: QtBot, window: MainWindow) -> None:
    other = QWidget()
    qtbot.addWidget(other)
    other.show()
    qtbot.waitExposed(other)
    other.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is other)
    QTest.keyClick(other, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: window.findChild(TextDialog, "help_guide") is not None)
    assert dialog_named(window, "help_guide").isVisible()


def test_about_lists_the_licences_and_opens_a_licence_text(qtbot: QtBot,
                                                           window: MainWindow) -> None:
    menu = open_help_menu(qtbot, window)
    QTest.keyClick(menu, Qt.Key.Key_A)  # &About GIST Study Tracker
    qtbot.waitUntil(lambda: window.findChild(TextDialog, "help_about") is not None)
    about = dialog_named(window, "help_about")
    text = about.text.toPlainText()
    assert "GIST Study Tracker 0.1.0" in text
    assert window.session is not None and str(window.session.path) in text
    assert "DejaVu Sans" in text and "Bitstream Vera licence" in text
    assert "WenQuanYi Zen Hei" in text and "GPL-2.0 with font embedding exception" in text
    cells = text.splitlines()  # a table reads as one cell per line: name, version, licence
    for library, licence in (("Python", "PSF-2.0"), ("Qt", "LGPL-3.0-only"),
                             ("PySide6-Essentials", "LGPL-3.0-only"), ("reportlab", "BSD"),
                             ("peewee", "MIT"), ("platformdirs", "MIT")):
        row = next(i for i, cell in enumerate(cells) if cell.replace("_", "-") == library)
        assert licence in cells[row + 2], cells[row:row + 3]
    assert "pytest" not in cells and "mypy" not in cells  # test tools are not shipped

    # The first link is DejaVu's licence: Tab to it, Enter opens the text.
    QTest.keyClick(about.text, Qt.Key.Key_Tab)
    QTest.keyClick(about.text, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: about.findChild(TextDialog, "help_licence") is not None)
    licence = dialog_named(about, "help_licence").text
    assert isinstance(licence, QPlainTextEdit)
    assert "Bitstream" in licence.toPlainText()


def test_the_shortcut_list_is_read_from_the_actions(qtbot: QtBot, window: MainWindow) -> None:
    # A command added to a menu later appears in the list with no help text to update.
    added = QAction("&Export package…", window)
    added.setShortcut(QKeySequence("Ctrl+Shift+E"))
    file_menu = window.menuBar().actions()[0].menu()
    assert isinstance(file_menu, QMenu)
    file_menu.addAction(added)

    menu = open_help_menu(qtbot, window)
    QTest.keyClick(menu, Qt.Key.Key_K)  # &Keyboard shortcuts
    qtbot.waitUntil(lambda: window.findChild(ShortcutsDialog) is not None)
    dialog = window.findChild(ShortcutsDialog)
    assert dialog is not None
    table = dialog.findChild(QTableWidget)
    assert table is not None
    rows = {tuple(table.item(r, c).text() for c in range(3)) for r in range(table.rowCount())}
    assert ("File", "New database…", "Ctrl+N") in rows
    assert ("Go", "Patients", "Ctrl+2") in rows
    assert ("Go", "Choose study", "Ctrl+L") in rows
    assert ("Help", "User guide", "F1") in rows
    assert ("File", "Export package…", "Ctrl+Shift+E") in rows
    assert not any(row[1] == "About GIST Study Tracker" for row in rows)  # F1 is help now


def test_shipped_libraries_follow_the_requirements() -> None:
    names = {lib.name.lower().replace("_", "-") for lib in shipped_libraries()}
    assert {"pyside6-essentials", "shiboken6", "peewee", "reportlab", "python-dateutil",
            "platformdirs", "icalendar", "pillow"} <= names  # pillow: reportlab's
    assert not {"pytest", "mypy", "ruff", "pyinstaller", "gisttracker"} & names
