"""CTCAE v5.0 lab grades at every boundary, as the criteria word them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gisttracker.errors import InputError
from gisttracker.grading.ctcae import TERMS, grade, suggests_adverse_event

# --- neutrophil count decreased (×10⁹/L) --------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.5, 0), (2.0, 0),  # at LLN: not below it
        (1.99, 1), (1.5, 1),  # "<LLN - 1.5": 1.5 itself is grade 1
        (1.49, 2), (1.0, 2),  # "<1.5 - 1.0"
        (0.99, 3), (0.5, 3),  # "<1.0 - 0.5"
        (0.49, 4), (0.0, 4),  # "<0.5"
    ],
)
def test_neutrophils_with_lln(value: float, expected: int) -> None:
    assert grade("neutrophil_count_decreased", value, lln=2.0) == expected


@pytest.mark.parametrize(("value", "expected"), [(3.0, None), (1.5, None), (1.49, 2),
                                                 (0.7, 3), (0.2, 4)])
def test_neutrophils_without_lln_grade_only_below_the_grade_2_limit(
    value: float, expected: int | None
) -> None:
    assert grade("neutrophil_count_decreased", value) == expected


def test_neutrophils_with_an_lln_below_1_5() -> None:
    # Grade 2 and worse are absolute limits; a low LLN does not lift them.
    assert grade("neutrophil_count_decreased", 1.45, lln=1.4) == 2
    assert grade("neutrophil_count_decreased", 1.5, lln=1.4) == 0


# --- platelet count decreased (×10⁹/L) -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(300, 0), (150, 0), (149, 1), (75, 1), (74.9, 2), (50, 2), (49.9, 3), (25, 3),
     (24.9, 4), (3, 4)],
)
def test_platelets_with_lln(value: float, expected: int) -> None:
    assert grade("platelet_count_decreased", value, lln=150) == expected


@pytest.mark.parametrize(("value", "expected"), [(140, None), (75, None), (74, 2), (10, 4)])
def test_platelets_without_lln(value: float, expected: int | None) -> None:
    assert grade("platelet_count_decreased", value) == expected


# --- anemia (haemoglobin g/L) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(140, 0), (120, 0), (119, 1), (100, 1), (99.9, 2), (80, 2), (79.9, 3), (40, 3), (0, 3)],
)
def test_anemia_with_lln(value: float, expected: int) -> None:
    assert grade("anemia", value, lln=120) == expected


@pytest.mark.parametrize(("value", "expected"), [(110, None), (100, None), (99, 2), (60, 3)])
def test_anemia_without_lln(value: float, expected: int | None) -> None:
    assert grade("anemia", value) == expected


def test_anemia_grade_4_is_never_returned_from_a_value() -> None:
    assert max(grade("anemia", v, lln=120) or 0 for v in range(0, 200)) == 3


# --- ALT / AST increased ------------------------------------------------------------------------

AMINOTRANSFERASES = ["alt_increased", "ast_increased"]


@pytest.mark.parametrize("term", AMINOTRANSFERASES)
@pytest.mark.parametrize("baseline", [None, 30, 40], ids=["no-baseline", "normal", "at-ULN"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (25, 0), (40, 0),  # at ULN: not above it
        (40.1, 1), (120, 1),  # ">ULN - 3.0 x ULN"
        (120.1, 2), (200, 2),  # ">3.0 - 5.0 x ULN"
        (200.1, 3), (800, 3),  # ">5.0 - 20.0 x ULN"
        (800.1, 4), (2000, 4),  # ">20.0 x ULN"
    ],
)
def test_aminotransferases_with_normal_baseline(
    term: str, baseline: float | None, value: float, expected: int
) -> None:
    assert grade(term, value, uln=40, baseline=baseline) == expected


@pytest.mark.parametrize("term", AMINOTRANSFERASES)
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (50, 0),  # above ULN but below 1.5 x baseline
        (89.9, 0),
        (90, 1),  # "1.5 - 3.0 x baseline" (no ">"): 1.5 x baseline is grade 1
        (180, 1),
        (180.1, 2), (300, 2),
        (300.1, 3), (1200, 3),
        (1200.1, 4),
    ],
)
def test_aminotransferases_with_abnormal_baseline(term: str, value: float, expected: int) -> None:
    assert grade(term, value, uln=40, baseline=60) == expected


@pytest.mark.parametrize("term", AMINOTRANSFERASES)
def test_aminotransferases_without_uln_are_undecidable(term: str) -> None:
    assert grade(term, 500) is None
    assert grade(term, 500, baseline=60) is None


# --- blood bilirubin increased ---------------------------------------------------------------


@pytest.mark.parametrize("baseline", [None, 15, 21])
@pytest.mark.parametrize(
    ("value", "expected"),
    [(10, 0), (21, 0), (21.1, 1), (31.5, 1), (31.6, 2), (63, 2), (63.1, 3), (210, 3),
     (210.1, 4)],
)
def test_bilirubin_with_normal_baseline(
    baseline: float | None, value: float, expected: int
) -> None:
    assert grade("blood_bilirubin_increased", value, uln=21, baseline=baseline) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(25, 0), (30, 0), (30.1, 1), (45, 1), (45.1, 2), (90, 2), (90.1, 3), (300, 3),
     (300.1, 4)],
)
def test_bilirubin_with_abnormal_baseline(value: float, expected: int) -> None:
    # "> 1.0 - 1.5 x baseline": the baseline itself is grade 0
    assert grade("blood_bilirubin_increased", value, uln=21, baseline=30) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.2, 0), (1.8, 1), (1.81, 2), (3.6, 2), (3.61, 3), (12.0, 3), (12.01, 4)],
)
def test_bilirubin_boundaries_are_exact_for_decimal_lab_values(
    value: float, expected: int
) -> None:
    # 1.5 × 1.2 is 1.7999999999999998 in binary floating point; 1.8 must still be grade 1.
    assert grade("blood_bilirubin_increased", value, uln=1.2) == expected


def test_bilirubin_without_uln_is_undecidable() -> None:
    assert grade("blood_bilirubin_increased", 100) is None


# --- creatinine increased ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(60, 0), (100, 0), (100.1, 1), (150, 1), (150.1, 2), (300, 2), (300.1, 3), (600, 3),
     (600.1, 4)],
)
def test_creatinine_by_uln_only(value: float, expected: int) -> None:
    assert grade("creatinine_increased", value, uln=100) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (75, 0),  # 1.5 x baseline, below ULN
        (75.1, 2),  # ">1.5 - 3.0 x baseline" although still below the ULN
        (150, 2),  # 3.0 x baseline (G2 by baseline) beats 1.5 x ULN (G1)
        (150.1, 3),  # ">3.0 x baseline"
        (600, 3),
        (600.1, 4),  # ">6.0 x ULN"
    ],
)
def test_creatinine_takes_the_higher_of_baseline_and_uln_grades(
    value: float, expected: int
) -> None:
    assert grade("creatinine_increased", value, uln=100, baseline=50) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(130, 1), (150, 1), (150.1, 2), (300.1, 3), (600.1, 4)],
)
def test_creatinine_with_baseline_above_uln(value: float, expected: int) -> None:
    # Multiples of a baseline above the ULN are never reached before the ULN multiples.
    assert grade("creatinine_increased", value, uln=100, baseline=120) == expected


def test_creatinine_without_uln_is_undecidable() -> None:
    assert grade("creatinine_increased", 500, baseline=50) is None
    assert grade("creatinine_increased", 80) is None


# --- input handling ------------------------------------------------------------------------------


def test_decimal_and_int_inputs_are_accepted() -> None:
    assert grade("anemia", Decimal("99.9"), lln=Decimal(120)) == 2
    assert grade("platelet_count_decreased", 74, lln=150) == 2


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"term": "hypokalemia", "value": 3.0}, "term"),
        ({"term": "anemia", "value": -1}, "value"),
        ({"term": "anemia", "value": float("nan")}, "value"),
        ({"term": "anemia", "value": float("inf")}, "value"),
        ({"term": "anemia", "value": "95"}, "value"),
        ({"term": "anemia", "value": True}, "value"),
        ({"term": "anemia", "value": 95, "lln": 0}, "lln"),
        ({"term": "platelet_count_decreased", "value": 95, "lln": -150}, "lln"),
        ({"term": "alt_increased", "value": 95, "uln": -40}, "uln"),
        ({"term": "alt_increased", "value": 95, "uln": 0}, "uln"),
        ({"term": "creatinine_increased", "value": 95, "uln": 100, "baseline": 0}, "baseline"),
        ({"term": "blood_bilirubin_increased", "value": 9, "uln": 21, "baseline": "x"},
         "baseline"),
    ],
)
def test_bad_input_raises_naming_the_argument(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(InputError, match=rf"^{argument}\b"):
        grade(**kwargs)


def test_terms_lists_the_seven_terms_with_labels() -> None:
    assert set(TERMS) == {
        "neutrophil_count_decreased", "platelet_count_decreased", "anemia", "alt_increased",
        "ast_increased", "blood_bilirubin_increased", "creatinine_increased",
    }
    assert TERMS["alt_increased"] == "Alanine aminotransferase increased"
    assert all(TERMS.values())
    with pytest.raises(TypeError):
        TERMS["x"] = "y"  # type: ignore[index]


# --- adverse event suggestion ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("grade_", "expected"),
    [(None, False), (0, False), (1, False), (2, False), (3, True), (4, True), (5, True)],
)
def test_suggests_adverse_event_from_grade_3(grade_: int | None, expected: bool) -> None:
    assert suggests_adverse_event(grade_) is expected


@pytest.mark.parametrize("bad", [-1, 6, 3.0, True, "3"])
def test_suggests_adverse_event_rejects_non_grades(bad: Any) -> None:
    with pytest.raises(InputError, match="grade"):
        suggests_adverse_event(bad)


def test_grade_and_suggestion_together() -> None:
    assert suggests_adverse_event(grade("neutrophil_count_decreased", 0.8)) is True
    assert suggests_adverse_event(grade("neutrophil_count_decreased", 1.2)) is False
    assert suggests_adverse_event(grade("neutrophil_count_decreased", 1.7)) is False  # None
