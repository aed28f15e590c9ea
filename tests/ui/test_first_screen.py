"""Start-up: the window opens on the patient list, says it is ready only once the list's
first rows are there, builds the other areas when they are first shown, remembers the last
area, and ``--startup-check`` counts from the start of the process."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot

from gisttracker.demo import generate
from gisttracker.session import open_session
from tests.core.reports_fixtures import TODAY
from tests.helpers import site_copy
from ui.areas import AREAS
from ui.exchange_menu import CHECK_AFTER_MS
from ui.main_window import MainWindow
from ui.patients import PatientsPage
from ui.tasks import TaskManager

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-patient demo site file, built once for the module."""
    path = tmp_path_factory.mktemp("first-screen") / "site.db"
    session = open_session(path, user="nurse")
    generate(session, patients=40, seed=2, today=TODAY)
    session.close()
    return path


@pytest.fixture
def site(tmp_path: Path, demo_site: Path) -> Path:
    """A copy of the demo site on the engine under test (tests marked ``engines``)."""
    return site_copy(demo_site, tmp_path / "site")


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat)


def _window(qtbot: QtBot, settings: QSettings) -> tuple[MainWindow, TaskManager]:
    tasks = TaskManager()
    window = MainWindow(settings, tasks)
    window.setProperty("headless", True)
    qtbot.addWidget(window)
    window.show()
    return window, tasks


def _click_area(qtbot: QtBot, window: MainWindow, key: str) -> None:
    item = window.nav.item([a.key for a in AREAS].index(key))
    qtbot.mouseClick(window.nav.viewport(), Qt.MouseButton.LeftButton,
                     pos=window.nav.visualItemRect(item).center())


def _close(window: MainWindow, tasks: TaskManager) -> None:
    tasks.shutdown()
    if window.session is not None:
        window.session.close()


@pytest.mark.engines
def test_first_screen_is_the_patient_list_and_ready_waits_for_its_rows(
        qtbot: QtBot, settings: QSettings, site: Path) -> None:
    window, tasks = _window(qtbot, settings)
    page = window.current_page()
    assert isinstance(page, PatientsPage)
    rows_at_ready: list[int] = []
    window.ready.connect(lambda: rows_at_ready.append(page.model.rowCount()))
    with qtbot.waitSignal(window.ready, timeout=20_000):
        window.open_database(site)
    study = window.current_study()
    assert study is not None
    expected = window.session.db.execute_sql(  # type: ignore[union-attr]
        "SELECT count(*) FROM patient WHERE study_key = ?", [study.key]).fetchone()[0]
    assert rows_at_ready == [expected] and expected > 0
    assert page.model.data(page.model.index(0, 0)) != "…"  # the row itself is there
    _close(window, tasks)


@pytest.mark.engines
def test_the_first_screen_reads_the_list_once(qtbot: QtBot, settings: QSettings, site: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # Opening a site gives the list its source, then its study: the list of every study,
    # asked for first, was read and dropped, and the study's rows waited behind it.
    from gisttracker.services.patient_list import PatientFilter, PatientList

    counted: list[PatientFilter] = []
    count = PatientList.count

    def counting(service: PatientList, flt: PatientFilter) -> int:
        counted.append(flt)
        return count(service, flt)

    monkeypatch.setattr(PatientList, "count", counting)
    window, tasks = _window(qtbot, settings)
    with qtbot.waitSignal(window.ready, timeout=20_000):
        window.open_database(site)
    study = window.current_study()
    assert study is not None
    assert [f.study_key for f in counted] == [study.key]
    # Typing a search still reads once more, after the pause.
    page = window.current_page()
    assert isinstance(page, PatientsPage)
    with qtbot.waitSignal(page.model.loaded, timeout=20_000):
        qtbot.keyClicks(page.search, "ZJU")
    assert [f.text for f in counted] == ["", "ZJU"]
    _close(window, tasks)


@pytest.mark.engines
def test_other_areas_are_built_when_first_shown(qtbot: QtBot, settings: QSettings,
                                               site: Path) -> None:
    window, tasks = _window(qtbot, settings)
    with qtbot.waitSignal(window.ready, timeout=20_000):
        window.open_database(site)
    assert set(window.pages) == {"patients"}  # start-up built the first screen only
    _click_area(qtbot, window, "reports")
    reports = window.pages["reports"]
    assert window.stack.currentWidget() is reports
    assert reports.session is window.session and reports.study is window.current_study()
    _close(window, tasks)


@pytest.mark.sqlite_only("the whole-file page check is for a SQLite file; a server site has none")
def test_a_window_closed_before_its_file_check_starts_never_starts_it(
        qtbot: QtBot, settings: QSettings, site: Path) -> None:
    # The whole-file check starts a moment after the first screen. A window closed in that
    # moment started it anyway, and the check's thread then told a deleted window its result
    # (a bug report: "Signal source has been deleted").
    window, tasks = _window(qtbot, settings)
    with qtbot.waitSignal(window.ready, timeout=20_000):
        window.open_database(site)
    window.close()
    qtbot.wait(CHECK_AFTER_MS * 3)
    assert window.exchange._checks == []  # none started after the close
    assert not [t for t in threading.enumerate() if t.name == "gisttracker-check"]
    _close(window, tasks)


def test_the_last_area_used_is_where_the_next_start_opens(qtbot: QtBot, settings: QSettings,
                                                          site: Path) -> None:
    window, tasks = _window(qtbot, settings)
    _click_area(qtbot, window, "calendar")
    assert window.stack.currentWidget() is window.pages["calendar"]
    window.close()
    _close(window, tasks)
    again, tasks = _window(qtbot, settings)
    assert again.stack.currentWidget() is again.pages["calendar"]
    assert set(again.pages) == {"calendar"}
    _close(again, tasks)


def test_startup_check_counts_from_the_start_of_the_process() -> None:
    # Half a second passes before the application's code is even imported: the figure
    # must include it (the old check started its clock after all the imports).
    script = ("import time; time.sleep(0.5)\n"
              "from ui.app import seconds_since_process_start\n"
              "print(seconds_since_process_start())")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, check=True, timeout=60)
    assert 0.5 <= float(result.stdout) < 30


def test_the_window_loads_nothing_of_the_other_areas_before_it_shows(tmp_path: Path) -> None:
    script = (
        "import os, sys\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6.QtCore import QSettings\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from ui.main_window import MainWindow\n"
        "from ui.tasks import TaskManager\n"
        f"w = MainWindow(QSettings({str(tmp_path / 'p.ini')!r}, QSettings.Format.IniFormat),"
        " TaskManager())\n"
        "w.show(); app.processEvents()\n"
        "print(' '.join(sorted(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, check=True, timeout=60)
    loaded = set(result.stdout.split())
    assert "ui.patients" in loaded
    for heavy in ("ui.calendar", "ui.reports", "ui.study_summary", "reportlab", "icalendar",
                  "gisttracker.services.patients", "gisttracker.services.visits",
                  "gisttracker.reports.base"):
        assert heavy not in loaded, heavy
