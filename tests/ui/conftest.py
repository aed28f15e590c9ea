"""Fixtures of the window tests: the main window on a new site database, its clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from tests.core.patients_helpers import TODAY
from ui.main_window import MainWindow
from ui.tasks import TaskManager


class Clock:
    """A clock the test moves on: the window reads it whenever it needs the date."""

    def __init__(self, day: date) -> None:
        self.day = day

    def __call__(self) -> date:
        return self.day


@pytest.fixture(autouse=True)
def _no_answer_outlives_its_test() -> Iterator[None]:
    yield
    from tests.ui.helpers import cancel_pending_answers

    cancel_pending_answers()


@pytest.fixture
def clock() -> Clock:
    return Clock(TODAY)


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path, db_path: Path, clock: Clock) -> Iterator[MainWindow]:
    """The main window on a new site database (headless: no blocking message boxes): a new
    file, or on the server run a new database on the test server (``db_path``), so the
    nurse's path through the window runs on both engines."""
    tasks = TaskManager()
    settings = QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings, tasks, today=clock)
    win.setProperty("headless", True)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.ready, timeout=10_000):
        win.open_database(db_path)
    yield win
    if win.context is not None:
        win.context.close()
    tasks.shutdown()
    if win.session is not None:
        win.session.close()


def on_worker(qtbot: QtBot, window: MainWindow, fn):  # type: ignore[no-untyped-def]
    """Run ``fn`` on the window's worker (as the window itself writes) and wait for it."""
    out: list[object] = []
    errors: list[BaseException] = []
    window.tasks.run(fn, out.append, errors.append)
    qtbot.waitUntil(lambda: bool(out or errors), timeout=10_000)
    if errors:
        raise errors[0]
    return out[0]
