"""Imatinib exposure: days on drug, phase durations, and a protocol's limit on a phase
(``[[treatment_rules]]``; duration groups are tested with the allocation, the NCT04933669
timing window with the schedule's timing rules)."""

from __future__ import annotations

from datetime import date

import pytest

from gisttracker.domain.schedule import check_timing
from gisttracker.domain.treatment import (
    Exposure,
    Interruption,
    calendar_months_between,
    check_treatment_rule,
    days_on_drug,
    postoperative_duration,
    preoperative_duration,
)
from gisttracker.errors import InputError
from gisttracker.protocols import load_studies
from gisttracker.protocols.model import Period, TreatmentRule


def _imatinib(start: date, stop: date | None, phase: str = "preoperative",
              dose: float = 400) -> Exposure:
    return Exposure("imatinib", dose, start, stop, phase)


# --- days on drug ------------------------------------------------------------------------


def test_start_and_stop_are_both_counted() -> None:
    exposure = _imatinib(date(2024, 1, 1), date(2024, 1, 10))
    assert days_on_drug([exposure], [], until=date(2024, 12, 31)) == 10


def test_single_day_exposure_is_one_day() -> None:
    exposure = _imatinib(date(2024, 1, 1), date(2024, 1, 1))
    assert days_on_drug([exposure], [], until=date(2024, 1, 1)) == 1


def test_leap_february_counts_29_days() -> None:
    exposure = _imatinib(date(2024, 2, 1), date(2024, 2, 29))
    assert days_on_drug([exposure], [], until=date(2024, 3, 31)) == 29


def test_open_exposure_counts_up_to_until_inclusive() -> None:
    exposure = _imatinib(date(2024, 1, 1), None)
    assert days_on_drug([exposure], [], until=date(2024, 1, 31)) == 31


def test_nothing_after_until_counts() -> None:
    exposures = [_imatinib(date(2024, 1, 1), date(2024, 3, 31)),
                 _imatinib(date(2024, 5, 1), date(2024, 5, 31))]
    assert days_on_drug(exposures, [], until=date(2024, 1, 15)) == 15


def test_interruption_days_are_removed_inclusive() -> None:
    exposure = _imatinib(date(2024, 1, 1), date(2024, 1, 31))
    pause = Interruption(date(2024, 1, 10), date(2024, 1, 12), "neutropenia")
    assert days_on_drug([exposure], [pause], until=date(2024, 12, 31)) == 28


def test_several_interruptions_across_exposures() -> None:
    exposures = [_imatinib(date(2024, 1, 1), date(2024, 1, 31)),
                 _imatinib(date(2024, 2, 1), date(2024, 2, 29), dose=300)]
    pauses = [Interruption(date(2024, 1, 30), date(2024, 2, 2), "rash"),   # 4 days
              Interruption(date(2024, 2, 20), date(2024, 2, 21), "surgery")]  # 2 days
    assert days_on_drug(exposures, pauses, until=date(2024, 12, 31)) == 60 - 6


def test_overlapping_interruptions_count_once() -> None:
    exposure = _imatinib(date(2024, 1, 1), date(2024, 1, 31))
    pauses = [Interruption(date(2024, 1, 10), date(2024, 1, 15)),
              Interruption(date(2024, 1, 13), date(2024, 1, 20))]
    assert days_on_drug([exposure], pauses, until=date(2024, 12, 31)) == 31 - 11


def test_interruption_outside_exposure_changes_nothing() -> None:
    exposure = _imatinib(date(2024, 1, 1), date(2024, 1, 31))
    pauses = [Interruption(date(2023, 12, 20), date(2024, 1, 2)),   # 2 days inside
              Interruption(date(2024, 2, 5), date(2024, 2, 9))]     # none inside
    assert days_on_drug([exposure], pauses, until=date(2024, 12, 31)) == 29


def test_open_interruption_runs_to_until() -> None:
    exposure = _imatinib(date(2024, 1, 1), None)
    pause = Interruption(date(2024, 1, 21), None, "toxicity")
    assert days_on_drug([exposure], [pause], until=date(2024, 1, 31)) == 20


def test_dose_change_on_the_same_day_counts_that_day_once() -> None:
    exposures = [_imatinib(date(2024, 1, 1), date(2024, 1, 10), dose=400),
                 _imatinib(date(2024, 1, 10), date(2024, 1, 20), dose=600)]
    assert days_on_drug(exposures, [], until=date(2024, 12, 31)) == 20


def test_gap_between_exposures_is_not_counted() -> None:
    exposures = [_imatinib(date(2024, 1, 1), date(2024, 1, 10)),
                 _imatinib(date(2024, 1, 21), date(2024, 1, 30))]
    assert days_on_drug(exposures, [], until=date(2024, 12, 31)) == 20


def test_no_exposure_is_zero_days() -> None:
    assert days_on_drug([], [Interruption(date(2024, 1, 1), None)],
                        until=date(2024, 2, 1)) == 0


def test_exposure_validation() -> None:
    with pytest.raises(InputError, match="dose_mg_per_day must be > 0"):
        _imatinib(date(2024, 1, 1), None, dose=0)
    with pytest.raises(InputError, match="must not be before start"):
        _imatinib(date(2024, 1, 2), date(2024, 1, 1))
    with pytest.raises(InputError, match="phase must be one of"):
        _imatinib(date(2024, 1, 1), None, phase="adjuvant-ish")
    with pytest.raises(InputError, match="must not be before start"):
        Interruption(date(2024, 1, 2), date(2024, 1, 1))


# --- phase durations ---------------------------------------------------------------------

COURSE = [
    _imatinib(date(2024, 1, 31), date(2024, 4, 30), dose=400),
    _imatinib(date(2024, 5, 1), date(2024, 7, 31), dose=300),
    _imatinib(date(2024, 8, 20), None, phase="postoperative"),
    Exposure("sunitinib", 37.5, date(2023, 1, 1), date(2023, 6, 1), "palliative"),
]
PAUSES = [Interruption(date(2024, 3, 1), date(2024, 3, 10), "rash"),
          Interruption(date(2024, 12, 1), date(2024, 12, 31), "holiday")]
SURGERY = date(2024, 8, 5)


def test_preoperative_duration() -> None:
    result = preoperative_duration(COURSE, PAUSES, SURGERY)
    assert result is not None
    assert (result.first_start, result.last_stop) == (date(2024, 1, 31), date(2024, 7, 31))
    # 31 Jan – 31 Jul 2024 inclusive is 183 days; 10 days interrupted
    assert result.days_on_drug == 173
    assert (result.calendar_months, result.extra_days) == (6, 0)
    assert result.months == pytest.approx(173 / 30.4375)


def test_postoperative_duration_counts_to_until() -> None:
    result = postoperative_duration(COURSE, PAUSES, SURGERY, until=date(2025, 8, 19))
    assert result is not None
    assert (result.first_start, result.last_stop) == (date(2024, 8, 20), date(2025, 8, 19))
    assert result.days_on_drug == 365 - 31
    assert (result.calendar_months, result.extra_days) == (11, 30)


def test_postoperative_stop_after_until_is_clipped() -> None:
    course = [_imatinib(date(2024, 8, 20), date(2027, 8, 19), phase="postoperative")]
    result = postoperative_duration(course, [], SURGERY, until=date(2024, 8, 29))
    assert result is not None
    assert result.last_stop == date(2024, 8, 29)
    assert result.days_on_drug == 10


def test_no_exposure_of_the_phase_gives_none() -> None:
    postop_only = [_imatinib(date(2024, 8, 20), None, phase="postoperative")]
    assert preoperative_duration(postop_only, [], SURGERY) is None
    assert postoperative_duration(COURSE[:2], [], SURGERY, until=date(2025, 1, 1)) is None
    assert postoperative_duration(postop_only, [], SURGERY, until=date(2024, 8, 19)) is None


def test_preoperative_exposure_without_stop_is_an_error() -> None:
    with pytest.raises(InputError, match="no stop date"):
        preoperative_duration([_imatinib(date(2024, 1, 1), None)], [], SURGERY)


def test_preoperative_exposure_starting_at_surgery_is_an_error() -> None:
    with pytest.raises(InputError, match="not before the surgery"):
        preoperative_duration([_imatinib(SURGERY, SURGERY)], [], SURGERY)


def test_postoperative_exposure_before_surgery_is_an_error() -> None:
    with pytest.raises(InputError, match="before the surgery"):
        postoperative_duration([_imatinib(date(2024, 8, 1), None, phase="postoperative")],
                               [], SURGERY, until=date(2025, 1, 1))


# --- calendar months and duration groups ---------------------------------------------------


@pytest.mark.parametrize(("start", "stop", "expected"), [
    (date(2024, 1, 1), date(2024, 1, 1), (0, 0)),
    (date(2024, 1, 31), date(2024, 2, 28), (0, 28)),
    (date(2024, 1, 31), date(2024, 2, 29), (1, 0)),   # month end: 31 Jan + 1 month
    (date(2024, 1, 31), date(2024, 3, 1), (1, 1)),
    (date(2024, 1, 31), date(2024, 3, 31), (2, 0)),
    (date(2024, 8, 31), date(2025, 2, 28), (6, 0)),
    (date(2024, 1, 15), date(2025, 3, 20), (14, 5)),
])
def test_calendar_months_between(start: date, stop: date, expected: tuple[int, int]) -> None:
    assert calendar_months_between(start, stop) == expected


# --- a protocol's limits on a treatment phase -----------------------------------------------

ADJUVANT = TreatmentRule("adjuvant", "Adjuvant imatinib for 36 months", "imatinib",
                         "postoperative", max=Period(months=36))
AT_LEAST = TreatmentRule("preop", "Preoperative imatinib for 3 to 12 months", "imatinib",
                         "preoperative", min=Period(months=3), max=Period(months=12))
OP = date(2024, 1, 31)


def test_a_phase_up_to_its_maximum_is_fine_and_a_day_more_is_not() -> None:
    exactly = [_imatinib(OP, date(2027, 1, 31), "postoperative")]
    assert check_treatment_rule(ADJUVANT, exactly, until=date(2028, 1, 1)) is None
    longer = [_imatinib(OP, date(2027, 2, 1), "postoperative")]
    problem = check_treatment_rule(ADJUVANT, longer, until=date(2028, 1, 1))
    assert problem == ("Adjuvant imatinib for 36 months: it lasted 36 months 1 day, longer "
                       "than 36 months")


def test_a_running_phase_counts_up_to_today_and_is_never_too_short_yet() -> None:
    running = [_imatinib(OP, None, "postoperative")]
    assert check_treatment_rule(ADJUVANT, running, until=date(2027, 1, 31)) is None
    assert check_treatment_rule(ADJUVANT, running, until=date(2027, 2, 1)) is not None
    early = [_imatinib(OP, None, "preoperative")]
    assert check_treatment_rule(AT_LEAST, early, until=date(2024, 2, 15)) is None
    stopped = [_imatinib(OP, date(2024, 4, 29), "preoperative")]
    problem = check_treatment_rule(AT_LEAST, stopped, until=date(2024, 6, 1))
    assert problem is not None and "shorter than 3 months" in problem


def test_other_drugs_and_phases_are_not_counted() -> None:
    course = [Exposure("sunitinib", 37.5, OP, date(2030, 1, 1), "postoperative"),
              _imatinib(OP, date(2030, 1, 1), "palliative")]
    assert check_treatment_rule(ADJUVANT, course, until=date(2031, 1, 1)) is None


# --- the NCT04933669 timing window, from its protocol file ---------------------------------

START = date(2024, 1, 15)
NEO = next(s for s in load_studies().studies if s.key == "NCT04933669")


def _timing(last: date, surgery: date) -> list[str]:
    checks = check_timing(NEO, {"imatinib_start": START, "last_preop_dose": last,
                                "surgery": surgery})
    return [c.message for c in checks if c.problem]


def test_timing_at_the_limits_is_fine() -> None:
    assert _timing(date(2024, 4, 15), date(2024, 4, 22)) == []
    assert _timing(date(2025, 1, 15), date(2025, 1, 15)) == []


def test_shorter_than_3_months_longer_than_12_and_surgery_too_late() -> None:
    (short,) = _timing(date(2024, 4, 14), date(2024, 4, 20))
    assert "(at least 3 months)" in short
    (long,) = _timing(date(2025, 1, 16), date(2025, 1, 20))
    assert "(at most 12 months)" in long
    (late,) = _timing(date(2024, 7, 15), date(2024, 7, 23))
    assert "8 days after" in late and "(at most 7 days)" in late
    (before,) = _timing(date(2024, 7, 15), date(2024, 7, 14))
    assert "must not come before" in before
    assert len(_timing(date(2024, 2, 15), date(2024, 3, 15))) == 2
