"""Allocation: permuted blocks per stratum, concealed look-up, duration and treatment groups."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import replace
from datetime import date

import pytest

from gisttracker.domain.allocation import (
    Randomizer,
    allocation_at,
    duration_group,
    generate_blocks,
    generate_list,
    group_from_treatment,
    stratum_key,
    stratum_seed,
)
from gisttracker.errors import InputError
from gisttracker.protocols import Study, load_studies
from gisttracker.protocols.model import Allocation, DurationGroup, GroupRule


def real_study(key: str) -> Study:
    """A shipped protocol; the test fails (never skips) if it is missing or does not load."""
    result = load_studies()
    studies = {s.key: s for s in result.studies}
    assert key in studies, f"{key} not loaded; loader errors: {result.errors}"
    return studies[key]


AB = ("A", "B")
STRATA = ("site=ZJU", "site=FJ", "site=SH")


# --- the list ----------------------------------------------------------------------------------


def test_same_seed_gives_the_same_list() -> None:
    seed = stratum_seed("s3cret", "site=ZJU")
    first = generate_list(AB, (1, 1), (2, 4), seed=seed, length=100)
    assert first == generate_list(AB, (1, 1), (2, 4), seed=seed, length=100)
    assert len(first) == 100 and set(first) == {"A", "B"}
    # An int seed is its decimal text.
    assert generate_list(AB, (1, 1), (2, 4), seed=42, length=30) == generate_list(
        AB, (1, 1), (2, 4), seed="42", length=30)


def test_list_is_pinned_so_past_allocations_can_be_audited() -> None:
    # Computed once with this algorithm; if it changes, allocations already made could no
    # longer be checked against the list. Change only with a new ALGORITHM name.
    seed = stratum_seed("golden-seed", "site=ZJU")
    assert seed == "gisttracker-pbr-v1:11:golden-seed:site=ZJU"
    assert "".join(generate_list(AB, (1, 1), (2, 4), seed=seed, length=30)) == (
        "ABBABABABABBAAABBABABABABAABAB")
    assert "".join(generate_list(("A", "B", "C"), (2, 1, 1), (4, 8), seed=seed, length=24)) == (
        "ACBBAACAACBABAACBACAAACB")


def test_different_strata_and_seeds_give_different_lists() -> None:
    lists = {generate_list(AB, (1, 1), (2, 4), seed=stratum_seed("s3cret", s), length=40)
             for s in STRATA}
    assert len(lists) == 3
    other = generate_list(AB, (1, 1), (2, 4), seed=stratum_seed("other", "site=ZJU"),
                          length=40)
    assert other not in lists


def test_stratum_seeds_do_not_collide_across_the_separator() -> None:
    assert stratum_seed("a;b", "c") != stratum_seed("a", "b;c")
    assert stratum_seed("a:1", "x") != stratum_seed("a", "1:x")
    with pytest.raises(InputError):
        stratum_seed("", "site=ZJU")
    with pytest.raises(TypeError):
        stratum_seed(True, "site=ZJU")


def test_a_longer_list_extends_a_shorter_one() -> None:
    seed = stratum_seed("s3cret", "site=ZJU")
    long = generate_list(AB, (1, 1), (2, 4), seed=seed, length=57)
    for n in (0, 1, 3, 10, 56):
        assert generate_list(AB, (1, 1), (2, 4), seed=seed, length=n) == long[:n]


@pytest.mark.parametrize(("arms", "ratio", "block_sizes"), [
    (AB, (1, 1), (2, 4)),
    (AB, (1, 1), (4, 6, 8)),
    (AB, (2, 1), (3, 6)),
    (("A", "B", "C"), (1, 1, 1), (3, 6)),
])
def test_every_block_is_balanced_and_the_imbalance_stays_within_half_a_block(
        arms: tuple[str, ...], ratio: tuple[int, ...], block_sizes: tuple[int, ...]) -> None:
    unit = sum(ratio)
    worst = 0.0
    for n, stratum in itertools.product(range(200), STRATA):
        seed = stratum_seed(f"seed-{n}", stratum)
        blocks = generate_blocks(arms, ratio, block_sizes, seed=seed, length=60)
        flat = generate_list(arms, ratio, block_sizes, seed=seed, length=60)
        assert tuple(c for b in blocks for c in b)[:60] == flat
        for block in blocks:
            assert len(block) in block_sizes
            per_unit = len(block) // unit
            assert Counter(block) == {a: per_unit * r for a, r in zip(arms, ratio, strict=True)}
        counts: Counter[str] = Counter()
        for i, code in enumerate(flat, start=1):
            counts[code] += 1
            for arm, r in zip(arms, ratio, strict=True):
                imbalance = abs(counts[arm] - i * r / unit)
                worst = max(worst, imbalance)
                assert imbalance <= max(block_sizes) / 2
    assert worst >= 1  # the bound was really exercised: lists are not strictly alternating


def test_block_sizes_and_orders_vary() -> None:
    sizes: Counter[int] = Counter()
    orders: Counter[tuple[str, ...]] = Counter()
    for n in range(300):
        for block in generate_blocks(AB, (1, 1), (2, 4), seed=f"v-{n}", length=24):
            sizes[len(block)] += 1
            if len(block) == 4:
                orders[block] += 1
    total = sizes[2] + sizes[4]
    assert 0.4 < sizes[2] / total < 0.6  # drawn uniformly from the two sizes
    assert set(orders) == set(itertools.permutations("AABB"))  # all 6 orders occur
    assert min(orders.values()) > sum(orders.values()) / 6 * 0.7


@pytest.mark.parametrize(("ratio", "block_sizes"), [
    ((1, 1), (3,)),  # not a multiple of the ratio total
    ((1,), (2,)),  # one ratio part for two arms
    ((1, 0), (2,)),
    ((1, 1), ()),
])
def test_impossible_designs_are_refused(ratio: tuple[int, ...],
                                        block_sizes: tuple[int, ...]) -> None:
    with pytest.raises(InputError):
        generate_list(AB, ratio, block_sizes, seed="s", length=4)


def test_duplicate_arms_and_negative_length_are_refused() -> None:
    with pytest.raises(InputError):
        generate_list(("A", "A"), (1, 1), (2,), seed="s", length=4)
    with pytest.raises(InputError):
        generate_list(AB, (1, 1), (2,), seed="s", length=-1)


# --- concealed look-up -------------------------------------------------------------------------


def test_allocation_at_each_position_equals_the_list() -> None:
    study = real_study("NCT03862768")
    arms = [a.code for a in study.arms]
    assert study.allocation.method == "randomized"
    for stratum in STRATA:
        full = generate_list(arms, study.allocation.ratio, study.allocation.block_sizes,
                             seed=stratum_seed("trial-seed", stratum), length=60)
        looked_up = tuple(allocation_at(study.allocation, arms, "trial-seed", stratum, n)
                          for n in range(60))
        assert looked_up == full


def test_randomizer_matches_the_function_and_hides_its_seed() -> None:
    study = real_study("NCT03862768")
    randomizer = Randomizer.for_study(study, "very-secret-seed")
    key = randomizer.stratum_key({"site": "ZJU"})
    assert key == "site=ZJU"
    assert [randomizer.allocation_at(key, n) for n in range(12)] == [
        allocation_at(study.allocation, ["A", "B"], "very-secret-seed", key, n)
        for n in range(12)]
    assert "very-secret-seed" not in repr(randomizer)


def test_only_randomized_studies_randomize() -> None:
    single = Allocation(method="single_arm")
    with pytest.raises(InputError):
        allocation_at(single, ["A"], "s", "", 0)
    with pytest.raises(InputError):
        Randomizer.for_study(real_study("RECTAL-LE"), "s")
    randomized = Allocation(method="randomized", block_sizes=(2,), ratio=(1, 1))
    with pytest.raises(InputError):
        allocation_at(randomized, AB, "s", "", -1)


# --- strata ----------------------------------------------------------------------------------


def test_stratum_key_is_canonical() -> None:
    assert stratum_key(("site",), {"site": "ZJU"}) == "site=ZJU"
    two = stratum_key(("site", "prior_line"), {"site": " ZJU ", "prior_line": 2.0})
    assert two == "prior_line=2;site=ZJU"
    assert stratum_key(("prior_line", "site"), {"site": "ZJU", "prior_line": 2}) == two
    assert stratum_key((), {"site": "ZJU"}) == ""


@pytest.mark.parametrize("facts", [{}, {"site": None}, {"site": "  "}, {"site": "a=b"}])
def test_stratum_key_refuses_a_missing_or_unsafe_factor_by_name(
        facts: dict[str, object]) -> None:
    with pytest.raises(InputError, match="site"):
        stratum_key(("site",), facts)


# --- retrospective cohort: duration of preoperative imatinib ----------------------------------

CODED_GROUPS = Allocation(method="derived_duration", groups=(
    DurationGroup("LONG", None), DurationGroup("MID", 12), DurationGroup("SHORT", 6)))


@pytest.mark.parametrize(("start", "stop", "group"), [
    (date(2024, 1, 15), date(2024, 1, 15), "SHORT"),
    (date(2024, 1, 15), date(2024, 7, 15), "SHORT"),  # exactly 6 months
    (date(2024, 1, 15), date(2024, 7, 16), "MID"),  # 6 months + 1 day
    (date(2024, 1, 15), date(2025, 1, 15), "MID"),  # exactly 12 months
    (date(2024, 1, 15), date(2025, 1, 16), "LONG"),  # 12 months + 1 day
    (date(2025, 1, 31), date(2025, 7, 31), "SHORT"),  # 31 Jan + 6 months = 31 Jul
    (date(2025, 1, 31), date(2025, 8, 1), "MID"),
    (date(2025, 8, 31), date(2026, 2, 28), "SHORT"),  # 31 Aug + 6 months clips to 28 Feb
    (date(2025, 8, 31), date(2026, 3, 1), "MID"),
    (date(2023, 8, 31), date(2024, 2, 29), "SHORT"),  # ... or 29 Feb in a leap year
    (date(2023, 8, 31), date(2024, 3, 1), "MID"),
])
def test_duration_group_boundaries_in_calendar_months(start: date, stop: date,
                                                       group: str) -> None:
    assert duration_group(CODED_GROUPS, start, stop) == group
    study = real_study("PREOP-DURATION")
    assert duration_group(study.allocation, start, stop) == group


def test_duration_group_refuses_a_stop_before_the_start_or_an_uncovered_duration() -> None:
    with pytest.raises(InputError):
        duration_group(CODED_GROUPS, date(2024, 3, 2), date(2024, 3, 1))
    bounded = Allocation(method="derived_duration", groups=(DurationGroup("SHORT", 6),))
    with pytest.raises(InputError):
        duration_group(bounded, date(2024, 1, 1), date(2024, 9, 1))


# --- NCT06038552: group from the liver-directed treatment -------------------------------------


@pytest.mark.parametrize(("procedures", "group"), [
    ([], "IM"),
    (["gastrectomy"], "IM"),
    (["hepatic_resection"], "IM_HR"),
    (["rfa"], "IM_LOCAL"),
    (["TACE"], "IM_LOCAL"),
    (["rfa", "tace"], "IM_LOCAL"),
    (["Hepatic resection", "RFA"], "IM_HR"),  # resection wins over local therapy
    (("tace", "liver-resection"), "IM_HR"),
])
def test_group_from_treatment(procedures: list[str], group: str) -> None:
    study = real_study("NCT06038552")
    assert group_from_treatment(study.allocation, procedures) == group


def test_treatment_groups_are_the_arms_of_the_liver_metastases_study() -> None:
    study = real_study("NCT06038552")
    assert study.allocation.method == "treatment_received"
    assert {a.code for a in study.arms} == {
        group_from_treatment(study.allocation, []),
        group_from_treatment(study.allocation, ["rfa"]),
        group_from_treatment(study.allocation, ["hepatic_resection"])}


def test_group_rules_come_from_the_protocol_not_the_code() -> None:
    # A protocol that puts RFA/TACE first: a patient with both goes to IM_LOCAL.
    study = real_study("NCT06038552")
    swapped = replace(study.allocation, rules=(
        GroupRule("IM_LOCAL", ("rfa", "tace")), GroupRule("IM_HR", ("hepatic_resection",)),
        GroupRule("IM")))
    assert group_from_treatment(swapped, ["hepatic_resection", "rfa"]) == "IM_LOCAL"
    assert group_from_treatment(study.allocation, ["hepatic_resection", "rfa"]) == "IM_HR"
    with pytest.raises(ValueError, match="does not derive groups"):
        group_from_treatment(real_study("NCT04933669").allocation, [])


def test_group_from_treatment_refuses_a_bare_string() -> None:
    with pytest.raises(TypeError):
        group_from_treatment(real_study("NCT06038552").allocation, "rfa")
