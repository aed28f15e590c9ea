"""Proportions (response rate, R0 rate, organ preservation) and their comparison, as R.

- :func:`proportion`: the estimate with its exact Clopper–Pearson (1934) interval, the
  interval of R's ``binom.test`` (scipy's ``binomtest(...).proportion_ci("exact")``).
- :func:`chi_square`: Pearson's chi-square test of a contingency table, as R's
  ``chisq.test``: for a 2 × 2 table with Yates' continuity correction (R's default, each
  |O − E| reduced by min(0.5, |O − E|)); without it for larger tables. scipy's
  ``chi2_contingency`` applies the same correction in the same cases.
- :func:`fisher_exact`: Fisher's exact test, two-sided, as R's ``fisher.test``: a table's
  p-value is the total probability, with the margins fixed, of the tables no more probable
  than the one observed, with R's relative tolerance of 1e-7 for "no more probable". A
  2 × 2 table goes to scipy's ``fisher_exact`` (which uses a tighter tolerance, 1e-14 —
  the same p-value except for tables whose probabilities differ by less than 1e-7,
  relatively), with R's conditional maximum-likelihood odds ratio and its exact interval
  from scipy's ``contingency.odds_ratio``. scipy has no exact r × c test (it samples), so
  larger tables are enumerated here, up to :data:`MAX_TABLES` tables.
- :func:`compare_proportions`: successes out of totals in two or more groups, with both
  tests and the rule for choosing between them: **Fisher's exact test when any expected
  count is below 5** (Cochran's rule, the condition under which R's ``chisq.test`` warns
  "Chi-squared approximation may be incorrect"), Pearson's chi-square otherwise.

References: Clopper CJ, Pearson ES. Biometrika 1934;26:404–413. Yates F. Suppl J R Stat
Soc 1934;1:217–235. Fisher RA. Statistical Methods for Research Workers, 1925. Cochran WG.
Biometrics 1954;10:417–451. Agresti A. Categorical Data Analysis, 3rd ed. Wiley 2013, §3.5.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from gisttracker.analysis import AnalysisError
from gisttracker.analysis._inputs import z_value
from gisttracker.i18n import _

__all__ = [
    "MAX_TABLES",
    "ChiSquare",
    "FisherExact",
    "Proportion",
    "ProportionComparison",
    "chi_square",
    "compare_proportions",
    "fisher_exact",
    "proportion",
]

# Tables enumerated at most for an exact r × c test (about 5 s of work at worst).
MAX_TABLES = 1_000_000
# R's fisher.test: a table counts as "no more probable" within this relative error.
_R_RELATIVE_ERROR = 1 + 1e-7


@dataclass(frozen=True, slots=True)
class Proportion:
    """``successes`` of ``total``: estimate and exact (Clopper–Pearson) interval."""

    successes: int
    total: int
    estimate: float
    lower: float
    upper: float
    conf_level: float


@dataclass(frozen=True, slots=True)
class ChiSquare:
    """Pearson's chi-square: statistic, df, p, whether Yates' correction was applied, and
    the expected counts (rows × columns)."""

    chi2: float
    df: int
    p: float
    yates: bool
    expected: tuple[tuple[float, ...], ...]


@dataclass(frozen=True, slots=True)
class FisherExact:
    """Fisher's exact test, two-sided; for a 2 × 2 table also R's conditional odds ratio."""

    p: float
    odds_ratio: float | None = None
    odds_ratio_lower: float | None = None
    odds_ratio_upper: float | None = None


@dataclass(frozen=True, slots=True)
class ProportionComparison:
    """Proportions by group, both tests, and the one the rule recommends.

    ``fisher`` is None when the table is too large to enumerate (then the chi-square is
    recommended, with its large expected counts). ``p`` is the recommended test's p-value.
    """

    groups: dict[Hashable, Proportion]
    chi_square: ChiSquare
    fisher: FisherExact | None
    recommended: Literal["fisher", "chi_square"]
    p: float


def proportion(successes: int, total: int, conf_level: float = 0.95) -> Proportion:
    """``successes``/``total`` with R's ``binom.test`` (Clopper–Pearson) interval."""
    k, n = _count(successes, _("successes")), _count(total, _("patients"))
    if n == 0:
        raise AnalysisError(_("There are no patients, so there is no proportion."))
    if k > n:
        raise AnalysisError(
            _("{successes} successes cannot come from {total} patients.").format(
                successes=k, total=n
            )
        )
    z_value(conf_level)  # checks the level
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=conf_level, method="exact")
    return Proportion(k, n, k / n, float(ci.low), float(ci.high), conf_level)


def chi_square(table: Sequence[Sequence[int]]) -> ChiSquare:
    """R's ``chisq.test(table)`` (Yates' correction for a 2 × 2 table)."""
    counts = _table(table)
    from scipy.stats import chi2_contingency

    result = chi2_contingency(counts, correction=True)
    return ChiSquare(
        chi2=float(result.statistic),
        df=int(result.dof),
        p=float(result.pvalue),
        yates=counts.shape == (2, 2),
        expected=tuple(tuple(float(v) for v in row) for row in result.expected_freq),
    )


def fisher_exact(table: Sequence[Sequence[int]]) -> FisherExact:
    """R's ``fisher.test(table)``, two-sided, for any number of rows and columns."""
    counts = _table(table)
    if counts.shape == (2, 2):
        from scipy.stats import contingency
        from scipy.stats import fisher_exact as scipy_fisher

        p = float(scipy_fisher(counts, alternative="two-sided").pvalue)
        odds = contingency.odds_ratio(counts, kind="conditional")
        ci = odds.confidence_interval(confidence_level=0.95)
        return FisherExact(
            p=p,
            odds_ratio=_finite_or_none(odds.statistic),
            odds_ratio_lower=_finite_or_none(ci.low),
            odds_ratio_upper=_finite_or_none(ci.high),
        )
    return FisherExact(p=_fisher_rxc(counts))


def compare_proportions(
    successes: Sequence[int],
    totals: Sequence[int],
    labels: Sequence[Hashable] | None = None,
    conf_level: float = 0.95,
) -> ProportionComparison:
    """Compare ``successes[i]`` of ``totals[i]`` across groups (2 × k table)."""
    if len(successes) != len(totals):
        raise AnalysisError(_("Each group needs a number of successes and a number of patients."))
    names = list(labels) if labels is not None else list(range(1, len(totals) + 1))
    if len(names) != len(totals):
        raise AnalysisError(_("Each group needs one label."))
    if len(totals) < 2:
        raise AnalysisError(_("A comparison needs at least two groups."))
    props = {
        name: proportion(k, n, conf_level)
        for name, k, n in zip(names, successes, totals, strict=True)
    }
    table = [[p.successes for p in props.values()],
             [p.total - p.successes for p in props.values()]]
    if sum(table[0]) == 0 or sum(table[1]) == 0:
        raise AnalysisError(
            _("Every patient has the same outcome, so the groups cannot be compared.")
        )
    chi = chi_square(table)
    try:
        fisher: FisherExact | None = fisher_exact(table)
    except AnalysisError:
        fisher = None
    small = min(min(row) for row in chi.expected) < 5
    if small and fisher is not None:
        return ProportionComparison(props, chi, fisher, "fisher", fisher.p)
    return ProportionComparison(props, chi, fisher, "chi_square", chi.p)


def _count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise AnalysisError(
            _("The number of {name} must be a whole number not below 0, not {value!r}.").format(
                name=name, value=value
            )
        )
    return int(value)


def _table(table: Sequence[Sequence[int]]) -> NDArray[np.int64]:
    rows = [list(row) for row in table]
    if len(rows) < 2 or any(len(row) != len(rows[0]) for row in rows) or len(rows[0]) < 2:
        raise AnalysisError(_("A contingency table needs at least two rows and two columns."))
    values = [_count(v, _("patients")) for row in rows for v in row]
    counts = np.asarray(values, dtype=np.int64).reshape(len(rows), len(rows[0]))
    if (counts.sum(axis=0) == 0).any() or (counts.sum(axis=1) == 0).any():
        raise AnalysisError(
            _("A row or column of the table is empty; leave out a group with no patients.")
        )
    return counts


def _finite_or_none(value: float) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


def _fisher_rxc(counts: NDArray[np.int64]) -> float:
    """Exact two-sided p-value of an r × c table by enumerating every table.

    Tables with the observed margins are built column by column (the last column is what
    the row totals leave); each table's probability under independence is
    Π rᵢ! Π cⱼ! / (N! Π nᵢⱼ!). Columns are reordered widest-first only to prune early.
    """
    from scipy.special import gammaln

    rows = counts.sum(axis=1)
    cols = np.sort(counts.sum(axis=0))[::-1]
    n = int(rows.sum())
    const = float(gammaln(rows + 1).sum() + gammaln(cols + 1).sum() - gammaln(n + 1))
    observed = const - float(gammaln(counts + 1).sum())
    threshold = observed + math.log(_R_RELATIVE_ERROR)
    r = rows.size
    total = 0.0
    visited = 0

    def columns(remaining: NDArray[np.int64], size: int) -> list[NDArray[np.int64]]:
        """Every way to fill one column of ``size`` within the remaining row totals."""
        out: list[NDArray[np.int64]] = []

        def fill(i: int, left: int, acc: list[int]) -> None:
            if i == r - 1:
                if left <= remaining[i]:
                    out.append(np.array([*acc, left], dtype=np.int64))
                return
            rest = int(remaining[i + 1:].sum())
            for v in range(max(0, left - rest), min(int(remaining[i]), left) + 1):
                fill(i + 1, left - v, [*acc, v])

        fill(0, size, [])
        return out

    def walk(j: int, remaining: NDArray[np.int64], logp: float) -> None:
        nonlocal total, visited
        choices = np.array(columns(remaining, int(cols[j])), dtype=np.int64).reshape(-1, r)
        if j == cols.size - 2:
            # the last column is what is left: score all tables of this branch at once
            visited += choices.shape[0]
            if visited > MAX_TABLES:
                raise AnalysisError(
                    _("The table is too large for Fisher's exact test; use the chi-square test.")
                )
            lp = (logp - gammaln(choices + 1).sum(axis=1)
                  - gammaln(remaining[None, :] - choices + 1).sum(axis=1))
            total += float(np.exp(lp[lp <= threshold]).sum())
            return
        for col in choices:
            walk(j + 1, remaining - col, logp - float(gammaln(col + 1).sum()))

    walk(0, rows.astype(np.int64), const)
    return min(1.0, total)
