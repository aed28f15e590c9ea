"""The Patients area, the screening tab and the enrollment dialog, driven like a user."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from gisttracker.demo import generate
from gisttracker.services.patients import PatientService
from gisttracker.session import Session
from gisttracker.store.models_patients import Randomization, Screening
from tests.core.patients_helpers import TODAY, eligible_patient, new_patient, set_site
from ui.enrollment import EnrollmentDialog
from ui.patients import WINDOW, PatientsPage
from ui.screening import ScreeningTab
from ui.tasks import TaskManager


@pytest.fixture
def tasks() -> Iterator[TaskManager]:
    manager = TaskManager()
    yield manager
    manager.shutdown()


@pytest.fixture
def service(session: Session) -> PatientService:
    set_site(session)
    return PatientService(session)


def _criterion(tab: ScreeningTab, cid: str) -> tuple[str, str]:
    for row in range(tab.criteria.rowCount()):
        if tab.criteria.item(row, 0).text().startswith(f"{cid} ·"):
            return tab.criteria.item(row, 1).text(), tab.criteria.item(row, 2).text()
    raise KeyError(cid)


def _choose(box, data: object) -> None:  # type: ignore[no-untyped-def]
    box.setCurrentIndex(box.findData(data))


def test_screening_a_patient_by_typing_updates_the_criteria_live(
        qtbot: QtBot, session: Session, service: PatientService, tasks: TaskManager) -> None:
    patient = new_patient(service, "NCT04933669")
    tab = ScreeningTab()
    tab.today_fn = lambda: TODAY
    qtbot.addWidget(tab)
    tab.set_patient(session, tasks, patient.uid)
    qtbot.waitUntil(lambda: tab.criteria.rowCount() > 0, timeout=5000)
    assert "ZJU-0001" in tab.title.text()
    assert tab.age_label.text() == "59"
    assert _criterion(tab, "I6")[0].endswith("not yet known")

    ecog = tab.numbers["ecog"][0]
    qtbot.keyClicks(ecog, "7")
    assert "from 0 to 5" in tab.messages["ecog"].text()
    assert not tab.save_button.isEnabled()
    ecog.clear()
    qtbot.keyClicks(ecog, "2")
    assert tab.messages["ecog"].text() == ""
    assert _criterion(tab, "I6") == ("✘ not met", "ECOG 2 > 1")
    ecog.clear()
    qtbot.keyClicks(ecog, "1")
    assert _criterion(tab, "I6") == ("✔ met", "ECOG 1 ≤ 1")

    qtbot.keyClicks(tab.numbers["tumour_size_cm"][0], "-3")
    assert "0 or more" in tab.messages["tumour_size_cm"].text()
    tab.numbers["tumour_size_cm"][0].clear()
    qtbot.keyClicks(tab.numbers["tumour_size_cm"][0], "12.5")
    _choose(tab.primary_site, "stomach")
    assert _criterion(tab, "I4")[0] == "✔ met"
    _choose(tab.mutation, "KIT_9")
    assert _criterion(tab, "E1")[0] == "✘ met"  # the excluding condition holds: bad for eligibility
    assert tab.outcome.text().startswith("Not eligible")
    _choose(tab.mutation, "KIT_11")

    value, _unit, _low, high = tab.labs["platelets"]
    qtbot.keyClicks(value, "150000")
    assert "Check the unit" in tab.messages["platelets"].text()
    assert not tab.save_button.isEnabled()
    value.clear()
    qtbot.keyClicks(value, "210")
    value, _unit, _low, high = tab.labs["alt"]
    qtbot.keyClicks(value, "130")
    qtbot.keyClicks(high, "40")
    assert _criterion(tab, "E3")[1] == "ALT 130 U/L > 2.5 × ULN 40 U/L (100 U/L)"
    value.clear()
    qtbot.keyClicks(value, "35")
    assert _criterion(tab, "E3")[0] == "? not yet known"  # AST, bilirubin… not entered

    for key, answer in (("histology_confirmed", True), ("cd117_positive", True),
                        ("prior_tki", False), ("other_malignancy_5y", False),
                        ("distant_metastases", False), ("hiv_positive", False),
                        ("pregnant_or_lactating", False)):
        _choose(tab.bools[key], answer)
    qtbot.keyClicks(tab.consent_date.edit, "20260310")
    hb, hb_unit = tab.labs["haemoglobin"][:2]
    qtbot.keyClicks(hb, "120")
    _choose(hb_unit, "g/dL")  # 120 g/dL: the number was typed in g/L
    assert "Check the unit: the number would be plausible in g/L" in tab.messages[
        "haemoglobin"].text()
    _choose(hb_unit, "g/L")
    assert tab.messages["haemoglobin"].text() == ""
    for key, (val, _u, _l, hi) in tab.labs.items():
        if not val.text():
            qtbot.keyClicks(val, {"anc": "3", "ast": "20",
                                  "bilirubin": "10", "creatinine": "70"}[key])
        if not hi.text():
            qtbot.keyClicks(hi, {"anc": "6", "haemoglobin": "150", "ast": "35",
                                 "bilirubin": "21", "creatinine": "104", "platelets": "350"}[key])
    assert tab.outcome.text().startswith("Incomplete")
    assert _criterion(tab, "E3")[0] == "✔ not met"
    for cid, box in tab.judgement_boxes.items():
        box.setCheckState(Qt.CheckState.Unchecked)  # no excluding condition
        assert box.text() == "no", cid
    assert tab.outcome.text() == "Eligible"
    assert tab.save_button.isEnabled() and not tab.enroll_button.isEnabled()

    qtbot.mouseClick(tab.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: Screening.select().count() == 1, timeout=5000)
    stored = Screening.get()
    assert (stored.outcome, stored.ecog, stored.tumour_size_cm) == ("eligible", 1, 12.5)
    qtbot.waitUntil(lambda: tab.enroll_button.isEnabled(), timeout=5000)
    assert "by nurse" in _criterion(tab, "E7")[1]


def test_enrollment_dialog_says_what_will_happen_randomizes_and_prints(
        qtbot: QtBot, service: PatientService, tmp_path: Path) -> None:
    patient = eligible_patient(service, "NCT03862768")
    dialog = EnrollmentDialog(service, patient.uid, TODAY, rng=random.Random(8))
    qtbot.addWidget(dialog)
    assert dialog.go.text() == "Randomize"
    assert dialog.what.text() == ("ZJU-0001 will be randomized in stratum site=ZJU of "
                                  "NCT03862768; this cannot be undone.")
    assert Randomization.select().count() == 0
    assert dialog.option is not None
    _choose(dialog.option, "SU37.5")
    qtbot.mouseClick(dialog.go, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.result_value is not None, timeout=5000)
    row = Randomization.get()
    assert dialog.result_value is not None and dialog.result_value.arm_code == row.arm_code
    assert dialog.what.text().startswith(f"ZJU-0001 randomized to arm {row.arm_code}")
    assert "R-0001" in dialog.outcome.text() and "site=ZJU" in dialog.outcome.text()
    assert dialog.go.isHidden() and not dialog.print_button.isHidden()
    pdf = tmp_path / "randomization.pdf"
    dialog.print_to_pdf(pdf)
    text = "".join(page.extract_text() for page in PdfReader(str(pdf)).pages)
    assert "R-0001" in text and "ZJU-0001" in text and "site=ZJU" in text
    assert "Test Patient" not in text  # no personal identifiers on the record


def test_enrollment_dialog_for_the_duration_cohort_derives_the_group(
        qtbot: QtBot, service: PatientService) -> None:
    patient = eligible_patient(service, "PREOP-DURATION")
    dialog = EnrollmentDialog(service, patient.uid, TODAY)
    qtbot.addWidget(dialog)
    assert ("the group follows from the time between Start of preoperative imatinib and Last "
            "preoperative imatinib dose") in dialog.what.text()
    assert dialog.start is not None and dialog.last is not None
    qtbot.keyClicks(dialog.start.edit, "2025-01-15")
    qtbot.keyClicks(dialog.last.edit, "2025-12-01")
    qtbot.mouseClick(dialog.go, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.result_value is not None, timeout=5000)
    assert dialog.result_value is not None and dialog.result_value.arm_code == "MID"


@pytest.mark.qt_log_ignore("propagateSizeHints")  # the offscreen platform, on show()
def test_patient_list_is_lazy_filters_in_sql_and_opens_a_patient(
        qtbot: QtBot, session: Session, tasks: TaskManager) -> None:
    generate(session, patients=650, seed=4, today=TODAY, plan_visits=False, enrich=False)
    page = PatientsPage()
    qtbot.addWidget(page)
    page.resize(900, 500)
    page.show()
    page.set_session(session, tasks)
    qtbot.waitUntil(lambda: page.count_label.text() == "650 patients", timeout=10_000)
    model = page.model
    assert model.rowCount() == 650
    assert set(model._windows) == {0}  # only the first window was read
    last = model.index(649, 0)
    assert model.data(last) == "…"
    qtbot.waitUntil(lambda: model.data(last) == "SITE-0650", timeout=5000)
    assert len(model._windows) == 2 and 649 // WINDOW in model._windows

    qtbot.keyClicks(page.search, "SITE-06")
    assert page.model.filter.text == ""  # debounced: no query per key stroke
    qtbot.waitUntil(lambda: page.count_label.text() == "51 patients", timeout=5000)
    assert model.data(model.index(0, 0)) == "SITE-0600"
    page.search.clear()
    page.status_filter.setCurrentIndex(page.status_filter.findData("screen_failed"))
    failed = PatientService(session).count(page.current_filter())
    qtbot.waitUntil(lambda: page.count_label.text() == f"{failed} patients", timeout=5000)
    assert {model.data(model.index(r, 3)) for r in range(model.rowCount())} == {
        "screen failed"}

    page.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(lambda: model.descending and model.data(model.index(0, 0)) != "…",
                    timeout=5000)
    first = model.data(model.index(0, 0))
    window = page.open_patient(model.data(model.index(0, 0), Qt.ItemDataRole.UserRole + 1))
    assert window is not None
    qtbot.waitUntil(lambda: window.header.text().startswith(f"{first} · "), timeout=5000)
    assert window.header.text().endswith("screen failed")
    tab = window.pages["screening"]  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: tab.title.text() != "", timeout=5000)
    assert tab.rescreen_button.isEnabled()
    assert not tab.enroll_button.isEnabled() and tab.outcome.text().startswith("Not eligible")
    window.close()


def test_new_patient_dialog_keeps_what_was_typed_on_error(
        qtbot: QtBot, session: Session, service: PatientService) -> None:
    from ui.patients import NewPatientDialog

    dialog = NewPatientDialog(session, session.studies["RECTAL-LE"], TODAY)
    qtbot.addWidget(dialog)
    register = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert dialog.study_box.currentData() == "RECTAL-LE"
    qtbot.keyClicks(dialog.record, "H-77")
    qtbot.keyClicks(dialog.name, "Chen Jie")
    _choose(dialog.sex_box, "male")
    qtbot.keyClicks(dialog.dob.edit, "2027-01-01")
    qtbot.mouseClick(register, Qt.MouseButton.LeftButton)
    assert "Date of birth: 2027-01-01 is in the future" in dialog.message.text()
    assert dialog.patient_uid is None and dialog.record.text() == "H-77"
    dialog.dob.edit.clear()
    qtbot.keyClicks(dialog.dob.edit, "19610502")
    qtbot.mouseClick(register, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.patient_uid is not None, timeout=5000)
    assert service.get(dialog.patient_uid).study_id == "ZJU-0001"
    assert service.identity("ZJU-0001").name == "Chen Jie"  # type: ignore[union-attr]
