"""Course events: date checks; rectal organ preservation at 18 months."""

from __future__ import annotations

from datetime import date

import pytest
from dateutil.relativedelta import relativedelta

from gisttracker.domain.course import (
    EVENT_KINDS,
    CourseEvent,
    Death,
    DistantRecurrence,
    LastKnownAlive,
    LocalRecurrence,
    LostToFollowUp,
    OrganPreservation,
    Progression,
    Regrowth,
    Stoma,
    Surgery,
    organ_preservation,
    validate_event_date,
)
from gisttracker.errors import InputError

TODAY = date(2025, 6, 1)
ENROLLED = date(2023, 1, 5)
OPERATED = date(2023, 3, 1)

# --- events ------------------------------------------------------------------------------


def test_event_kinds_match_the_store_codes() -> None:
    day = date(2024, 1, 1)
    events: list[CourseEvent] = [
        Progression(day, "recist", "liver"), LocalRecurrence(day, "rectum"),
        DistantRecurrence(day, "liver"), Death(day, "GIST"), LastKnownAlive(day),
        LostToFollowUp(day)]
    assert [e.kind for e in events] == ["progression", "local_recurrence",
                                        "distant_recurrence", "death", "last_known_alive",
                                        "lost_to_follow_up"]
    assert all(e.kind in EVENT_KINDS for e in events)


def test_progression_criterion_is_checked() -> None:
    assert Progression(date(2024, 1, 1), "choi").site is None
    with pytest.raises(InputError, match="criterion must be one of"):
        Progression(date(2024, 1, 1), "WHO")


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_a_plausible_date_has_no_problem(kind: str) -> None:
    assert validate_event_date(kind, date(2024, 5, 1), today=TODAY, enrolled_on=ENROLLED,
                               surgery_date=OPERATED) == []


def test_date_after_today() -> None:
    assert validate_event_date("progression", TODAY, today=TODAY) == []
    problems = validate_event_date("progression", date(2025, 6, 2), today=TODAY)
    assert len(problems) == 1
    assert "future" in problems[0]


def test_date_before_enrollment() -> None:
    assert validate_event_date("last_known_alive", ENROLLED, today=TODAY,
                               enrolled_on=ENROLLED) == []
    problems = validate_event_date("last_known_alive", date(2023, 1, 4), today=TODAY,
                                   enrolled_on=ENROLLED)
    assert len(problems) == 1
    assert "before enrollment" in problems[0]


@pytest.mark.parametrize("kind", ["local_recurrence", "distant_recurrence", "regrowth"])
def test_recurrence_must_follow_surgery(kind: str) -> None:
    assert validate_event_date(kind, date(2023, 3, 2), today=TODAY,
                               surgery_date=OPERATED) == []
    for when in (OPERATED, date(2023, 2, 1)):
        problems = validate_event_date(kind, when, today=TODAY, surgery_date=OPERATED)
        assert len(problems) == 1
        assert "after the surgery" in problems[0]


def test_progression_may_precede_surgery() -> None:
    # progression on preoperative imatinib is a real event
    assert validate_event_date("progression", date(2023, 2, 1), today=TODAY,
                               surgery_date=OPERATED) == []


@pytest.mark.parametrize("kind", ["progression", "local_recurrence", "last_known_alive",
                                  "lost_to_follow_up"])
def test_nothing_after_death(kind: str) -> None:
    died = date(2024, 8, 1)
    assert validate_event_date(kind, died, today=TODAY, death_date=died) == []
    problems = validate_event_date(kind, date(2024, 8, 2), today=TODAY, death_date=died)
    assert len(problems) == 1
    assert "after the death" in problems[0]


def test_second_death_on_another_date() -> None:
    died = date(2024, 8, 1)
    assert validate_event_date("death", died, today=TODAY, death_date=died) == []
    problems = validate_event_date("death", date(2024, 8, 3), today=TODAY, death_date=died)
    assert len(problems) == 1
    assert "already recorded" in problems[0]


def test_several_date_problems_are_all_reported() -> None:
    problems = validate_event_date("local_recurrence", date(2025, 7, 1), today=TODAY,
                                   enrolled_on=date(2025, 8, 1),
                                   surgery_date=date(2025, 7, 1),
                                   death_date=date(2025, 5, 1))
    assert len(problems) == 4


def test_unknown_kind_raises() -> None:
    with pytest.raises(InputError, match="kind must be one of"):
        validate_event_date("relapse", date(2024, 1, 1), today=TODAY)


# --- organ preservation ------------------------------------------------------------------

INDEX = date(2023, 1, 10)
HORIZON = date(2024, 7, 10)      # index + 18 months
LATER = date(2024, 9, 1)         # follow-up complete
EARLY = date(2024, 1, 1)         # follow-up short
EXCISION = Surgery(INDEX, "local_excision_transanal", "R0")


def _preserve(surgeries: list[Surgery] | None = None, stomas: list[Stoma] | None = None,
              regrowths: list[Regrowth] | None = None,
              today: date = LATER) -> OrganPreservation:
    return organ_preservation([EXCISION, *(surgeries or [])], stomas or [], regrowths or [],
                              surgery_date=INDEX, today=today, horizon_months=18)


def test_intact_rectum_after_18_months_is_preserved() -> None:
    result = _preserve()
    assert result.preserved is True
    assert result.horizon == HORIZON
    assert result.failed_on is None


def test_preserved_on_the_18_month_day_itself() -> None:
    assert _preserve(today=HORIZON).preserved is True
    assert _preserve(today=date(2024, 7, 9)).preserved is None


def test_tme_fails() -> None:
    result = _preserve([Surgery(date(2023, 6, 1), "tme", "R0")])
    assert result.preserved is False
    assert result.failed_on == date(2023, 6, 1)
    assert "TME" in result.reason


def test_apr_on_the_18_month_day_fails_and_after_it_does_not() -> None:
    result = _preserve([Surgery(HORIZON, "apr", "R0")])
    assert result.preserved is False
    assert "APR" in result.reason
    assert _preserve([Surgery(date(2024, 7, 11), "apr", "R0")]).preserved is True


def test_other_surgery_does_not_fail() -> None:
    assert _preserve([Surgery(date(2023, 6, 1), "hepatic_resection", "R0")]).preserved is True


def test_protective_stoma_never_reversed_counts_as_permanent() -> None:
    result = _preserve(stomas=[Stoma(INDEX, "temporary")])
    assert result.preserved is False
    assert result.failed_on == HORIZON
    assert "not reversed" in result.reason


def test_reversed_protective_stoma_is_fine() -> None:
    assert _preserve(stomas=[Stoma(INDEX, "temporary", date(2023, 4, 1))]).preserved is True


def test_stoma_reversed_on_the_18_month_day_is_fine_the_day_after_is_not() -> None:
    assert _preserve(stomas=[Stoma(INDEX, "temporary", HORIZON)]).preserved is True
    late = _preserve(stomas=[Stoma(INDEX, "temporary", date(2024, 7, 11))])
    assert late.preserved is False
    assert late.failed_on == HORIZON


def test_permanent_stoma_fails_at_creation() -> None:
    result = _preserve(stomas=[Stoma(date(2023, 2, 1), "permanent")])
    assert result.preserved is False
    assert result.failed_on == date(2023, 2, 1)


def test_regrowth_salvaged_by_r0_local_excision_is_preserved() -> None:
    for procedure in ("local_excision_transanal", "local_excision_tamis"):
        result = _preserve(regrowths=[Regrowth(date(2023, 9, 1), procedure, "R0")])
        assert result.preserved is True


def test_regrowth_salvaged_by_r1_local_excision_fails() -> None:
    result = _preserve(regrowths=[Regrowth(date(2023, 9, 1), "local_excision_tamis", "R1")])
    assert result.preserved is False
    assert result.failed_on == date(2023, 9, 1)


def test_regrowth_salvaged_by_tme_fails() -> None:
    result = _preserve(regrowths=[Regrowth(date(2023, 9, 1), "tme", "R0")])
    assert result.preserved is False


def test_regrowth_not_salvaged_fails() -> None:
    result = _preserve(regrowths=[Regrowth(date(2023, 9, 1))])
    assert result.preserved is False
    assert "not salvaged" in result.reason


def test_regrowth_after_the_window_is_ignored() -> None:
    assert _preserve(regrowths=[Regrowth(date(2024, 7, 11))]).preserved is True


def test_follow_up_too_short_is_open() -> None:
    result = _preserve(today=EARLY)
    assert result.preserved is None
    assert "18 months" in result.reason
    assert result.horizon == HORIZON


def test_follow_up_too_short_with_pending_stoma_or_regrowth_is_open() -> None:
    stoma = _preserve(stomas=[Stoma(INDEX, "temporary")], today=EARLY)
    assert stoma.preserved is None
    assert "stoma" in stoma.reason
    regrowth = _preserve(regrowths=[Regrowth(date(2023, 12, 1))], today=EARLY)
    assert regrowth.preserved is None
    assert "regrowth" in regrowth.reason


def test_failure_is_final_even_with_short_follow_up() -> None:
    result = _preserve([Surgery(date(2023, 6, 1), "apr", "R0")], today=EARLY)
    assert result.preserved is False


def test_earliest_failure_is_reported() -> None:
    result = _preserve([Surgery(date(2023, 11, 1), "tme", "R0")],
                       stomas=[Stoma(date(2023, 11, 1), "temporary")],
                       regrowths=[Regrowth(date(2023, 9, 1))])
    assert result.failed_on == date(2023, 9, 1)
    assert "regrowth" in result.reason


def test_facts_after_today_are_ignored() -> None:
    result = _preserve([Surgery(date(2024, 3, 1), "tme", "R0")], today=EARLY)
    assert result.preserved is None


def test_horizon_at_month_end() -> None:
    result = organ_preservation([], [], [], surgery_date=date(2023, 8, 31),
                                today=date(2025, 2, 28), horizon_months=18)
    assert result.horizon == date(2025, 2, 28)
    assert result.preserved is True


def test_today_before_surgery_raises() -> None:
    with pytest.raises(InputError, match="before the surgery"):
        organ_preservation([], [], [], surgery_date=INDEX, today=date(2023, 1, 9),
                           horizon_months=18)


def test_the_horizon_is_the_protocols_not_a_constant() -> None:
    # A site copy declaring 12 months: a TME at month 14 no longer fails it.
    late_tme = Surgery(INDEX + relativedelta(months=14), "tme", "R0")
    at_12 = organ_preservation([EXCISION, late_tme], [], [], surgery_date=INDEX, today=LATER,
                               horizon_months=12)
    assert at_12.preserved is True
    assert at_12.horizon == INDEX + relativedelta(months=12)
    assert _preserve([late_tme]).preserved is False
    with pytest.raises(ValueError, match="positive number of months"):
        organ_preservation([], [], [], surgery_date=INDEX, today=LATER, horizon_months=0)


def test_input_validation() -> None:
    with pytest.raises(InputError, match="procedure must be one of"):
        Surgery(INDEX, "hartmann")
    with pytest.raises(InputError, match="margin must be one of"):
        Surgery(INDEX, "tme", "R3")
    with pytest.raises(InputError, match="kind must be one of"):
        Stoma(INDEX, "loop")
    with pytest.raises(InputError, match="permanent"):
        Stoma(INDEX, "permanent", date(2023, 5, 1))
    with pytest.raises(InputError, match="must not be before created"):
        Stoma(INDEX, "temporary", date(2023, 1, 1))
    with pytest.raises(InputError, match="salvage_margin must be one of"):
        Regrowth(INDEX, "local_excision_tamis", "clear")
