"""The window on a server (issue 16): File > Open server… typed like a person, the password
kept out of everything saved; and another workstation's save shown within seconds (on a
file too: another program writing it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from gisttracker.services.patients import PatientService
from gisttracker.session import open_session
from gisttracker.store.server import ServerDatabase
from gisttracker.store.urls import ServerLocation
from tests.core.patients_helpers import new_patient
from tests.helpers import server_url
from ui.main_window import MainWindow
from ui.tasks import TaskManager


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat)


@pytest.mark.qt_log_ignore("propagateSizeHints")  # the offscreen platform, on show()
def test_open_server_is_typed_and_the_password_is_never_saved(
        qtbot: QtBot, settings: QSettings, server_db: str, tmp_path: Path) -> None:
    tasks = TaskManager()
    window = MainWindow(settings, tasks)
    window.setProperty("headless", True)
    qtbot.addWidget(window)
    try:
        window.choose_server()
        dialog = window.server_dialog
        assert dialog is not None
        url = server_url(server_db)  # postgresql://postgres@127.0.0.1:PORT/NAME
        host_port = url.split("@", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        qtbot.keyClicks(dialog.host, host)  # type: ignore[attr-defined]
        port_box = dialog.port  # type: ignore[attr-defined]
        port_box.selectAll()
        qtbot.keyClicks(port_box, port)
        qtbot.keyClicks(dialog.database, server_db)  # type: ignore[attr-defined]
        qtbot.keyClicks(dialog.user, "postgres")  # type: ignore[attr-defined]
        qtbot.keyClicks(dialog.password, "s3cret-Pw")  # type: ignore[attr-defined]
        ssl = dialog.ssl  # type: ignore[attr-defined]
        ssl.setFocus()
        qtbot.keyClick(ssl, Qt.Key.Key_End)  # the last choice: not encrypted (local test)
        assert ssl.currentData() == "disable"
        buttons = dialog.findChild(QDialogButtonBox)
        with qtbot.waitSignal(window.ready, timeout=20_000):
            qtbot.mouseClick(buttons.button(QDialogButtonBox.StandardButton.Open),
                             Qt.MouseButton.LeftButton)
        session = window.session
        assert session is not None and isinstance(session.path, ServerLocation)
        assert isinstance(session.db, ServerDatabase)
        assert window.recent_files()[0] == f"{url}?sslmode=disable"
        assert server_db in window.windowTitle() and "s3cret" not in window.windowTitle()
        window.close()
        settings.sync()
        assert "s3cret" not in (tmp_path / "prefs.ini").read_text()
        assert "s3cret" not in str(session.path) and "s3cret" not in str(session.db.database)
    finally:
        tasks.shutdown()
        if window.session is not None:
            window.session.close()


def test_another_workstations_save_shows_within_seconds(
        qtbot: QtBot, settings: QSettings, db_path: Path) -> None:
    tasks = TaskManager()
    window = MainWindow(settings, tasks)
    window.setProperty("headless", True)
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.ready, timeout=20_000):
            window.open_database(db_path)
        study = window.current_study()
        assert study is not None
        model = window.pages["patients"].model  # type: ignore[attr-defined]
        qtbot.waitUntil(lambda: model.rowCount() == 0, timeout=10_000)
        other = open_session(db_path, user="li.wei")  # the second workstation
        try:
            new_patient(PatientService(other), study.key)
        finally:
            other.close()
        # The watch looks every 3 s: the list shows the new patient without anyone asking.
        qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=10_000)
    finally:
        tasks.shutdown()
        if window.session is not None:
            window.session.close()
