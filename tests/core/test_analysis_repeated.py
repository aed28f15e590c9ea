"""Questionnaire scores over time: summaries, paired change from baseline, LARS categories.

The reference numbers are R's: ``quantile(x)`` with its default type 7, ``sd(x)``, and
``t.test(after, before, paired = TRUE)$conf.int``, for the small data below computed by
the formulas R documents (R's quantile type 7: h = (n - 1) p + 1, linear between order
statistics; the paired interval mean ± qt(0.975, n - 1) sd / sqrt(n)).
"""

from __future__ import annotations

import math

import pytest
from scipy.stats import t as t_dist

from gisttracker.analysis import AnalysisError, repeated
from gisttracker.scoring import lars

RECORDS = [
    ("P1", "baseline", 60.0), ("P2", "baseline", 75.0), ("P3", "baseline", 50.0),
    ("P4", "baseline", 90.0), ("P5", "baseline", None),
    ("P1", "3 months", 55.0), ("P2", "3 months", 80.0), ("P4", "3 months", 70.0),
    ("P5", "3 months", 65.0),
]


def test_summary_per_timepoint_uses_r_defaults() -> None:
    base, three = repeated.summarise_scores(RECORDS, ["baseline", "3 months"])
    assert base.n == 4  # P5's missing questionnaire is left out
    assert base.mean == 68.75
    assert base.sd == pytest.approx(math.sqrt(((60 - 68.75) ** 2 + (75 - 68.75) ** 2
                                               + (50 - 68.75) ** 2 + (90 - 68.75) ** 2) / 3))
    # type 7 on 50, 60, 75, 90: Q1 at h = 1.75 -> 57.5, median 67.5, Q3 at h = 3.25 -> 78.75
    assert (base.q1, base.median, base.q3) == (57.5, 67.5, 78.75)
    assert (base.minimum, base.maximum) == (50, 90)
    assert three.n == 4 and three.median == 67.5


def test_change_from_baseline_is_paired_with_a_t_interval() -> None:
    (change,) = repeated.change_from_baseline(RECORDS, ["baseline", "3 months"])
    # pairs: P1 -5, P2 +5, P4 -20 (P3 has no follow-up, P5 no baseline)
    assert change.n == 3
    assert change.mean == pytest.approx(-20 / 3)
    sd = math.sqrt(sum((d + 20 / 3) ** 2 for d in (-5, 5, -20)) / 2)
    assert change.sd == pytest.approx(sd)
    half = t_dist.ppf(0.975, 2) * sd / math.sqrt(3)
    assert (change.lower, change.upper) == pytest.approx((-20 / 3 - half, -20 / 3 + half))
    single = repeated.change_from_baseline([("A", 0, 1.0), ("A", 1, 3.0)], [0, 1])
    assert single[0].n == 1 and single[0].mean == 2 and single[0].lower is None


def test_lars_categories_per_timepoint() -> None:
    records = [("A", "baseline", 10), ("B", "baseline", 20), ("C", "baseline", 21),
               ("A", "12 months", 29), ("B", "12 months", 30), ("C", "12 months", 42)]
    counts = repeated.lars_categories(records, ["baseline", "12 months"])
    assert counts[0].counts == {lars.NO_LARS: 2, lars.MINOR_LARS: 1, lars.MAJOR_LARS: 0}
    assert counts[1].counts == {lars.NO_LARS: 0, lars.MINOR_LARS: 1, lars.MAJOR_LARS: 2}
    assert [c.n for c in counts] == [3, 3]
    with pytest.raises(AnalysisError, match="0 to 42"):
        repeated.lars_categories([("A", "baseline", 43)], ["baseline"])


def test_bad_records_get_a_clear_message() -> None:
    with pytest.raises(AnalysisError, match="two scores at baseline"):
        repeated.summarise_scores([("A", "baseline", 1), ("A", "baseline", None)],
                                  ["baseline"])
    with pytest.raises(AnalysisError, match="not one of the timepoints"):
        repeated.summarise_scores([("A", "week 2", 1)], ["baseline"])
    with pytest.raises(AnalysisError, match="not a number"):
        repeated.summarise_scores([("A", "baseline", float("nan"))], ["baseline"])
    empty = repeated.summarise_scores([], ["baseline"])
    assert empty[0].n == 0 and empty[0].mean is None
