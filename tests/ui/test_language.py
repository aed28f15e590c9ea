"""The window in Simplified Chinese: chosen from the person's setting, the site's or the
system's; Qt's own buttons and the calendar in Chinese too; the choice made in the menu."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QLocale, QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QApplication,
    QDialogButtonBox,
    QFileDialog,
    QFileSystemModel,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
)
from pytestqt.qtbot import QtBot

from gisttracker import i18n
from gisttracker.services.settings import SettingsService
from gisttracker.session import open_session
from ui import language
from ui.main_window import MainWindow
from ui.tasks import TaskManager

# The offscreen platform cannot raise windows or grab the keyboard for a menu; harmless.
pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints",
                                       "does not support raise",
                                       "does not support grabbing the keyboard")


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat)


@pytest.fixture(autouse=True)
def _english_qt_after() -> Iterator[None]:
    yield
    language.install_qt_translations("en")
    QLocale.setDefault(QLocale(QLocale.Language.English, QLocale.Country.UnitedStates))


def _site(path: Path, site_language: str | None) -> Path:
    """The site database at ``path`` (``db_path``: a file, or a server database on the server
    run) with the site's language set (None: never set)."""
    session = open_session(path, user="nurse")
    if site_language:
        SettingsService(session.tracker).set("language", site_language)
    session.close()
    return path


def test_a_persons_choice_beats_the_sites(qapp: QApplication, settings: QSettings,
                                          db_path: Path) -> None:
    db = _site(db_path, "zh_CN")
    assert language.start_language(settings, db) == "zh_CN"  # the site's default
    settings.setValue("language", "en")
    assert language.start_language(settings, db) == "en"     # the nurse's own choice
    settings.setValue("language", "system")
    assert language.start_language(settings, db) == "zh_CN"


def test_the_command_lines_language_beats_every_remembered_choice(
        qapp: QApplication, settings: QSettings, db_path: Path) -> None:
    """`gisttracker --language zh_CN` opened an English window for a nurse whose own
    choice was English: the option was read for the command line only."""
    db = _site(db_path, "en")
    settings.setValue("language", "en")
    assert language.start_language(settings, db, "zh_CN") == "zh_CN"
    assert i18n._("Patients") == "患者"
    assert settings.value("language") == "en"  # for this start only: nothing remembered


def test_qt_buttons_and_month_names_are_chinese(qapp: QApplication, settings: QSettings,
                                                db_path: Path, qtbot: QtBot) -> None:
    language.start_language(settings, _site(db_path, "zh_CN"))
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                           | QDialogButtonBox.StandardButton.Cancel)
    qtbot.addWidget(box)
    texts = {b.text().replace("&", "") for b in box.buttons()}
    assert any("取消" in t for t in texts), texts  # Qt's own catalogue (qtbase_zh_CN)
    assert QLocale().monthName(11) == "十一月"
    assert i18n._("Patients") == "患者"


def test_the_window_is_chinese_and_the_menu_remembers_a_new_choice(
        qtbot: QtBot, settings: QSettings, db_path: Path) -> None:
    db = _site(db_path, None)
    settings.setValue("language", "zh_CN")
    assert language.start_language(settings, db) == "zh_CN"
    tasks = TaskManager()
    window = MainWindow(settings, tasks)
    window.setProperty("headless", True)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.ready, timeout=20_000):
        window.open_database(db)
    assert window.nav.item(1).text() == "患者"
    assert window.menuBar().actions()[0].text() == "文件(&F)"
    summary = window.pages["summary"].browser  # type: ignore[attr-defined]
    assert "纳入标准" in summary.toPlainText()

    # File → Language → English, from the keyboard as a person would.
    file_menu = window.menuBar().actions()[0].menu()
    assert isinstance(file_menu, QMenu)
    language_menu = next(a.menu() for a in file_menu.actions()
                         if a.menu() is not None and a.text() == "语言(&L)")
    english = next(a for a in language_menu.actions() if a.text() == "English")
    assert not english.isChecked()
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: file_menu.isVisible(), timeout=5000)
    qtbot.keyClick(file_menu, Qt.Key.Key_L)
    qtbot.waitUntil(lambda: language_menu.isVisible(), timeout=5000)
    language_menu.setActiveAction(english)
    qtbot.keyClick(language_menu, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: settings.value("language") == "en", timeout=5000)
    assert english.isChecked()
    tasks.shutdown()
    if window.session is not None:
        window.session.close()


def test_the_file_dialog_is_chinese_where_qts_catalogue_is_not(
        qapp: QApplication, settings: QSettings, tmp_path: Path, db_path: Path,
        qtbot: QtBot) -> None:
    """qtbase_zh_CN predates Qt 6's file dialog: "Look in:", "Files of type:", the Type of a
    folder and the "file not found" warning were English in a Chinese window."""
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "backups").mkdir()
    (folder / "site.db").write_bytes(b"")
    language.start_language(settings, _site(db_path, "zh_CN"))
    try:
        dialog = QFileDialog(None, i18n._("Restore from backup"), str(folder),
                             i18n._("Backups (*.db);;All files (*)"))
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        qtbot.addWidget(dialog)
        dialog.show()
        labels = {label.objectName(): label.text() for label in dialog.findChildren(QLabel)}
        assert labels["lookInLabel"] == "查找范围(&L)："          # ours (Qt's has none)
        assert labels["fileTypeLabel"] == "文件类型(&T)："        # ours
        assert labels["fileNameLabel"] == "文件名称(&N)："        # Qt's own, still first
        model = dialog.findChild(QFileSystemModel)
        assert model is not None
        qtbot.waitUntil(lambda: model.rowCount(model.index(str(folder))) == 2)
        assert model.type(model.index(str(folder / "backups"))) == "文件夹"
        # What neither catalogue knows stays Qt's English, never blank.
        assert QCoreApplication.translate("QFileDialog", "No such text") == "No such text"

        # A person types a file that is not there and presses Enter: Qt warns, in Chinese
        # (Qt's own catalogue has this one).
        warnings: list[str] = []

        def read_warning() -> None:
            box = next(w for w in QApplication.topLevelWidgets()
                       if isinstance(w, QMessageBox) and w.isVisible())
            warnings.append(box.text())
            box.close()

        name = dialog.findChild(QLineEdit, "fileNameEdit")
        assert name is not None
        qtbot.keyClicks(name, "nothere.db")
        QTimer.singleShot(200, read_warning)
        QTest.keyClick(name, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: bool(warnings))
        assert warnings == ["nothere.db\n文件未找到。\n请检查指定的文件名是否正确。"]
    finally:
        i18n.install(None)
