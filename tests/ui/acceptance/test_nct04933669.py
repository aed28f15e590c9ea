"""NCT04933669 (neoadjuvant imatinib for high-risk GIST), a nurse's day at the keyboard:
three patients screened (eligible, PDGFRA D842V excluded, consent declined), enrollment, the
start of imatinib entered then corrected while the schedule follows, baseline labs graded,
CT readings with densities (Choi is the primary criterion), an event recorded and corrected,
the schedule printed, the window closed and reopened."""

from __future__ import annotations

from datetime import date

import pytest
from pypdf import PdfReader
from pytestqt.qtbot import QtBot

from gisttracker.store.models import AuditLog
from gisttracker.store.models_course import CourseEvent, LesionMeasurement
from gisttracker.store.models_patients import LabResult, Patient, Screening
from gisttracker.store.models_visits import AnchorDate, Visit
from tests.core.patients_helpers import good_data, set_site
from tests.ui.acceptance.nurse import Nurse
from ui.main_window import MainWindow

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "support raise",
                                       "grabbing the keyboard")
STUDY = "NCT04933669"


def test_a_day_of_nct04933669(qtbot: QtBot, window: MainWindow,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    nurse = Nurse(qtbot, window)
    session = window.session
    assert session is not None
    study = session.studies[STUDY]
    nurse.db(lambda: set_site(session))
    window.show()

    first = nurse.register(STUDY, sex="female", record="N-3001", name="Xu Yan", initials="XY",
                           dob="19660315")
    nurse.screen(first, good_data(study))
    stored = nurse.db(lambda: Screening.get())
    assert (stored.outcome, stored.tumour_size_cm, stored.mitotic_count,
            stored.mitotic_unit) == ("eligible", 12.0, 4.0, "50hpf")
    assert nurse.db(lambda: {r.analyte: r.uln for r in LabResult.select()})["bilirubin"] == 21

    excluded = nurse.register(STUDY, sex="male", record="N-3002", name="He Jun",
                              initials="HJ", dob="19700707")
    d842v = good_data(study)
    d842v.values["mutation"] = "PDGFRA_18_D842V"
    nurse.screen(excluded, d842v)
    assert excluded.pages["screening"].outcome.text().startswith("Not eligible")  # type: ignore[attr-defined]
    nurse.screen_failure(excluded, criteria=("E1",))
    declined = nurse.register(STUDY, sex="female", record="N-3003", name="Ma Li",
                              initials="ML", dob="19750101")
    nurse.screen_failure(declined, reason="prefers surgery first")
    nurse.close(excluded)
    nurse.close(declined)

    result = nurse.enroll(first)
    assert (result.arm_code, result.enrolled_on) == ("NEO", date(2026, 3, 14))

    # --- imatinib started: the visits get their dates; corrected, they move --------------
    nurse.wait(lambda: "Baseline" in nurse.schedule_rows(first))
    assert nurse.schedule_rows(first)["Baseline"][2] == "waiting"
    nurse.enter_anchor(first, "imatinib_start", "2026-03-12")
    nurse.wait(lambda: nurse.schedule_rows(first)["Preoperative month 3 (Choi response)"][2]
               == "2026-06-12")
    nurse.enter_anchor(first, "imatinib_start", "20260310", reason="first dose on the 10th")
    nurse.wait(lambda: nurse.schedule_rows(first)["Preoperative month 3 (Choi response)"][2]
               == "2026-06-10")
    assert nurse.db(lambda: AnchorDate.get(AnchorDate.anchor_key == "imatinib_start").date
                    ) == date(2026, 3, 10)

    nurse.mark_done(first, "Baseline", "2026-03-10")
    assert nurse.db(lambda: Visit.get(Visit.visit_key == "baseline").done_on) == date(
        2026, 3, 10)
    labs = nurse.open_form(first, "Baseline", "Laboratory values")
    nurse.type_labs(labs, {"bilirubin": ("40", None, None, "21")})
    assert labs.grade_text("bilirubin") == "Grade 2"
    nurse.close_form(labs)
    assert nurse.db(lambda: LabResult.get(LabResult.visit_id.is_null(False)).value) == 40.0

    # --- CT with densities: Choi partial response at month 3 ----------------------------
    nurse.tumour_assessment(first, "2026-03-09", [("T1", "stomach", "100", "60")])
    nurse.tumour_assessment(first, "2026-03-14", [("T1", "stomach", "95", "35")],
                            follow_up=True)
    tumour = first.pages["tumour"]
    nurse.wait(lambda: tumour.list.rowCount() == 2)  # type: ignore[attr-defined]
    assert tumour.list.item(1, 8).text() == "PR"  # type: ignore[attr-defined]  # Choi
    assert tumour.list.item(1, 7).text() == "SD"  # type: ignore[attr-defined]  # RECIST
    assert nurse.db(lambda: sorted((m.diameter_mm, m.density_hu)
                                   for m in LesionMeasurement.select())) == [
        (95.0, 35.0), (100.0, 60.0)]

    # --- an event recorded and corrected --------------------------------------------------
    nurse.record_event(first, "last_known_alive", "2026-03-14", site="day clinic")
    nurse.correct_event(first, 0, "seen on the ward", site="ward")
    assert nurse.db(lambda: CourseEvent.get().site) == "ward"
    assert nurse.db(lambda: AuditLog.get((AuditLog.field == "site")
                                         & (AuditLog.action == "update")).reason) == \
        "seen on the ward"

    pdf = nurse.print_schedule(first, monkeypatch)
    assert "ZJU-0001" in "".join(p.extract_text() for p in PdfReader(str(pdf)).pages)

    nurse.close(first)
    again = nurse.open_from_list("ZJU-0001")
    nurse.wait(lambda: again.header.text() == "ZJU-0001 · NCT04933669 · arm NEO · enrolled")
    nurse.wait(lambda: "Baseline" in nurse.schedule_rows(again))
    assert nurse.schedule_rows(again)["Baseline"][4:6] == ["Done", "2026-03-10"]
    tumour = again.pages["tumour"]
    nurse.wait(lambda: tumour.list.rowCount() == 2)  # type: ignore[attr-defined]
    assert "primary criterion: Choi" in tumour.best.text()  # type: ignore[attr-defined]
    assert nurse.db(lambda: Patient.get(Patient.study_id == "ZJU-0001").status) == "enrolled"
    nurse.close(again)
