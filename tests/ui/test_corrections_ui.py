"""Correcting what was recorded, in the window, by keyboard and mouse (issue 10, point 3):
each test types into the real dialogs and then reads the database."""

from __future__ import annotations

import random
from datetime import date

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gisttracker.services.patients import PatientService
from gisttracker.store.models import AuditLog
from gisttracker.store.models_course import CourseEvent
from gisttracker.store.models_patients import Patient, PatientIdentity, Screening
from gisttracker.store.models_visits import Visit
from tests.core.patients_helpers import TODAY, eligible_patient, set_site
from tests.ui.conftest import on_worker
from tests.ui.helpers import click_ok, click_row, retype, type_into_next_dialog
from ui.main_window import MainWindow
from ui.patient_actions import EndParticipationDialog, RegistrationDialog, ResumeParticipationDialog
from ui.patient_view import PatientWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "support raise")


def _patient(qtbot: QtBot, window: MainWindow, study: str = "RECTAL-LE",
             enroll: bool = True) -> tuple[str, PatientWindow]:
    session = window.session
    assert session is not None and window.context is not None

    def make() -> str:
        set_site(session)
        service = PatientService(session)
        patient = eligible_patient(service, study)
        if enroll:
            service.enroll(patient.uid, today=TODAY, rng=random.Random(1))
        return patient.uid

    uid = on_worker(qtbot, window, make)
    opened = window.context.open_patient(uid)
    qtbot.waitUntil(lambda: opened.header.text().startswith("ZJU-0001"), timeout=5000)
    return uid, opened


def _choose(qtbot: QtBot, combo, text: str) -> None:  # type: ignore[no-untyped-def]
    """Pick an entry of a drop-down by typing its first letters."""
    combo.setFocus()
    qtbot.keyClicks(combo, text)


def test_the_registration_is_corrected_from_the_patient_window(
        qtbot: QtBot, window: MainWindow) -> None:
    uid, opened = _patient(qtbot, window)
    qtbot.mouseClick(opened.details_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: isinstance(opened.dialog, RegistrationDialog), timeout=5000)
    dialog = opened.dialog
    assert isinstance(dialog, RegistrationDialog)
    assert dialog.dob.text() == "1966-03-15"
    retype(qtbot, dialog.dob.edit, "19660513")
    retype(qtbot, dialog.name, "Zhang Wei")
    _choose(qtbot, dialog.sex, "m")
    click_ok(qtbot, dialog)
    assert "reason" in dialog.messages["reason"].text().lower()  # refused: no reason yet
    assert dialog.isVisible()
    assert dialog.reason is not None
    qtbot.keyClicks(dialog.reason, "date of birth from the ID card")
    click_ok(qtbot, dialog)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    ident = PatientIdentity.get()
    assert (ident.date_of_birth, ident.name) == (date(1966, 5, 13), "Zhang Wei")
    assert Patient.get(Patient.uid == uid).sex == "male"
    assert AuditLog.get(AuditLog.field == "date_of_birth",
                        AuditLog.action == "update").reason == "date of birth from the ID card"
    opened.close()


def test_a_withdrawal_is_recorded_and_undone_from_the_status_button(
        qtbot: QtBot, window: MainWindow) -> None:
    uid, opened = _patient(qtbot, window)
    qtbot.mouseClick(opened.status_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: isinstance(opened.dialog, EndParticipationDialog), timeout=5000)
    dialog = opened.dialog
    assert isinstance(dialog, EndParticipationDialog)
    assert dialog.status.currentData() == "withdrawn"
    qtbot.keyClicks(dialog.on.edit, "2026-03-14")
    click_ok(qtbot, dialog)
    assert "reason for the withdrawal" in dialog.messages["reason"].text()
    assert dialog.reason is not None
    assert dialog.reason.placeholderText() == "required"  # said before OK, for a withdrawal
    qtbot.keyClicks(dialog.reason, "moved to another city")
    click_ok(qtbot, dialog)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    patient = Patient.get(Patient.uid == uid)
    assert (patient.status, patient.ended_on, patient.end_reason) == (
        "withdrawn", TODAY, "moved to another city")
    assert Visit.select().where(Visit.state == "cancelled").count() > 0
    qtbot.waitUntil(lambda: opened.header.text().endswith("withdrawn"), timeout=5000)

    qtbot.mouseClick(opened.status_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: isinstance(opened.dialog, ResumeParticipationDialog),
                    timeout=5000)
    undo = opened.dialog
    assert undo is not None and undo.reason is not None  # type: ignore[attr-defined]
    qtbot.keyClicks(undo.reason, "withdrawn by mistake: wrong patient")  # type: ignore[attr-defined]
    click_ok(qtbot, undo)
    qtbot.waitUntil(lambda: Patient.get(Patient.uid == uid).status == "enrolled",
                    timeout=5000)
    assert Visit.select().where(Visit.state == "cancelled").count() == 0
    qtbot.waitUntil(lambda: opened.header.text().endswith("enrolled"), timeout=5000)
    opened.close()


def test_a_mistaken_distant_recurrence_is_corrected_then_deleted(
        qtbot: QtBot, window: MainWindow) -> None:
    uid, opened = _patient(qtbot, window)
    course = opened.pages["course"]
    opened.tabs.setCurrentWidget(course)
    _choose(qtbot, course.kind, "dist")  # type: ignore[attr-defined]
    assert course.kind.currentData() == "distant_recurrence"  # type: ignore[attr-defined]
    qtbot.keyClicks(course.occurred_on.edit, "2026-03-14")  # type: ignore[attr-defined]
    qtbot.keyClicks(course.event_site, "liver")  # type: ignore[attr-defined]
    qtbot.mouseClick(course.add_event_button, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: CourseEvent.select().count() == 1, timeout=5000)
    qtbot.waitUntil(lambda: course.events_table.rowCount() == 1, timeout=5000)  # type: ignore[attr-defined]

    # Correct its site: select the row, load it into the form, retype, save with a reason.
    click_row(qtbot, course.events_table, 0)  # type: ignore[attr-defined]
    section = course.event_section  # type: ignore[attr-defined]
    qtbot.mouseClick(section.correct, Qt.MouseButton.LeftButton)
    assert section.save.text() == "Save correction…"
    assert course.occurred_on.text() == "2026-03-14"  # type: ignore[attr-defined]
    retype(qtbot, course.event_site, "lung")  # type: ignore[attr-defined]
    type_into_next_dialog(qtbot, "site from the CT report")
    qtbot.mouseClick(section.save, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: CourseEvent.get().site == "lung", timeout=5000)
    assert AuditLog.get((AuditLog.field == "site")
                        & (AuditLog.action == "update")).reason == "site from the CT report"
    qtbot.waitUntil(lambda: section.save.text() == "Add event", timeout=5000)

    # Delete it: it was never a recurrence.
    qtbot.waitUntil(lambda: course.events_table.item(0, 3).text() == "lung",  # type: ignore[attr-defined]
                    timeout=5000)
    click_row(qtbot, course.events_table, 0)  # type: ignore[attr-defined]
    type_into_next_dialog(qtbot, "not a recurrence: scar tissue")
    qtbot.mouseClick(section.delete, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: CourseEvent.select().count() == 0, timeout=5000)
    qtbot.waitUntil(lambda: course.events_table.rowCount() == 0, timeout=5000)  # type: ignore[attr-defined]
    assert AuditLog.select().where((AuditLog.action == "delete")
                                   & (AuditLog.reason == "not a recurrence: scar tissue")
                                   ).exists()
    assert Patient.get(Patient.uid == uid).status == "enrolled"
    opened.close()


def test_an_enrolled_patients_screening_is_corrected_with_a_reason(
        qtbot: QtBot, window: MainWindow) -> None:
    uid, opened = _patient(qtbot, window)
    tab = opened.pages["screening"]
    qtbot.waitUntil(lambda: tab.correct_button.isVisible(), timeout=5000)  # type: ignore[attr-defined]
    assert not tab.numbers["ecog"][0].isEnabled()  # type: ignore[attr-defined]
    qtbot.mouseClick(tab.correct_button, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
    ecog = tab.numbers["ecog"][0]  # type: ignore[attr-defined]
    assert ecog.isEnabled()
    retype(qtbot, ecog, "3")
    type_into_next_dialog(qtbot, "ECOG misread from the chart")
    qtbot.mouseClick(tab.save_button, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: Screening.get().ecog == 3, timeout=5000)
    qtbot.waitUntil(lambda: "protocol deviation" in tab.notice.text(), timeout=5000)  # type: ignore[attr-defined]
    assert Patient.get(Patient.uid == uid).status == "enrolled"
    assert AuditLog.get(AuditLog.field == "ecog", AuditLog.action == "update").reason == \
        "ECOG misread from the chart"
    opened.close()


def test_arm_b_choice_is_recorded_after_randomization(
        qtbot: QtBot, window: MainWindow) -> None:
    session = window.session
    assert session is not None and window.context is not None

    def make() -> str:
        set_site(session)
        service = PatientService(session)
        seed = 0
        while True:
            patient = eligible_patient(service, "NCT03862768")
            if service.enroll(patient.uid, today=TODAY,
                              rng=random.Random(seed)).arm_code == "B":
                return patient.uid
            seed += 1

    uid = on_worker(qtbot, window, make)
    opened = window.context.open_patient(uid)
    tab = opened.pages["screening"]
    qtbot.waitUntil(lambda: tab.choice_button.isVisible(), timeout=5000)  # type: ignore[attr-defined]
    assert "not recorded yet" in tab.enrollment_line.text()  # type: ignore[attr-defined]
    qtbot.mouseClick(tab.choice_button, Qt.MouseButton.LeftButton)  # type: ignore[attr-defined]
    dialog = tab.dialog  # type: ignore[attr-defined]
    assert dialog is not None
    box = dialog.fields["option"]
    _choose(qtbot, box, "s")
    assert box.currentData() == "SU37.5"
    click_ok(qtbot, dialog)
    qtbot.waitUntil(lambda: Patient.get(Patient.uid == uid).arm_option == "SU37.5",
                    timeout=5000)
    qtbot.waitUntil(lambda: "(SU37.5)" in opened.header.text(), timeout=5000)
    assert QApplication.instance() is not None
    opened.close()
