"""RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009): target response, tables 1 and 2,
best overall response, target selection and a series of assessments."""

from __future__ import annotations

import datetime as dt
from datetime import date, timedelta

import pytest

from gisttracker.errors import InputError
from gisttracker.protocols.model import Period
from gisttracker.response.recist import (
    TOO_SMALL_TO_MEASURE_MM,
    Lesion,
    Timepoint,
    best_overall_response,
    best_response,
    check_target_selection,
    evaluate_series,
    overall_response,
    recorded_diameter,
    sum_of_diameters,
    target_response,
    targets_complete,
    too_small_to_measure,
)

# --- target response ---------------------------------------------------------------------


def test_decrease_of_exactly_30_percent_is_pr() -> None:
    assert target_response(100, 100, 70) == "PR"


def test_decrease_of_29_9_percent_is_sd() -> None:
    assert target_response(100, 100, 70.1) == "SD"


def test_30_percent_decrease_survives_binary_floating_point() -> None:
    # 33 * 0.7 is 23.099999999999998 in binary floating point
    assert target_response(33, 33, 23.1) == "PR"


def test_pd_thresholds_survive_binary_floating_point() -> None:
    # (31.2 - 26) / 26 < 0.2 and 16.4 - 11.4 < 5 in binary floating point
    assert target_response(26, 26, 31.2) == "PD"
    assert target_response(11.4, 11.4, 16.4) == "PD"


def test_increase_of_exactly_20_percent_and_10_mm_over_nadir_is_pd() -> None:
    assert target_response(60, 50, 60) == "PD"


def test_increase_of_19_9_percent_over_nadir_is_not_pd() -> None:
    assert target_response(60, 50, 59.95) == "SD"


def test_increase_of_20_percent_under_5_mm_is_not_pd() -> None:
    # 20 → 24 mm: +20 % but only +4 mm
    assert target_response(20, 20, 24) == "SD"


def test_increase_of_exactly_5_mm_and_25_percent_is_pd() -> None:
    assert target_response(20, 20, 25) == "PD"


def test_absolute_increase_of_4_9_mm_is_not_pd() -> None:
    assert target_response(20, 20, 24.9) == "SD"


def test_pd_against_nadir_while_still_below_baseline() -> None:
    # baseline 100, nadir 50 (PR), now 60: still 40 % below baseline, but +20 % and +10 mm
    assert target_response(100, 50, 60) == "PD"


def test_same_sum_just_below_pd_against_nadir_stays_pr() -> None:
    assert target_response(100, 50, 59.9) == "PR"


def test_pd_is_relative_to_nadir_not_baseline() -> None:
    # +20 % over the baseline of 100 would need 120; over the nadir of 80 it needs 96
    assert target_response(100, 80, 96) == "PD"
    assert target_response(100, 100, 96) == "SD"


def test_nadir_of_zero_then_5_mm_regrowth_is_pd() -> None:
    assert target_response(30, 0, 5) == "PD"
    assert target_response(30, 0, 4) == "PR"


def test_complete_is_cr_whatever_the_sum() -> None:
    # two normalised nodes of 8 mm short axis still add up
    assert target_response(40, 30, 16, complete=True) == "CR"
    assert target_response(40, 30, 16) == "PR"


def test_complete_wins_over_a_pd_sized_sum() -> None:
    assert target_response(40, 10, 18, complete=True) == "CR"


@pytest.mark.parametrize(("name", "args"), [
    ("baseline_mm", (-1, 0, 0)),
    ("nadir_mm", (10, -2, 0)),
    ("current_mm", (10, 10, -3)),
])
def test_negative_diameter_names_the_argument(name: str, args: tuple[float, ...]) -> None:
    with pytest.raises(InputError, match=f"^{name} must be ≥ 0, got -"):
        target_response(*args)


def test_current_mm_message_is_exact() -> None:
    with pytest.raises(InputError) as info:
        target_response(10, 10, -3)
    assert str(info.value) == "current_mm must be ≥ 0, got -3"


def test_nan_is_rejected() -> None:
    with pytest.raises(InputError, match="current_mm"):
        target_response(10, 10, float("nan"))


def test_zero_baseline_is_rejected() -> None:
    with pytest.raises(InputError, match="baseline_mm must be > 0"):
        target_response(0, 0, 0)


def test_nadir_above_baseline_is_rejected() -> None:
    with pytest.raises(InputError, match="nadir_mm must not exceed baseline_mm"):
        target_response(50, 60, 50)


# --- time-point response, table 1 --------------------------------------------------------


@pytest.mark.parametrize(("target", "non_target", "new", "expected"), [
    # CR + CR + no → CR
    ("CR", "CR", False, "CR"),
    # CR + Non-CR/Non-PD → PR
    ("CR", "NON-CR/NON-PD", False, "PR"),
    # CR + not evaluated → PR
    ("CR", "NE", False, "PR"),
    # PR + non-PD or not all evaluated → PR
    ("PR", "CR", False, "PR"),
    ("PR", "NON-CR/NON-PD", False, "PR"),
    ("PR", "NE", False, "PR"),
    # SD + non-PD or not all evaluated → SD
    ("SD", "CR", False, "SD"),
    ("SD", "NON-CR/NON-PD", False, "SD"),
    ("SD", "NE", False, "SD"),
    # not all evaluated + non-PD → NE
    ("NE", "CR", False, "NE"),
    ("NE", "NON-CR/NON-PD", False, "NE"),
    ("NE", "NE", False, "NE"),
    # PD + any → PD
    ("PD", "CR", False, "PD"),
    ("PD", "NON-CR/NON-PD", True, "PD"),
    ("PD", "NE", False, "PD"),
    ("PD", None, False, "PD"),
    # any + PD → PD
    ("CR", "PD", False, "PD"),
    ("PR", "PD", False, "PD"),
    ("SD", "PD", False, "PD"),
    ("NE", "PD", False, "PD"),
    # any + any + new → PD
    ("CR", "CR", True, "PD"),
    ("PR", "NON-CR/NON-PD", True, "PD"),
    ("SD", "NE", True, "PD"),
    ("NE", "NE", True, "PD"),
])
def test_table_1(target: str, non_target: str | None, new: bool, expected: str) -> None:
    assert overall_response(target, non_target, new) == expected


@pytest.mark.parametrize(("target", "expected"), [
    ("CR", "CR"), ("PR", "PR"), ("SD", "SD"), ("NE", "NE"), ("PD", "PD"),
])
def test_table_1_without_non_target_disease(target: str, expected: str) -> None:
    assert overall_response(target, None, False) == expected


def test_table_1_without_non_target_disease_and_new_lesion() -> None:
    assert overall_response("CR", None, True) == "PD"


# --- time-point response, table 2 --------------------------------------------------------


@pytest.mark.parametrize(("non_target", "new", "expected"), [
    ("CR", False, "CR"),
    ("NON-CR/NON-PD", False, "NON-CR/NON-PD"),
    ("NE", False, "NE"),
    ("PD", False, "PD"),
    ("PD", True, "PD"),
    ("CR", True, "PD"),
    ("NON-CR/NON-PD", True, "PD"),
    ("NE", True, "PD"),
])
def test_table_2(non_target: str, new: bool, expected: str) -> None:
    assert overall_response(None, non_target, new) == expected


def test_no_disease_with_new_lesion_is_pd() -> None:
    assert overall_response(None, None, True) == "PD"


def test_no_evaluable_disease_raises() -> None:
    with pytest.raises(InputError, match="no evaluable disease"):
        overall_response(None, None, False)


@pytest.mark.parametrize(("target", "non_target", "name"), [
    ("XX", "CR", "target"),
    ("NON-CR/NON-PD", "CR", "target"),
    ("cr", None, "target"),
    ("CR", "SD", "non_target"),
    (None, "PR", "non_target"),
])
def test_unknown_codes_raise_naming_the_argument(target: str | None, non_target: str | None,
                                                 name: str) -> None:
    with pytest.raises(InputError, match=f"^{name} must be one of"):
        overall_response(target, non_target, False)


# --- best overall response ---------------------------------------------------------------


def test_best_response_is_best_before_pd() -> None:
    assert best_overall_response(["SD", "PR", "PD"]) == "PR"


def test_responses_after_pd_are_ignored() -> None:
    assert best_overall_response(["SD", "PD", "CR"]) == "SD"
    assert best_overall_response(["PD", "PR"]) == "PD"


def test_best_response_order() -> None:
    assert best_overall_response(["PR", "CR", "SD"]) == "CR"
    assert best_overall_response(["NON-CR/NON-PD", "SD"]) == "SD"
    assert best_overall_response(["NE", "NON-CR/NON-PD"]) == "NON-CR/NON-PD"
    assert best_overall_response(["NE", "PD"]) == "PD"
    assert best_overall_response(["NE", "NE"]) == "NE"


def test_no_response_at_all_is_ne() -> None:
    assert best_overall_response([]) == "NE"


def test_best_response_rejects_unknown_code() -> None:
    with pytest.raises(InputError, match=r"responses\[1\] must be one of"):
        best_overall_response(["SD", "MR"])


# --- lesions and target selection --------------------------------------------------------


def _liver(label: str, mm: float = 20) -> Lesion:
    return Lesion(label, "liver", mm)


def test_valid_selection_has_no_problem() -> None:
    lesions = [_liver("T1"), _liver("T2"), Lesion("T3", "peritoneum", 10),
               Lesion("T4", "mediastinum", 15, is_node=True),
               Lesion("T5", "retroperitoneum", 18, is_node=True)]
    assert check_target_selection(lesions) == []


def test_six_targets_is_a_problem() -> None:
    lesions = [Lesion(f"T{i}", f"organ {i}", 20) for i in range(6)]
    problems = check_target_selection(lesions)
    assert len(problems) == 1
    assert "6 target lesions" in problems[0]
    assert check_target_selection(lesions[:5]) == []


def test_three_in_one_organ_is_a_problem() -> None:
    problems = check_target_selection([_liver("T1"), _liver("T2"), _liver("T3")])
    assert len(problems) == 1
    assert "3 target lesions in liver" in problems[0]


def test_organ_names_compare_without_case_or_blanks() -> None:
    lesions = [Lesion("T1", "Liver", 20), Lesion("T2", "liver ", 20), Lesion("T3", "LIVER", 20)]
    assert len(check_target_selection(lesions)) == 1


def test_nodes_of_different_stations_count_as_one_organ() -> None:
    nodes = [Lesion("N1", "mediastinum", 16, is_node=True),
             Lesion("N2", "retroperitoneum", 16, is_node=True),
             Lesion("N3", "axilla", 16, is_node=True)]
    problems = check_target_selection(nodes)
    assert len(problems) == 1
    assert "lymph node" in problems[0]
    assert check_target_selection(nodes[:2]) == []


def test_non_nodal_target_of_9_mm_is_a_problem_and_10_mm_is_not() -> None:
    problems = check_target_selection([Lesion("T1", "lung", 9)])
    assert len(problems) == 1
    assert "T1" in problems[0]
    assert "10 mm" in problems[0]
    assert check_target_selection([Lesion("T1", "lung", 10)]) == []


def test_nodal_target_of_14_mm_is_a_problem_and_15_mm_is_not() -> None:
    problems = check_target_selection([Lesion("N1", "neck", 14, is_node=True)])
    assert len(problems) == 1
    assert "15 mm" in problems[0]
    assert check_target_selection([Lesion("N1", "neck", 15, is_node=True)]) == []


def test_node_of_14_mm_is_judged_by_nodal_rule_not_non_nodal() -> None:
    # 14 mm would be fine for a non-nodal lesion
    assert check_target_selection([Lesion("T1", "neck", 14)]) == []


def test_too_small_to_measure_lesion_is_5_mm_and_not_a_valid_target() -> None:
    lesion = too_small_to_measure("T1", "liver")
    assert lesion.diameter_mm == TOO_SMALL_TO_MEASURE_MM == 5.0
    assert len(check_target_selection([lesion])) == 1


def test_duplicate_labels_are_a_problem() -> None:
    problems = check_target_selection([_liver("T1"), Lesion("t1 ", "lung", 20)])
    assert len(problems) == 1
    assert "T1" in problems[0] or "t1" in problems[0]


def test_several_problems_are_all_reported() -> None:
    lesions = [_liver("T1"), _liver("T1"), _liver("T3", 8), Lesion("T4", "x", 20),
               Lesion("T5", "y", 20), Lesion("T6", "z", 20)]
    assert len(check_target_selection(lesions)) == 4  # count, organ, size, duplicate


def test_lesion_rejects_negative_diameter() -> None:
    with pytest.raises(InputError, match="diameter_mm must be ≥ 0, got -1"):
        Lesion("T1", "liver", -1)


def test_sum_of_diameters_adds_long_axes_and_node_short_axes() -> None:
    lesions = [_liver("T1", 21.5), Lesion("N1", "neck", 15, is_node=True),
               too_small_to_measure("T2", "lung")]
    assert sum_of_diameters(lesions) == pytest.approx(41.5)
    assert sum_of_diameters([]) == 0


def test_recorded_diameter() -> None:
    assert recorded_diameter(None, too_small=True) == 5.0
    assert recorded_diameter(3.0, too_small=True) == 3.0  # a real measure wins
    assert recorded_diameter(0.0) == 0.0
    with pytest.raises(InputError, match="missing"):
        recorded_diameter(None)
    with pytest.raises(InputError, match="diameter_mm must be ≥ 0"):
        recorded_diameter(-1.0)


def test_targets_complete() -> None:
    assert targets_complete([Lesion("T1", "liver", 0), Lesion("N1", "neck", 9.9, True)])
    assert not targets_complete([Lesion("T1", "liver", 0), Lesion("N1", "neck", 10, True)])
    assert not targets_complete([Lesion("T1", "liver", 1)])


# --- series ------------------------------------------------------------------------------


def test_series_values() -> None:
    result = evaluate_series([
        Timepoint(100, non_target="NON-CR/NON-PD"),
        Timepoint(60, non_target="NON-CR/NON-PD"),
        Timepoint(50, non_target="NON-CR/NON-PD"),
        Timepoint(60, non_target="NON-CR/NON-PD"),
    ])
    base, first, second, third = result.timepoints
    assert base.sum_mm == 100
    assert base.target_response is None and base.overall_response is None
    assert base.change_from_baseline_pct is None and base.nadir_mm is None
    assert first.change_from_baseline_pct == pytest.approx(-40)
    assert first.nadir_mm == 100
    assert first.change_from_nadir_pct == pytest.approx(-40)
    assert (first.target_response, first.overall_response) == ("PR", "PR")
    assert second.nadir_mm == 60
    assert second.change_from_nadir_pct == pytest.approx(-100 / 6)
    assert third.nadir_mm == 50
    assert third.change_from_nadir_pct == pytest.approx(20)
    assert third.change_from_baseline_pct == pytest.approx(-40)
    assert (third.target_response, third.overall_response) == ("PD", "PD")
    assert result.best_overall_response == "PR"


def test_series_nadir_includes_baseline() -> None:
    result = evaluate_series([Timepoint(50), Timepoint(55), Timepoint(60)])
    assert [t.nadir_mm for t in result.timepoints[1:]] == [50, 50]
    assert [t.target_response for t in result.timepoints[1:]] == ["SD", "PD"]
    assert [t.overall_response for t in result.timepoints[1:]] == ["SD", "PD"]
    assert result.best_overall_response == "SD"


def test_series_missing_sum_is_ne_and_keeps_the_nadir() -> None:
    result = evaluate_series([Timepoint(80), Timepoint(None), Timepoint(50)])
    ne, pr = result.timepoints[1:]
    assert ne.target_response == "NE" and ne.overall_response == "NE"
    assert ne.change_from_baseline_pct is None and ne.change_from_nadir_pct is None
    assert pr.nadir_mm == 80
    assert pr.target_response == "PR"
    assert result.best_overall_response == "PR"


def test_series_missing_non_target_status_is_ne() -> None:
    result = evaluate_series([Timepoint(100, non_target="NON-CR/NON-PD"),
                              Timepoint(0, complete=True)])
    # CR target with non-target not evaluated → PR (table 1)
    assert result.timepoints[1].target_response == "CR"
    assert result.timepoints[1].overall_response == "PR"


def test_series_without_non_target_disease_allows_cr() -> None:
    result = evaluate_series([Timepoint(100), Timepoint(0, complete=True)])
    assert result.timepoints[1].overall_response == "CR"
    assert result.best_overall_response == "CR"


def test_series_non_target_only_uses_table_2() -> None:
    result = evaluate_series([Timepoint(None, non_target="NON-CR/NON-PD"),
                              Timepoint(None, non_target="NON-CR/NON-PD"),
                              Timepoint(None, non_target="CR"),
                              Timepoint(None, non_target="CR", new_lesions=True)])
    assert [t.target_response for t in result.timepoints[1:]] == [None, None, None]
    assert [t.overall_response for t in result.timepoints[1:]] == [
        "NON-CR/NON-PD", "CR", "PD"]
    assert result.best_overall_response == "CR"


def test_series_new_lesion_is_pd() -> None:
    result = evaluate_series([Timepoint(100), Timepoint(50, new_lesions=True)])
    assert result.timepoints[1].target_response == "PR"
    assert result.timepoints[1].overall_response == "PD"
    assert result.best_overall_response == "PD"


def test_series_with_baseline_only_is_ne() -> None:
    result = evaluate_series([Timepoint(40)])
    assert len(result.timepoints) == 1
    assert result.best_overall_response == "NE"


def test_series_nadir_of_zero_gives_no_percentage_from_nadir() -> None:
    result = evaluate_series([Timepoint(30), Timepoint(0, complete=True), Timepoint(6)])
    last = result.timepoints[2]
    assert last.nadir_mm == 0
    assert last.change_from_nadir_pct is None
    assert last.target_response == "PD"
    assert result.best_overall_response == "CR"


@pytest.mark.parametrize(("visits", "message"), [
    ([], "at least the baseline"),
    ([Timepoint(None)], "no evaluable disease"),
    ([Timepoint(0)], "must be > 0"),
    ([Timepoint(50, new_lesions=True)], "baseline"),
    ([Timepoint(50, complete=True)], "baseline"),
    ([Timepoint(None, non_target="NON-CR/NON-PD"), Timepoint(40)], "no target disease"),
    ([Timepoint(50), Timepoint(40, non_target="CR")], "no non-target disease"),
    ([Timepoint(50), Timepoint(-1)], r"visits\[1\]\.target_sum_mm must be ≥ 0"),
    ([Timepoint(50, non_target="XX")], "non_target must be one of"),
    ([Timepoint(50, assessed_on=dt.date(2024, 3, 1)),
      Timepoint(40, assessed_on=dt.date(2024, 2, 1))], "before the previous"),
])
def test_series_rejects_bad_input(visits: list[Timepoint], message: str) -> None:
    with pytest.raises(InputError, match=message):
        evaluate_series(visits)


def test_series_accepts_dated_visits_in_order() -> None:
    result = evaluate_series([Timepoint(50, assessed_on=dt.date(2024, 1, 1)),
                              Timepoint(30, assessed_on=dt.date(2024, 3, 1))])
    assert result.best_overall_response == "PR"


# --- best overall response with the protocol's minimum SD duration and confirmation ----------
# RECIST 1.1 §4.4.1 and table 3 (Eisenhauer et al. 2009): the protocol declares the minimum
# duration of SD from the start of treatment and whether CR/PR need confirmation.

T0 = date(2025, 1, 6)                   # start of treatment
SIX_WEEKS = Period(weeks=6)
FOUR_WEEKS = Period(weeks=4)


def _week(n: int) -> date:
    return T0 + timedelta(weeks=n)


def _best(*points: tuple[int, str], confirm: bool = False,
          sd_min: Period | None = SIX_WEEKS) -> str:
    return best_response([(_week(w), code) for w, code in points], start=T0, sd_min=sd_min,
                         confirm_after=FOUR_WEEKS if confirm else None)


def test_an_early_sd_followed_by_pd_is_pd_not_sd() -> None:
    # The case the issue reports: SD at 4 weeks (before the 6-week minimum), then PD.
    assert _best((4, "SD"), (12, "PD")) == "PD"
    # Without a declared minimum the old reading gave SD.
    assert _best((4, "SD"), (12, "PD"), sd_min=None) == "SD"
    assert best_overall_response(["SD", "PD"]) == "SD"


def test_an_early_sd_and_nothing_after_it_is_not_evaluable() -> None:
    assert _best((4, "SD")) == "NE"
    assert _best((4, "SD"), (5, "NE")) == "NE"


def test_sd_at_the_minimum_day_counts_and_a_day_earlier_does_not() -> None:
    at = [(SIX_WEEKS.after(T0), "SD"), (_week(12), "PD")]
    assert best_response(at, start=T0, sd_min=SIX_WEEKS) == "SD"
    before = [(SIX_WEEKS.after(T0) - timedelta(days=1), "SD"), (_week(12), "PD")]
    assert best_response(before, start=T0, sd_min=SIX_WEEKS) == "PD"


def test_without_confirmation_a_single_pr_or_cr_counts_at_any_time() -> None:
    assert _best((4, "PR"), (12, "PD")) == "PR"
    assert _best((4, "CR")) == "CR"
    assert _best((8, "SD"), (16, "PR"), (24, "PD"), (30, "CR")) == "PR"  # after PD ignored


# RECIST 1.1 table 3 (confirmation required): the overall response at the first and at the
# subsequent time point, and the best overall response. "Minimum met" rows put the first time
# point at 8 weeks and the confirming one 4 weeks later; the other rows put both before the
# 6-week minimum. Disease seen again after a CR (table 3's "CR then PR" and "CR then SD") is
# progression at that time point (the table's footnote), which is how our time-point rules
# evaluate it (the nadir after a CR is 0 mm), so those rows are given as PD.
TABLE_3 = [
    ("CR CR", [(8, "CR"), (12, "CR")], "CR"),
    ("CR PR, minimum met", [(8, "CR"), (12, "PR")], "SD"),
    ("CR PR, minimum not met", [(4, "CR"), (5, "PD")], "PD"),
    ("CR SD, minimum met", [(8, "CR"), (12, "SD")], "SD"),
    ("CR SD, minimum not met", [(4, "CR"), (5, "PD")], "PD"),
    ("CR PD, minimum met", [(8, "CR"), (12, "PD")], "SD"),
    ("CR PD, minimum not met", [(4, "CR"), (5, "PD")], "PD"),
    ("CR NE, minimum met", [(8, "CR"), (12, "NE")], "SD"),
    ("CR NE, minimum not met", [(4, "CR"), (5, "NE")], "NE"),
    ("PR CR", [(8, "PR"), (12, "CR")], "PR"),
    ("PR PR", [(8, "PR"), (12, "PR")], "PR"),
    ("PR SD", [(8, "PR"), (12, "SD")], "SD"),
    ("PR PD, minimum met", [(8, "PR"), (12, "PD")], "SD"),
    ("PR PD, minimum not met", [(4, "PR"), (5, "PD")], "PD"),
    ("PR NE, minimum met", [(8, "PR"), (12, "NE")], "SD"),
    ("PR NE, minimum not met", [(4, "PR"), (5, "NE")], "NE"),
    ("NE NE", [(8, "NE"), (12, "NE")], "NE"),
]


@pytest.mark.parametrize(("case", "points", "expected"), TABLE_3,
                         ids=[row[0] for row in TABLE_3])
def test_recist_table_3_with_confirmation(case: str, points: list[tuple[int, str]],
                                          expected: str) -> None:
    assert _best(*points, confirm=True) == expected, case


def test_a_confirmation_must_come_at_least_four_weeks_later() -> None:
    assert _best((8, "PR"), (11, "PR"), confirm=True) == "SD"
    assert _best((8, "PR"), (12, "PR"), confirm=True) == "PR"
    assert _best((8, "CR"), (11, "CR"), (16, "PD"), confirm=True) == "SD"
    assert _best((8, "CR"), (12, "CR"), confirm=True) == "CR"


def test_non_target_only_disease_needs_the_minimum_duration_too() -> None:
    assert _best((4, "NON-CR/NON-PD"), (12, "PD")) == "PD"
    assert _best((8, "NON-CR/NON-PD"), (12, "PD")) == "NON-CR/NON-PD"


def test_best_response_checks_its_codes() -> None:
    with pytest.raises(InputError, match="timepoints"):
        _best((8, "XX"))
