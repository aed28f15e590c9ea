"""``gisttracker schedule``, ``worklist`` and ``ical``: output, one-line errors, and the
iCalendar file parsed back event by event."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import icalendar
import pytest

from gisttracker.cli import main
from gisttracker.services.visits import VisitService
from gisttracker.session import open_session
from gisttracker.store.models_patients import PatientIdentity
from tests.core.visit_helpers import enroll
from tests.helpers import FIXED_NOW

D = date


@pytest.fixture
def site(db_path: Path) -> Path:
    """A site with two patients (one with a name on file) and some visits done (on the
    engine under test)."""
    path = db_path
    s = open_session(path, user="nurse", clock=lambda: FIXED_NOW)
    a = enroll(s, "RECTAL-LE", "ZJU-0001", D(2025, 1, 6))
    with s.tracker.transaction() as w:
        w.insert(PatientIdentity, patient=a.id, name="Wang Fang", record_number="MRN-3141",
                 patient_uid=a.uid)
    svc = VisitService(s)
    svc.set_anchor(a.uid, "surgery", D(2025, 6, 2))
    rows = {r.visit_key: r for r in svc.schedule(a.uid, today=D(2025, 9, 5))}
    svc.mark_done(rows["baseline"].uid, D(2025, 1, 6), today=D(2025, 9, 5))
    svc.mark_done(rows["surgery"].uid, D(2025, 6, 2), today=D(2025, 9, 5))
    for key in ("preop_q3m_1", "preop_q3m_2", "preop_q3m_3", "preop_q3m_4"):
        svc.mark_not_applicable(rows[key].uid, "operated", today=D(2025, 9, 5))
    b = enroll(s, "NCT03862768", "ZJU-0002", D(2025, 6, 2))
    baseline = next(r for r in svc.schedule(b.uid, today=D(2025, 9, 5))
                    if r.visit_key == "baseline")
    svc.mark_done(baseline.uid, D(2025, 6, 1), today=D(2025, 9, 5))
    s.close()
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_schedule_preview_json(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "--db", str(db_path), "schedule", "--study",
                          "RECTAL-LE", "--anchor", "enrollment=2024-01-31",
                          "--anchor", "surgery=2024-08-31", "--json")
    assert code == 0
    visits = {v["visit"]: v for v in json.loads(out)}
    assert visits["Month 3 after surgery"] == {
        "visit": "Month 3 after surgery", "visit_key": "fu_m3", "anchor": "surgery",
        "target_date": "2024-11-30", "window_start": "2024-11-16", "window_end": "2024-12-14",
        "assessments": ["qlq_c30", "qlq_cr29", "lars", "physical_exam", "labs", "imaging",
                        "endoscopy", "adverse_events", "treatment", "survival"],
        "required": True}
    # Month 1 from 31 January is 29 February in a leap year.
    assert visits["Preoperative imatinib month 3"]["target_date"] == "2024-04-30"


def test_schedule_without_an_anchor_waits_for_it(db_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "--db", str(db_path), "schedule", "--study",
                          "NCT04933669", "--anchor", "imatinib_start=2025-01-10", "--json")
    assert code == 0
    visits = {v["visit_key"]: v for v in json.loads(out)}
    assert visits["preop_m3"]["target_date"] == "2025-04-10"
    assert visits["postop_q3m_1"]["target_date"] is None
    assert visits["postop_q3m_1"]["window_start"] is None
    assert visits["postop_q3m_1"]["window_end"] is None
    code, out, _err = run(capsys, "--db", str(db_path), "schedule", "--study",
                          "NCT04933669", "--anchor", "imatinib_start=2025-01-10")
    assert code == 0 and "waiting for surgery" in out


def test_schedule_warns_about_timing_rules(db_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "--db", str(db_path), "schedule", "--study",
                          "NCT04933669", "--anchor", "imatinib_start=2025-01-10",
                          "--anchor", "last_preop_dose=2025-04-10",
                          "--anchor", "surgery=2025-04-20", "--json")
    assert code == 0
    assert err.strip().splitlines() == [
        "warning: Surgery within 1 week after completion of preoperative imatinib: “Surgery” "
        "is 10 days after “Last preoperative imatinib dose” (at most 7 days)"]


@pytest.mark.parametrize(("args", "message"), [
    (["schedule", "--study", "NOPE"], "unknown study 'NOPE'"),
    (["schedule", "--study", "RECTAL-LE", "--anchor", "operation=2025-01-01"],
     "unknown anchor 'operation' for RECTAL-LE (known: enrollment, surgery)"),
    (["schedule", "--study", "RECTAL-LE", "--anchor", "surgery=2025-02-30"],
     "--anchor surgery: '2025-02-30' is not a date (use YYYY-MM-DD)"),
    (["schedule", "--study", "RECTAL-LE", "--anchor", "surgery"], "use NAME=YYYY-MM-DD"),
    (["worklist", "--from", "2025-13-01"], "--from: '2025-13-01' is not a date"),
    (["worklist", "--from", "2025-05-10", "--to", "2025-05-01"], "is after --to"),
    (["worklist", "--study", "NOPE"], "unknown study 'NOPE'"),
    (["ical", "-o", "x.ics"], "give --patient ID, or --from DATE and --to DATE"),
    (["ical", "--patient", "ZJU-9999", "-o", "x.ics"], "no patient 'ZJU-9999'"),
    (["ical", "--from", "2025-01-01", "--to", "soon", "-o", "x.ics"], "--to: 'soon'"),
])
def test_bad_input_prints_one_line(site: Path, capsys: pytest.CaptureFixture[str],
                                   args: list[str], message: str) -> None:
    code, out, err = run(capsys, "--db", str(site), *args)
    assert code != 0
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("gisttracker: ")
    assert message in err


def test_worklist_json_for_a_week(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "--db", str(site), "worklist", "--from", "2025-09-01",
                          "--to", "2025-09-07", "--today", "2025-09-05", "--json")
    assert code == 0
    rows = [(r["patient"], r["study"], r["visit"], r["target_date"], r["window_start"],
             r["window_end"], r["status"]) for r in json.loads(out)]
    assert rows == [
        ("ZJU-0001", "RECTAL-LE", "Month 3 after surgery", "2025-09-02", "2025-08-19",
         "2025-09-16", "due"),
        ("ZJU-0002", "NCT03862768", "Month 3", "2025-09-02", "2025-08-19", "2025-09-16",
         "due"),
    ]
    code, out, _err = run(capsys, "--db", str(site), "worklist", "--from", "2025-09-01",
                          "--to", "2025-09-07", "--today", "2025-09-20", "--study",
                          "NCT03862768", "--json")
    assert [(r["patient"], r["status"], r["overdue_days"]) for r in json.loads(out)] == [
        ("ZJU-0002", "overdue", 4)]


def test_worklist_defaults_to_the_week_of_today(site: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # 2025-09-03 is a Wednesday: the week is Monday 1 – Sunday 7 September.
    code, out, _err = run(capsys, "--db", str(site), "worklist", "--today", "2025-09-03")
    assert code == 0
    assert out.splitlines()[0] == (
        "Worklist 2025-09-01 – 2025-09-07 (today 2025-09-03): 2 visits")
    assert "ZJU-0001" in out and "Month 3 after surgery" in out and "Due" in out


def test_patient_ical_parses_back_event_by_event(site: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "patient.ics"
    code, out, _err = run(capsys, "--db", str(site), "ical", "--patient", "ZJU-0001",
                          "--today", "2025-09-05", "-o", str(target))
    assert code == 0 and "wrote 14 events" in out
    raw = target.read_bytes()
    assert b"Wang Fang" not in raw and b"MRN-3141" not in raw
    cal = icalendar.Calendar.from_ical(raw)
    events = sorted(cal.walk("VEVENT"), key=lambda e: (e.decoded("dtstart"), str(e["uid"])))
    s = open_session(site, user="nurse")
    try:
        rows = VisitService(s).schedule("ZJU-0001", today=D(2025, 9, 5))
    finally:
        s.close()
    assert len(events) == len(rows) == 14
    expected = sorted(rows, key=lambda r: (r.target or D.max, r.uid))
    for event, row in zip(events, expected, strict=True):
        assert str(event["uid"]) == f"{row.uid}@gisttracker"
        assert event.decoded("dtstart") == row.target
        assert event.decoded("dtend") == D.fromordinal(row.target.toordinal() + 1)
        summary = str(event["summary"])
        assert summary.startswith("ZJU-0001") and row.name in summary
        description = str(event["description"])
        assert f"Window: {row.window_start} – {row.window_end}" in description
        if row.status_code in ("not_applicable", "cancelled"):
            assert str(event["status"]) == "CANCELLED"
    by_name = {str(e["summary"]): e for e in events}
    month3 = by_name["ZJU-0001 · Month 3 after surgery (RECTAL-LE)"]
    assert month3.decoded("dtstart") == D(2025, 9, 2)
    assert "EORTC QLQ-C30" in str(month3["description"])
    assert "Status: Due" in str(month3["description"])


def test_period_ical_holds_the_worklist(site: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "week.ics"
    code, out, _err = run(capsys, "--db", str(site), "ical", "--from", "2025-09-01", "--to",
                          "2025-09-07", "--today", "2025-09-05", "-o", str(target))
    assert code == 0 and "wrote 2 events" in out
    cal = icalendar.Calendar.from_ical(target.read_bytes())
    events = sorted((str(e["summary"]), e.decoded("dtstart")) for e in cal.walk("VEVENT"))
    assert events == [("ZJU-0001 · Month 3 after surgery (RECTAL-LE)", D(2025, 9, 2)),
                      ("ZJU-0002 · Month 3 (NCT03862768)", D(2025, 9, 2))]
    assert b"Wang Fang" not in target.read_bytes()
