"""Proportions and their comparison against R's documented examples.

Sources: R's help pages of the stats package (the examples of ``binom.test``,
``chisq.test`` and ``fisher.test``, with the results their text states):
- binom.test(682, 682 + 243, p = 3/4) (Mendel's peas): estimate 0.7372973, 95 percent
  confidence interval 0.7076683 0.7654066;
- chisq.test(M), M = rbind(c(762, 327, 468), c(484, 239, 477)) (Agresti 2007, party by
  gender): X-squared = 30.07, df = 2, p-value = 2.954e-07;
- fisher.test(TeaTasting), TeaTasting = matrix(c(3, 1, 1, 3), 2): p-value = 0.4857,
  odds ratio 6.408309; the upper confidence limit R prints (621.93) comes from a root
  finder stopped early — see test_tea_tasting_fisher_and_odds_ratio_equal_r.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import hypergeom, nchypergeom_fisher

from gisttracker.analysis import AnalysisError, proportions
from tests.core.analysis_reference import check


def test_exact_interval_equals_r_binom_test() -> None:
    p = proportions.proportion(682, 682 + 243)
    check(p.estimate, "0.7372973")
    check(p.lower, "0.7076683")
    check(p.upper, "0.7654066")
    # the interval is exact at the ends: 0 of 10 and 10 of 10
    zero, full = proportions.proportion(0, 10), proportions.proportion(10, 10)
    assert zero.lower == 0 and full.upper == 1
    check(zero.upper, "0.3084971")  # 1 - 0.025 ** (1 / 10)
    assert zero.upper == pytest.approx(1 - 0.025 ** 0.1)


def test_pearson_chi_square_equals_r() -> None:
    result = proportions.chi_square([[762, 327, 468], [484, 239, 477]])
    check(result.chi2, "30.07")
    check(result.p, "2.954e-07")
    assert result.df == 2 and not result.yates


def test_yates_correction_for_two_by_two_tables_as_r() -> None:
    table = [[12, 5], [7, 9]]
    result = proportions.chi_square(table)
    assert result.yates and result.df == 1
    observed = np.array(table, dtype=float)
    expected = np.array(result.expected)
    # R: YATES <- min(0.5, abs(x - E)); STATISTIC <- sum((abs(x - E) - YATES)^2 / E)
    diff = np.abs(observed - expected)
    assert result.chi2 == pytest.approx(float((((diff - np.minimum(0.5, diff)) ** 2)
                                               / expected).sum()))


def test_tea_tasting_fisher_and_odds_ratio_equal_r() -> None:
    result = proportions.fisher_exact([[3, 1], [1, 3]])
    check(result.p, "0.4857")
    check(result.odds_ratio, "6.408")
    check(result.odds_ratio_lower, "0.2117")
    # the upper limit solves P(X <= 3; psi) = 0.025 exactly (R stops its root finder
    # early and prints 621.93, where that probability is 0.02517)
    assert result.odds_ratio_upper is not None
    assert nchypergeom_fisher.cdf(3, 8, 4, 4, result.odds_ratio_upper) == pytest.approx(0.025)


def _brute_force_fisher(table: np.ndarray) -> float:
    """Every table with the margins of ``table``, by brute force (small tables only)."""
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    n = int(table.sum())

    def logp(t: np.ndarray) -> float:
        return (sum(math.lgamma(v + 1) for v in rows) + sum(math.lgamma(v + 1) for v in cols)
                - math.lgamma(n + 1) - sum(math.lgamma(v + 1) for v in t.ravel()))

    observed = logp(table)
    total = 0.0
    r, c = table.shape
    for cells in itertools.product(*(range(int(min(rows[i], cols[j])) + 1)
                                     for i in range(r - 1) for j in range(c - 1))):
        t = np.zeros((r, c), dtype=int)
        t[:-1, :-1] = np.array(cells).reshape(r - 1, c - 1)
        t[:-1, -1] = rows[:-1] - t[:-1, :-1].sum(axis=1)
        t[-1, :] = cols - t[:-1, :].sum(axis=0)
        if (t < 0).any():
            continue
        lp = logp(t)
        if lp <= observed + 1e-7:
            total += math.exp(lp)
    return min(total, 1.0)


@pytest.mark.parametrize(
    "table",
    [[[1, 2, 5], [4, 3, 1]], [[0, 3, 2], [3, 0, 1]], [[2, 3, 4], [5, 1, 2], [3, 3, 1]],
     [[6, 0, 1, 2], [1, 4, 2, 0]]],
)
def test_fisher_r_by_c_equals_brute_force_enumeration(table: list[list[int]]) -> None:
    assert proportions.fisher_exact(table).p == pytest.approx(
        _brute_force_fisher(np.array(table)), rel=1e-9)


def test_fisher_r_by_c_code_agrees_with_the_two_by_two_hypergeometric() -> None:
    from gisttracker.analysis.proportions import _fisher_rxc

    rng = np.random.default_rng(3)
    for _ in range(30):
        t = rng.integers(0, 12, size=(2, 2))
        if (t.sum(axis=0) == 0).any() or (t.sum(axis=1) == 0).any():
            continue
        m, n1, k = t.sum(), t[0].sum(), t[:, 0].sum()
        support = np.arange(max(0, k + n1 - m), min(k, n1) + 1)
        pmf = hypergeom.pmf(support, m, n1, k)
        expected = pmf[pmf <= hypergeom.pmf(t[0, 0], m, n1, k) * (1 + 1e-7)].sum()
        assert _fisher_rxc(t) == pytest.approx(min(expected, 1.0), rel=1e-9)


def test_comparison_rule_fisher_for_small_expected_counts() -> None:
    small = proportions.compare_proportions([7, 3], [20, 22], ["A", "B"])
    assert small.recommended == "fisher" and small.p == small.fisher.p  # type: ignore[union-attr]
    assert min(min(row) for row in small.chi_square.expected) < 5
    large = proportions.compare_proportions([40, 25, 30], [80, 70, 75], ["x", "y", "z"])
    assert large.recommended == "chi_square" and large.p == large.chi_square.p
    assert large.chi_square.df == 2 and large.fisher is not None
    assert list(large.groups) == ["x", "y", "z"]
    check(large.groups["x"].estimate, "0.5")


def test_bad_counts_get_a_clear_message() -> None:
    with pytest.raises(AnalysisError, match="no patients"):
        proportions.proportion(0, 0)
    with pytest.raises(AnalysisError, match="5 successes cannot come from 3"):
        proportions.proportion(5, 3)
    with pytest.raises(AnalysisError, match="whole number"):
        proportions.proportion(-1, 3)
    with pytest.raises(AnalysisError, match="empty"):
        proportions.chi_square([[0, 3], [0, 4]])
    with pytest.raises(AnalysisError, match="same outcome"):
        proportions.compare_proportions([3, 4], [3, 4])
    with pytest.raises(AnalysisError, match="at least two groups"):
        proportions.compare_proportions([3], [4])
