"""Choi criteria (Choi et al., J Clin Oncol 2007): size (mm) and density (HU)."""

from __future__ import annotations

import pytest

from gisttracker.errors import InputError
from gisttracker.response.choi import density_decrease, response

# --- size alone --------------------------------------------------------------------------


def test_size_decrease_of_exactly_10_percent_is_pr() -> None:
    assert response(100, 100, 90, 100) == "PR"


def test_size_decrease_of_9_9_percent_is_sd() -> None:
    assert response(100, 100, 90.1, 100) == "SD"


def test_thresholds_survive_binary_floating_point() -> None:
    # (11 - 9.9) / 11 is 0.09999999999999995 in binary floating point
    assert response(11, None, 9.9, None) == "PR"
    # (12.1 - 11) / 11 and (26 - 22.1) / 26 fall just short of 0.10 and 0.15 as well
    assert response(11, None, 12.1, None) == "PD"
    assert response(26, 26, 26, 22.1) == "PR"


def test_size_increase_of_exactly_10_percent_is_pd() -> None:
    assert response(100, 100, 110, 100) == "PD"


def test_size_increase_of_9_9_percent_is_sd() -> None:
    assert response(100, 100, 109.9, 100) == "SD"


# --- density -----------------------------------------------------------------------------


def test_density_decrease_of_exactly_15_percent_is_pr() -> None:
    assert response(100, 100, 100, 85) == "PR"


def test_density_decrease_of_14_9_percent_is_sd() -> None:
    assert response(100, 100, 100, 85.1) == "SD"


def test_size_increase_with_density_decrease_of_15_percent_is_pr() -> None:
    # the typical early imatinib response: a cystic, larger, darker tumour
    assert response(100, 100, 130, 85) == "PR"


def test_size_increase_with_density_decrease_of_14_9_percent_is_pd() -> None:
    assert response(100, 100, 130, 85.1) == "PD"


def test_density_increase_does_not_make_pd_by_itself() -> None:
    assert response(100, 60, 100, 120) == "SD"


def test_density_decrease_helper() -> None:
    assert density_decrease(80, 60) == pytest.approx(0.25)
    assert density_decrease(None, 60) is None
    assert density_decrease(80, None) is None
    assert density_decrease(0, -10) is None
    assert density_decrease(-20, -40) is None


# --- missing density: size alone decides ----------------------------------------------------


@pytest.mark.parametrize(("baseline_hu", "current_hu"), [(None, 50), (100, None), (None, None)])
def test_missing_density_decides_from_size(baseline_hu: float | None,
                                           current_hu: float | None) -> None:
    assert response(100, baseline_hu, 130, current_hu) == "PD"
    assert response(100, baseline_hu, 90, current_hu) == "PR"
    assert response(100, baseline_hu, 100, current_hu) == "SD"


def test_non_positive_baseline_density_decides_from_size() -> None:
    # -10 → -50 HU would be a "400 % decrease": meaningless, so size alone decides
    assert response(100, -10, 130, -50) == "PD"
    assert response(100, 0, 100, -50) == "SD"


# --- new lesions, nodules, complete ------------------------------------------------------


def test_new_lesion_is_pd_even_with_density_response() -> None:
    assert response(100, 100, 80, 50, new_lesions=True) == "PD"


def test_new_intratumoral_nodules_are_pd() -> None:
    assert response(100, 100, 80, 50, new_nodules=True) == "PD"
    assert response(100, 100, 80, 50) == "PR"


def test_complete_is_cr() -> None:
    assert response(100, 100, 0, None, complete=True) == "CR"
    assert response(100, 100, 0, None) == "PR"


def test_complete_with_new_lesion_is_pd() -> None:
    assert response(100, 100, 0, None, complete=True, new_lesions=True) == "PD"


# --- reference for growth ------------------------------------------------------------------


def test_growth_is_measured_from_nadir_when_given() -> None:
    # 60 → 66 is +10 % over the nadir although 34 % below baseline
    assert response(100, None, 66, None, nadir_mm=60) == "PD"
    assert response(100, None, 66, None) == "PR"


def test_growth_below_10_percent_over_nadir_keeps_pr() -> None:
    assert response(100, None, 65.9, None, nadir_mm=60) == "PR"


def test_growth_over_nadir_rescued_by_density() -> None:
    assert response(100, 100, 66, 85, nadir_mm=60) == "PR"


def test_nadir_equal_to_baseline_behaves_like_baseline() -> None:
    assert response(100, None, 110, None, nadir_mm=100) == "PD"
    assert response(100, None, 109, None, nadir_mm=100) == "SD"


def test_regrowth_from_a_zero_nadir_is_pd() -> None:
    assert response(40, None, 3, None, nadir_mm=0) == "PD"
    assert response(40, None, 0, None, nadir_mm=0) == "PR"


# --- bad input ---------------------------------------------------------------------------


def test_negative_current_size_message() -> None:
    with pytest.raises(InputError) as info:
        response(100, 100, -3, 100)
    assert str(info.value) == "current_mm must be ≥ 0, got -3"


def _call(baseline_mm: float = 100, baseline_hu: float | None = 100, current_mm: float = 90,
          current_hu: float | None = 90, nadir_mm: float | None = None) -> str:
    return response(baseline_mm, baseline_hu, current_mm, current_hu, nadir_mm=nadir_mm)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"baseline_mm": -1}, "baseline_mm"),
    ({"nadir_mm": -1}, "nadir_mm"),
    ({"baseline_hu": -1001}, "baseline_hu"),
    ({"current_hu": 3000.5}, "current_hu"),
    ({"current_hu": float("nan")}, "current_hu"),
    ({"current_mm": float("inf")}, "current_mm"),
])
def test_bad_input_names_the_argument(kwargs: dict[str, float], name: str) -> None:
    assert _call() == "PR"  # the defaults alone are valid
    with pytest.raises(InputError, match=f"^{name} must"):
        _call(**kwargs)


def test_density_limits_are_accepted() -> None:
    assert response(100, 3000, 100, -1000) == "PR"


def test_zero_baseline_size_is_rejected() -> None:
    with pytest.raises(InputError, match="baseline_mm must be > 0"):
        response(0, 100, 10, 100)


def test_nadir_above_baseline_is_rejected() -> None:
    with pytest.raises(InputError, match="nadir_mm must not exceed"):
        response(50, None, 50, None, nadir_mm=60)
