"""EORTC QLQ-C30 scoring against the Scoring Manual (3rd ed., 2001) and Giesinger 2016."""

from __future__ import annotations

from typing import Any

import pytest

from gisttracker.errors import InputError
from gisttracker.scoring import ScaleKind
from gisttracker.scoring.qlq_c30 import ITEMS, SCALES, SUMMARY_SCALES, score

FUNCTIONAL = ("PF2", "RF2", "EF", "CF", "SF")
SYMPTOMS = ("FA", "NV", "PA", "DY", "SL", "AP", "CO", "DI", "FI")
ALL_KEYS = {"QL2", *FUNCTIONAL, *SYMPTOMS, "SUMSC"}


def best() -> dict[int, int | None]:
    answers: dict[int, int | None] = dict.fromkeys(range(1, 29), 1)
    answers[29] = 7
    answers[30] = 7
    return answers


def worst() -> dict[int, int | None]:
    answers: dict[int, int | None] = dict.fromkeys(range(1, 29), 4)
    answers[29] = 1
    answers[30] = 1
    return answers


# --- the product owner's worked examples -------------------------------------------------


def test_best_possible_answers_give_full_function_no_symptoms_and_summary_100() -> None:
    result = score(best())
    assert set(result) == ALL_KEYS
    for key in (*FUNCTIONAL, "QL2"):
        assert result[key] == pytest.approx(100.0)
    for key in SYMPTOMS:
        assert result[key] == pytest.approx(0.0)
    assert result["SUMSC"] == pytest.approx(100.0)


def test_only_items_21_and_22_answered_score_emotional_functioning_alone() -> None:
    result = score({21: 2, 22: 1})
    assert result["EF"] == pytest.approx(83.33, abs=0.005)
    assert result["EF"] == pytest.approx(250 / 3)  # RS 1.5: (1 - 0.5/3) * 100, unrounded
    assert {k for k, v in result.items() if v is not None} == {"EF"}


# --- more hand-computed values ------------------------------------------------------------


def test_worst_possible_answers() -> None:
    result = score(worst())
    for key in (*FUNCTIONAL, "QL2"):
        assert result[key] == pytest.approx(0.0)
    for key in SYMPTOMS:
        assert result[key] == pytest.approx(100.0)
    assert result["SUMSC"] == pytest.approx(0.0)


def realistic_patient() -> dict[int, int | None]:
    """A patient on imatinib: some fatigue, diarrhoea and worry; answers chosen by hand."""
    return {
        1: 2, 2: 2, 3: 1, 4: 1, 5: 1,  # PF2 RS 1.4
        6: 2, 7: 3,  # RF2 RS 2.5
        8: 1,  # DY
        9: 2, 19: 1,  # PA RS 1.5
        10: 2, 12: 3, 18: 3,  # FA RS 8/3
        11: 2,  # SL
        13: 1,  # AP
        14: 2, 15: 1,  # NV RS 1.5
        16: 1,  # CO
        17: 3,  # DI
        20: 1, 25: 2,  # CF RS 1.5
        21: 2, 22: 3, 23: 2, 24: 1,  # EF RS 2
        26: 1, 27: 2,  # SF RS 1.5
        28: 2,  # FI
        29: 5, 30: 4,  # QL2 RS 4.5
    }


def test_realistic_patient_scores_computed_by_hand() -> None:
    result = score(realistic_patient())
    expected = {
        "PF2": (1 - 0.4 / 3) * 100,  # 86.667
        "RF2": (1 - 1.5 / 3) * 100,  # 50
        "EF": (1 - 1.0 / 3) * 100,  # 66.667
        "CF": (1 - 0.5 / 3) * 100,  # 83.333
        "SF": (1 - 0.5 / 3) * 100,  # 83.333
        "QL2": 3.5 / 6 * 100,  # 58.333
        "FA": (8 / 3 - 1) / 3 * 100,  # 55.556
        "NV": 0.5 / 3 * 100,  # 16.667
        "PA": 0.5 / 3 * 100,  # 16.667
        "DY": 0.0,
        "SL": 1 / 3 * 100,  # 33.333
        "AP": 0.0,
        "CO": 0.0,
        "DI": 2 / 3 * 100,  # 66.667
        "FI": 1 / 3 * 100,  # 33.333
    }
    for key, value in expected.items():
        assert result[key] == pytest.approx(value), key
    functional = [expected[k] for k in FUNCTIONAL]
    reversed_symptoms = [100 - expected[k] for k in ("FA", "NV", "PA", "DY", "SL", "AP",
                                                     "CO", "DI")]
    assert result["SUMSC"] == pytest.approx(sum(functional + reversed_symptoms) / 13)
    # by hand: functional 370.0 + reversed symptoms 611.11 = 981.11, / 13
    assert result["SUMSC"] == pytest.approx(75.4700855, abs=1e-6)


def test_global_health_uses_range_6_not_3() -> None:
    result = score({29: 4, 30: 4})  # middle of 1-7
    assert result["QL2"] == pytest.approx(50.0)
    result = score({29: 2, 30: 3})  # RS 2.5
    assert result["QL2"] == pytest.approx(25.0)


def test_scores_are_not_rounded() -> None:
    result = score({1: 2, 2: 1, 3: 1, 4: 1, 5: 1})  # PF2 RS 1.2
    assert result["PF2"] == pytest.approx(93.3333333333, abs=1e-9)
    assert result["PF2"] != round(result["PF2"] or 0.0, 2)


# --- the half rule at every threshold ----------------------------------------------------


@pytest.mark.parametrize("scale", SCALES, ids=lambda s: s.abbreviation)
def test_half_rule_for_every_scale_at_every_count(scale: Any) -> None:
    n = len(scale.items)
    answer = 3 if scale.abbreviation == "QL2" else 2
    full = score(dict.fromkeys(scale.items, answer))[scale.abbreviation]
    assert full is not None
    for answered in range(n + 1):
        responses = {item: (answer if k < answered else None)
                     for k, item in enumerate(scale.items)}
        result = score(responses)[scale.abbreviation]
        if 2 * answered >= n:
            assert result == pytest.approx(full), (scale.abbreviation, answered)
        else:
            assert result is None, (scale.abbreviation, answered)


def test_physical_functioning_three_of_five_scores_two_of_five_does_not() -> None:
    assert score({1: 1, 2: 2, 3: 4})["PF2"] == pytest.approx((1 - (4 / 3) / 3) * 100)  # 55.6
    assert score({1: 1, 2: 2})["PF2"] is None
    assert score({4: 3, 5: 3, 3: None, 1: None, 2: None})["PF2"] is None


def test_emotional_functioning_two_of_four_scores_one_of_four_does_not() -> None:
    assert score({23: 4, 24: 3})["EF"] == pytest.approx((1 - 2.5 / 3) * 100)  # 16.7
    assert score({24: 3})["EF"] is None


def test_fatigue_two_of_three_scores_one_of_three_does_not() -> None:
    assert score({10: 2, 18: 4})["FA"] == pytest.approx(2 / 3 * 100)
    assert score({12: 4})["FA"] is None


@pytest.mark.parametrize(
    ("abbreviation", "item", "answer", "expected"),
    [
        ("RF2", 7, 3, (1 - 2 / 3) * 100),
        ("CF", 25, 2, (1 - 1 / 3) * 100),
        ("SF", 26, 4, 0.0),
        ("NV", 15, 2, 1 / 3 * 100),
        ("PA", 9, 4, 100.0),
        ("QL2", 30, 6, 5 / 6 * 100),
    ],
)
def test_two_item_scales_score_with_one_of_two(
    abbreviation: str, item: int, answer: int, expected: float
) -> None:
    assert score({item: answer})[abbreviation] == pytest.approx(expected)


def test_none_and_absent_items_are_the_same() -> None:
    explicit: dict[int, int | None] = dict.fromkeys(range(1, 31))
    explicit.update({21: 2, 22: 1})
    assert score(explicit) == score({21: 2, 22: 1})
    assert all(v is None for v in score({}).values())


# --- the summary score ------------------------------------------------------------------


@pytest.mark.parametrize("missing", SUMMARY_SCALES)
def test_summary_is_none_when_any_of_its_13_scales_is_missing(missing: str) -> None:
    responses = best()
    items = next(s.items for s in SCALES if s.abbreviation == missing)
    for item in items:
        responses[item] = None
    result = score(responses)
    assert result[missing] is None
    assert result["SUMSC"] is None


def test_summary_ignores_global_health_and_financial_difficulties() -> None:
    responses = worst()
    responses.update(dict.fromkeys(range(1, 28), 1))  # every summary scale at its best
    responses[29] = responses[30] = None
    result = score(responses)
    assert result["QL2"] is None
    assert result["FI"] == pytest.approx(100.0)
    assert result["SUMSC"] == pytest.approx(100.0)


def test_summary_uses_scales_scored_under_the_half_rule() -> None:
    responses = best()
    responses[1] = responses[2] = None  # PF2 from 3 of 5 items, still 100
    responses[10] = None  # FA from 2 of 3
    responses[12] = 4  # FA RS 2.5 -> 50, reversed 50
    result = score(responses)
    assert result["PF2"] == pytest.approx(100.0)
    assert result["FA"] == pytest.approx(50.0)
    assert result["SUMSC"] == pytest.approx((12 * 100 + 50) / 13)


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("responses", "message"),
    [
        ({31: 1}, "31"),
        ({0: 1}, "0"),
        ({1: 5}, "Item 1"),
        ({1: 0}, "Item 1"),
        ({28: 5}, "Item 28"),
        ({29: 8}, "Item 29"),
        ({30: 0}, "Item 30"),
        ({5: 2.0}, "Item 5"),
        ({5: "2"}, "Item 5"),
        ({5: True}, "Item 5"),
        ({"1": 2}, "'1'"),
    ],
)
def test_bad_responses_raise_value_error_naming_the_item(
    responses: dict[Any, Any], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        score(responses)


def test_answers_5_to_7_are_valid_only_for_items_29_and_30() -> None:
    assert score({29: 7, 30: 5})["QL2"] == pytest.approx(5 / 6 * 100)
    with pytest.raises(InputError, match="Item 13"):
        score({13: 7})


# --- metadata for the entry form --------------------------------------------------------


def test_items_metadata_covers_1_to_30_with_their_ranges() -> None:
    assert [i.number for i in ITEMS] == list(range(1, 31))
    assert all((i.minimum, i.maximum) == (1, 4) for i in ITEMS if i.number <= 28)
    assert all((i.minimum, i.maximum) == (1, 7) for i in ITEMS if i.number >= 29)
    assert all(i.label for i in ITEMS)
    assert len({i.label for i in ITEMS}) == 30


def test_scales_metadata_matches_the_manual() -> None:
    by_name = {s.abbreviation: s for s in SCALES}
    assert set(by_name) | {"SUMSC"} == ALL_KEYS
    assert by_name["QL2"].kind is ScaleKind.GLOBAL
    assert {k for k, s in by_name.items() if s.kind is ScaleKind.FUNCTIONAL} == set(FUNCTIONAL)
    assert {k for k, s in by_name.items() if s.kind is ScaleKind.SYMPTOM} == set(SYMPTOMS)
    assert by_name["PF2"].items == (1, 2, 3, 4, 5)
    assert by_name["EF"].items == (21, 22, 23, 24)
    assert by_name["FA"].items == (10, 12, 18)
    assert by_name["CF"].items == (20, 25)
    every_item = sorted(i for s in SCALES for i in s.items)
    assert every_item == list(range(1, 31))  # each item in exactly one scale
    assert len(SUMMARY_SCALES) == 13
    assert "QL2" not in SUMMARY_SCALES
    assert "FI" not in SUMMARY_SCALES


def test_scale_kind_values_are_plain_strings() -> None:
    assert [kind.value for kind in ScaleKind] == ["functional", "symptom", "global"]
    assert all(isinstance(kind, str) for kind in ScaleKind)
    assert ScaleKind("symptom") is ScaleKind.SYMPTOM
