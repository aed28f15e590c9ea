"""No lost update on the Screening & enrollment tab when a change arrives while typing (issue 13).

Nora has the patient's window open in the main window and types into the screening form.
Meanwhile li.wei, at another workstation (his own connection to the same file), saves the
same patient's screening through the services. The window sees the file change and the one
change signal refreshes the tab — while Nora's typing is unsaved. That refresh must keep
her typing *and* the versions her form was filled with: her save is then refused, naming
li.wei and what he changed, and the database still holds his value. She reloads, types
again and saves; the database holds both.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from gisttracker.services.patients import PatientService
from gisttracker.services.policy import trusted_actor
from gisttracker.session import open_session
from tests.core.patients_helpers import (
    TODAY,
    eligible_patient,
    good_data,
    new_patient,
    set_site,
)
from tests.ui.conftest import on_worker
from tests.ui.helpers import retype, type_into_next_dialog, when_dialog
from ui.main_window import MainWindow
from ui.patient_view import PatientWindow
from ui.screening import ScreeningTab

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "support raise")

STUDY = "NCT04933669"


def _open(qtbot: QtBot, window: MainWindow, *, enroll: bool = False,
          no_alt: bool = False) -> tuple[str, PatientWindow, ScreeningTab]:
    session = window.session
    assert session is not None and window.context is not None

    def make() -> str:
        set_site(session)
        service = PatientService(session)
        if no_alt:
            patient = new_patient(service, STUDY)
            data = good_data(service.study(STUDY))
            data.values["ecog"] = 3
            del data.labs["alt"]
            service.save_screening(patient.uid, data, today=TODAY)
            return patient.uid
        patient = eligible_patient(service, STUDY)
        if enroll:
            service.enroll(patient.uid, today=TODAY, rng=random.Random(1))
        return patient.uid

    uid = on_worker(qtbot, window, make)
    # The window has looked at the file once: a later commit by someone else is news.
    window.context.check_now()
    _idle(qtbot, window)
    opened = window.context.open_patient(uid)
    tab = opened.pages["screening"]
    assert isinstance(tab, ScreeningTab)
    size = tab.numbers["tumour_size_cm"][0]
    qtbot.waitUntil(lambda: size.text() == "12" and tab.criteria.rowCount() > 0,
                    timeout=10_000)
    _idle(qtbot, window)
    return uid, opened, tab


def _idle(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.tasks.busy, timeout=10_000)


def _li_corrects_the_size(path: Path, uid: str, *, enrolled: bool) -> None:
    """li.wei, at his workstation, sets the tumour size to 13.5 cm (his own connection)."""
    other = open_session(path)
    try:
        other.tracker.sign_in(trusted_actor("li.wei"))
        service = PatientService(other)
        data = good_data(other.studies[STUDY])
        data.values["tumour_size_cm"] = 13.5
        if enrolled:
            service.correct_screening(uid, data, today=TODAY, reason="size from the report")
        else:
            service.save_screening(uid, data, today=TODAY)
    finally:
        other.close()


def _window_sees_it(qtbot: QtBot, window: MainWindow, tab: ScreeningTab) -> None:
    """The window's watch notices the other connection's commit; the change signal reaches
    the tab, which reads the screening again (with what Nora typed still unsaved)."""
    assert window.context is not None
    reloads: list[object] = []
    loaded = tab._loaded
    tab._loaded = lambda answer: (reloads.append(answer), loaded(answer))  # type: ignore[method-assign]
    try:
        with qtbot.waitSignal(window.context.changed, timeout=10_000):
            window.context.check_now()
        qtbot.waitUntil(lambda: bool(reloads), timeout=10_000)
        _idle(qtbot, window)
    finally:
        tab._loaded = loaded  # type: ignore[method-assign]


def _click(qtbot: QtBot, button: QPushButton) -> None:
    assert button.isVisible() and button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _answer_stale_box(qtbot: QtBot, seen: list[str]) -> None:
    def answer(box: QWidget) -> None:
        assert isinstance(box, QMessageBox), box
        seen.append(box.text())
        qtbot.mouseClick(next(b for b in box.buttons() if "Reload" in b.text()),
                         Qt.MouseButton.LeftButton)

    when_dialog(answer)


def _refused_or_written(qtbot: QtBot, service: PatientService, uid: str,
                        seen: list[str]) -> None:
    """Wait for the save's answer: the refusal box, or Nora's values in the database."""
    qtbot.waitUntil(lambda: bool(seen) or _stored(service, uid) != (1, 13.5), timeout=10_000)


def _stored(service: PatientService, uid: str) -> tuple[Any, Any]:
    latest = service.latest_screening(uid)
    assert latest is not None
    return latest.ecog, latest.tumour_size_cm


def test_typing_kept_through_someone_elses_change_is_refused_on_save_then_redone(
        qtbot: QtBot, window: MainWindow, db_path: Path) -> None:
    uid, opened, tab = _open(qtbot, window, enroll=False)
    service = PatientService(window.session)  # type: ignore[arg-type]
    ecog = tab.numbers["ecog"][0]
    size = tab.numbers["tumour_size_cm"][0]
    assert (ecog.text(), size.text()) == ("1", "12")
    retype(qtbot, ecog, "0")  # Nora types; not saved yet
    assert tab.save_button.isEnabled()

    _li_corrects_the_size(db_path, uid, enrolled=False)
    _window_sees_it(qtbot, window, tab)
    # Her typing is still there (the refresh did not wipe it) and Save is still offered.
    assert (ecog.text(), size.text()) == ("0", "12")

    seen: list[str] = []
    _answer_stale_box(qtbot, seen)
    _click(qtbot, tab.save_button)
    _refused_or_written(qtbot, service, uid, seen)
    # Nothing of Nora's was written: li's size stands (and the ECOG as it was) — without
    # the versions kept, her save wrote (0, 12.0) over his 13.5.
    assert _stored(service, uid) == (1, 13.5)
    assert "changed by someone else" in seen[0]
    assert "li.wei changed Maximum tumour diameter from 12.0 cm to 13.5 cm" in seen[0]
    # Reloaded: the form shows what is stored now.
    qtbot.waitUntil(lambda: (ecog.text(), size.text()) == ("1", "13.5"), timeout=10_000)
    _idle(qtbot, window)

    # She types her change again and saves: it goes through, keeping li's size.
    retype(qtbot, ecog, "0")
    _click(qtbot, tab.save_button)
    qtbot.waitUntil(lambda: _stored(service, uid) == (0, 13.5), timeout=10_000)
    _idle(qtbot, window)
    # And once more at once: her own save moved the versions she holds on.
    qtbot.waitUntil(lambda: not tab.dirty and ecog.text() == "0", timeout=10_000)
    retype(qtbot, size, "14")
    _click(qtbot, tab.save_button)
    qtbot.waitUntil(lambda: _stored(service, uid) == (0, 14.0), timeout=10_000)
    _idle(qtbot, window)
    assert "someone else" not in tab.status_line.text()
    opened.close()


def test_a_correction_typed_while_someone_elses_arrives_is_refused_then_redone(
        qtbot: QtBot, window: MainWindow, db_path: Path) -> None:
    uid, opened, tab = _open(qtbot, window, enroll=True)
    service = PatientService(window.session)  # type: ignore[arg-type]
    ecog = tab.numbers["ecog"][0]
    size = tab.numbers["tumour_size_cm"][0]
    qtbot.waitUntil(lambda: tab.correct_button.isVisible(), timeout=10_000)
    _click(qtbot, tab.correct_button)  # "Correct screening…": the form opens for editing
    retype(qtbot, ecog, "0")

    _li_corrects_the_size(db_path, uid, enrolled=True)
    _window_sees_it(qtbot, window, tab)
    assert (ecog.text(), size.text()) == ("0", "12")
    assert tab.correcting

    seen: list[str] = []
    type_into_next_dialog(qtbot, "ECOG from the clinic letter")
    _click(qtbot, tab.save_button)  # "Save correction…": the reason is typed, then refused
    _answer_stale_box(qtbot, seen)
    _refused_or_written(qtbot, service, uid, seen)
    assert _stored(service, uid) == (1, 13.5)
    assert "li.wei changed Maximum tumour diameter from 12.0 cm to 13.5 cm" in seen[0]
    assert "size from the report" in seen[0]
    qtbot.waitUntil(lambda: (ecog.text(), size.text()) == ("1", "13.5"), timeout=10_000)
    _idle(qtbot, window)

    # Reloaded (the correction was dropped with the typing): correct again and save.
    _click(qtbot, tab.correct_button)
    retype(qtbot, ecog, "0")
    type_into_next_dialog(qtbot, "ECOG from the clinic letter")
    _click(qtbot, tab.save_button)
    qtbot.waitUntil(lambda: _stored(service, uid) == (0, 13.5), timeout=10_000)
    _idle(qtbot, window)
    opened.close()


def _alt(service: PatientService, uid: str) -> float | None:
    latest = service.latest_screening(uid)
    assert latest is not None
    lab = service.screening_data(latest).labs.get("alt")
    return None if lab is None else lab.value


def test_a_lab_value_added_by_someone_else_meanwhile_is_not_deleted_by_the_save(
        qtbot: QtBot, window: MainWindow, db_path: Path) -> None:
    uid, opened, tab = _open(qtbot, window, no_alt=True)
    service = PatientService(window.session)  # type: ignore[arg-type]
    ecog = tab.numbers["ecog"][0]
    alt = tab.labs["alt"][0]
    assert (ecog.text(), alt.text()) == ("3", "")
    retype(qtbot, ecog, "1")  # Nora corrects the ECOG; not saved yet

    # li.wei enters the ALT result at his workstation (the outcome stays "ineligible", so
    # the screening row itself does not change: only a lab row is added).
    other = open_session(db_path)
    try:
        other.tracker.sign_in(trusted_actor("li.wei"))
        data = good_data(other.studies[STUDY])
        data.values["ecog"] = 3
        PatientService(other).save_screening(uid, data, today=TODAY)
    finally:
        other.close()
    assert _alt(service, uid) == 30.0
    _window_sees_it(qtbot, window, tab)
    assert (ecog.text(), alt.text()) == ("1", "")  # her typing kept; his ALT not shown

    seen: list[str] = []
    _answer_stale_box(qtbot, seen)
    _click(qtbot, tab.save_button)
    qtbot.waitUntil(lambda: bool(seen) or _alt(service, uid) is None, timeout=10_000)
    # Her form, which never showed the ALT, would have deleted it: refused instead.
    assert _alt(service, uid) == 30.0
    assert _stored(service, uid)[0] == 3
    assert "Laboratory result: a record was added by someone else" in seen[0]
    assert "li.wei added it" in seen[0]
    qtbot.waitUntil(lambda: (ecog.text(), alt.text()) == ("3", "30"), timeout=10_000)
    _idle(qtbot, window)

    retype(qtbot, ecog, "1")
    _click(qtbot, tab.save_button)
    qtbot.waitUntil(lambda: _stored(service, uid)[0] == 1, timeout=10_000)
    assert _alt(service, uid) == 30.0
    _idle(qtbot, window)
    opened.close()
