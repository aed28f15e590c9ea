"""The main window: five studies, switching study, recent files, remembered geometry."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from gisttracker.store.urls import ServerLocation
from ui.main_window import MainWindow
from ui.tasks import TaskManager


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot: QtBot, settings: QSettings, db_path: Path):  # type: ignore[no-untyped-def]
    """The main window on a new site database (a file, or a server database on the server
    run: the tests about files themselves say so)."""
    tasks = TaskManager()
    win = MainWindow(settings, tasks)
    win.setProperty("headless", True)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.ready, timeout=10_000):
        win.open_database(db_path)
    yield win
    tasks.shutdown()
    if win.session is not None:
        win.session.close()


def test_window_lists_five_studies_and_switching_updates_summary(window: MainWindow) -> None:
    box = window.study_box
    keys = [box.itemData(i) for i in range(box.count())]
    assert sorted(keys) == ["NCT03862768", "NCT04933669", "NCT06038552", "PREOP-DURATION",
                            "RECTAL-LE"]
    summary = window.pages["summary"].browser  # type: ignore[attr-defined]
    box.setCurrentIndex(keys.index("NCT03862768"))
    text = summary.toPlainText()
    assert "Shanghai Zhongshan Hospital" in text
    assert "Imatinib 600 mg/d" in text and "Sunitinib 37.5 mg/d" in text
    assert "Age 18–75" in text or "18 years old ≤ age ≤ 75" in text
    assert "Month 12" in text and "Progression-free survival" in text

    box.setCurrentIndex(keys.index("NCT04933669"))
    text = summary.toPlainText()
    assert "First Affiliated Hospital of Zhejiang University" in text
    assert "Shanghai Zhongshan" not in text
    assert "122" in text


def test_recent_files_and_geometry_are_remembered(window: MainWindow, settings: QSettings,
                                                  qtbot: QtBot, tmp_path: Path,
                                                  db_path: Path) -> None:
    second = tmp_path / "other.db"
    with qtbot.waitSignal(window.ready, timeout=10_000):
        window.open_database(second)
    # The first site is a file, or on the server run the server database's URL (without
    # any password).
    first = str(db_path) if isinstance(db_path, ServerLocation) else str(db_path.resolve())
    assert window.recent_files()[:2] == [str(second.resolve()), first]
    assert window.recent_menu.actions()[0].text().endswith("other.db")
    window.resize(770, 530)
    window.close()
    reopened = MainWindow(settings, TaskManager())
    qtbot.addWidget(reopened)
    assert (reopened.width(), reopened.height()) == (770, 530)


@pytest.mark.expect_log(r"database problem")
def test_refused_database_keeps_the_open_one(window: MainWindow, qtbot: QtBot,
                                             tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database" * 200)
    current = window.session
    with qtbot.waitSignal(window.failed, timeout=10_000) as blocker:
        window.open_database(bad)
    assert "not a readable database" in blocker.args[0]
    assert window.session is current
    assert window.study_box.count() == 5
