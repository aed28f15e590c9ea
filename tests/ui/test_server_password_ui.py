"""The window's password prompt after the server refuses a login (issue 16), against the real
throw-away server of the PostgreSQL test run (skipped on the SQLite run, which has none).

A role that must give a password (scripts/pg-cluster makes members of
``gist_password_login`` do so over TCP) owns a site. The window is started on the site's URL
without the password, as ``--db postgresql://…`` would: the server refuses, the window asks,
the person types the password and presses Enter, signs in, and sees the patient list. A
wrong password is said so and asked again; Cancel leaves quietly. The password never lands
in the settings file, the recent-files list, the window title or the log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from gisttracker.services.accounts import AccountService
from gisttracker.services.patients import PatientService
from gisttracker.session import open_session
from gisttracker.store.urls import ServerLocation
from tests.core.accounts_helpers import PASSWORD as ACCOUNT_PASSWORD
from tests.core.accounts_helpers import make_people
from tests.core.patients_helpers import new_patient
from tests.helpers import admin_sql, drop_server_database, server_url
from ui.main_window import MainWindow
from ui.server_dialog import OpenServerDialog
from ui.tasks import TaskManager

# The offscreen platform says so whenever a top-level window is shown; and Enter typed in a
# password field is passed on to its dialog (its default button), as for a person, which
# QTest reports as the field not taking the key.
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints",
                                       "Keyboard event not accepted by receiving widget")

SERVER_PASSWORD = "Gx7-server-pw"
WRONG_PASSWORD = "Wq2-not-it"


@pytest.fixture
def password_site(server_db: str) -> Iterator[tuple[str, str]]:
    """(URL without password, role) of a site on the test server owned by a role that must
    give its password; one patient in each study, and the accounts of
    tests.core.accounts_helpers."""
    role = f"gist_pw_{os.getpid()}_{server_db.rsplit('_', 1)[-1]}"
    admin_sql("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
              "'gist_password_login') THEN CREATE ROLE gist_password_login NOLOGIN; END IF; "
              "END $$",
              f"CREATE ROLE {role} LOGIN PASSWORD '{SERVER_PASSWORD}' IN ROLE "
              "gist_password_login",
              f"ALTER DATABASE {server_db} OWNER TO {role}")
    url = server_url(server_db, user=role)
    try:
        import psycopg

        try:
            psycopg.connect(url, connect_timeout=5).close()
        except psycopg.OperationalError as exc:
            assert "password" in str(exc)
        else:
            pytest.fail("the test server let a member of gist_password_login in without a "
                        "password: start it with scripts/pg-cluster, which asks for one")
        # The site, built as that role (so it owns the tables), with the password.
        site = open_session(ServerLocation(url.replace(f"{role}@",
                                                       f"{role}:{SERVER_PASSWORD}@")))
        try:
            make_people(site)
            AccountService(site.tracker).sign_in("nora", ACCOUNT_PASSWORD)
            for key in site.studies:
                new_patient(PatientService(site), key)
        finally:
            site.close()
        yield url, role
    finally:
        drop_server_database(server_db)
        admin_sql(f"DROP ROLE IF EXISTS {role}")


class _Everything(logging.Handler):
    """Every log record of the run, at every level, as text."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_text() -> Iterator[_Everything]:
    handler = _Everything()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _prompt(qtbot: QtBot, window: MainWindow, before: object = None) -> OpenServerDialog:
    """The password prompt the window opens (a new one, not ``before``)."""
    qtbot.waitUntil(lambda: isinstance(window.server_dialog, OpenServerDialog)
                    and window.server_dialog is not before
                    and window.server_dialog.isVisible(), timeout=20_000)
    dialog = window.server_dialog
    assert isinstance(dialog, OpenServerDialog)
    return dialog


def _type_password(qtbot: QtBot, dialog: OpenServerDialog, password: str) -> None:
    """The prompt has the password field focused: type, Enter."""
    qtbot.waitUntil(lambda: dialog.password.hasFocus(), timeout=5000)
    qtbot.keyClicks(dialog.password, password)
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)


@pytest.mark.expect_log(r"password authentication failed|no password supplied")
def test_the_window_asks_for_the_server_password_and_never_keeps_it(
        qtbot: QtBot, password_site: tuple[str, str], tmp_path: Path,
        log_text: _Everything) -> None:
    url, role = password_site
    settings = QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat)
    tasks = TaskManager()
    window = MainWindow(settings, tasks)
    qtbot.addWidget(window)
    window.show()
    try:
        window.open_database(ServerLocation(url))  # as --db URL, no password
        first = _prompt(qtbot, window)
        # The prompt is filled from the URL: only the password is missing. The URL said no
        # sslmode, which is libpq's "prefer": the prompt keeps that.
        assert (first.user.text(), first.database.text()) == (role, url.rsplit("/", 1)[1])
        assert first.ssl.currentData() == "prefer"
        assert first.problem.text() == f"The server needs a password for {role}."

        _type_password(qtbot, first, WRONG_PASSWORD)
        again = _prompt(qtbot, window, before=first)
        assert again.problem.isVisible()
        assert again.problem.text() == (f"The server refused the password for {role}. "
                                        "Type it again.")
        assert again.password.text() == ""
        assert window.session is None

        _type_password(qtbot, again, SERVER_PASSWORD)
        # Connected: the site has accounts, so its sign-in comes next.
        qtbot.waitUntil(lambda: window.sign_in_dialog is not None
                        and window.sign_in_dialog.isVisible(), timeout=20_000)
        sign_in = window.sign_in_dialog
        qtbot.keyClicks(sign_in.name, "nora")  # type: ignore[union-attr]
        qtbot.keyClicks(sign_in.password, ACCOUNT_PASSWORD)  # type: ignore[union-attr]
        with qtbot.waitSignal(window.ready, timeout=20_000):
            qtbot.keyClick(sign_in.password, Qt.Key.Key_Return)  # type: ignore[union-attr]
        session = window.session
        assert session is not None and isinstance(session.path, ServerLocation)
        model = window.pages["patients"].model  # type: ignore[attr-defined]
        qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=10_000)
        assert window.recent_files()[0] == url + "?sslmode=prefer"
        shown = [window.windowTitle(), window.statusBar().currentMessage(), str(session.path),
                 str(session.db.database)]
        window.close()
        settings.sync()
        kept = (tmp_path / "prefs.ini").read_text()
        for password in (SERVER_PASSWORD, WRONG_PASSWORD):
            assert password not in kept
            assert not any(password in text for text in shown)
            assert not any(password in line for line in log_text.lines)
        assert any(role in line for line in log_text.lines)  # the log was really read
    finally:
        tasks.shutdown()
        if window.session is not None:
            window.session.close()


@pytest.mark.expect_log(r"no password supplied")
def test_cancelling_the_password_prompt_leaves_quietly(
        qtbot: QtBot, password_site: tuple[str, str], tmp_path: Path) -> None:
    url, _role = password_site
    settings = QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat)
    tasks = TaskManager()
    window = MainWindow(settings, tasks)
    qtbot.addWidget(window)
    window.show()
    crash_reports = Path(os.environ["GISTTRACKER_LOG_DIR"])
    before = set(crash_reports.rglob("*"))
    try:
        window.open_database(ServerLocation(url))
        dialog = _prompt(qtbot, window)
        buttons = dialog.findChild(QDialogButtonBox)
        assert buttons is not None
        qtbot.mouseClick(buttons.button(QDialogButtonBox.StandardButton.Cancel),
                         Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
        qtbot.wait(200)
        assert window.session is None and window.isVisible()
        assert window.statusBar().currentMessage() == f"{url} needs a password"
        assert window.recent_files() == []
        # No crash report was written (a traceback would have been).
        assert {p for p in crash_reports.rglob("*") if p.suffix != ".log"} <= before
    finally:
        tasks.shutdown()
        if window.session is not None:
            window.session.close()
