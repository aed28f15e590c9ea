"""Benchmark: Kaplan–Meier plus log-rank on 100,000 subjects; Cox on 10,000 subjects.

Run by hand: ``.venv/bin/python tests/benchmarks/bench_analysis.py``.

Synthetic survival data (seeded): 100,000 subjects in 3 groups, exponential times in days
(rounded up, so there are many ties) with about 30 % censored. Prints the median of
several runs of

- ours: :func:`kaplan_meier_by_group` (per-group curves with R's intervals, medians) and
  :func:`log_rank` (all groups, observed/expected table), against the 0.5 s target, next
  to the statistical library alone on the same arrays: statsmodels' ``SurvfuncRight`` per
  group plus ``survdiff``;
- the same with continuous times (no ties: 100,000 distinct times);
- building the row tables of the three curves (done lazily, when a report asks);
- :func:`cox` with Efron ties on 10,000 subjects and 3 covariates (fit, Wald, score and LR
  tests) next to statsmodels' ``PHReg(...).fit()`` alone, and :func:`cox_zph` on it.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gisttracker.analysis import survival  # noqa: E402

TARGET_S = 0.5
RUNS = 7


def timed(fn: Callable[[], object], runs: int = RUNS) -> float:
    """Median wall time of ``runs`` calls, in seconds (one warm-up call first)."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def survival_data(n: int, ties: bool, seed: int = 1) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, n)
    t = rng.exponential(700, n) * (1 + 0.25 * group)
    if ties:
        t = np.ceil(t)
    event = (rng.uniform(size=n) < 0.7).astype(np.float64)
    return t, event, group


def bench_km_logrank(ties: bool) -> None:
    from statsmodels.duration.survfunc import SurvfuncRight, survdiff

    t, e, g = survival_data(100_000, ties)
    labels = [f"arm {v}" for v in g.tolist()]

    def ours() -> None:
        curves = survival.kaplan_meier_by_group(t, e, labels)
        survival.log_rank(t, e, labels)
        for km in curves.values():
            km.at(365.0)

    def library() -> None:
        for k in range(3):
            m = g == k
            SurvfuncRight(t[m], e[m])
        survdiff(t, e, g)

    mine, base = timed(ours), timed(library)
    kind = "whole days (ties)" if ties else "continuous (no ties)"
    verdict = "met" if mine < TARGET_S else f"MISSED by {mine - TARGET_S:.3f} s"
    print(f"KM x3 + log-rank, 100,000 subjects, {kind}:")
    print(f"  gisttracker.analysis     {mine * 1000:8.1f} ms   (target {TARGET_S * 1000:.0f} ms:"
          f" {verdict})")
    print(f"  statsmodels alone        {base * 1000:8.1f} ms   (SurvfuncRight x3 + survdiff)")

    curves = survival.kaplan_meier_by_group(t, e, labels)

    def tables() -> None:
        for km in curves.values():
            km.__dict__.pop("table", None)
            _ = km.table

    rows = sum(km.time.size for km in curves.values())
    print(f"  row tables ({rows:,} rows)  {timed(tables, 3) * 1000:8.1f} ms   (built on demand)")


def bench_cox() -> None:
    from statsmodels.duration.hazard_regression import PHReg

    rng = np.random.default_rng(2)
    n = 10_000
    x = rng.normal(size=(n, 3))
    t = np.ceil(rng.exponential(500, n) * np.exp(-x @ np.array([0.4, -0.2, 0.1])))
    e = (rng.uniform(size=n) < 0.7).astype(np.float64)
    covariates = {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2]}

    def ours() -> None:
        survival.cox(t, e, covariates)

    def library() -> None:
        PHReg(t, x, status=e, ties="efron").fit()

    mine, base = timed(ours, 5), timed(library, 5)
    model = survival.cox(t, e, covariates)
    zph = timed(lambda: survival.cox_zph(model), 3)
    print("Cox (Efron), 10,000 subjects, 3 covariates:")
    print(f"  gisttracker.analysis     {mine * 1000:8.1f} ms   (fit + LR, Wald, score tests)")
    print(f"  statsmodels PHReg alone  {base * 1000:8.1f} ms   (fit)")
    print(f"  cox.zph on that model    {zph * 1000:8.1f} ms")


def main() -> None:
    bench_km_logrank(ties=True)
    bench_km_logrank(ties=False)
    bench_cox()


if __name__ == "__main__":
    main()
