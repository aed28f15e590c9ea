"""The Reports area: a report is made in the background (the window keeps responding) and
lands in a PDF that can be opened; bad options say so where they were entered."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from gisttracker.demo import generate
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient
from ui.context import WindowContext
from ui.reports import ReportsPage, print_schedule
from ui.tasks import TaskManager


@pytest.fixture
def page(qtbot: QtBot, session: Session) -> Iterator[ReportsPage]:
    generate(session, patients=60, seed=3, today=date.today())
    tasks = TaskManager()
    widget = ReportsPage()
    qtbot.addWidget(widget)
    widget.set_session(session, tasks)
    widget.set_study(session.study("NCT03862768"))
    yield widget
    tasks.shutdown()


def _text(path: str) -> str:
    reader = PdfReader(BytesIO(Path(path).read_bytes()))
    return "\n".join(p.extract_text() for p in reader.pages)


def test_schedule_is_made_off_the_gui_thread(page: ReportsPage, qtbot: QtBot) -> None:
    patient = Patient.select().where((Patient.study_key == "NCT03862768")
                                     & (Patient.status == "enrolled")).first()
    page.kind.setCurrentIndex(page.kind.findData("schedule"))
    page.patient.setText(patient.study_id)
    with qtbot.waitSignal(page.report_ready, timeout=20_000) as ready:
        page.make.click()
        # The click returned at once: the PDF is still being made, the bar shows it.
        assert page.path is None and not page.make.isEnabled()
        assert page.progress.isVisibleTo(page)
    path = ready.args[0]
    assert patient.study_id in _text(path)
    assert page.open_button.isEnabled() and page.save_button.isEnabled()
    assert not page.progress.isVisibleTo(page)


def test_screening_of_the_chosen_study(page: ReportsPage, qtbot: QtBot) -> None:
    page.kind.setCurrentIndex(page.kind.findData("screening"))
    assert not page.patient.isEnabled() and page.study_box.isEnabled()
    assert page.study_box.currentData() == "NCT03862768"
    with qtbot.waitSignal(page.report_ready, timeout=20_000) as ready:
        page.make.click()
    assert "Assessed for eligibility" in _text(ready.args[0])


def test_calendar_can_cover_all_studies(page: ReportsPage, qtbot: QtBot) -> None:
    page.kind.setCurrentIndex(page.kind.findData("calendar"))
    assert page.study_box.itemData(0) is None  # "All studies" is offered
    request = page.request()
    assert request.study_key is None and request.start and request.end
    with qtbot.waitSignal(page.report_ready, timeout=20_000) as ready:
        page.make.click()
    assert "Site calendar" in _text(ready.args[0])
    page.kind.setCurrentIndex(page.kind.findData("enrollment"))
    assert page.study_box.itemData(0) == "NCT03862768"


def test_unknown_patient_is_reported_in_the_page(page: ReportsPage, qtbot: QtBot) -> None:
    page.kind.setCurrentIndex(page.kind.findData("casebook"))
    page.patient.setText("NOBODY-1")
    with qtbot.waitSignal(page.report_failed, timeout=20_000) as failed:
        page.make.click()
    assert "no patient 'NOBODY-1'" in failed.args[0]
    assert "NOBODY-1" in page.status.text() and page.make.isEnabled()
    assert not page.open_button.isEnabled()


def test_print_schedule_from_the_patient(session: Session, qtbot: QtBot) -> None:
    generate(session, patients=20, seed=5, today=date.today())
    patient = Patient.select().where(Patient.status == "enrolled").first()
    tasks = TaskManager()
    made: list[Path] = []
    try:
        context = WindowContext(session, tasks)
        print_schedule(None, context, patient.uid,  # type: ignore[arg-type]
                       done=made.append)
        qtbot.waitUntil(lambda: bool(made), timeout=20_000)
    finally:
        tasks.shutdown()
    assert patient.study_id in _text(str(made[0]))


@pytest.mark.qt_log_ignore("propagateSizeHints")  # the offscreen platform, on show()
def test_print_schedule_without_a_pdf_viewer_says_where_the_pdf_is(
        session: Session, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    generate(session, patients=5, seed=5, today=date.today())
    patient = Patient.select().where(Patient.status == "enrolled").first()
    monkeypatch.setattr("ui.reports.viewer_known", lambda _path: False)  # no PDF program
    opened: list[str] = []
    monkeypatch.setattr("ui.reports.QDesktopServices.openUrl",
                        lambda url: opened.append(url.toLocalFile()) or True)
    tasks = TaskManager()
    parent = QWidget()
    qtbot.addWidget(parent)
    try:
        context = WindowContext(session, tasks)
        print_schedule(parent, context, patient.uid)
        qtbot.waitUntil(lambda: parent.findChild(QMessageBox, "pdf_saved") is not None,
                        timeout=20_000)
    finally:
        tasks.shutdown()
    box = parent.findChild(QMessageBox, "pdf_saved")
    assert "No program to show PDF files" in box.text()
    path = Path(box.text().splitlines()[-1])
    assert path.exists() and patient.study_id in _text(str(path))
    folder = next(b for b in box.buttons() if b.text() == "Open &folder")
    qtbot.mouseClick(folder, Qt.MouseButton.LeftButton)
    assert opened == [str(path.parent)]


def test_a_desktop_without_a_pdf_program_is_told_apart_before_opening(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # On Linux Qt reports success as soon as xdg-open has started, even when it then finds
    # no program for PDFs (a machine with no viewer: the click showed nothing). xdg-mime is
    # asked first; here a stand-in answers as the desktop would.
    from ui.reports import open_in_viewer, viewer_known

    pdf = tmp_path / "schedule_ZJU-0001.pdf"
    pdf.write_bytes(b"%PDF-1.4\n")
    tools = tmp_path / "bin"
    tools.mkdir()
    answer = tools / "answer.txt"
    script = tools / "xdg-mime"
    script.write_text(f"#!/bin/sh\ncat {answer}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ.get('PATH', '')}")
    monkeypatch.setattr("ui.reports.sys.platform", "linux")
    opened: list[str] = []
    monkeypatch.setattr("ui.reports.QDesktopServices.openUrl",
                        lambda url: opened.append(url.toLocalFile()) or True)

    answer.write_text("\n")  # no default program for application/pdf
    assert not viewer_known(pdf)
    assert not open_in_viewer(pdf) and opened == []  # the caller then says where it is

    answer.write_text("org.gnome.Evince.desktop\n")
    assert viewer_known(pdf)
    assert open_in_viewer(pdf) and opened == [str(pdf)]
