"""The rules every screen follows (issue 10, points 2 and 5): one window per patient, one
change signal that every page and patient window refreshes from — commits of this window,
of another program on the same file, and a new day — and no database write on the GUI
thread while the window runs."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import date

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from gisttracker.services.base import WrongThreadError
from gisttracker.services.patients import PatientService
from gisttracker.session import Session
from gisttracker.store.models_visits import Visit
from tests.core.patients_helpers import TODAY, eligible_patient, set_site
from tests.ui.conftest import Clock, on_worker
from ui.context import WindowContext
from ui.main_window import MainWindow
from ui.patients import PatientsPage
from ui.tasks import TaskManager

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "support raise")


def _on_worker(qtbot: QtBot, window: MainWindow, fn):  # type: ignore[no-untyped-def]
    return on_worker(qtbot, window, fn)


def test_a_write_on_the_gui_thread_is_refused_while_the_window_runs(
        qtbot: QtBot, window: MainWindow) -> None:
    session = window.session
    assert session is not None
    assert threading.current_thread() is threading.main_thread()
    with pytest.raises(WrongThreadError, match="GUI thread"):
        set_site(session)
    # The same write on the worker goes through.
    _on_worker(qtbot, window, lambda: set_site(session))
    from gisttracker.services.settings import SettingsService

    assert _on_worker(qtbot, window, lambda: SettingsService(session.tracker).get(
        "site_code")) == "ZJU"


def test_one_window_per_patient_raised_when_opened_again(
        qtbot: QtBot, window: MainWindow) -> None:
    session = window.session
    assert session is not None and window.context is not None
    uid = _on_worker(qtbot, window, lambda: (set_site(session), eligible_patient(
        PatientService(session), "RECTAL-LE").uid)[1])
    page = window.pages["patients"]
    assert isinstance(page, PatientsPage)
    first = page.open_patient(uid)
    again = page.open_patient(uid)
    assert first is again and len(window.context.open_windows()) == 1
    for _round in range(3):  # close and open any number of times
        assert first is not None
        first.close()
        qtbot.waitUntil(lambda: not window.context.open_windows(), timeout=5000)  # type: ignore[union-attr]
        first = page.open_patient(uid)
        assert first is not None and first.isVisible()
    qtbot.waitUntil(lambda: first.header.text().startswith("ZJU-0001"), timeout=5000)


def test_tabs_and_header_follow_changes_made_in_another_tab(
        qtbot: QtBot, window: MainWindow) -> None:
    session = window.session
    assert session is not None and window.context is not None
    uid = _on_worker(qtbot, window, lambda: (set_site(session), eligible_patient(
        PatientService(session), "RECTAL-LE").uid)[1])
    patient_window = window.context.open_patient(uid)
    qtbot.waitUntil(lambda: "screened" in patient_window.header.text(), timeout=5000)
    schedule = patient_window.pages["schedule"]
    forms = patient_window.pages["visit_forms"]
    assert schedule.table.rowCount() == 0  # type: ignore[attr-defined]

    # Enrolled (by another tab's dialog, here through the worker): the header and the
    # schedule follow without reopening the window.
    _on_worker(qtbot, window, lambda: PatientService(session).enroll(uid, today=TODAY))
    qtbot.waitUntil(lambda: "enrolled" in patient_window.header.text(), timeout=5000)
    qtbot.waitUntil(lambda: schedule.table.rowCount() > 5, timeout=5000)  # type: ignore[attr-defined]

    # A visit marked done in the schedule tab shows as done in the visits tab.
    visit = Visit.get(Visit.visit_key == "baseline")
    schedule.mark_done(visit.uid, TODAY)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: any(
        forms.visits.item(r, 0).text() == "Baseline (before imatinib)"  # type: ignore[attr-defined]
        and forms.visits.item(r, 2).text() == "done"  # type: ignore[attr-defined]
        for r in range(forms.visits.rowCount())), timeout=5000)  # type: ignore[attr-defined]

    # Participation ended elsewhere: the header says so.
    _on_worker(qtbot, window, lambda: PatientService(session).end_participation(
        uid, "withdrawn", on=TODAY, today=TODAY, reason="moved away"))
    qtbot.waitUntil(lambda: "withdrawn" in patient_window.header.text(), timeout=5000)
    patient_window.close()


def test_commits_by_another_program_reach_the_open_window(
        qtbot: QtBot, window: MainWindow) -> None:
    assert window.session is not None and window.context is not None
    page = window.pages["patients"]
    assert isinstance(page, PatientsPage)
    page.study_filter.setCurrentIndex(page.study_filter.findData(None))  # all studies
    qtbot.waitUntil(lambda: page.count_label.text() == "0 patients", timeout=5000)
    window.context.start_watching(200)
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from gisttracker.cli import main; "
         "sys.exit(main(sys.argv[1:]))", "--db", str(window.session.path), "demo",
         "--patients", "4", "--seed", "3", "--today", TODAY.isoformat()],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    qtbot.waitUntil(lambda: page.count_label.text() == "4 patients", timeout=10_000)


def test_a_window_left_open_over_midnight_judges_visits_as_of_the_new_day(
        qtbot: QtBot, window: MainWindow, clock: Clock) -> None:
    session = window.session
    assert session is not None and window.context is not None
    uid = _on_worker(qtbot, window, lambda: (set_site(session), eligible_patient(
        PatientService(session), "RECTAL-LE").uid)[1])
    _on_worker(qtbot, window, lambda: PatientService(session).enroll(uid, today=TODAY))
    patient_window = window.context.open_patient(uid)
    schedule = patient_window.pages["schedule"]

    def status_of(name: str) -> str:
        table = schedule.table  # type: ignore[attr-defined]
        return next(table.item(r, 4).text() for r in range(table.rowCount())
                    if table.item(r, 0).text() == name)

    qtbot.waitUntil(lambda: schedule.table.rowCount() > 5, timeout=5000)  # type: ignore[attr-defined]
    assert status_of("Baseline (before imatinib)") == "Due"  # its window ends today
    clock.day = date.fromordinal(TODAY.toordinal() + 1)  # midnight passes
    window.context.check_now()
    qtbot.waitUntil(lambda: status_of("Baseline (before imatinib)") == "Overdue",
                    timeout=5000)
    patient_window.close()


def test_the_patient_list_opens_a_patient_with_a_double_click_once(
        qtbot: QtBot, window: MainWindow) -> None:
    from tests.ui.helpers import double_click

    session = window.session
    assert session is not None and window.context is not None
    _on_worker(qtbot, window, lambda: (set_site(session), eligible_patient(
        PatientService(session), "RECTAL-LE").uid)[1])
    page = window.pages["patients"]
    assert isinstance(page, PatientsPage)
    window.nav.setCurrentRow(1)
    window.show()
    page.study_filter.setCurrentIndex(page.study_filter.findData(None))  # all studies
    qtbot.waitUntil(lambda: page.model.data(page.model.index(0, 0)) == "ZJU-0001",
                    timeout=5000)
    double_click(qtbot, page.table, page.model.index(0, 0))
    assert len(window.context.open_windows()) == 1
    qtbot.keyClick(page.table, Qt.Key.Key_Return)  # Enter on the row: the same window
    assert len(window.context.open_windows()) == 1
    window.context.open_windows()[0].close()


def test_the_watch_stops_by_itself_once_the_worker_is_shut_down(
        qtbot: QtBot, session: Session) -> None:
    """A page's watch outliving its window (the window closed first) asks nothing more of
    the worker: no 'cannot schedule new futures' error from a timer tick."""
    tasks = TaskManager()
    context = WindowContext(session, tasks, today=lambda: TODAY)
    context.start_watching(interval_ms=20)
    qtbot.waitUntil(lambda: context._version is not None, timeout=5000)
    tasks.shutdown()
    qtbot.wait(100)  # several ticks: each would have raised before
    assert not context._timer.isActive()
