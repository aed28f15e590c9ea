"""EORTC QLQ-CR29 scoring: the published item mapping, applicability by stoma and sex."""

from __future__ import annotations

from typing import Any

import pytest

from gisttracker.errors import InputError
from gisttracker.scoring import ScaleKind
from gisttracker.scoring.qlq_cr29 import ITEMS, SCALES, Applies, items_for, score

ALL_KEYS = {
    "BI", "ANX", "WEI", "UF", "BMS", "UI", "DY", "AP", "BP", "BF", "DM", "HL", "TA", "SF",
    "FL", "FI", "SS", "EMB", "STO", "SEXM", "IMP", "SEXW", "DYS",
}
FUNCTIONAL = {"BI", "ANX", "WEI", "SEXM", "SEXW"}
# Functional scales the CR29 scoring sheet transforms with the symptom formula.
SYMPTOM_FORMULA = {"SEXM", "SEXW"}
FUNCTIONAL_FORMULA = FUNCTIONAL - SYMPTOM_FORMULA
COMMON_ITEMS = [*range(31, 48), *range(49, 55)]  # everyone answers these (49-54 in a version)

# The published scale table (Whistance et al. 2009; EORTC CR29 scoring instructions).
PUBLISHED = {
    "BI": (45, 46, 47), "ANX": (43,), "WEI": (44,), "SEXM": (56,), "SEXW": (58,),
    "UF": (31, 32), "BMS": (38, 39), "SF": (52, 53),
    "UI": (33,), "DY": (34,), "AP": (35,), "BP": (36,), "BF": (37,), "DM": (40,),
    "HL": (41,), "TA": (42,), "FL": (49,), "FI": (50,), "SS": (51,), "EMB": (54,),
    "STO": (55,), "IMP": (57,), "DYS": (59,),
}


def fill(items: list[int], answer: int) -> dict[int, int | None]:
    return dict.fromkeys(items, answer)


# --- the four kinds of patient ----------------------------------------------------------


@pytest.mark.parametrize(
    ("sex", "stoma", "extra_items", "not_applicable"),
    [
        ("male", True, [55, 56, 57], {"SEXW", "DYS"}),
        ("male", False, [56, 57], {"STO", "SEXW", "DYS"}),
        ("female", True, [55, 58, 59], {"SEXM", "IMP"}),
        ("female", False, [58, 59], {"STO", "SEXM", "IMP"}),
    ],
)
def test_complete_form_for_each_kind_of_patient(
    sex: Any, stoma: bool, extra_items: list[int], not_applicable: set[str]
) -> None:
    result = score(fill(COMMON_ITEMS + extra_items, 2), sex=sex, stoma=stoma)
    assert set(result) == ALL_KEYS
    assert {k for k, v in result.items() if v is None} == not_applicable
    for key, value in result.items():
        if key in not_applicable:
            continue
        expected = (1 - 1 / 3) * 100 if key in FUNCTIONAL_FORMULA else 1 / 3 * 100
        assert value == pytest.approx(expected), key


def test_male_patient_without_stoma_hand_computed() -> None:
    responses: dict[int, int | None] = {
        31: 3, 32: 2, 33: 1, 34: 2, 35: 4, 36: 1, 37: 3, 38: 1, 39: 2, 40: 2, 41: 1, 42: 3,
        43: 3, 44: 2, 45: 1, 46: 2, 47: 1, 49: 3, 50: 2, 51: 1, 52: 4, 53: 3, 54: 2,
        56: 2, 57: 4,
    }
    result = score(responses, sex="male", stoma=False)
    expected = {
        "UF": 1.5 / 3 * 100,  # RS 2.5 -> 50
        "UI": 0.0,
        "DY": 100 / 3,
        "AP": 100.0,
        "BP": 0.0,
        "BF": 200 / 3,
        "BMS": 0.5 / 3 * 100,  # RS 1.5 -> 16.7
        "DM": 100 / 3,
        "HL": 0.0,
        "TA": 200 / 3,
        "ANX": (1 - 2 / 3) * 100,  # 33.3
        "WEI": (1 - 1 / 3) * 100,  # 66.7
        "BI": (1 - (1 / 3) / 3) * 100,  # RS 4/3 -> 88.9
        "FL": 200 / 3,
        "FI": 100 / 3,
        "SS": 0.0,
        "SF": 2.5 / 3 * 100,  # RS 3.5 -> 83.3
        "EMB": 100 / 3,
        "SEXM": 100 / 3,  # answer 2: RS 2 -> (2 - 1) / 3 * 100 = 33.3 (symptom formula)
        "IMP": 100.0,
    }
    for key, value in expected.items():
        assert result[key] == pytest.approx(value), key
    assert result["STO"] is None
    assert result["SEXW"] is None
    assert result["DYS"] is None


def test_female_stoma_patient_hand_computed() -> None:
    responses: dict[int, int | None] = fill(COMMON_ITEMS, 1)
    responses.update({55: 3, 58: 4, 59: 2, 49: 4, 52: 2, 53: None, 45: 4, 46: 4, 47: None})
    result = score(responses, sex="female", stoma=True)
    assert result["STO"] == pytest.approx(200 / 3)
    assert result["SEXW"] == pytest.approx(100.0)  # "very much" interested: (4 - 1) / 3
    assert result["DYS"] == pytest.approx(100 / 3)
    assert result["FL"] == pytest.approx(100.0)  # from the stoma version of item 49
    assert result["SF"] == pytest.approx(100 / 3)  # 1 of 2 items answered
    assert result["BI"] == pytest.approx(0.0)  # 2 of 3 items answered
    assert result["SEXM"] is None
    assert result["IMP"] is None


# --- sexual interest: the symptom formula (EORTC CR29 scoring sheet) ----------------------
# Worked by hand from the manual's formula: RS = the item's answer (single-item scale);
# score = (RS - 1) / range * 100 with range = 4 - 1 = 3. More interest, higher score.


@pytest.mark.parametrize(("answer", "expected"), [
    (1, 0.0),          # "not at all": (1 - 1) / 3 * 100
    (2, 100 / 3),      # "a little":   (2 - 1) / 3 * 100 = 33.3
    (3, 200 / 3),      # "quite a bit": (3 - 1) / 3 * 100 = 66.7
    (4, 100.0),        # "very much":  (4 - 1) / 3 * 100
])
def test_sexual_interest_is_higher_the_more_interested_the_patient(
        answer: int, expected: float) -> None:
    men = score({56: answer}, sex="male", stoma=False)
    women = score({58: answer}, sex="female", stoma=True)
    assert men["SEXM"] == pytest.approx(expected)
    assert women["SEXW"] == pytest.approx(expected)


def test_sexual_interest_and_impotence_of_one_man_worked_by_hand() -> None:
    # Very interested (56 = 4) but with erection problems "quite a bit" (57 = 3): a high
    # interest score and a high (bad) symptom score, not two numbers pointing the same way.
    result = score({56: 4, 57: 3}, sex="male", stoma=False)
    assert result["SEXM"] == pytest.approx(100.0)   # (4 - 1) / 3 * 100
    assert result["IMP"] == pytest.approx(200 / 3)  # (3 - 1) / 3 * 100, symptom scale


# --- the item mapping, one item at a time -----------------------------------------------


def patient_for(items: tuple[int, ...]) -> dict[str, Any]:
    if 55 in items:
        return {"sex": "male", "stoma": True}
    if set(items) & {58, 59}:
        return {"sex": "female", "stoma": False}
    return {"sex": "male", "stoma": False}


@pytest.mark.parametrize("abbreviation", sorted(PUBLISHED))
def test_each_scale_reads_exactly_its_published_items(abbreviation: str) -> None:
    items = PUBLISHED[abbreviation]
    result = score(fill(list(items), 4), **patient_for(items))
    expected = 0.0 if abbreviation in FUNCTIONAL_FORMULA else 100.0
    assert result[abbreviation] == pytest.approx(expected)
    assert {k for k, v in result.items() if v is not None} == {abbreviation}


def test_scale_metadata_matches_the_published_table() -> None:
    assert {s.abbreviation: s.items for s in SCALES} == PUBLISHED
    assert {s.abbreviation for s in SCALES if s.kind is ScaleKind.FUNCTIONAL} == FUNCTIONAL
    assert {s.abbreviation for s in SCALES
            if s.transform is ScaleKind.FUNCTIONAL} == FUNCTIONAL_FORMULA
    assert [s.abbreviation for s in SCALES if len(s.items) > 1] == ["BI", "UF", "BMS", "SF"]
    applies = {s.abbreviation: s.applies for s in SCALES}
    assert applies["STO"] is Applies.STOMA
    assert applies["SEXM"] is applies["IMP"] is Applies.MALE
    assert applies["SEXW"] is applies["DYS"] is Applies.FEMALE
    assert {k for k, a in applies.items() if a is Applies.ALL} == ALL_KEYS - {
        "STO", "SEXM", "IMP", "SEXW", "DYS"
    }


# --- half rule -------------------------------------------------------------------------


def test_body_image_two_of_three_scores_one_of_three_does_not() -> None:
    assert score({45: 2, 47: 3}, sex="female", stoma=False)["BI"] == pytest.approx(
        (1 - 1.5 / 3) * 100
    )
    assert score({46: 2}, sex="female", stoma=False)["BI"] is None


@pytest.mark.parametrize(("abbreviation", "item"), [("UF", 32), ("BMS", 38), ("SF", 53)])
def test_two_item_scales_score_with_one_of_two(abbreviation: str, item: int) -> None:
    result = score({item: 3}, sex="male", stoma=False)
    assert result[abbreviation] == pytest.approx(200 / 3)


def test_unanswered_applicable_items_leave_their_scales_none() -> None:
    result = score({31: 2}, sex="male", stoma=True)
    assert result["UF"] == pytest.approx(100 / 3)
    assert result["STO"] is None
    assert result["SEXM"] is None


# --- not applicable is an error when answered ------------------------------------------


@pytest.mark.parametrize(
    ("item", "sex", "stoma", "why"),
    [
        (55, "male", False, "stoma"),
        (55, "female", False, "stoma"),
        (56, "female", True, "men"),
        (57, "female", False, "men"),
        (58, "male", False, "women"),
        (59, "male", True, "women"),
    ],
)
def test_answer_to_an_item_that_does_not_apply_raises(
    item: int, sex: Any, stoma: bool, why: str
) -> None:
    with pytest.raises(InputError, match=rf"Item {item}\b.*{why}"):
        score({31: 1, item: 2}, sex=sex, stoma=stoma)


def test_none_for_a_not_applicable_item_is_accepted() -> None:
    result = score({55: None, 58: None, 59: None, 31: 1}, sex="male", stoma=False)
    assert result["UF"] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("responses", "message"),
    [
        ({48: 1}, "48"),
        ({30: 1}, "30"),
        ({60: 1}, "60"),
        ({31: 5}, "Item 31"),
        ({31: 0}, "Item 31"),
        ({45: 2.5}, "Item 45"),
    ],
)
def test_bad_items_and_answers_raise(responses: dict[int, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        score(responses, sex="female", stoma=True)


@pytest.mark.parametrize(
    ("sex", "stoma", "message"),
    [("M", False, "sex"), (None, False, "sex"), ("female", 1, "stoma"),
     ("male", "yes", "stoma")],
)
def test_bad_patient_description_raises(sex: Any, stoma: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        score({}, sex=sex, stoma=stoma)


# --- metadata for the entry form --------------------------------------------------------


def test_items_metadata_has_both_versions_of_49_to_54() -> None:
    numbers = sorted(i.number for i in ITEMS)
    assert set(numbers) == set(range(31, 60)) - {48}
    for number in range(49, 55):
        versions = {i.applies for i in ITEMS if i.number == number}
        assert versions == {Applies.STOMA, Applies.NO_STOMA}, number
    assert all((i.minimum, i.maximum) == (1, 4) for i in ITEMS)


@pytest.mark.parametrize(
    ("sex", "stoma", "count", "includes", "excludes"),
    [
        ("male", True, 26, {55, 56, 57}, {58, 59}),
        ("male", False, 25, {56, 57}, {55, 58, 59}),
        ("female", True, 26, {55, 58, 59}, {56, 57}),
        ("female", False, 25, {58, 59}, {55, 56, 57}),
    ],
)
def test_items_for_each_kind_of_patient(
    sex: Any, stoma: bool, count: int, includes: set[int], excludes: set[int]
) -> None:
    items = items_for(sex=sex, stoma=stoma)
    numbers = [i.number for i in items]
    assert len(numbers) == count
    assert len(set(numbers)) == count  # one version of 49-54 only
    assert includes <= set(numbers)
    assert not excludes & set(numbers)
    versions = {i.applies for i in items if 49 <= i.number <= 54}
    assert versions == {Applies.STOMA if stoma else Applies.NO_STOMA}


def test_items_for_rejects_a_bad_sex() -> None:
    with pytest.raises(InputError, match="sex"):
        items_for(sex="other", stoma=False)  # type: ignore[arg-type]
