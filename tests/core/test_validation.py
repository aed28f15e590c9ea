"""What the service boundary refuses, and how it says so: one message naming the field."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

import pytest

from gisttracker.errors import InputError
from gisttracker.services.course import CourseService, EventInput
from gisttracker.services.patients import Identity, PatientService
from gisttracker.services.visits import VisitService
from gisttracker.session import Session
from gisttracker.validation import MAX_TEXT, check_date, check_number, check_text, checked
from tests.core.fuzz_services import fingerprint

TODAY = date(2026, 3, 14)


def _register(session: Session) -> str:
    patient = PatientService(session).register(
        "NCT04933669", sex="female", identity=Identity(name="Li Hua"), today=TODAY)
    return str(patient.study_id)


@pytest.mark.parametrize(("text", "says"), [
    ("\ud800", "broken character at position 1"),
    ("ab\udfffc", "broken character at position 3"),
    ("nul\x00here", "control character (U+0000) at position 4"),
    ("\x1b[31mred", "control character (U+001B) at position 1"),
    ("x" * (MAX_TEXT + 1), f"too long: {MAX_TEXT + 1} characters"),
])
def test_text_that_cannot_be_stored_is_refused_naming_the_field(text: str, says: str) -> None:
    with pytest.raises(InputError) as refused:
        check_text(text, "notes")
    assert str(refused.value).startswith("notes ") and says in str(refused.value)
    assert refused.value.field == "notes"


@pytest.mark.parametrize("text", ["", "line one\nline two\ttab\r\n", "患者 张三", "≤ 5 × 10⁹/L",
                                  "e\u0301", "🙂", "x" * MAX_TEXT])
def test_ordinary_text_passes_unchanged(text: str) -> None:
    assert check_text(text, "notes") is text


@pytest.mark.parametrize(("value", "says"), [
    (float("nan"), "must be a finite number"), (float("inf"), "must be a finite number"),
    (1e300, "far too large"), (10**400, "far too large"), (True, "must be a number"),
    ("5", "must be a number"), (None, "must be a number"),
])
def test_numbers_must_be_finite_and_of_a_sensible_size(value: object, says: str) -> None:
    with pytest.raises(InputError, match=says):
        check_number(value, "dose_mg_per_day")


@pytest.mark.parametrize(("value", "says"), [
    (date(1, 1, 1), "outside the dates"), (date(9999, 12, 31), "outside the dates"),
    (datetime(2026, 3, 14, 9, 30), "must be a date"), ("2026-03-14", "must be a date"),
])
def test_dates_must_be_dates_within_the_accepted_years(value: object, says: str) -> None:
    with pytest.raises(InputError, match=says):
        check_date(value, "today")


def test_a_checked_function_names_the_argument_and_the_record_field() -> None:
    @checked
    def record(self: object, patient_key: str, data: EventInput, *, today: date) -> str:
        return "called"

    event = EventInput(kind="death", occurred_on=TODAY)
    assert record(None, "ZJU-0001", event, today=TODAY) == "called"
    with pytest.raises(InputError, match=r"^patient key must be text, not 7\.$"):
        record(None, 7, event, today=TODAY)
    with pytest.raises(InputError) as refused:
        record(None, "ZJU-0001", EventInput(kind="death", occurred_on=TODAY,
                                            notes="a\x00b"), today=TODAY)
    assert refused.value.field == "data.notes"
    with pytest.raises(InputError, match="data must be a EventInput record"):
        record(None, "ZJU-0001", {"kind": "death"}, today=TODAY)
    with pytest.raises(InputError, match="today must be a date"):
        record(None, "ZJU-0001", event, today=None)


def test_an_iterator_argument_is_read_once_and_passed_on_as_items() -> None:
    seen: list[object] = []

    @checked
    def take_any(self: object, names: Iterable[str]) -> None:
        seen.append(tuple(names))

    take_any(None, (n for n in ["rfa", "tace"]))
    assert seen == [("rfa", "tace")]
    with pytest.raises(InputError, match="must be a list"):
        take_any(None, "hepatic_resection")  # one name is not a list of names
    with pytest.raises(InputError, match=r"names\[1\] must be text"):
        take_any(None, ["rfa", 3])


def test_a_refused_service_call_writes_nothing(session: Session) -> None:
    ref = _register(session)
    service = CourseService(session)
    before = fingerprint(session)
    for bad in (EventInput(kind="death", occurred_on=date(1, 1, 1)),
                EventInput(kind="death", occurred_on=TODAY, notes="\ud800"),
                EventInput(kind="death", occurred_on=TODAY, cause=float("nan"))):  # type: ignore[arg-type]
        with pytest.raises(InputError):
            service.record_event(ref, bad, today=TODAY)
    with pytest.raises(InputError, match=r"^patient key"):
        service.record_event(None, EventInput(kind="death", occurred_on=TODAY),  # type: ignore[arg-type]
                             today=TODAY)
    assert fingerprint(session) == before


def test_patient_names_with_control_characters_are_refused_before_registration(
        session: Session) -> None:
    service = PatientService(session)
    with pytest.raises(InputError) as refused:
        service.register("NCT04933669", sex="female", identity=Identity(name="Li\x00Hua"),
                         today=TODAY)
    assert refused.value.field == "identity.name"
    assert session.db.execute_sql("SELECT count(*) FROM patient").fetchone()[0] == 0


def test_a_month_out_of_range_is_a_message(session: Session) -> None:
    with pytest.raises(InputError, match="month must be 1 to 12"):
        VisitService(session).month(2026, 13)
    assert VisitService(session).month(2026, 3) == {}


def test_a_calendar_name_with_line_breaks_is_written_on_one_line(session: Session,
                                                                  tmp_path: Path) -> None:
    path = tmp_path / "visits.ics"
    assert VisitService(session).write_calendar(str(path), [], name="Site\nvisits") == 0
    assert "X-WR-CALNAME:Site visits" in path.read_text(encoding="utf-8")
