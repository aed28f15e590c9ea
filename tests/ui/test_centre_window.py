"""The coordinating centre's entries of the File menu on the centre's database — a file, or
on the server run of the suite a PostgreSQL database (issue 16): a site registered and its
package imported, typed and clicked like a person, checked in the centre's database."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from gisttracker.exchange.keys import public_key_path
from gisttracker.services.exchange.packages import make_package
from gisttracker.session import open_session
from tests.core.exchange_helpers import make_site, open_site
from tests.ui.test_exchange_ui import _menu_action
from ui.main_window import MainWindow
from ui.tasks import TaskManager

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def _type(qtbot: QtBot, edit, text: str) -> None:  # type: ignore[no-untyped-def]
    edit.setFocus()
    QTest.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(edit, text)


def test_a_site_is_registered_and_its_package_imported_in_the_window(
        qtbot: QtBot, tmp_path: Path, db_path: Path, engine: str) -> None:
    site = make_site(tmp_path / "zju" / "site.db", "ZJU", patients=12, seed=4)
    session = open_site(site, "ZJU")
    try:
        package = make_package(session, tmp_path / "zju-1.zip").path
    finally:
        session.close()
    open_site(db_path, "CENTRE").close()
    tasks = TaskManager()
    window = MainWindow(QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat),
                        tasks)
    window.setProperty("headless", True)
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.ready, timeout=20_000):
            window.open_database(db_path)
        for name, dialog_name in (("Register a site", "RegisterSiteDialog"),
                                  ("Import site packages", "ImportPackagesDialog")):
            action = _menu_action(window, "Coordinating centre", name)
            assert action.isEnabled(), (engine, name)
            action.trigger()
            dialog = window.exchange.dialogs[dialog_name]
            qtbot.waitExposed(dialog)
            if dialog_name == "RegisterSiteDialog":
                _type(qtbot, dialog.code, "ZJU")  # type: ignore[attr-defined]
                _type(qtbot, dialog.path,  # type: ignore[attr-defined]
                      str(public_key_path(site, "ZJU")))
            else:
                _type(qtbot, dialog.path, str(package))  # type: ignore[attr-defined]
            with qtbot.waitSignal(dialog.finished_job, timeout=60_000):
                qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
        assert "12 records added" not in dialog.status.text()
        assert "package ZJU #1" in dialog.status.text()
    finally:
        tasks.shutdown()
        if window.session is not None:
            window.session.close()
    centre = open_session(db_path, user="coordinator")
    try:
        patients = centre.db.execute_sql(
            "SELECT count(*) FROM patient WHERE site_code = ?", ("ZJU",)).fetchone()[0]
        sites = centre.db.execute_sql("SELECT site_code FROM exchange_site").fetchall()
    finally:
        centre.close()
    assert int(patients) == 12
    assert [tuple(r) for r in sites] == [("ZJU",)]
