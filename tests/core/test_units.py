"""Lab unit conversions (exact factors only) and wrong-unit plausibility checks."""

from __future__ import annotations

from decimal import Decimal
from itertools import permutations
from typing import Any

import pytest

from gisttracker.errors import InputError
from gisttracker.grading.ctcae import TERMS
from gisttracker.grading.units import LABS, convert, normalize_unit, plausibility

# --- known values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("analyte", "value", "from_unit", "to_unit", "expected"),
    [
        ("bilirubin", 1, "mg/dL", "µmol/L", 17.1),
        ("bilirubin", 17.1, "µmol/L", "mg/dL", 1.0),
        ("bilirubin", 1.2, "mg/dL", "µmol/L", 20.52),
        ("bilirubin", 34.2, "µmol/L", "mg/dL", 2.0),
        ("creatinine", 1, "mg/dL", "µmol/L", 88.4),
        ("creatinine", 0.9, "mg/dL", "µmol/L", 79.56),
        ("creatinine", 176.8, "µmol/L", "mg/dL", 2.0),
        ("hemoglobin", 13.5, "g/dL", "g/L", 135.0),
        ("hemoglobin", 98, "g/L", "g/dL", 9.8),
        ("hemoglobin", 1, "g/dL", "mmol/L", 0.6206),
        ("hemoglobin", 10, "g/dL", "mmol/L", 6.206),
        ("hemoglobin", 6.206, "mmol/L", "g/L", 100.0),
        ("platelets", 150000, "/µL", "×10⁹/L", 150.0),
        ("platelets", 150, "×10⁹/L", "/µL", 150000.0),
        ("platelets", 212, "×10³/µL", "×10⁹/L", 212.0),
        ("neutrophils", 1.5, "×10⁹/L", "/µL", 1500.0),
        ("neutrophils", 500, "/µL", "×10⁹/L", 0.5),
        ("alt", 1, "µkat/L", "U/L", 60.0),
        ("ast", 30, "U/L", "µkat/L", 0.5),
    ],
)
def test_known_conversions(
    analyte: str, value: float, from_unit: str, to_unit: str, expected: float
) -> None:
    assert convert(analyte, value, from_unit, to_unit) == pytest.approx(expected, rel=1e-12)


def test_exact_factors_give_exact_results() -> None:
    assert convert("bilirubin", 1.2, "mg/dL", "µmol/L") == 20.52
    assert convert("bilirubin", 20.52, "µmol/L", "mg/dL") == 1.2
    assert convert("creatinine", 0.9, "mg/dL", "µmol/L") == 79.56
    assert convert("platelets", 150000, "/µL", "×10⁹/L") == 150.0


def test_haemoglobin_mmol_per_litre_matches_ctcae_limits() -> None:
    # CTCAE v5.0 prints 10.0 g/dL = 6.2 mmol/L and 8.0 g/dL = 4.9 mmol/L (rounded).
    assert round(convert("hemoglobin", 100, "g/L", "mmol/L"), 1) == 6.2
    assert round(convert("hemoglobin", 80, "g/L", "mmol/L"), 1) == 5.0  # 4.96 -> CTCAE 4.9
    assert convert("hemoglobin", 8.0, "mmol/L", "g/L") == pytest.approx(128.907, abs=1e-3)


def test_same_unit_returns_the_value() -> None:
    assert convert("creatinine", 83, "µmol/L", "umol/l") == 83.0
    assert convert("platelets", 0, "/µL", "/mm3") == 0.0


def test_decimal_input() -> None:
    assert convert("bilirubin", Decimal("2"), "mg/dL", "µmol/L") == 34.2


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("analyte", "unit_a", "unit_b"),
    [(lab.key, a, b) for lab in LABS.values() for a, b in permutations(lab.units, 2)],
)
@pytest.mark.parametrize("value", [0.0, 0.37, 1.0, 12.5, 137.0, 4321.9])
def test_round_trip_through_every_pair_of_units(
    analyte: str, unit_a: str, unit_b: str, value: float
) -> None:
    there = convert(analyte, value, unit_a, unit_b)
    back = convert(analyte, there, unit_b, unit_a)
    assert back == pytest.approx(value, rel=1e-12, abs=1e-12)
    if value:
        assert there != value or {unit_a, unit_b} == {"×10⁹/L", "×10³/µL"}


# --- unit spellings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("umol/L", "µmol/L"), ("μmol/L", "µmol/L"), ("µmol/l", "µmol/L"),
        ("mg/dl", "mg/dL"), ("MG/DL", "mg/dL"), (" g / dL ", "g/dL"), ("g/l", "g/L"),
        ("10^9/L", "×10⁹/L"), ("x10^9/L", "×10⁹/L"), ("10*9/L", "×10⁹/L"), ("G/L", "×10⁹/L"),
        ("×10⁹/L", "×10⁹/L"), ("10^3/uL", "×10³/µL"), ("K/µL", "×10³/µL"),
        ("/mm3", "/µL"), ("/mm³", "/µL"), ("cells/uL", "/µL"),
        ("IU/L", "U/L"), ("ukat/L", "µkat/L"), ("mmol/l", "mmol/L"),
    ],
)
def test_normalize_unit(spelling: str, canonical: str) -> None:
    assert normalize_unit(spelling) == canonical


def test_giga_per_litre_is_never_read_as_grams_per_litre() -> None:
    assert convert("platelets", 150, "G/L", "/µL") == 150000.0
    with pytest.raises(InputError, match="hemoglobin"):
        convert("hemoglobin", 13, "G/L", "g/dL")


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sodium", 140, "mmol/L", "mg/dL"), "analyte"),
        (("bilirubin", 1, "furlongs", "mg/dL"), "from_unit.*furlongs"),
        (("bilirubin", 1, "mg/dL", "g/L"), "to_unit.*bilirubin"),
        (("hemoglobin", 8, "mmol/L", "µmol/L"), "to_unit"),
        (("alt", 30, "U/L", "mg/dL"), "to_unit"),
        (("creatinine", 1, "mmol/L", "µmol/L"), "from_unit"),  # mmol/L is not offered
        (("platelets", 150, "g/L", "/µL"), "from_unit"),
        (("bilirubin", -1, "mg/dL", "µmol/L"), "value"),
        (("bilirubin", float("nan"), "mg/dL", "µmol/L"), "value"),
        (("bilirubin", "1.2", "mg/dL", "µmol/L"), "value"),
        (("bilirubin", None, "mg/dL", "µmol/L"), "value"),
    ],
)
def test_unsupported_conversions_raise(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(InputError, match=message):
        convert(*args)


def test_refusal_lists_the_accepted_units() -> None:
    with pytest.raises(InputError, match=r"µmol/L, mg/dL"):
        convert("creatinine", 1, "mg/dL", "g/L")


def test_unknown_spelling_raises() -> None:
    with pytest.raises(InputError, match="Unknown unit"):
        normalize_unit("mEq/L")


# --- the LABS table -----------------------------------------------------------------------------


def test_labs_table_describes_the_seven_analytes() -> None:
    assert list(LABS) == ["neutrophils", "platelets", "hemoglobin", "alt", "ast", "bilirubin",
                          "creatinine"]
    assert {lab.ctcae_term for lab in LABS.values()} == set(TERMS)
    for key, lab in LABS.items():
        assert lab.key == key
        assert lab.label
        assert lab.units[0] == lab.canonical_unit
        assert lab.plausible_min < lab.plausible_max
        assert all(normalize_unit(u) == u for u in lab.units)
    assert LABS["hemoglobin"].canonical_unit == "g/L"
    assert LABS["platelets"].canonical_unit == "×10⁹/L"
    assert LABS["bilirubin"].canonical_unit == "µmol/L"
    assert LABS["alt"].canonical_unit == "U/L"


# --- plausibility ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("analyte", "value", "unit"),
    [
        ("platelets", 150, "×10⁹/L"),
        ("platelets", 150000, "/µL"),
        ("platelets", 2000, "×10⁹/L"),
        ("platelets", 0, "×10⁹/L"),
        ("neutrophils", 0.3, "×10⁹/L"),
        ("hemoglobin", 135, "g/L"),
        ("hemoglobin", 13.5, "g/dL"),
        ("hemoglobin", 8.4, "mmol/L"),
        ("hemoglobin", 20, "g/L"),
        ("creatinine", 80, "µmol/L"),
        ("creatinine", 0.9, "mg/dL"),
        ("bilirubin", 12, "µmol/L"),
        ("alt", 35, "U/L"),
        ("ast", 0.6, "µkat/L"),
    ],
)
def test_plausible_values_give_no_message(analyte: str, value: float, unit: str) -> None:
    assert plausibility(analyte, value, unit) is None


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "hint"),
    [
        ("platelets", 150000, "×10⁹/L", "/µL"),  # the classic: count per µL under ×10⁹/L
        ("platelets", 2000.1, "×10⁹/L", "range"),
        ("neutrophils", 1500, "×10⁹/L", "/µL"),
        ("hemoglobin", 13.5, "g/L", "g/dL"),
        ("hemoglobin", 19.9, "g/L", "range"),
        ("hemoglobin", 135, "g/dL", "1350 g/L"),
        ("hemoglobin", 135, "mmol/L", "g/L"),
        ("creatinine", 0.9, "µmol/L", "mg/dL"),
        ("creatinine", 80, "mg/dL", "7072 µmol/L"),
        ("bilirubin", 0.6, "µmol/L", "mg/dL"),
        ("alt", 0.5, "U/L", "µkat/L"),
        ("platelets", -5, "×10⁹/L", "negative"),
    ],
)
def test_implausible_values_give_a_message(
    analyte: str, value: float, unit: str, hint: str
) -> None:
    message = plausibility(analyte, value, unit)
    assert message is not None
    assert hint in message
    assert LABS[analyte].label in message


def test_plausibility_rejects_unknown_analyte_and_unit() -> None:
    with pytest.raises(InputError, match="analyte"):
        plausibility("ferritin", 100, "µg/L")
    with pytest.raises(InputError, match="unit"):
        plausibility("platelets", 150, "g/L")
    with pytest.raises(InputError, match="value"):
        plausibility("platelets", float("inf"), "×10⁹/L")
