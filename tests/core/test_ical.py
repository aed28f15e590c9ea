"""iCalendar export: parsed back with :mod:`icalendar` and checked event by event."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from icalendar import Calendar, Component, vCategory

from gisttracker.domain.schedule import plan, status
from gisttracker.errors import InputError
from gisttracker.ical import CalendarVisit, calendar_bytes, write_calendar
from gisttracker.protocols.loader import SEEDS_DIR, load_study

STAMP = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
PATIENT_NAME = "Wang Xiuying"  # kept apart from the calendar: only the study id goes in
STUDY_ID = "ZS-017"


def visits_for(study_id: str = STUDY_ID, randomized: date = date(2025, 8, 31)) -> list[
        CalendarVisit]:
    """A real NCT03862768 schedule as the service would hand it to the exporter."""
    study = load_study(SEEDS_DIR / "nct03862768_focal_progression.toml")
    today = date(2026, 3, 1)
    out = []
    for p in plan(study, {"randomization": randomized}):
        out.append(CalendarVisit(
            uid=f"{study_id}-{p.visit_key}", patient_study_id=study_id, study_key=study.key,
            visit_name=p.name, target=p.target, window_start=p.window_start,
            window_end=p.window_end, assessments=p.assessments,
            status=status(p, today=today).status,
        ))
    return out


def parse(data: bytes) -> tuple[Calendar, list[Component]]:
    cal = Calendar.from_ical(data)
    return cal, list(cal.walk("VEVENT"))


def test_calendar_header() -> None:
    cal, _events = parse(calendar_bytes(visits_for(), prodid_version="1.2.3", stamp=STAMP))
    assert str(cal["PRODID"]) == "-//GIST Study Tracker//1.2.3//EN"
    assert str(cal["VERSION"]) == "2.0"


def test_one_all_day_event_per_visit_on_its_target() -> None:
    data = calendar_bytes(visits_for(), prodid_version="1.0", stamp=STAMP)
    _cal, events = parse(data)
    assert len(events) == 7
    starts = [ev.decoded("DTSTART") for ev in events]
    assert starts == [date(2025, 8, 31), date(2025, 11, 30), date(2026, 2, 28),
                      date(2026, 5, 31), date(2026, 8, 31), date(2027, 2, 28),
                      date(2027, 8, 31)]
    for ev in events:
        start = ev.decoded("DTSTART")
        end = ev.decoded("DTEND")
        assert type(start) is date and type(end) is date  # all-day, not datetimes
        assert end == start + timedelta(days=1)
    assert data.count(b"DTSTART;VALUE=DATE:") == 7
    assert b"DTSTART;VALUE=DATE:20251130\r\n" in data


def test_summary_has_study_id_and_never_a_name() -> None:
    data = calendar_bytes(visits_for(), prodid_version="1.0", stamp=STAMP)
    _cal, events = parse(data)
    summaries = [str(ev["SUMMARY"]) for ev in events]
    assert summaries[1] == "ZS-017 · Month 3 (NCT03862768)"
    assert all(s.startswith(f"{STUDY_ID} · ") and s.endswith("(NCT03862768)")
               for s in summaries)
    assert PATIENT_NAME.encode() not in data
    assert b"Wang" not in data


def test_description_has_window_assessments_and_status() -> None:
    _cal, events = parse(calendar_bytes(visits_for(), prodid_version="1.0", stamp=STAMP))
    month3 = str(events[1]["DESCRIPTION"])
    assert "Window: 2025-11-16 – 2025-12-14" in month3
    assert "CT/MRI tumour assessment" in month3
    assert "Laboratory values" in month3
    assert "Status: Overdue" in month3  # seen from 1 March 2026, no visit done
    baseline = str(events[0]["DESCRIPTION"])
    assert "Window: 2025-08-03 – 2025-08-31" in baseline
    assert "Informed consent" in baseline


def test_categories_dtstamp_and_uid() -> None:
    _cal, events = parse(calendar_bytes(visits_for(), prodid_version="1.0", stamp=STAMP))
    for ev in events:
        categories = ev["CATEGORIES"]
        assert isinstance(categories, vCategory)
        assert categories.cats == ["NCT03862768"]
        assert ev.decoded("DTSTAMP") == STAMP
    uids = [str(ev["UID"]) for ev in events]
    assert len(set(uids)) == len(uids) == 7
    assert "ZS-017-baseline@gisttracker" in uids


def test_uids_are_stable_across_exports_and_patients_differ() -> None:
    first = calendar_bytes(visits_for(), prodid_version="1.0", stamp=STAMP)
    # A second export later, with the anchor moved and visits given in another order.
    later = STAMP + timedelta(days=30)
    moved = list(reversed(visits_for(randomized=date(2025, 9, 10))))
    second = calendar_bytes(moved, prodid_version="1.0", stamp=later)
    uids1 = {str(ev["UID"]) for ev in parse(first)[1]}
    uids2 = {str(ev["UID"]) for ev in parse(second)[1]}
    assert uids1 == uids2
    other = calendar_bytes(visits_for("ZS-018"), prodid_version="1.0", stamp=STAMP)
    assert not uids1 & {str(ev["UID"]) for ev in parse(other)[1]}


def test_same_input_gives_same_bytes() -> None:
    a = calendar_bytes(visits_for(), prodid_version="1.0", stamp=STAMP)
    b = calendar_bytes(list(reversed(visits_for())), prodid_version="1.0", stamp=STAMP)
    assert a == b


def test_visits_without_target_are_skipped() -> None:
    visits = visits_for()
    waiting = CalendarVisit("ZS-017-fu_m3", STUDY_ID, "RECTAL-LE", "Month 3 after surgery",
                            None, None, None, ("qlq_c30",), "waiting")
    _cal, events = parse(calendar_bytes([*visits, waiting], prodid_version="1.0",
                                        stamp=STAMP))
    assert len(events) == 7
    assert all("RECTAL-LE" not in str(ev["SUMMARY"]) for ev in events)


def test_stamp_is_written_in_utc_and_must_be_aware() -> None:
    china = timezone(timedelta(hours=8))
    data = calendar_bytes(visits_for(), prodid_version="1.0",
                          stamp=datetime(2026, 3, 14, 17, 30, tzinfo=china))
    assert b"DTSTAMP:20260314T093000Z" in data
    with pytest.raises(ValueError):
        calendar_bytes(visits_for(), prodid_version="1.0", stamp=datetime(2026, 3, 14, 9, 30))


def test_duplicate_uid_is_refused() -> None:
    visits = visits_for()
    with pytest.raises(InputError):
        calendar_bytes([*visits, visits[0]], prodid_version="1.0", stamp=STAMP)


def test_cancelled_visit_is_marked_cancelled() -> None:
    v = visits_for()[0]
    cancelled = CalendarVisit(v.uid, v.patient_study_id, v.study_key, v.visit_name, v.target,
                              v.window_start, v.window_end, v.assessments, "cancelled")
    (ev,) = parse(calendar_bytes([cancelled], prodid_version="1.0", stamp=STAMP))[1]
    assert str(ev["STATUS"]) == "CANCELLED"
    assert "Status: Cancelled" in str(ev["DESCRIPTION"])


def test_write_calendar(tmp_path: Path) -> None:
    path = tmp_path / "schedule.ics"
    path.write_bytes(b"old")
    count = write_calendar(path, visits_for(), prodid_version="1.0", stamp=STAMP)
    assert count == 7
    assert path.read_bytes() == calendar_bytes(visits_for(), prodid_version="1.0", stamp=STAMP)
    assert [p.name for p in tmp_path.iterdir()] == ["schedule.ics"]  # no temporary left
