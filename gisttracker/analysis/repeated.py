"""Questionnaire scores over time: per-timepoint summaries, change from baseline, categories.

Input is one record per patient and timepoint: ``(patient, timepoint, value)``; a value of
None is a missing questionnaire (left out of that timepoint), two records for the same
patient and timepoint are an error. Conventions (R's defaults):

- n, mean, standard deviation with the n − 1 denominator (R's ``sd``), median, and the
  quartiles by R's default ``quantile(type = 7)`` (linear interpolation between order
  statistics; numpy's default ``"linear"`` method, Hyndman & Fan 1996), minimum, maximum;
- change from baseline is paired: only patients with a value at both the baseline and the
  timepoint, mean change ± t(0.975, n − 1) × SD/√n (R's ``t.test(after, before,
  paired = TRUE)$conf.int``, scipy's ``t`` quantile); a single pair has no interval;
- category counts per timepoint (for LARS: no / minor / major LARS, 0–20 / 21–29 /
  30–42, :func:`lars_categories`) count patients with a value at that timepoint.

Reference: Hyndman RJ, Fan Y. Sample quantiles in statistical packages. Am Stat
1996;50:361–365.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from gisttracker.analysis import AnalysisError
from gisttracker.analysis._inputs import z_value
from gisttracker.errors import InputError
from gisttracker.i18n import _

__all__ = [
    "CategoryCounts",
    "Change",
    "ScoreSummary",
    "category_counts",
    "change_from_baseline",
    "lars_categories",
    "summarise_scores",
]

Record = tuple[Hashable, Hashable, float | None]


@dataclass(frozen=True, slots=True)
class ScoreSummary:
    """A timepoint's distribution: n and (when n ≥ 1) mean, SD (n ≥ 2), quartiles."""

    timepoint: Hashable
    n: int
    mean: float | None
    sd: float | None
    median: float | None
    q1: float | None
    q3: float | None
    minimum: float | None
    maximum: float | None


@dataclass(frozen=True, slots=True)
class Change:
    """Paired change from baseline at a timepoint: n pairs, mean change, SD and t interval."""

    timepoint: Hashable
    n: int
    mean: float | None
    sd: float | None
    lower: float | None
    upper: float | None


@dataclass(frozen=True, slots=True)
class CategoryCounts:
    """Patients per category at a timepoint (categories in the given order) and n."""

    timepoint: Hashable
    n: int
    counts: dict[str, int]


def summarise_scores(
    records: Iterable[Record], timepoints: Sequence[Hashable]
) -> list[ScoreSummary]:
    """One :class:`ScoreSummary` per timepoint, in the order given."""
    table = _by_timepoint(records, timepoints)
    out: list[ScoreSummary] = []
    for tp in timepoints:
        values = np.array(list(table[tp].values()), dtype=np.float64)
        if values.size == 0:
            out.append(ScoreSummary(tp, 0, None, None, None, None, None, None, None))
            continue
        q1, med, q3 = np.quantile(values, [0.25, 0.5, 0.75], method="linear")
        out.append(
            ScoreSummary(
                timepoint=tp,
                n=int(values.size),
                mean=float(values.mean()),
                sd=float(values.std(ddof=1)) if values.size > 1 else None,
                median=float(med),
                q1=float(q1),
                q3=float(q3),
                minimum=float(values.min()),
                maximum=float(values.max()),
            )
        )
    return out


def change_from_baseline(
    records: Iterable[Record],
    timepoints: Sequence[Hashable],
    baseline: Hashable | None = None,
    conf_level: float = 0.95,
) -> list[Change]:
    """Paired change from ``baseline`` (default: the first timepoint) at every other one."""
    z_value(conf_level)  # checks the level
    table = _by_timepoint(records, timepoints)
    base = timepoints[0] if baseline is None else baseline
    if base not in table:
        raise AnalysisError(
            _("The baseline {baseline} is not one of the timepoints.").format(baseline=base)
        )
    from scipy.stats import t as t_dist

    out: list[Change] = []
    for tp in timepoints:
        if tp == base:
            continue
        both = [p for p in table[tp] if p in table[base]]
        diffs = np.array([table[tp][p] - table[base][p] for p in both], dtype=np.float64)
        n = int(diffs.size)
        if n == 0:
            out.append(Change(tp, 0, None, None, None, None))
            continue
        mean = float(diffs.mean())
        if n == 1:
            out.append(Change(tp, 1, mean, None, None, None))
            continue
        sd = float(diffs.std(ddof=1))
        half = float(t_dist.ppf(1 - (1 - conf_level) / 2, n - 1)) * sd / math.sqrt(n)
        out.append(Change(tp, n, mean, sd, mean - half, mean + half))
    return out


def category_counts(
    records: Iterable[Record],
    timepoints: Sequence[Hashable],
    classify: Callable[[float], str],
    categories: Sequence[str],
) -> list[CategoryCounts]:
    """Patients per category at each timepoint; ``classify`` maps a value to a category."""
    table = _by_timepoint(records, timepoints)
    out: list[CategoryCounts] = []
    for tp in timepoints:
        counts = dict.fromkeys(categories, 0)
        for value in table[tp].values():
            label = classify(value)
            if label not in counts:
                raise AnalysisError(
                    _("The value {value} falls in no listed category.").format(value=value)
                )
            counts[label] += 1
        out.append(CategoryCounts(tp, len(table[tp]), counts))
    return out


def lars_categories(
    records: Iterable[Record], timepoints: Sequence[Hashable]
) -> list[CategoryCounts]:
    """No / minor / major LARS (0–20 / 21–29 / 30–42) counts at each timepoint."""
    from gisttracker.scoring import lars

    def classify(value: float) -> str:
        if value != int(value):
            raise AnalysisError(
                _("A LARS score is a whole number from 0 to 42, not {value}.").format(value=value)
            )
        try:
            return lars.category(int(value))
        except InputError as exc:
            raise AnalysisError(str(exc)) from exc

    return category_counts(
        records, timepoints, classify, (lars.NO_LARS, lars.MINOR_LARS, lars.MAJOR_LARS)
    )


def _by_timepoint(
    records: Iterable[Record], timepoints: Sequence[Hashable]
) -> dict[Hashable, dict[Hashable, float]]:
    if not timepoints:
        raise AnalysisError(_("Name at least one timepoint."))
    table: dict[Hashable, dict[Hashable, float]] = {tp: {} for tp in timepoints}
    seen: set[tuple[Hashable, Hashable]] = set()
    for patient, tp, value in records:
        if tp not in table:
            raise AnalysisError(
                _("A score is recorded at {timepoint}, which is not one of the timepoints.")
                .format(timepoint=tp)
            )
        if (patient, tp) in seen:
            raise AnalysisError(
                _("Patient {patient} has two scores at {timepoint}.").format(
                    patient=patient, timepoint=tp
                )
            )
        seen.add((patient, tp))
        if value is None:
            continue
        v = float(value)
        if not math.isfinite(v):
            raise AnalysisError(
                _("The score of patient {patient} at {timepoint} is not a number.").format(
                    patient=patient, timepoint=tp
                )
            )
        table[tp][patient] = v
    return table
