"""The site worklist and month view, and a patient's Schedule tab, in the window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

import ui.patient_view
from gisttracker.services.visits import VisitService
from gisttracker.session import Session
from tests.core.visit_helpers import enroll
from tests.ui.helpers import double_click
from ui.calendar import CalendarPage
from ui.patient_view import PatientTab, PatientWindow
from ui.schedule_tab import ScheduleTab
from ui.tasks import TaskManager

D = date
TODAY = D(2025, 9, 3)  # a Wednesday


@pytest.fixture
def tasks(qtbot: QtBot) -> Iterator[TaskManager]:
    manager = TaskManager()
    yield manager
    qtbot.waitUntil(lambda: not manager.busy, timeout=10_000)
    manager.shutdown()


@pytest.fixture
def site(session: Session) -> Session:
    """ZJU-0001: month 3 due this week; ZJU-0002: baseline overdue; ZJU-0003: seen late."""
    a = enroll(session, "NCT03862768", "ZJU-0001", D(2025, 6, 2))
    svc = VisitService(session)
    rows = {r.visit_key: r for r in svc.schedule(a.uid, today=TODAY)}
    svc.mark_done(rows["baseline"].uid, D(2025, 6, 2), today=TODAY)
    enroll(session, "NCT03862768", "ZJU-0002", D(2025, 8, 1))
    c = enroll(session, "RECTAL-LE", "ZJU-0003", D(2025, 8, 4))
    rows = {r.visit_key: r for r in svc.schedule(c.uid, today=TODAY)}
    svc.mark_done(rows["baseline"].uid, D(2025, 9, 1), today=TODAY)  # 28 days late
    return session


def cell(page: CalendarPage, row: int, col: int) -> str:
    return str(page.model.data(page.model.index(row, col)))


@pytest.mark.qt_log_ignore("propagateSizeHints")  # shown offscreen to measure the columns
def test_worklist_shows_due_overdue_and_late_rows(qtbot: QtBot, site: Session,
                                                  tasks: TaskManager) -> None:
    page = CalendarPage(today=lambda: TODAY, eager=True)
    qtbot.addWidget(page)
    page.setProperty("headless", True)
    with qtbot.waitSignal(page.counted, timeout=10_000):
        page.set_session(site, tasks)
    assert page.period() == (D(2025, 9, 1), D(2025, 9, 7))
    rows = [[cell(page, r, c) for c in range(7)] for r in range(page.model.rowCount())]
    assert [[r[0], r[5], r[1], r[3]] for r in rows] == [
        ["ZJU-0002", "NCT03862768", "Baseline", "2025-08-01"],
        ["ZJU-0001", "NCT03862768", "Month 3", "2025-09-02"],
        ["ZJU-0003", "RECTAL-LE", "Baseline (before imatinib)", "2025-08-04"],
    ]
    assert rows[0][2] == "Overdue by 33 days"
    assert rows[1][4] == "2025-08-19 – 2025-09-16" and rows[1][2] == "Due"
    assert rows[2][2] == "Done 28 days after the window (on 2025-09-01)"
    assert "CT/MRI tumour assessment" in rows[1][6]
    colour = page.model.data(page.model.index(0, 2), Qt.ItemDataRole.BackgroundRole)
    assert colour.color().name() == "#f8d7da"
    assert page.summary.text() == "1 overdue · 1 due · 1 done out of window"
    # The status column shows its longest text whole, and comes before the dates.
    widest = max(page.table.fontMetrics().horizontalAdvance(r[2]) for r in rows)
    assert page.table.columnWidth(2) > widest
    page.resize(960, 600)  # its size in the main window's default 1200 × 800
    page.show()
    qtbot.waitExposed(page)
    right = page.table.columnViewportPosition(2) + page.table.columnWidth(2)
    assert right <= page.table.viewport().width()  # in view without scrolling

    with qtbot.waitSignal(page.counted, timeout=10_000):
        page.show_overdue.setChecked(False)
    assert [cell(page, r, 0) for r in range(page.model.rowCount())] == ["ZJU-0001", "ZJU-0003"]
    with qtbot.waitSignal(page.counted, timeout=10_000):
        page.show_overdue.setChecked(True)

    # One study only.
    with qtbot.waitSignal(page.counted, timeout=10_000):
        page.study_box.setCurrentIndex(page.study_box.findData("RECTAL-LE"))
    assert [cell(page, r, 0) for r in range(page.model.rowCount())] == ["ZJU-0003"]

    # Next week, all studies: month 3 of ZJU-0001 is still due (window to 16 September).
    with qtbot.waitSignal(page.counted, timeout=10_000):
        page.study_box.setCurrentIndex(0)
    with qtbot.waitSignal(page.counted, timeout=10_000):
        page.next_button.click()
    assert page.period() == (D(2025, 9, 8), D(2025, 9, 14))
    assert [cell(page, r, 0) for r in range(page.model.rowCount())] == ["ZJU-0002", "ZJU-0001"]


def test_month_view_and_marking_done_refreshes_the_worklist(qtbot: QtBot, site: Session,
                                                            tasks: TaskManager) -> None:
    page = CalendarPage(today=lambda: TODAY, eager=True)
    qtbot.addWidget(page)
    page.calendar.setCurrentPage(2025, 9)
    with qtbot.waitSignal(page.month_loaded, timeout=10_000):
        page.set_session(site, tasks)
    counts = page.calendar.counts
    assert counts[D(2025, 9, 2)].open == 1  # ZJU-0001 month 3
    assert counts[D(2025, 9, 1)].done == 1  # ZJU-0003 baseline
    due = next(i for i in VisitService(site).worklist(D(2025, 9, 1), D(2025, 9, 7),
                                                      today=TODAY) if i.reason == "due")
    with qtbot.waitSignal(page.counted, timeout=10_000):
        VisitService(site).mark_done(due.visit_uid, D(2025, 9, 2), today=TODAY)
    assert [cell(page, r, 0) for r in range(page.model.rowCount())] == ["ZJU-0002", "ZJU-0003"]


# Showing (and raising) a top-level window offscreen makes Qt say it cannot do either.
@pytest.mark.qt_log_ignore("propagateSizeHints", "support raise")
def test_double_click_opens_the_patient_window(qtbot: QtBot, site: Session, tasks: TaskManager,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.patient_view import PATIENT_TABS

    only = [t for t in PATIENT_TABS if t.key == "schedule"]
    assert only and isinstance(only[0], PatientTab)
    monkeypatch.setattr(ui.patient_view, "PATIENT_TABS", only)
    page = CalendarPage(today=lambda: TODAY, eager=True)
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.counted, timeout=10_000):
        page.set_session(site, tasks)
    page.resize(1200, 600)
    page.show()
    qtbot.waitExposed(page)
    double_click(qtbot, page.table, page.model.index(1, 0))
    assert page.context is not None
    windows = page.context.open_windows()
    assert len(windows) == 1  # a double click opens one window, not two
    window = windows[0]
    assert isinstance(window, PatientWindow)
    qtbot.waitUntil(lambda: window.windowTitle().startswith("ZJU-0001 · NCT03862768"),
                    timeout=5000)
    assert isinstance(window.pages["schedule"], ScheduleTab)
    # Closing it and opening it again works any number of times.
    for _round in range(3):
        window.close()
        qtbot.waitUntil(lambda: not page.context.open_windows(), timeout=5000)  # type: ignore[union-attr]
        double_click(qtbot, page.table, page.model.index(1, 0))
        window = page.context.open_windows()[0]
        assert window.isVisible()
    window.close()


def test_schedule_tab_shows_visits_and_marking_done_updates_status(
        qtbot: QtBot, site: Session, tasks: TaskManager) -> None:
    patient = VisitService(site).patient("ZJU-0003")
    tab = ScheduleTab(today=lambda: TODAY)
    qtbot.addWidget(tab)
    with qtbot.waitSignal(tab.loaded, timeout=10_000):
        tab.set_patient(site, tasks, patient.uid)
    table = tab.table

    def row_of(name: str) -> list[str]:
        for r in range(table.rowCount()):
            if table.item(r, 0).text() == name:
                return [table.item(r, c).text() for c in range(table.columnCount())]
        raise KeyError(name)

    assert table.rowCount() == 14
    baseline = row_of("Baseline (before imatinib)")
    assert baseline[2:6] == ["2025-08-04", "2025-07-07 – 2025-08-04",
                             "Done outside the window", "2025-09-01"]
    assert baseline[6] == "Done 28 days after the window"
    month3 = row_of("Month 3 after surgery")
    assert month3[2] == "waiting" and month3[4] == "Waiting for anchor date"
    assert tab.anchor_labels["surgery"].text() == "not entered yet"

    # Enter the surgery date: the post-operative visits get dates.
    with qtbot.waitSignal(tab.loaded, timeout=10_000):
        tab.set_anchor("surgery", D(2025, 8, 20))
    assert row_of("Month 3 after surgery")[2] == "2025-11-20"
    assert row_of("Local resection")[4] == "Overdue"
    assert tab.anchor_labels["surgery"].text() == "2025-08-20"

    # Mark the resection done: its status changes in the table.
    visit = tab.select_visit("Local resection")
    assert tab.done_button.isEnabled()
    with qtbot.waitSignal(tab.loaded, timeout=10_000):
        tab.mark_done(visit.uid, D(2025, 8, 20))
    assert row_of("Local resection")[4:6] == ["Done", "2025-08-20"]
    assert tab.message.text() == "Visit marked done."

    # A correction without a reason is refused, in the tab, and nothing changes.
    with qtbot.waitSignal(tasks._finished, timeout=10_000):
        tab.set_anchor("surgery", D(2025, 8, 22))
    qtbot.waitUntil(lambda: "reason" in tab.message.text())
    assert tab.anchor_labels["surgery"].text() == "2025-08-20"
    # A visit day after today is refused with a clear message.
    month1 = tab.select_visit("Month 3 after surgery")
    with qtbot.waitSignal(tasks._finished, timeout=10_000):
        tab.mark_done(month1.uid, D(2025, 9, 4))
    qtbot.waitUntil(lambda: "after today" in tab.message.text())
    assert row_of("Month 3 after surgery")[4] == "Upcoming"


def test_long_worklists_load_page_by_page(qtbot: QtBot, site: Session, tasks: TaskManager,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ui.calendar.PAGE", 1)
    page = CalendarPage(today=lambda: TODAY, eager=True)
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.counted, timeout=10_000):
        page.set_session(site, tasks)
    assert page.model.rowCount() == 1 and page.model.total == 3
    root = page.model.index(-1, -1)
    assert page.model.canFetchMore(root)
    with qtbot.waitSignal(page.page_loaded, timeout=10_000):
        page.model.fetchMore(root)
    with qtbot.waitSignal(page.page_loaded, timeout=10_000):
        page.model.fetchMore(root)
    assert [cell(page, r, 0) for r in range(page.model.rowCount())] == [
        "ZJU-0002", "ZJU-0001", "ZJU-0003"]
    assert not page.model.canFetchMore(root)


def test_export_icalendar_asks_for_the_file_and_writes_it(
        qtbot: QtBot, site: Session, tasks: TaskManager, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The button used to fail at once with "expected str … not bool"."""
    target = tmp_path / "week.ics"
    asked: list[str] = []

    def save_name(_parent: object, _title: str, suggested: str, _filter: str
                  ) -> tuple[str, str]:
        asked.append(suggested)
        return str(target), ""

    monkeypatch.setattr("ui.calendar.QFileDialog.getSaveFileName", save_name)
    page = CalendarPage(today=lambda: TODAY, eager=True)
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.counted, timeout=10_000):
        page.set_session(site, tasks)
    qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    assert asked == ["worklist-2025-09-01-2025-09-07.ics"]  # the file dialog was shown
    qtbot.waitUntil(lambda: target.exists() and "Wrote" in page.status.text(), timeout=10_000)
    text = target.read_text(encoding="utf-8")
    assert text.count("BEGIN:VEVENT") == 3 and "ZJU-0001" in text
