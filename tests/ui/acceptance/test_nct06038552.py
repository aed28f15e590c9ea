"""NCT06038552 (liver resection, RFA or TACE with imatinib for liver metastases), a nurse's day
at the keyboard: three patients screened (eligible, no liver metastases, consent declined),
enrollment into the group of the treatment received, the diagnosis of the liver metastases
entered then corrected while the schedule follows, the local treatment date, the baseline
visit with its labs, the liver lesions measured, an event recorded and corrected, the
schedule printed, the window closed and reopened."""

from __future__ import annotations

from datetime import date

import pytest
from pypdf import PdfReader
from pytestqt.qtbot import QtBot

from gisttracker.store.models import AuditLog
from gisttracker.store.models_course import CourseEvent, TumourAssessment
from gisttracker.store.models_patients import LabResult, Patient
from gisttracker.store.models_visits import AnchorDate, Visit
from tests.core.patients_helpers import good_data, set_site
from tests.ui.acceptance.nurse import Nurse
from ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "support raise",
                                       "grabbing the keyboard")
STUDY = "NCT06038552"


def test_a_day_of_nct06038552(qtbot: QtBot, window: MainWindow,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    nurse = Nurse(qtbot, window)
    session = window.session
    assert session is not None
    study = session.studies[STUDY]
    nurse.db(lambda: set_site(session))
    window.show()

    first = nurse.register(STUDY, sex="male", record="L-5001", name="Deng Tao",
                           initials="DT", dob="19660315")
    nurse.screen(first, good_data(study))
    no_liver = nurse.register(STUDY, sex="female", record="L-5002", name="Fan Rui",
                              initials="FR", dob="19720405")
    without = good_data(study)
    without.values["liver_metastases"] = False
    nurse.screen(no_liver, without)
    assert no_liver.pages["screening"].outcome.text().startswith("Not eligible")  # type: ignore[attr-defined]
    nurse.screen_failure(no_liver, criteria=None)
    declined = nurse.register(STUDY, sex="male", record="L-5003", name="Kong Jie",
                              initials="KJ", dob="19590909")
    nurse.screen_failure(declined, reason="did not want follow-up at this hospital")
    nurse.close(no_liver)
    nurse.close(declined)

    result = nurse.enroll(first, procedures=("hepatic_resection",))
    assert result.arm_code == "IM_HR"
    assert nurse.db(lambda: Patient.get(Patient.study_id == "ZJU-0001")
                    .treatment_procedures) == '["hepatic_resection"]'

    nurse.wait(lambda: "Month 6 after liver metastases" in nurse.schedule_rows(first))
    assert nurse.schedule_rows(first)["Month 6 after liver metastases"][2] == "waiting"
    nurse.enter_anchor(first, "liver_mets_diagnosis", "2025-12-01")
    nurse.wait(lambda: nurse.schedule_rows(first)["Month 6 after liver metastases"][2]
               == "2026-06-01")
    nurse.enter_anchor(first, "liver_mets_diagnosis", "2025-11-20",
                       reason="date of the MRI, not of the clinic")
    nurse.wait(lambda: nurse.schedule_rows(first)["Month 6 after liver metastases"][2]
               == "2026-05-20")
    nurse.enter_anchor(first, "local_treatment", "2026-01-15")
    anchors = nurse.db(lambda: {a.anchor_key: a.date for a in AnchorDate.select()})
    assert anchors["liver_mets_diagnosis"] == date(2025, 11, 20)
    assert anchors["local_treatment"] == date(2026, 1, 15)

    nurse.mark_done(first, "Diagnosis of liver metastases", "2025-11-20")
    assert nurse.db(lambda: Visit.get(Visit.visit_key == "lm_baseline").done_on) == date(
        2025, 11, 20)
    labs = nurse.open_form(first, "Diagnosis of liver metastases", "Laboratory values")
    nurse.type_labs(labs, {"alt": ("52", None, None, "40")})
    nurse.close_form(labs)
    assert nurse.db(lambda: LabResult.get(LabResult.visit_id.is_null(False)).value) == 52.0

    nurse.tumour_assessment(first, "2025-11-20", [("L1", "liver", "34"), ("L2", "liver", "21")])
    assert nurse.db(lambda: TumourAssessment.get().assessed_on) == date(2025, 11, 20)

    nurse.record_event(first, "last_known_alive", "2026-03-14", site="outpatients")
    nurse.correct_event(first, 0, "phone call, not a visit", site="telephone")
    assert nurse.db(lambda: CourseEvent.get().site) == "telephone"
    assert nurse.db(lambda: AuditLog.get((AuditLog.field == "site")
                                         & (AuditLog.action == "update")).reason) == \
        "phone call, not a visit"

    pdf = nurse.print_schedule(first, monkeypatch)
    assert "ZJU-0001" in "".join(p.extract_text() for p in PdfReader(str(pdf)).pages)

    nurse.close(first)
    again = nurse.open_from_list("ZJU-0001")
    nurse.wait(lambda: again.header.text() == "ZJU-0001 · NCT06038552 · arm IM_HR · enrolled")
    nurse.wait(lambda: "Diagnosis of liver metastases" in nurse.schedule_rows(again))
    rows = nurse.schedule_rows(again)
    assert rows["Diagnosis of liver metastases"][4:6] == ["Done", "2025-11-20"]
    assert rows["Local treatment (HR, RFA or TACE)"][2] == "2026-01-15"
    tumour = again.pages["tumour"]
    nurse.wait(lambda: tumour.list.rowCount() == 1)  # type: ignore[attr-defined]
    assert tumour.list.item(0, 2).text() == "55"  # type: ignore[attr-defined]
    nurse.close(again)
