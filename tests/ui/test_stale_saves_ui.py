"""No lost updates on the Tumour assessments and Treatment & course tabs (issue 13).

Nora has a tab open; meanwhile li.wei, at another workstation, saves a change to the same
record through the services. Nora types into the tab and saves, as a person does (cells
edited with F2, fields retyped, buttons clicked, the reason typed into its prompt): the
save is refused with a message naming li.wei and what he changed, the database still holds
his value, and after "Reload" she redoes her change and it is saved — and a second save in
a row by her goes through too (the version she holds moved on with her own save).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot

from gisttracker.services.course import (
    CourseService,
    EventInput,
    ExposureInput,
    PathologyInput,
    SurgeryInput,
)
from gisttracker.services.policy import trusted_actor
from gisttracker.services.tumour import AssessmentInput, LesionInput, TumourService
from gisttracker.session import Session
from gisttracker.store.models_course import (
    CourseEvent,
    LesionMeasurement,
    Pathology,
    Surgery,
    TreatmentExposure,
    TreatmentInterruption,
    TumourAssessment,
)
from gisttracker.store.models_patients import Patient
from tests.core.course_fixtures import TODAY, enrolled_patient
from tests.ui.helpers import click_ok, click_row, retype, type_into_next_dialog, when_dialog
from ui.course_tab import CourseTab, Section
from ui.tasks import TaskManager
from ui.tumour_tab import TumourTab

# The offscreen platform says so whenever a top-level window is shown.
pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")


@pytest.fixture
def tasks() -> Iterator[TaskManager]:
    manager = TaskManager()
    yield manager
    manager.shutdown()


def as_user(session: Session, who: str) -> None:
    session.tracker.sign_in(trusted_actor(who))


def meanwhile(session: Session, who: str, change: Any) -> None:
    """``who`` saves ``change`` at another workstation (the tab is not told)."""
    as_user(session, who)
    try:
        change()
    finally:
        as_user(session, "nora")


def click(qtbot: QtBot, button: QPushButton) -> None:
    assert button.isVisible() and button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def edit_cell(qtbot: QtBot, table: QTableWidget, row: int, column: int, text: str) -> None:
    """Click a cell, F2 to edit it, type over it, Return."""
    click_row(qtbot, table, row, column)
    qtbot.keyClick(table, Qt.Key.Key_F2)
    editors = [e for e in table.viewport().findChildren(QLineEdit) if e.isVisible()]
    assert len(editors) == 1, editors
    editors[0].selectAll()
    qtbot.keyClicks(editors[0], text)
    qtbot.keyClick(editors[0], Qt.Key.Key_Return)
    # The delegate commits on the next turn of the event loop, as it does for a person.
    qtbot.waitUntil(lambda: table.state() != QAbstractItemView.State.EditingState,
                    timeout=5000)
    assert table.item(row, column).text() == text


def answer_stale_box(qtbot: QtBot, seen: list[str], *, reload: bool) -> None:
    """When the refusal comes, read it and press Reload (or keep what was typed)."""
    def answer(box: QWidget) -> None:
        assert isinstance(box, QMessageBox), box
        seen.append(box.text())
        word = "Reload" if reload else "Keep"
        qtbot.mouseClick(next(b for b in box.buttons() if word in b.text()),
                         Qt.MouseButton.LeftButton)

    when_dialog(answer)


def save_with_reason(qtbot: QtBot, button: QPushButton, reason: str) -> None:
    type_into_next_dialog(qtbot, reason)
    click(qtbot, button)


def idle(qtbot: QtBot, tasks: TaskManager) -> None:
    qtbot.waitUntil(lambda: not tasks.busy, timeout=10_000)


# ----- tumour assessments ---------------------------------------------------------------------
def _tumour_tab(qtbot: QtBot, session: Session, tasks: TaskManager,
                patient: Patient) -> TumourTab:
    as_user(session, "nora")
    tab = TumourTab()
    tab.today_fn = lambda: TODAY
    qtbot.addWidget(tab)
    tab.show()
    tab.set_patient(session, tasks, patient.uid)
    qtbot.waitUntil(lambda: tab.list.rowCount() >= 1, timeout=10_000)
    idle(qtbot, tasks)
    click_row(qtbot, tab.list, 0)  # the baseline, into the editor
    qtbot.waitUntil(lambda: tab.editing_uid is not None, timeout=5000)
    return tab


def _baseline(session: Session, patient: Patient) -> str:
    return TumourService(session).record(patient.uid, AssessmentInput(
        date(2024, 1, 5), (LesionInput("T1", "stomach", 60.0), LesionInput("T2", "liver", 30.0)),
        is_baseline=True), today=TODAY)


def _diameters(uid: str) -> dict[str, float | None]:
    row = TumourAssessment.get(TumourAssessment.uid == uid)
    return {m.label: m.diameter_mm
            for m in LesionMeasurement.select().where(LesionMeasurement.assessment == row)}


def _cell(tab: TumourTab, label: str, column: int = 3) -> str:
    for r in range(tab.lesions.rowCount()):
        if tab.lesions.item(r, 0).text() == label:
            return tab.lesions.item(r, column).text()
    raise AssertionError(label)


def _row_of(tab: TumourTab, label: str) -> int:
    return next(r for r in range(tab.lesions.rowCount())
                if tab.lesions.item(r, 0).text() == label)


def test_a_tumour_correction_over_someone_elses_is_refused_then_reload_and_redo(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = enrolled_patient(session, "NCT04933669")
    uid = _baseline(session, patient)
    tab = _tumour_tab(qtbot, session, tasks, patient)
    assert _cell(tab, "T1") == "60"
    # li.wei re-measures T1 at his workstation while Nora has the baseline open.
    meanwhile(session, "li.wei", lambda: TumourService(session).record(
        patient.uid, AssessmentInput(date(2024, 1, 5), (
            LesionInput("T1", "stomach", 62.0), LesionInput("T2", "liver", 30.0)),
            is_baseline=True), today=TODAY, uid=uid, reason="re-measured on the CT"))

    edit_cell(qtbot, tab.lesions, _row_of(tab, "T2"), 3, "35")
    seen: list[str] = []
    save_with_reason(qtbot, tab.save_button, "T2 mistyped")
    answer_stale_box(qtbot, seen, reload=True)
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert "changed by someone else" in seen[0]
    assert "li.wei changed Diameter from 60.0 mm to 62.0 mm" in seen[0]
    assert "re-measured on the CT" in seen[0]
    # Nothing of Nora's was written, and li's value stands.
    assert _diameters(uid) == {"T1": 62.0, "T2": 30.0}
    # Reloaded: the editor shows what is stored now.
    qtbot.waitUntil(lambda: _cell(tab, "T1") == "62" and _cell(tab, "T2") == "30",
                    timeout=5000)
    idle(qtbot, tasks)

    # She redoes her change; it is saved, over li's version, keeping his T1.
    edit_cell(qtbot, tab.lesions, _row_of(tab, "T2"), 3, "35")
    save_with_reason(qtbot, tab.save_button, "T2 mistyped")
    qtbot.waitUntil(lambda: _diameters(uid) == {"T1": 62.0, "T2": 35.0}, timeout=10_000)
    qtbot.waitUntil(lambda: tab.save_button.isEnabled() and not tasks.busy, timeout=5000)
    # And again at once: her own save moved the versions she holds on.
    edit_cell(qtbot, tab.lesions, _row_of(tab, "T1"), 3, "63")
    save_with_reason(qtbot, tab.save_button, "T1 rounded wrongly")
    qtbot.waitUntil(lambda: _diameters(uid) == {"T1": 63.0, "T2": 35.0}, timeout=10_000)
    idle(qtbot, tasks)
    assert tab.errors.text() == ""


def test_a_lesion_added_meanwhile_is_not_deleted_by_a_stale_save(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = enrolled_patient(session, "NCT04933669")
    uid = _baseline(session, patient)
    tab = _tumour_tab(qtbot, session, tasks, patient)
    # li.wei adds a third target the radiologist reported late.
    meanwhile(session, "li.wei", lambda: TumourService(session).record(
        patient.uid, AssessmentInput(date(2024, 1, 5), (
            LesionInput("T1", "stomach", 60.0), LesionInput("T2", "liver", 30.0),
            LesionInput("T3", "liver", 21.0)), is_baseline=True),
        today=TODAY, uid=uid, reason="third target from the report"))

    # Nora's editor has T1 and T2 only: saving it would have deleted T3.
    edit_cell(qtbot, tab.lesions, _row_of(tab, "T2"), 3, "31")
    seen: list[str] = []
    save_with_reason(qtbot, tab.save_button, "T2 re-read")
    answer_stale_box(qtbot, seen, reload=False)  # keep what she typed on screen
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert "added by someone else" in seen[0] and "li.wei added it" in seen[0]
    assert _diameters(uid) == {"T1": 60.0, "T2": 30.0, "T3": 21.0}
    # Kept on screen, and said beside the editor too.
    assert _cell(tab, "T2") == "31" and "li.wei added it" in tab.errors.text()

    # She tries again, is refused again, and this time reloads: T3 appears; she redoes.
    save_with_reason(qtbot, tab.save_button, "T2 re-read")
    answer_stale_box(qtbot, seen, reload=True)
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=10_000)
    assert _diameters(uid) == {"T1": 60.0, "T2": 30.0, "T3": 21.0}
    qtbot.waitUntil(lambda: tab.lesions.rowCount() == 3, timeout=5000)
    assert _cell(tab, "T2") == "30"
    idle(qtbot, tasks)
    edit_cell(qtbot, tab.lesions, _row_of(tab, "T2"), 3, "31")
    save_with_reason(qtbot, tab.save_button, "T2 re-read")
    qtbot.waitUntil(lambda: _diameters(uid) == {"T1": 60.0, "T2": 31.0, "T3": 21.0},
                    timeout=10_000)


def test_deleting_an_assessment_someone_changed_meanwhile_is_refused(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = enrolled_patient(session, "NCT04933669")
    uid = _baseline(session, patient)
    tab = _tumour_tab(qtbot, session, tasks, patient)
    meanwhile(session, "li.wei", lambda: TumourService(session).record(
        patient.uid, AssessmentInput(date(2024, 1, 6), (
            LesionInput("T1", "stomach", 60.0), LesionInput("T2", "liver", 30.0)),
            is_baseline=True), today=TODAY, uid=uid, reason="date of the CT"))
    seen: list[str] = []
    save_with_reason(qtbot, tab.delete_button, "entered twice")
    answer_stale_box(qtbot, seen, reload=True)
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert "li.wei changed Date of the assessment from 2024-01-05 to 2024-01-06" in seen[0]
    assert TumourAssessment.get_or_none(TumourAssessment.uid == uid) is not None
    qtbot.waitUntil(lambda: tab.date.text() == "2024-01-06", timeout=5000)
    idle(qtbot, tasks)
    # Having seen it, she deletes it.
    save_with_reason(qtbot, tab.delete_button, "entered twice")
    qtbot.waitUntil(lambda: TumourAssessment.get_or_none(TumourAssessment.uid == uid) is None,
                    timeout=10_000)
    qtbot.waitUntil(lambda: tab.list.rowCount() == 0, timeout=5000)


# ----- treatment and course -------------------------------------------------------------------
def _course_tab(qtbot: QtBot, session: Session, tasks: TaskManager,
                patient: Patient) -> CourseTab:
    as_user(session, "nora")
    tab = CourseTab()
    tab.today_fn = lambda: TODAY
    qtbot.addWidget(tab)
    tab.show()
    tab.set_patient(session, tasks, patient.uid)
    qtbot.waitUntil(lambda: tab.loaded is not None, timeout=10_000)
    idle(qtbot, tasks)
    return tab


def _start_correction(qtbot: QtBot, tab: CourseTab, section: Section, row: int = 0) -> None:
    click_row(qtbot, section.table, row)
    click(qtbot, section.correct)
    assert section.editing is not None


def _exposure(session: Session, patient: Patient) -> str:
    return CourseService(session).add_exposure(patient.uid, ExposureInput(
        "imatinib", 400, "preoperative", date(2024, 1, 15), date(2024, 6, 30)), today=TODAY)


def test_an_exposure_correction_over_someone_elses_is_refused_then_reload_and_redo(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = enrolled_patient(session, "RECTAL-LE", arm="LE")
    uid = _exposure(session, patient)
    tab = _course_tab(qtbot, session, tasks, patient)
    _start_correction(qtbot, tab, tab.exposure_section)
    assert tab.dose.text() == "400"
    meanwhile(session, "li.wei", lambda: CourseService(session).update_exposure(
        uid, ExposureInput("imatinib", 300, "preoperative", date(2024, 1, 15),
                           date(2024, 6, 30)), today=TODAY, reason="dose reduced in clinic"))

    retype(qtbot, tab.stop_on.edit, "2024-06-20")  # type: ignore[attr-defined]
    seen: list[str] = []
    general = tab.exposure_form.general
    beside: list[tuple[str, str]] = []

    def answer(box: QWidget) -> None:
        # While the box is up, the refusal is also said beside the form, in red (not the
        # amber of the correction's note).
        beside.append((general.text(), general.styleSheet()))
        assert isinstance(box, QMessageBox)
        seen.append(box.text())
        qtbot.mouseClick(next(b for b in box.buttons() if "Reload" in b.text()),
                         Qt.MouseButton.LeftButton)

    save_with_reason(qtbot, tab.exposure_section.save, "last dose misread")
    when_dialog(answer)
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert "li.wei changed Dose from 400.0 mg/day to 300.0 mg/day" in seen[0]
    row = TreatmentExposure.get(TreatmentExposure.uid == uid)
    assert (row.dose_mg_per_day, row.stop_on) == (300.0, date(2024, 6, 30))
    assert "li.wei changed Dose from 400.0 mg/day" in beside[0][0] and "#b00020" in beside[0][1]
    # The correction is filled again with what is stored now; Nora redoes hers.
    qtbot.waitUntil(lambda: tab.dose.text() == "300", timeout=5000)
    idle(qtbot, tasks)
    assert tab.exposure_section.editing == uid
    assert general.text().startswith("Correcting the selected treatment exposure")
    assert tab.stop_on.text() == "2024-06-30"  # type: ignore[attr-defined]
    retype(qtbot, tab.stop_on.edit, "2024-06-20")  # type: ignore[attr-defined]
    save_with_reason(qtbot, tab.exposure_section.save, "last dose misread")
    qtbot.waitUntil(lambda: TreatmentExposure.get(TreatmentExposure.uid == uid).stop_on
                    == date(2024, 6, 20), timeout=10_000)
    assert TreatmentExposure.get(TreatmentExposure.uid == uid).dose_mg_per_day == 300.0
    idle(qtbot, tasks)
    # A second correction in a row by her goes through.
    _start_correction(qtbot, tab, tab.exposure_section)
    retype(qtbot, tab.dose, "350")
    save_with_reason(qtbot, tab.exposure_section.save, "dose as prescribed")
    qtbot.waitUntil(lambda: TreatmentExposure.get(TreatmentExposure.uid == uid)
                    .dose_mg_per_day == 350.0, timeout=10_000)
    idle(qtbot, tasks)
    assert tab.exposure_form.general.text() == ""


def _surgery(session: Session, patient: Patient) -> str:
    return CourseService(session).record_surgery(patient.uid, SurgeryInput(
        date(2024, 7, 1), "tme", "R0"), today=TODAY)


KINDS = {
    # section attribute, how li changes it, the field Nora retypes and with what,
    # what the refusal names, and the stored value that must survive.
    "surgery": ("surgery_section", _surgery,
                lambda s, p, uid: CourseService(s).record_surgery(
                    p.uid, SurgeryInput(date(2024, 7, 1), "tme", "R1"), today=TODAY, uid=uid,
                    reason="margin from the final report"),
                "complications", "anastomotic leak",
                "li.wei changed Resection margin from R0 to R1",
                lambda uid: (Surgery.get(Surgery.uid == uid).margin,
                             Surgery.get(Surgery.uid == uid).complications),
                ("R1", None), ("R1", "anastomotic leak")),
    "pathology": ("pathology_section",
                  lambda s, p: CourseService(s).record_pathology(p.uid, PathologyInput(
                      date(2024, 7, 8), "rectum", 6.0, 3.0), today=TODAY),
                  lambda s, p, uid: CourseService(s).record_pathology(p.uid, PathologyInput(
                      date(2024, 7, 8), "rectum", 6.5, 3.0), today=TODAY, uid=uid,
                      reason="size from the slide"),
                  "grade", "TRG 2",
                  "li.wei changed Maximum tumour diameter from 6.0 cm to 6.5 cm",
                  lambda uid: (Pathology.get(Pathology.uid == uid).tumour_size_cm,
                               Pathology.get(Pathology.uid == uid).response_grade),
                  (6.5, None), (6.5, "TRG 2")),
    "event": ("event_section",
              lambda s, p: CourseService(s).record_event(p.uid, EventInput(
                  "local_recurrence", date(2025, 2, 1), site="anastomosis"), today=TODAY),
              lambda s, p, uid: CourseService(s).record_event(p.uid, EventInput(
                  "local_recurrence", date(2025, 2, 3), site="anastomosis"), today=TODAY,
                  uid=uid, reason="date of the MRI"),
              "event_site", "presacral",
              "li.wei changed Date from 2025-02-01 to 2025-02-03",
              lambda uid: (CourseEvent.get(CourseEvent.uid == uid).occurred_on,
                           CourseEvent.get(CourseEvent.uid == uid).site),
              (date(2025, 2, 3), "anastomosis"), (date(2025, 2, 3), "presacral")),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_stale_correction_of_surgery_pathology_or_an_event_is_refused(
        qtbot: QtBot, session: Session, tasks: TaskManager, kind: str) -> None:
    (section_name, make, change, field, typed, named, stored, after_refusal,
     after_redo) = KINDS[kind]
    patient = enrolled_patient(session, "RECTAL-LE", arm="LE")
    uid = make(session, patient)
    tab = _course_tab(qtbot, session, tasks, patient)
    section: Section = getattr(tab, section_name)
    _start_correction(qtbot, tab, section)
    meanwhile(session, "li.wei", lambda: change(session, patient, uid))
    line = getattr(tab, field)
    retype(qtbot, line, typed)
    seen: list[str] = []
    save_with_reason(qtbot, section.save, "typed later")
    answer_stale_box(qtbot, seen, reload=True)
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert named in seen[0]
    assert stored(uid) == after_refusal
    qtbot.waitUntil(lambda: line.text() == str(after_refusal[1] or ""), timeout=5000)
    idle(qtbot, tasks)
    assert section.editing == uid
    retype(qtbot, line, typed)
    save_with_reason(qtbot, section.save, "typed later")
    qtbot.waitUntil(lambda: stored(uid) == after_redo, timeout=10_000)
    idle(qtbot, tasks)


def test_deleting_an_exposure_whose_interruption_was_added_meanwhile_is_refused(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = enrolled_patient(session, "RECTAL-LE", arm="LE")
    uid = _exposure(session, patient)
    tab = _course_tab(qtbot, session, tasks, patient)
    meanwhile(session, "li.wei", lambda: CourseService(session).add_interruption(
        uid, date(2024, 3, 1), date(2024, 3, 7), reason="neutropenia", today=TODAY))
    click_row(qtbot, tab.exposures, 0)
    seen: list[str] = []
    save_with_reason(qtbot, tab.exposure_section.delete, "entered for the wrong patient")
    answer_stale_box(qtbot, seen, reload=True)
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert "added by someone else" in seen[0] and "li.wei added it" in seen[0]
    assert TreatmentExposure.select().where(TreatmentExposure.uid == uid).exists()
    assert TreatmentInterruption.select().count() == 1
    # Reloaded, the interruption shows; deleting now takes both, knowingly.
    qtbot.waitUntil(lambda: tab.interruptions.rowCount() == 1, timeout=5000)
    idle(qtbot, tasks)
    click_row(qtbot, tab.exposures, 0)
    save_with_reason(qtbot, tab.exposure_section.delete, "entered for the wrong patient")
    qtbot.waitUntil(lambda: not TreatmentExposure.select().exists(), timeout=10_000)
    assert TreatmentInterruption.select().count() == 0


def test_deleting_an_event_someone_corrected_meanwhile_is_refused(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    patient = enrolled_patient(session, "RECTAL-LE", arm="LE")
    service = CourseService(session)
    uid = service.record_event(patient.uid, EventInput("local_recurrence", date(2025, 2, 1)),
                               today=TODAY)
    tab = _course_tab(qtbot, session, tasks, patient)
    meanwhile(session, "li.wei", lambda: service.record_event(
        patient.uid, EventInput("local_recurrence", date(2025, 2, 1), site="presacral"),
        today=TODAY, uid=uid, reason="site from the MRI"))
    click_row(qtbot, tab.events_table, 0)
    seen: list[str] = []
    save_with_reason(qtbot, tab.event_section.delete, "not a recurrence")
    answer_stale_box(qtbot, seen, reload=True)
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert "li.wei changed Site of the event from (empty) to presacral" in seen[0]
    assert CourseEvent.get(CourseEvent.uid == uid).site == "presacral"
    qtbot.waitUntil(lambda: tab.events_table.item(0, 3).text() == "presacral", timeout=5000)
    idle(qtbot, tasks)
    click_row(qtbot, tab.events_table, 0)
    save_with_reason(qtbot, tab.event_section.delete, "not a recurrence")
    qtbot.waitUntil(lambda: not CourseEvent.select().where(CourseEvent.uid == uid).exists(),
                    timeout=10_000)


@pytest.mark.parametrize("action", ["interruption", "dose change"])
def test_an_interruption_or_dose_change_of_an_exposure_changed_meanwhile_is_refused(
        qtbot: QtBot, session: Session, tasks: TaskManager, action: str) -> None:
    patient = enrolled_patient(session, "RECTAL-LE", arm="LE")
    uid = _exposure(session, patient)
    tab = _course_tab(qtbot, session, tasks, patient)
    meanwhile(session, "li.wei", lambda: CourseService(session).update_exposure(
        uid, ExposureInput("imatinib", 300, "preoperative", date(2024, 1, 15),
                           date(2024, 6, 30)), today=TODAY, reason="dose reduced"))
    click_row(qtbot, tab.exposures, 0)
    dialogs: list[Any] = []
    when_dialog(dialogs.append)
    buttons = {b.text(): b for b in tab.findChildren(QPushButton)}
    click(qtbot, buttons["Interruption of selected…" if action == "interruption"
                         else "Dose change of selected…"])
    qtbot.waitUntil(lambda: bool(dialogs), timeout=5000)
    dialog = dialogs[0]
    if action == "interruption":
        retype(qtbot, dialog.fields["start_on"].edit, "2024-05-01")
        retype(qtbot, dialog.fields["end_on"].edit, "2024-05-07")
    else:
        retype(qtbot, dialog.fields["on"].edit, "2024-05-01")
        retype(qtbot, dialog.fields["dose"], "600")
    retype(qtbot, dialog.reason, "typed from the clinic letter")
    seen: list[str] = []
    answer_stale_box(qtbot, seen, reload=True)
    click_ok(qtbot, dialog)
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert "li.wei changed Dose from 400.0 mg/day to 300.0 mg/day" in seen[0]
    # Nothing written: no interruption, no second exposure; li's dose stands.
    assert TreatmentInterruption.select().count() == 0
    assert [(e.dose_mg_per_day, e.stop_on) for e in TreatmentExposure.select()] == [
        (300.0, date(2024, 6, 30))]
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)  # reloading closed it
    qtbot.waitUntil(lambda: tab.exposures.item(0, 1).text() == "300", timeout=5000)
    idle(qtbot, tasks)
