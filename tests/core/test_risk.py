"""Modified NIH consensus classification (Joensuu, Hum Pathol 2008): size in cm, mitoses per
50 HPF, gastric or not, rupture."""

from __future__ import annotations

import itertools

import pytest

from gisttracker.errors import InputError
from gisttracker.risk import mitoses_per_50hpf_from_5mm2, nih2008

GASTRIC = True
NON_GASTRIC = False

# (size cm, mitoses, gastric, expected) without rupture, every row at its edges
ROWS = [
    # very low: ≤ 2.0 cm, ≤ 5 mitoses, any site
    (0.5, 0, GASTRIC, "very low"),
    (2.0, 5, GASTRIC, "very low"),
    (2.0, 5, NON_GASTRIC, "very low"),
    # low: 2.1–5.0 cm, ≤ 5, any site
    (2.1, 0, GASTRIC, "low"),
    (2.1, 5, NON_GASTRIC, "low"),
    (5.0, 5, GASTRIC, "low"),
    (5.0, 5, NON_GASTRIC, "low"),
    # intermediate: ≤ 2.0 cm, 6–10, any site (printed "<2.0, 6–10, any")
    (2.0, 6, GASTRIC, "intermediate"),
    (2.0, 10, GASTRIC, "intermediate"),
    (1.0, 6, NON_GASTRIC, "intermediate"),
    (2.0, 10, NON_GASTRIC, "intermediate"),
    # intermediate: 2.1–5.0 cm, > 5 (6–10 once > 10 is high), gastric
    (2.1, 6, GASTRIC, "intermediate"),
    (5.0, 10, GASTRIC, "intermediate"),
    # intermediate: 5.1–10.0 cm, ≤ 5, gastric
    (5.1, 5, GASTRIC, "intermediate"),
    (10.0, 5, GASTRIC, "intermediate"),
    (10.0, 0, GASTRIC, "intermediate"),
    # high: > 10 cm, any mitoses, any site
    (10.1, 0, GASTRIC, "high"),
    (10.1, 0, NON_GASTRIC, "high"),
    # high: any size, > 10 mitoses, any site
    (0.5, 11, GASTRIC, "high"),
    (2.0, 11, NON_GASTRIC, "high"),
    (5.0, 11, GASTRIC, "high"),
    # high: > 5.0 cm and > 5 mitoses, any site
    (5.1, 6, GASTRIC, "high"),
    (10.0, 6, GASTRIC, "high"),
    (5.1, 6, NON_GASTRIC, "high"),
    # high: 2.1–5.0 cm, > 5, non-gastric
    (2.1, 6, NON_GASTRIC, "high"),
    (5.0, 10, NON_GASTRIC, "high"),
    # high: 5.1–10.0 cm, ≤ 5, non-gastric
    (5.1, 0, NON_GASTRIC, "high"),
    (10.0, 5, NON_GASTRIC, "high"),
]


@pytest.mark.parametrize(("size", "mitoses", "gastric", "expected"), ROWS)
def test_published_rows(size: float, mitoses: float, gastric: bool, expected: str) -> None:
    assert nih2008(size, mitoses, gastric=gastric, ruptured=False) == expected


@pytest.mark.parametrize(("lower", "upper", "mitoses", "gastric", "below", "above"), [
    (2.0, 2.1, 5, GASTRIC, "very low", "low"),
    (2.0, 2.1, 8, NON_GASTRIC, "intermediate", "high"),
    (5.0, 5.1, 5, GASTRIC, "low", "intermediate"),
    (5.0, 5.1, 5, NON_GASTRIC, "low", "high"),
    (5.0, 5.1, 8, GASTRIC, "intermediate", "high"),
    (10.0, 10.1, 5, GASTRIC, "intermediate", "high"),
])
def test_size_boundaries(lower: float, upper: float, mitoses: float, gastric: bool,
                         below: str, above: str) -> None:
    assert nih2008(lower, mitoses, gastric=gastric, ruptured=False) == below
    assert nih2008(upper, mitoses, gastric=gastric, ruptured=False) == above


@pytest.mark.parametrize(("size", "gastric", "at5", "at6", "at10", "at11"), [
    (1.5, GASTRIC, "very low", "intermediate", "intermediate", "high"),
    (1.5, NON_GASTRIC, "very low", "intermediate", "intermediate", "high"),
    (3.0, GASTRIC, "low", "intermediate", "intermediate", "high"),
    (3.0, NON_GASTRIC, "low", "high", "high", "high"),
    (7.0, GASTRIC, "intermediate", "high", "high", "high"),
    (7.0, NON_GASTRIC, "high", "high", "high", "high"),
])
def test_mitotic_boundaries(size: float, gastric: bool, at5: str, at6: str, at10: str,
                            at11: str) -> None:
    got = [nih2008(size, m, gastric=gastric, ruptured=False) for m in (5, 6, 10, 11)]
    assert got == [at5, at6, at10, at11]


def test_fractional_counts_fall_in_the_next_band() -> None:
    assert nih2008(1.0, 5.5, gastric=True, ruptured=False) == "intermediate"
    assert nih2008(1.0, 10.5, gastric=True, ruptured=False) == "high"
    assert nih2008(2.05, 0, gastric=True, ruptured=False) == "low"


def test_small_non_gastric_tumour_with_6_to_10_mitoses_is_intermediate_as_published() -> None:
    # Joensuu's row "<2.0 cm, 6–10, any site"; some reprints show it as high for non-gastric
    assert nih2008(1.9, 8, gastric=False, ruptured=False) == "intermediate"


@pytest.mark.parametrize(("size", "mitoses", "gastric"),
                         list(itertools.product((0.5, 2.0, 3.0, 5.0, 7.0, 10.0, 12.0),
                                                (0, 5, 6, 10, 11), (True, False))))
def test_rupture_is_always_high(size: float, mitoses: float, gastric: bool) -> None:
    assert nih2008(size, mitoses, gastric=gastric, ruptured=True) == "high"


def test_rupture_raises_a_very_low_tumour_to_high() -> None:
    assert nih2008(1.0, 1, gastric=True, ruptured=False) == "very low"
    assert nih2008(1.0, 1, gastric=True, ruptured=True) == "high"


@pytest.mark.parametrize(("size", "mitoses", "name"), [
    (-0.1, 3, "size_cm"), (3, -1, "mitoses_per_50hpf"), (float("nan"), 3, "size_cm"),
])
def test_bad_input_raises_naming_the_argument(size: float, mitoses: float, name: str) -> None:
    with pytest.raises(InputError, match=f"^{name} must"):
        nih2008(size, mitoses, gastric=True, ruptured=False)


def test_per_5mm2_converts_with_factor_one() -> None:
    assert mitoses_per_50hpf_from_5mm2(7) == 7
    assert mitoses_per_50hpf_from_5mm2(0) == 0
    assert mitoses_per_50hpf_from_5mm2(2.5) == 2.5
    with pytest.raises(InputError, match=r"^mitoses_per_5mm2 must be ≥ 0"):
        mitoses_per_50hpf_from_5mm2(-1)
