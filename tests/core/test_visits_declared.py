"""Visits whose protocol file says they are never due: RECTAL-LE's optional preoperative
visits end at the surgery (``until = "surgery"``), and PREOP-DURATION's visits are
retrospective abstraction points (``abstraction = true``). Neither floods the worklist."""

from __future__ import annotations

from datetime import date, timedelta

from gisttracker.services.patients import PatientService
from gisttracker.services.visits import VisitService
from gisttracker.session import Session
from tests.core.patients_helpers import TODAY, good_data, new_patient, set_site


def _statuses(visits: VisitService, uid: str, today: date) -> dict[str, str]:
    return {r.visit_key or r.name: r.status_code for r in visits.schedule(uid, today=today)}


def test_rectal_preoperative_visits_end_at_the_surgery(session: Session) -> None:
    set_site(session)
    patients = PatientService(session)
    patient = new_patient(patients, "RECTAL-LE")
    data = good_data(patients.study("RECTAL-LE"))
    data.values["consent_date"] = date(2025, 1, 8)
    patients.save_screening(patient.uid, data, today=date(2025, 1, 10),
                            screened_on=date(2025, 1, 10))
    patients.enroll(patient.uid, today=date(2025, 1, 10))
    visits = VisitService(session)
    before = _statuses(visits, patient.uid, TODAY)
    assert before["preop_q3m_3"] == "overdue"  # month 9 of preoperative imatinib
    worklist = visits.worklist(TODAY, TODAY, today=TODAY, study_key="RECTAL-LE")
    assert any(i.visit_key == "preop_q3m_3" for i in worklist)

    # Operated after 4 months: the preoperative visits of months 6, 9 and 12 never happen.
    visits.set_anchor(patient.uid, "surgery", date(2025, 5, 12), today=TODAY)
    after = _statuses(visits, patient.uid, TODAY)
    assert after["preop_q3m_1"] == "overdue"  # month 3 was due before the surgery
    assert [after[f"preop_q3m_{n}"] for n in (2, 3, 4)] == ["not_applicable"] * 3
    worklist = visits.worklist(TODAY, TODAY, today=TODAY, study_key="RECTAL-LE")
    assert {i.visit_key for i in worklist} & {"preop_q3m_2", "preop_q3m_3",
                                              "preop_q3m_4"} == set()
    counts = visits.worklist_counts(TODAY, TODAY, today=TODAY, study_key="RECTAL-LE")
    assert counts["overdue"] == len([i for i in worklist if i.reason == "overdue"])

    # The surgery date corrected to later: month 6 is applicable again.
    visits.set_anchor(patient.uid, "surgery", date(2025, 8, 20), today=TODAY,
                      reason="operation date from the surgical report")
    corrected = _statuses(visits, patient.uid, TODAY)
    assert corrected["preop_q3m_2"] == "overdue"
    assert corrected["preop_q3m_3"] == "not_applicable"


def test_retrospective_abstraction_points_are_to_abstract_never_overdue(
        session: Session) -> None:
    set_site(session)
    patients = PatientService(session)
    patient = new_patient(patients, "PREOP-DURATION")
    patients.save_screening(patient.uid, good_data(patients.study("PREOP-DURATION")),
                            today=TODAY)
    patients.enroll(patient.uid, today=TODAY, preop_start=date(2014, 2, 1),
                    last_preop_dose=date(2014, 9, 1))
    visits = VisitService(session)
    statuses = _statuses(visits, patient.uid, TODAY)
    assert statuses["pre_imatinib"] == "to_abstract"
    assert "overdue" not in statuses.values()
    assert visits.worklist_counts(date(2014, 1, 1), TODAY, today=TODAY) == {
        "overdue": 0, "due": 0, "done_out_of_window": 0}
    row = next(r for r in visits.schedule(patient.uid, today=TODAY)
               if r.visit_key == "pre_imatinib")
    assert row.describe() == "To abstract"
    assert visits.month(2014, 2) == {}  # nothing "open" in the month view either
    # An unscheduled visit of the same study is a real appointment: it is due.
    visits.add_unscheduled(patient.uid, "telephone check", TODAY + timedelta(days=3),
                           today=TODAY)
    assert visits.worklist_counts(TODAY, TODAY + timedelta(days=7), today=TODAY)["due"] == 1
    assert [i.visit_name for i in visits.worklist(TODAY, TODAY + timedelta(days=7),
                                                  today=TODAY)] == ["telephone check"]


def test_a_visit_ending_at_an_unknown_anchor_is_a_clear_protocol_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from gisttracker.protocols import ProtocolError
    from gisttracker.protocols.loader import SEEDS_DIR, load_study

    text = (SEEDS_DIR / "rectal_organ_preservation.toml").read_text(encoding="utf-8")
    broken = tmp_path / "rectal_organ_preservation.toml"
    broken.write_text(text.replace('until = "surgery"', 'until = "surgeryy"'),
                      encoding="utf-8")
    with pytest.raises(ProtocolError) as info:
        load_study(broken)
    assert info.value.key.endswith("until")
    assert "'surgeryy' is not one of" in info.value.message


def test_a_retrospective_patients_course_is_recorded_before_the_abstraction_day(
        session: Session) -> None:
    """PREOP-DURATION enrolls from records: its events (a recurrence in 2016, a death in
    2019) come before the day the patient is entered."""
    from gisttracker.services.course import CourseService, EventInput, SurgeryInput

    set_site(session)
    patients = PatientService(session)
    patient = new_patient(patients, "PREOP-DURATION")
    patients.save_screening(patient.uid, good_data(patients.study("PREOP-DURATION")),
                            today=TODAY)
    patients.enroll(patient.uid, today=TODAY, preop_start=date(2014, 2, 1),
                    last_preop_dose=date(2014, 9, 1))
    course = CourseService(session)
    course.record_surgery(patient.uid, SurgeryInput(date(2014, 9, 5), "gastrectomy", "R0",
                                                    False, "none"), today=TODAY)
    course.record_event(patient.uid, EventInput("distant_recurrence", date(2016, 5, 1),
                                                site="liver"), today=TODAY)
    course.record_event(patient.uid, EventInput("death", date(2019, 2, 1)), today=TODAY)
    ended = patients.get(patient.uid)
    assert (ended.status, ended.ended_on) == ("died", date(2019, 2, 1))
