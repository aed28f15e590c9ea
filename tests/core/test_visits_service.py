"""Visit schedules in the store: planning at enrollment, anchors entered and corrected,
marking visits, participation ending, the site worklist at its edges, the month view."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from dateutil.relativedelta import relativedelta

from gisttracker.domain.schedule import plan
from gisttracker.services.base import ReasonRequired, ServiceError
from gisttracker.services.visits import VisitService, plan_many
from gisttracker.session import Session
from gisttracker.store.models import AuditLog
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import AnchorDate, Visit
from tests.core.visit_helpers import end_participation, enroll

D = date


def visits_by_key(svc: VisitService, patient: Patient, today: date) -> dict[str, object]:
    return {r.visit_key: r for r in svc.schedule(patient.uid, today=today)}


def test_enrollment_plans_every_protocol_visit_and_waits_for_surgery(session: Session) -> None:
    p = enroll(session, "RECTAL-LE", "ZJU-0001", D(2025, 1, 31))
    anchors = {a.anchor_key: a.date for a in AnchorDate.select().where(AnchorDate.patient == p)}
    assert anchors == {"enrollment": D(2025, 1, 31)}
    rows = VisitService(session).schedule(p.uid, today=D(2025, 2, 1))
    study = session.studies["RECTAL-LE"]
    assert sorted(r.visit_key for r in rows) == sorted(v.key for v in study.visits)
    by_key = {r.visit_key: r for r in rows}
    # Month 3 from 31 January is 30 April (clipped), counted from the anchor.
    assert by_key["preop_q3m_1"].target == D(2025, 4, 30)
    assert by_key["baseline"].status_code == "overdue"  # window ended on enrollment day
    surgery = by_key["fu_m3"]
    assert surgery.target is None and surgery.window_start is None
    assert surgery.status_code == "waiting"
    assert surgery.describe() == "Waiting for the date of: Local resection"
    # Waiting visits come last, in protocol order.
    assert [r.visit_key for r in rows][-1] == "fu_m36"
    # Enrollment's inserts are audited with the patient's uid: one entry per visit holding
    # its values.
    audited = list(AuditLog.select().where((AuditLog.table_name == "visit")
                                           & (AuditLog.patient_uid == p.uid)
                                           & (AuditLog.action == "insert")))
    assert len(audited) == len(rows)
    assert all(json.loads(a.new_value)["visit_key"] for a in audited)


@pytest.mark.parametrize("study_key", ["NCT03862768", "NCT04933669", "NCT06038552",
                                       "RECTAL-LE", "PREOP-DURATION"])
def test_each_study_schedule_comes_from_its_protocol_file(session: Session,
                                                          study_key: str) -> None:
    study = session.studies[study_key]
    enrolled = D(2024, 1, 31)
    p = enroll(session, study_key, f"ZJU-{len(study_key):04d}", enrolled)
    svc = VisitService(session)
    anchors: dict[str, date] = {}
    for i, anchor in enumerate(study.anchors):
        day = enrolled if anchor.source == "enrollment" else enrolled + timedelta(days=30 * i)
        anchors[anchor.key] = day
        if anchor.source == "entered":
            svc.set_anchor(p.uid, anchor.key, day)
    expected = {pv.visit_key: pv for pv in plan(study, anchors)}
    rows = svc.schedule(p.uid, today=D(2024, 2, 1))
    assert len(rows) == len(study.visits) and len(rows) >= 3
    for row in rows:
        pv = expected[row.visit_key]
        assert (row.name, row.target, row.window_start, row.window_end) == (
            pv.name, pv.target, pv.window_start, pv.window_end)
        assert row.target is not None
        assert row.assessments == pv.assessments


def test_rectal_questionnaires_fall_at_baseline_and_3_12_24_36_months_after_surgery(
        session: Session) -> None:
    p = enroll(session, "RECTAL-LE", "ZJU-0002", D(2024, 1, 10))
    svc = VisitService(session)
    svc.set_anchor(p.uid, "surgery", D(2024, 8, 31))
    rows = svc.schedule(p.uid, today=D(2024, 9, 1))
    qol = [r.target for r in rows if "qlq_c30" in r.assessments]
    assert qol == [D(2024, 1, 10), D(2024, 11, 30), D(2025, 8, 31), D(2026, 8, 31),
                   D(2027, 8, 31)]
    assert all("lars" in r.assessments and "qlq_cr29" in r.assessments
               for r in rows if "qlq_c30" in r.assessments)


def test_moving_surgery_moves_planned_visits_and_keeps_done_ones(session: Session) -> None:
    p = enroll(session, "RECTAL-LE", "ZJU-0003", D(2024, 1, 10))
    svc = VisitService(session)
    change = svc.set_anchor(p.uid, "surgery", D(2024, 6, 3))
    assert {m.visit_key for m in change.moved} >= {"surgery", "fu_m3", "fu_m36"}
    assert change.old_date is None
    v = visits_by_key(svc, p, D(2025, 1, 1))
    svc.mark_done(v["surgery"].uid, D(2024, 6, 3), today=D(2025, 1, 1))
    svc.mark_done(v["fu_m3"].uid, D(2024, 9, 10), today=D(2025, 1, 1))

    with pytest.raises(ReasonRequired):
        svc.set_anchor(p.uid, "surgery", D(2024, 6, 10))
    assert AnchorDate.get(AnchorDate.patient == p, AnchorDate.anchor_key == "surgery").date \
        == D(2024, 6, 3)

    change = svc.set_anchor(p.uid, "surgery", D(2024, 6, 10),
                            reason="operation date mistyped")
    moved = {m.visit_key: m for m in change.moved}
    assert "surgery" not in moved and "fu_m3" not in moved  # done: actual dates stay
    assert moved["fu_m6"].old_target == D(2024, 12, 3)
    assert moved["fu_m6"].new_target == D(2024, 12, 10)
    after = visits_by_key(svc, p, D(2025, 1, 1))
    assert after["fu_m3"].done_on == D(2024, 9, 10)
    assert after["fu_m3"].target == D(2024, 9, 3)
    assert after["fu_m3"].status_code == "done"
    assert after["fu_m6"].target == D(2024, 12, 10)
    assert after["fu_m36"].target == D(2027, 6, 10)
    # Each move is audited, old and new dates, with the correction as the reason.
    audit = AuditLog.get((AuditLog.record_uid == after["fu_m6"].uid)
                         & (AuditLog.field == "planned_on") & (AuditLog.action == "update")
                         & (AuditLog.new_value == json.dumps("2024-12-10")))
    assert audit.old_value == json.dumps("2024-12-03")
    assert "operation date mistyped" in audit.reason and "2024-06-10" in audit.reason
    assert audit.patient_uid == p.uid and audit.user == "nurse"


def test_marking_done_flags_out_of_window_with_days(session: Session) -> None:
    p = enroll(session, "NCT03862768", "ZJU-0004", D(2025, 1, 15))
    svc = VisitService(session)
    v = visits_by_key(svc, p, D(2025, 6, 1))
    month3 = v["fu_q3m_1"]
    assert (month3.window_start, month3.window_end) == (D(2025, 4, 1), D(2025, 4, 29))
    row = svc.mark_done(month3.uid, D(2025, 4, 29), today=D(2025, 6, 1))
    assert row.status_code == "done"
    with pytest.raises(ReasonRequired):
        svc.mark_done(month3.uid, D(2025, 5, 2), today=D(2025, 6, 1))
    row = svc.mark_done(month3.uid, D(2025, 5, 2), today=D(2025, 6, 1),
                        reason="date copied wrongly from the clinic letter")
    assert row.status_code == "done_out_of_window"
    assert row.deviation_days == 3
    assert row.describe() == "Done 3 days after the window"
    with pytest.raises(ServiceError, match="after today"):
        svc.mark_done(v["fu_q3m_2"].uid, D(2025, 6, 2), today=D(2025, 6, 1))


def test_missed_needs_a_reason_and_unscheduled_visits_can_be_added(session: Session) -> None:
    p = enroll(session, "NCT03862768", "ZJU-0005", D(2025, 1, 15))
    svc = VisitService(session)
    v = visits_by_key(svc, p, D(2025, 6, 1))
    with pytest.raises(ServiceError, match="reason"):
        svc.mark_missed(v["baseline"].uid, "  ", today=D(2025, 6, 1))
    row = svc.mark_missed(v["baseline"].uid, "patient in hospital elsewhere",
                          today=D(2025, 6, 1))
    assert (row.status_code, row.reason) == ("missed", "patient in hospital elsewhere")
    row = svc.mark_not_applicable(v["fu_q3m_2"].uid, "arm B: imaging elsewhere",
                                  today=D(2025, 6, 1))
    assert row.status_code == "not_applicable"
    extra = svc.add_unscheduled(p.uid, "Toxicity visit", D(2025, 5, 20), today=D(2025, 6, 1))
    assert extra.unscheduled and extra.status_code == "done" and extra.done_on == D(2025, 5, 20)
    names = [r.name for r in svc.schedule(p.uid, today=D(2025, 6, 1))]
    assert names.index("Toxicity visit") < names.index("Month 6")


def test_participation_ended_cancels_later_visits_and_plans_no_new_ones(
        session: Session) -> None:
    p = enroll(session, "RECTAL-LE", "ZJU-0006", D(2025, 1, 6))
    svc = VisitService(session)
    end_participation(session, p, D(2025, 4, 25), "consent withdrawn")
    p = Patient.get_by_id(p.id)
    rows = visits_by_key(svc, p, D(2025, 5, 1))
    # Month 3's window (2025-03-23 – 2025-04-20) started before the end: still overdue.
    assert rows["preop_q3m_1"].status_code == "overdue"
    assert rows["preop_q3m_2"].status_code == "cancelled"
    assert rows["preop_q3m_2"].state == "cancelled"
    assert "consent withdrawn" in (rows["preop_q3m_2"].reason or "")
    assert rows["fu_m3"].status_code == "cancelled"  # surgery never entered
    audit = AuditLog.get((AuditLog.record_uid == rows["preop_q3m_2"].uid)
                         & (AuditLog.field == "state") & (AuditLog.action == "update"))
    assert audit.new_value == json.dumps("cancelled") and "2025-04-25" in audit.reason
    # A surgery date entered afterwards plans nothing expected.
    svc.set_anchor(p.uid, "surgery", D(2025, 4, 20))
    rows = visits_by_key(svc, p, D(2025, 5, 1))
    assert rows["fu_m3"].status_code == "cancelled"
    items = svc.worklist(D(2025, 4, 28), D(2025, 12, 31), today=D(2025, 5, 1))
    assert {i.visit_key for i in items} == {"baseline", "preop_q3m_1", "surgery"}
    assert {i.reason for i in items} == {"overdue"}


def test_worklist_at_the_exact_window_edges(session: Session) -> None:
    # Month 3 after randomization on 2025-01-15: target 2025-04-15, window 04-01 – 04-29.
    p = enroll(session, "NCT03862768", "ZJU-0007", D(2025, 1, 15))
    svc = VisitService(session)
    v = visits_by_key(svc, p, D(2025, 3, 1))
    svc.mark_done(v["baseline"].uid, D(2025, 1, 15), today=D(2025, 3, 1))

    def listed(start: date, end: date, today: date) -> dict[str, str]:
        return {i.visit_key or "": i.status_code
                for i in svc.worklist(start, end, today=today)}

    assert "fu_q3m_1" not in listed(D(2025, 3, 25), D(2025, 3, 31), D(2025, 3, 25))
    assert listed(D(2025, 4, 1), D(2025, 4, 1), D(2025, 3, 25)) == {"fu_q3m_1": "upcoming"}
    assert listed(D(2025, 4, 28), D(2025, 5, 4), D(2025, 4, 29)) == {"fu_q3m_1": "due"}
    assert listed(D(2025, 4, 30), D(2025, 5, 6), D(2025, 4, 30)) == {"fu_q3m_1": "overdue"}
    # Overdue visits are listed whatever the period.
    assert listed(D(2025, 9, 1), D(2025, 9, 7), D(2025, 4, 30)) == {"fu_q3m_1": "overdue"}

    svc.mark_done(v["fu_q3m_1"].uid, D(2025, 4, 29), today=D(2025, 5, 1))
    assert listed(D(2025, 4, 28), D(2025, 5, 4), D(2025, 5, 1)) == {}
    svc.mark_done(v["fu_q3m_1"].uid, D(2025, 4, 30), today=D(2025, 5, 1),
                  reason="seen the day after")
    items = svc.worklist(D(2025, 4, 28), D(2025, 5, 4), today=D(2025, 5, 1))
    assert [(i.visit_key, i.reason, i.status.deviation_days) for i in items] == [
        ("fu_q3m_1", "done_out_of_window", 1)]
    assert items[0].patient_study_id == "ZJU-0007"
    assert "imaging" in items[0].assessments
    # Done out of window is listed only for a period containing the visit day.
    assert listed(D(2025, 5, 1), D(2025, 5, 7), D(2025, 5, 1)) == {}


def test_worklist_study_filter_and_order(session: Session) -> None:
    enroll(session, "NCT03862768", "ZJU-0010", D(2025, 1, 15))
    enroll(session, "NCT06038552", "ZJU-0011", D(2025, 4, 10))
    svc = VisitService(session)
    today = D(2025, 4, 10)
    items = svc.worklist(D(2025, 4, 7), D(2025, 4, 13), today=today)
    assert [(i.patient_study_id, i.visit_key, i.reason) for i in items] == [
        ("ZJU-0010", "baseline", "overdue"),
        ("ZJU-0011", "enrollment", "due"),  # target 04-10
        ("ZJU-0010", "fu_q3m_1", "due"),  # target 04-15
    ]
    only = svc.worklist(D(2025, 4, 7), D(2025, 4, 13), today=today, study_key="NCT06038552")
    assert [i.patient_study_id for i in only] == ["ZJU-0011"]
    with pytest.raises(ServiceError, match="unknown study"):
        svc.worklist(D(2025, 4, 7), D(2025, 4, 13), today=today, study_key="NOPE")
    with pytest.raises(ServiceError, match="after it ends"):
        svc.worklist(D(2025, 4, 13), D(2025, 4, 7), today=today)


def test_timing_rules_of_nct04933669_are_flagged(session: Session) -> None:
    p = enroll(session, "NCT04933669", "ZJU-0020", D(2025, 1, 6))
    svc = VisitService(session)
    change = svc.set_anchor(p.uid, "imatinib_start", D(2025, 1, 10))
    assert change.problems == ()  # nothing checkable yet
    change = svc.set_anchor(p.uid, "last_preop_dose", D(2025, 3, 9))
    assert [c.rule.key for c in change.problems] == ["preop_duration"]
    assert "at least 3 months" in change.problems[0].message
    change = svc.set_anchor(p.uid, "last_preop_dose", D(2025, 4, 10),
                            reason="imatinib continued to 3 months")
    assert change.problems == ()
    change = svc.set_anchor(p.uid, "surgery", D(2025, 4, 18))
    assert [c.rule.key for c in change.problems] == ["surgery_within_1_week"]
    assert "8 days" in change.problems[0].message
    change = svc.set_anchor(p.uid, "surgery", D(2025, 4, 17), reason="corrected from chart")
    assert change.problems == ()
    assert [c.state for c in svc.timing(p.uid)] == ["ok", "ok"]
    rows = visits_by_key(svc, p, D(2025, 5, 1))
    assert rows["postop_q3m_1"].target == D(2025, 4, 17) + relativedelta(months=3)


def test_unknown_anchor_is_refused(session: Session) -> None:
    p = enroll(session, "RECTAL-LE", "ZJU-0030", D(2025, 1, 6))
    with pytest.raises(ServiceError, match="unknown anchor 'operation'"):
        VisitService(session).set_anchor(p.uid, "operation", D(2025, 3, 1))


def test_month_view_counts_open_and_done_visits_per_day(session: Session) -> None:
    a = enroll(session, "NCT03862768", "ZJU-0040", D(2025, 1, 15))
    enroll(session, "NCT03862768", "ZJU-0041", D(2025, 1, 15))
    svc = VisitService(session)
    baseline = visits_by_key(svc, a, D(2025, 2, 1))["baseline"]
    svc.mark_done(baseline.uid, D(2025, 1, 14), today=D(2025, 2, 1))
    days = svc.month(2025, 1)
    assert days[D(2025, 1, 15)].open == 1
    assert days[D(2025, 1, 14)].done == 1
    assert svc.month(2025, 4)[D(2025, 4, 15)].open == 2
    assert svc.month(2025, 4, study_key="RECTAL-LE") == {}


def test_plan_many_plans_like_enrollment(session: Session) -> None:
    with session.tracker.transaction("demo") as w:
        patients = [w.insert(Patient, study_key=k, study_id=f"DEM-{i:04d}", site_code="DEM",
                             seq=i, status="enrolled", enrolled_on=D(2025, 1, 31),
                             created_on=D(2025, 1, 31))
                    for i, k in enumerate(["NCT03862768", "RECTAL-LE"], start=1)]
        created = plan_many(w, session, patients)
    assert created == 7 + 14
    svc = VisitService(session)
    rows = svc.schedule("DEM-0001", today=D(2025, 2, 1))
    assert [r.target for r in rows][:2] == [D(2025, 1, 31), D(2025, 4, 30)]
    assert Visit.select().where(Visit.patient == patients[1]).count() == 14
