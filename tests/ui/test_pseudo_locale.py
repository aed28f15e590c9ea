"""Every visible string of the window goes through translation (the pseudo-locale test).

With every catalogue string bracketed ``⟦…⟧``, the test opens every area of the main window
for every study, a patient window at every tab (an enrolled patient with visits and data,
and a screen failure), the dialogs a nurse reaches from them, and reads every text a person
sees: labels, buttons, tabs, menus, table headers and cells, group boxes, window titles,
placeholders and tooltips. Any word outside brackets that is not data fails the test, with
the widget it was found in.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QCalendarWidget,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from gisttracker.demo import generate
from gisttracker.services.patients import PatientService
from gisttracker.session import open_session
from tests.helpers import site_copy
from tests.pseudo import escapes, is_escape, pseudo_locale
from ui.main_window import MainWindow
from ui.tasks import TaskManager

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

TODAY = date.today()
ROWS = 40  # table rows read per view: enough to meet every status and label


def _menu_texts(menu: QMenu, where: str) -> Iterator[tuple[str, str]]:
    yield where, menu.title()
    for action in menu.actions():
        if action.menu() is not None:
            yield from _menu_texts(action.menu(), f"{where} › {action.text()}")
        elif not action.isSeparator():
            yield f"{where} › action", action.text()
            yield f"{where} › tooltip", action.toolTip() if action.toolTip() != action.text(
            ).replace("&", "") else ""


def _view_texts(view: QAbstractItemView, where: str) -> Iterator[tuple[str, str]]:
    model = view.model()
    if model is None:
        return
    from PySide6.QtCore import QModelIndex

    try:
        columns = model.columnCount(QModelIndex())
    except TypeError:  # QListWidget's model keeps it private: one column
        columns = 1
    for column in range(columns):
        yield f"{where} header", str(model.headerData(
            column, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole) or "")
    for row in range(min(model.rowCount(QModelIndex()), ROWS)):
        for column in range(columns):
            index = model.index(row, column)
            for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                value = model.data(index, role)
                if isinstance(value, str):
                    yield f"{where} cell {row},{column}", value


def visible_texts(root: QWidget) -> Iterator[tuple[str, str]]:
    """Every text a person can see in ``root`` and its visible children, with where."""
    yield f"{type(root).__name__} title", root.windowTitle()
    if isinstance(root, QMainWindow):
        for action in root.menuBar().actions():
            if action.menu() is not None:
                yield from _menu_texts(action.menu(), "menu")
    calendars = root.findChildren(QCalendarWidget)
    for widget in [root, *root.findChildren(QWidget)]:
        if widget is not root and not widget.isVisibleTo(root):
            continue
        if any(c.isAncestorOf(widget) for c in calendars):
            continue  # month and day names come from the locale (checked in Chinese below)
        if isinstance(widget, QAbstractButton) and _qt_standard_button(widget):
            continue  # OK, Cancel…: Qt's own catalogue translates them (checked in Chinese)
        where = f"{type(widget).__name__}{'#' + widget.objectName() if widget.objectName() else ''}"
        yield f"{where} tooltip", widget.toolTip()
        yield f"{where} accessible name", widget.accessibleName()
        if isinstance(widget, QLabel | QAbstractButton):
            yield where, widget.text()
        elif isinstance(widget, QGroupBox):
            yield where, widget.title()
        elif isinstance(widget, QLineEdit):
            yield f"{where} placeholder", widget.placeholderText()
        elif isinstance(widget, QTextEdit):
            yield where, widget.toPlainText()
            yield f"{where} placeholder", widget.placeholderText()
        elif isinstance(widget, QComboBox):
            for i in range(widget.count()):
                yield f"{where} item", widget.itemText(i)
        elif isinstance(widget, QAbstractSpinBox):
            yield f"{where} special", widget.specialValueText()
        if isinstance(widget, QTabWidget):
            for i in range(widget.count()):
                yield f"{where} tab", widget.tabText(i)
                yield f"{where} tab tooltip", widget.tabToolTip(i)
        if isinstance(widget, QAbstractItemView):
            yield from _view_texts(widget, where)
        for action in widget.actions():
            if not action.isSeparator():
                yield f"{where} action", action.text()


def _qt_standard_button(button: QAbstractButton) -> bool:
    box = button.parent()
    return (isinstance(box, QDialogButtonBox) and isinstance(button, QPushButton)
            and box.standardButton(button) != QDialogButtonBox.StandardButton.NoButton)


def _settle(qtbot: QtBot, tasks: TaskManager) -> None:
    """Let the background work finish and its results reach the widgets."""
    qtbot.waitUntil(lambda: not tasks.busy, timeout=20_000)
    qtbot.wait(150)


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo site file, built once for the module: patients in every study and state,
    visits done and missed, forms."""
    path = tmp_path_factory.mktemp("pseudo") / "site.db"
    session = open_session(path, user="nurse")
    try:
        # Made in the pseudo-locale: what the program stores in its reader's language
        # (screening reasons, reasons for cancelled visits) is bracketed too.
        with pseudo_locale():
            generate(session, patients=40, seed=7, today=TODAY)
    finally:
        session.close()
    return path


@pytest.fixture
def site(tmp_path: Path, demo_site: Path) -> Path:
    """A copy of the demo site on the engine under test (tests marked ``engines``)."""
    return site_copy(demo_site, tmp_path / "site")


@pytest.fixture
def window(qtbot: QtBot, site: Path, tmp_path: Path) -> Iterator[MainWindow]:
    with pseudo_locale():
        tasks = TaskManager()
        win = MainWindow(QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat),
                         tasks)
        win.setProperty("headless", True)
        qtbot.addWidget(win)
        win.show()
        with qtbot.waitSignal(win.ready, timeout=20_000):
            win.open_database(site)
        yield win
        tasks.shutdown()
        if win.session is not None:
            win.session.close()


def test_the_pseudo_judge_tells_words_from_data() -> None:
    assert is_escape("Save")
    assert is_escape("⟦Visit⟧ done")
    assert not is_escape("⟦Visit {name}⟧".format(name="⟦Month 3⟧"))
    assert not is_escape("ZJU-0007 · 2026-03-14 · 400 mg/d · ECOG 1 · /tmp/x/site.db")
    assert not is_escape("&1 postgresql://nurse@db.example.org:5432/gist_site")
    assert not is_escape("<b>⟦Patients⟧</b>: 12")


@pytest.mark.engines
def test_every_area_of_the_main_window_is_translated(qtbot: QtBot,
                                                     window: MainWindow) -> None:
    found: list[tuple[str, str]] = []
    box = window.study_box
    for index in range(box.count()):
        box.setCurrentIndex(index)
        for row in range(window.nav.count()):
            window.nav.setCurrentRow(row)
            _settle(qtbot, window.tasks)
            area = window.nav.item(row).text()
            found += [(f"{box.itemData(index)} / {area} / {where}", text)
                      for where, text in visible_texts(window)]
    problems = escapes(found)
    assert not problems, "text shown without translation:\n" + "\n".join(problems)


def _patients(site_path: Path) -> tuple[str, str, str]:
    """An enrolled patient with the most visits done, a screen failure, and a patient
    screened eligible and not yet enrolled (the enrollment dialog)."""
    from gisttracker.store.models_patients import Patient
    from gisttracker.store.models_visits import Visit

    session = open_session(site_path, user="nurse")
    try:
        enrolled = max(Patient.select().where(Patient.status == "enrolled"),
                       key=lambda p: Visit.select().where(
                           (Visit.patient == p.id) & (Visit.state == "done")).count())
        failed = Patient.get(Patient.status == "screen_failed")
        service = PatientService(session)
        screened = next((p.uid for p in Patient.select().where(Patient.status == "screened")
                         if _can_enroll(service, p.uid)), enrolled.uid)
        return enrolled.uid, failed.uid, screened
    finally:
        session.close()


def _can_enroll(service: PatientService, uid: str) -> bool:
    try:
        service.preview_enrollment(uid)
    except Exception:
        return False
    return True


@pytest.mark.engines
def test_every_tab_of_a_patient_window_and_its_dialogs_are_translated(
        qtbot: QtBot, window: MainWindow, site: Path) -> None:
    found: list[tuple[str, str]] = []
    page = window.pages["patients"]
    window.nav.setCurrentRow(1)
    _settle(qtbot, window.tasks)
    enrolled, failed, screened = _patients(site)
    for uid in (enrolled, failed):
        patient = page.open_patient(uid)  # type: ignore[attr-defined]
        assert patient is not None  # deletes itself on close
        tabs = patient.tabs  # type: ignore[attr-defined]
        for index in range(tabs.count()):
            tabs.setCurrentIndex(index)
            _settle(qtbot, window.tasks)
            found += [(f"patient / {tabs.tabText(index)} / {where}", text)
                      for where, text in visible_texts(patient)]
        if uid == enrolled:
            found += list(_form_dialog_texts(qtbot, window, patient))
        patient.close()
    found += list(_other_dialog_texts(qtbot, window, screened))
    problems = escapes(found)
    assert not problems, "text shown without translation:\n" + "\n".join(problems)


def _read_dialog(qtbot: QtBot, window: MainWindow, dialog: QDialog,
                 what: str) -> list[tuple[str, str]]:
    dialog.ask_unsaved = lambda: QMessageBox.StandardButton.Discard  # type: ignore
    dialog.show()
    _settle(qtbot, window.tasks)
    texts = [(f"{what} / {where}", text) for where, text in visible_texts(dialog)]
    dialog.close()
    return texts


def _form_dialog_texts(qtbot: QtBot, window: MainWindow,
                       patient: QWidget) -> Iterator[tuple[str, str]]:
    """Each form of each visit with forms, opened from the tab as a nurse opens it."""
    tab = patient.pages["visit_forms"]  # type: ignore[attr-defined]
    patient.tabs.setCurrentWidget(tab)  # type: ignore[attr-defined]
    _settle(qtbot, window.tasks)
    opened: set[str] = set()
    for row in range(tab.visits.rowCount()):
        tab.visits.selectRow(row)
        _settle(qtbot, window.tasks)
        visit = tab.current_visit()
        if visit is None:
            continue
        for form in visit.forms:
            if form.kind in opened:
                continue
            opened.add(form.kind)
            tab.dialog = None
            tab.open_form(form.kind)
            qtbot.waitUntil(lambda: tab.dialog is not None, timeout=10_000)
            yield from _read_dialog(qtbot, window, tab.dialog, f"form {form.kind}")
    assert {"labs", "adverse_events"} <= opened, opened


def _other_dialog_texts(qtbot: QtBot, window: MainWindow,
                        screened: str) -> Iterator[tuple[str, str]]:
    from ui.enrollment import EnrollmentDialog
    from ui.patients import NewPatientDialog
    from ui.schedule_tab import DateReasonDialog
    from ui.visit_forms import AdverseEventDialog

    session = window.session
    assert session is not None
    study = window.current_study()
    yield from _read_dialog(qtbot, window, NewPatientDialog(session, study, TODAY, window),
                            "new patient")
    yield from _read_dialog(qtbot, window, DateReasonDialog(
        "⟦x⟧", window, with_name=True, reason="required", prompt="⟦x⟧"), "visit date")
    if _can_enroll(PatientService(session), screened):
        yield from _read_dialog(qtbot, window, EnrollmentDialog(
            PatientService(session), screened, TODAY, window), "enrollment")
    del AdverseEventDialog
