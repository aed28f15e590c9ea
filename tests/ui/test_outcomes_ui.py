"""The Outcomes area, driven like a person: open it from the main window, switch endpoint with
the keyboard, double-click a number for the patients behind it (checked against the
database), open a patient at the deciding fact, and type a cut-off or landmark that cannot be
used (said on the page, nothing computed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from gisttracker.demo import generate
from gisttracker.session import open_session
from gisttracker.store.models_course import CourseEvent
from gisttracker.store.models_patients import Patient
from tests.helpers import site_copy
from ui.main_window import MainWindow
from ui.outcomes import CellTable, CellView, OutcomesPage
from ui.tasks import TaskManager

TODAY = date(2026, 11, 30)
# The offscreen platform on show() and raise_() of the dialogs and the patient window.
pytestmark = [pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise"),
              pytest.mark.engines]


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-patient demo site file, built once for the module."""
    path = tmp_path_factory.mktemp("outcomes-ui") / "site.db"
    session = open_session(path, user="nurse")
    generate(session, patients=300, seed=4, today=TODAY)
    session.close()
    return path


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path, demo_site: Path) -> Iterator[MainWindow]:
    """The main window on a copy of the demo site on the engine under test."""
    path = site_copy(demo_site, tmp_path / "site")
    settings = QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat)
    tasks = TaskManager()
    win = MainWindow(settings, tasks)
    win.setProperty("headless", True)
    win.resize(1300, 900)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.ready, timeout=20_000):
        win.open_database(path)
    yield win
    tasks.shutdown()
    if win.session is not None:
        win.session.close()


def open_outcomes(window: MainWindow, qtbot: QtBot, letter: str) -> OutcomesPage:
    """Choose the study by typing its first letter in the study box, then click Outcomes."""
    box = window.study_box
    box.setFocus()
    QTest.keyClick(box, Qt.Key.Key_Home)
    qtbot.keyClicks(box, letter)
    nav = window.nav
    item = next(nav.item(i) for i in range(nav.count())
                if nav.item(i).data(Qt.ItemDataRole.UserRole) == "outcomes")
    page = window.pages["outcomes"]
    assert isinstance(page, OutcomesPage)
    page.today_fn = lambda: TODAY
    with qtbot.waitSignal(page.modelled, timeout=60_000):
        qtbot.mouseClick(nav.viewport(), Qt.MouseButton.LeftButton,
                         pos=nav.visualItemRect(item).center())
    return page


def table(page: OutcomesPage, title: str) -> CellView:
    for i in range(page.tabs.count()):
        if page.tabs.tabText(i) == title:
            view = page.tabs.widget(i)
            assert isinstance(view, CellView)
            return view
    raise AssertionError(f"no tab {title!r}")


def test_endpoint_switch_and_the_patients_behind_a_number(window: MainWindow,
                                                          qtbot: QtBot) -> None:
    page = open_outcomes(window, qtbot, "D")  # Duration of preoperative imatinib
    assert page.study is not None and page.study.key == "PREOP-DURATION"
    assert page.current_key() == "rfs_3y"
    assert page.charts.currentWidget() is page.curve_chart
    assert len(page.curve_chart.series) == 3  # one curve per duration group

    page.endpoint_box.setFocus()
    QTest.keyClick(page.endpoint_box, Qt.Key.Key_Down)
    assert page.current_key() == "rfs_5y"
    assert "5-year recurrence-free survival" in page.definition.text()
    view = table(page, "Survival")
    model = view.model()
    assert isinstance(model, CellTable)
    assert model.headers[-1] == "60 months"
    row = next(r for r in range(model.rowCount())
               if model.index(r, 0).data() == "Short-term (≤ 6 months)")
    column = model.headers.index("Events")
    index = model.index(row, column)
    shown = int(index.data())
    assert shown > 0
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.visualRect(index).center())
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton,
                      pos=view.visualRect(index).center())
    qtbot.waitUntil(lambda: bool(page.dialogs) and page.dialogs[-1].isVisible())
    dialog = page.dialogs[-1]
    lines = dialog.listing.lines
    assert len(lines) == shown
    # Each patient is in the short-term group and has the recorded event the list names.
    for line in lines:
        patient = Patient.get(Patient.study_id == line.study_id)
        assert (patient.study_key, patient.arm_code) == ("PREOP-DURATION", "SHORT")
        assert line.fact is not None and line.fact.kind == "course_event"
        event = CourseEvent.get(CourseEvent.uid == line.fact.uid)
        assert event.patient_id == patient.id
        assert event.kind in ("local_recurrence", "distant_recurrence", "regrowth", "death")
        assert str(event.occurred_on) == line.cells[3]  # the end of follow-up is its date

    first = dialog.table.model().index(0, 0)
    with qtbot.waitSignal(dialog.open_patient):
        qtbot.mouseClick(dialog.table.viewport(), Qt.MouseButton.LeftButton,
                         pos=dialog.table.visualRect(first).center())
        qtbot.mouseDClick(dialog.table.viewport(), Qt.MouseButton.LeftButton,
                          pos=dialog.table.visualRect(first).center())
    qtbot.waitUntil(lambda: bool(page.windows), timeout=10_000)
    patient_window = page.windows[-1]
    # The one window of the patient; its header is read on the worker.
    qtbot.waitUntil(lambda: lines[0].study_id in patient_window.windowTitle(), timeout=10_000)
    assert patient_window.tabs.currentWidget() is patient_window.pages["course"]
    qtbot.waitUntil(lambda: not window.tasks.busy, timeout=20_000)  # its tabs have loaded
    patient_window.close()
    dialog.close()


def test_scores_and_rates_have_their_charts(window: MainWindow, qtbot: QtBot) -> None:
    page = open_outcomes(window, qtbot, "P")  # Preop imatinib + local excision: RECTAL-LE
    assert page.study is not None and page.study.key == "RECTAL-LE"
    assert page.charts.currentWidget() is page.rate_chart  # organ preservation first
    page.endpoint_box.setFocus()
    for _ in range(page.endpoint_box.findData("lars")):
        QTest.keyClick(page.endpoint_box, Qt.Key.Key_Down)
    assert page.current_key() == "lars"
    assert page.charts.currentWidget() is page.score_chart
    assert any(p.mean is not None for p in page.score_chart.points)
    categories = table(page, "Categories").model()
    assert isinstance(categories, CellTable)
    assert categories.headers[2:] == ["no LARS", "minor LARS", "major LARS"]


def test_cut_off_and_landmarks_that_cannot_be_used_are_said(window: MainWindow,
                                                            qtbot: QtBot) -> None:
    page = open_outcomes(window, qtbot, "D")
    page.landmarks.setFocus()
    qtbot.keyClicks(page.landmarks, "6, soon")
    QTest.keyClick(page.landmarks, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "soon is not a landmark" in page.status.text())
    assert page.outcomes is not None  # what was shown stays

    page.landmarks.clear()
    page.as_of.edit.setFocus()
    page.as_of.edit.selectAll()
    with qtbot.waitSignal(page.failed, timeout=20_000) as failed:
        qtbot.keyClicks(page.as_of.edit, "20141130")  # typed as a nurse types a date
    assert "is before the first enrollment in PREOP-DURATION" in failed.args[0]
    assert page.cut_off() == date(2014, 11, 30)
    assert "before the first enrollment" in page.status.text()
    assert page.outcomes is None and page.tabs.count() == 0
