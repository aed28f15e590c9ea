"""The window told plainly why a server database did not open (issue 16): a server that is
down, a database written by a newer release, one that is not ours, and one the
application's role may not upgrade — each the message the person reads, no crash report,
and nothing changed on the server."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from gisttracker.store.migrations import LATEST, migrate
from gisttracker.store.server import ServerDatabase, grant_statements
from gisttracker.store.urls import ServerLocation
from tests.helpers import admin_sql, server_url
from ui.main_window import MainWindow
from ui.tasks import TaskManager


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    tasks = TaskManager()
    settings = QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings, tasks)
    win.setProperty("headless", True)
    qtbot.addWidget(win)
    yield win
    tasks.shutdown()
    if win.session is not None:
        win.session.close()


def _refused(qtbot: QtBot, window: MainWindow, url: str) -> str:
    logs = Path(os.environ["GISTTRACKER_LOG_DIR"])
    before = set(logs.glob("crash-*"))
    with qtbot.waitSignal(window.failed, timeout=30_000) as said:
        window.open_database(ServerLocation(url))
    assert window.session is None
    assert set(logs.glob("crash-*")) == before  # a message, not a bug
    return str(said.args[0])


def test_why_a_server_database_did_not_open_is_said_in_the_window(
        qtbot: QtBot, window: MainWindow, server_db: str) -> None:
    # A server that is down (nothing listens on the port).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    down = server_url(server_db).rsplit(":", 1)[0] + f":{free}/{server_db}"
    text = _refused(qtbot, window, down)
    assert text.startswith(f"cannot connect to {down}") and "refused" in text, text

    # A database that is not ours.
    admin_sql("CREATE TABLE customers (id int)", database=server_db)
    assert "not a GIST Study Tracker database" in _refused(qtbot, window,
                                                            server_url(server_db))
    admin_sql("DROP TABLE customers", database=server_db)

    # The application's role before the owner has upgraded the database.
    role = f"{server_db}_app"
    admin_sql(f"CREATE ROLE {role} LOGIN", f"REVOKE ALL ON DATABASE {server_db} FROM PUBLIC")
    try:
        owner = ServerDatabase(server_url(server_db))
        owner.connect()
        migrate(owner, target=LATEST - 1)
        for statement in grant_statements(owner, role):
            owner.execute_sql(statement)
        owner.close()
        text = _refused(qtbot, window, server_url(server_db, role))
        assert f"the role {role} may not upgrade it" in text
        with psycopg.connect(server_url(server_db)) as conn:
            assert conn.execute("SELECT max(version) FROM schema_migration").fetchone() == (
                LATEST - 1,)

        # A database written by a newer release (the owner's, so only the version speaks).
        admin_sql("INSERT INTO schema_migration (version, name, applied_at) "
                  f"VALUES ({LATEST + 5}, 'm_future', 'now')", database=server_db)
        assert "written by a newer version" in _refused(qtbot, window, server_url(server_db))
        with psycopg.connect(server_url(server_db)) as conn:
            assert conn.execute("SELECT max(version) FROM schema_migration").fetchone() == (
                LATEST + 5,)
    finally:
        admin_sql(f"DROP DATABASE IF EXISTS {server_db} WITH (FORCE)", f"DROP ROLE {role}")


@pytest.mark.expect_log(r"could not read the data version", r"DatabaseUnavailableError")
def test_an_outage_under_an_open_window_is_one_warning_and_then_it_catches_up(
        qtbot: QtBot, window: MainWindow, server_db: str,
        caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from gisttracker.services.patients import PatientService
    from gisttracker.session import open_session
    from tests.core.patients_helpers import new_patient

    caplog.set_level(logging.INFO, logger="ui")
    location = ServerLocation(server_url(server_db))
    with qtbot.waitSignal(window.ready, timeout=30_000):
        window.open_database(location)
    assert window.context is not None
    window.context.start_watching(200)  # look every 0.2 s instead of 3 s
    study = window.current_study()
    assert study is not None
    model = window.pages["patients"].model  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: model.rowCount() == 0, timeout=10_000)
    # The server goes away under the window (its connection dropped, no new one let in).
    admin_sql(f"ALTER DATABASE {server_db} ALLOW_CONNECTIONS false",
              "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
              f"WHERE datname = '{server_db}' AND pid <> pg_backend_pid()")
    qtbot.wait(2_000)  # about ten looks, each failing
    warnings = [r for r in caplog.records if "could not read the data version" in r.message]
    assert len(warnings) == 1, [r.message for r in warnings]
    # Back; meanwhile another workstation saved: the window shows it, and says it is back.
    admin_sql(f"ALTER DATABASE {server_db} ALLOW_CONNECTIONS true")
    other = open_session(location, user="li.wei")
    try:
        new_patient(PatientService(other), study.key)
    finally:
        other.close()
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=15_000)
    assert any("can be read again" in r.message for r in caplog.records)
