"""Cumulative incidence with competing risks (Aalen–Johansen), as R's ``cmprsk::cuminc``.

When death without recurrence competes with local recurrence, 1 − Kaplan–Meier of the time
to recurrence (death censored) overstates the chance of recurrence; the cumulative
incidence function (CIF) of a cause k is

    F_k(t) = Σ_{t_j ≤ t} S(t_j−) · d_kj / n_j,

where S is the Kaplan–Meier estimate of being free of every cause, d_kj the events of cause
k and n_j the subjects at risk at t_j (Aalen & Johansen 1978; Kalbfleisch & Prentice 2002,
§8.2). The point estimate comes from statsmodels' ``CumIncidenceRight`` (the same estimate
as ``cmprsk::cuminc`` and R's ``survfit`` with a multi-state status).

The variance is not statsmodels': its delta-method formula is Stata's ``stcompet``, which
differs from R. This module uses the variance of ``cmprsk::cuminc`` (Gray's ``cinc``
routine, the Aalen 1978 type estimator with its correction for tied events), written here
in numpy because no Python library has it. As in ``cuminc``, the variance changes only at
times with an event of the cause in question. Confidence intervals: ``"log-log"`` (default,
F^exp(±z·se/(F·log F)), the convention of ``tidycmprsk`` and Stata) or ``"plain"``
(F ± z·se clipped to [0, 1]); ``cuminc`` itself prints only estimates and variances.

Causes are coded as integers: 0 for censored, 1, 2, … for the competing events.

References: Aalen OO, Johansen S. Scand J Stat 1978;5:141–150. Aalen OO. Scand J Stat
1978;5:141 (variance). Gray RJ. Ann Stat 1988;16:1141–1154. Pintilie M. Competing Risks:
A Practical Perspective. Wiley 2006.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gisttracker.analysis import AnalysisError
from gisttracker.analysis._inputs import as_times, check_length, opt, z_value
from gisttracker.i18n import _, ngettext

__all__ = ["CauseIncidence", "CumulativeIncidence", "IncidenceRow", "cumulative_incidence"]

CifConfType = Literal["log-log", "plain"]


@dataclass(frozen=True, slots=True)
class IncidenceRow:
    """One distinct time of a cause's cumulative incidence (None where undefined)."""

    time: float
    n_risk: int
    n_event: int
    estimate: float
    std_err: float | None
    lower: float | None
    upper: float | None


@dataclass(frozen=True, eq=False)
class CauseIncidence:
    """The cumulative incidence of one cause; arrays over every distinct time."""

    cause: int
    time: NDArray[np.float64]
    n_risk: NDArray[np.int64]
    n_event: NDArray[np.int64]
    estimate: NDArray[np.float64]
    variance: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]

    @property
    def events(self) -> int:
        """Number of events of this cause."""
        return int(self.n_event.sum())

    @cached_property
    def table(self) -> tuple[IncidenceRow, ...]:
        """Every distinct time as a row."""
        se = np.sqrt(self.variance)
        return tuple(
            IncidenceRow(
                float(self.time[i]), int(self.n_risk[i]), int(self.n_event[i]),
                float(self.estimate[i]), opt(se[i]), opt(self.lower[i]), opt(self.upper[i]),
            )
            for i in range(self.time.size)
        )

    def at(self, t: float) -> tuple[float | None, float | None, float | None]:
        """``(estimate, lower, upper)`` at ``t``; all None beyond the last observed time."""
        if not math.isfinite(t) or t < 0:
            raise AnalysisError(
                _("A time point must be a finite number not below 0, not {t}.").format(t=t)
            )
        if t > self.time[-1]:
            return None, None, None
        i = int(np.searchsorted(self.time, t, side="right")) - 1
        if i < 0:
            return 0.0, None, None
        return float(self.estimate[i]), opt(self.lower[i]), opt(self.upper[i])

    def std_err_at(self, t: float) -> float | None:
        """Standard error of the estimate at ``t`` (None beyond follow-up)."""
        if t > self.time[-1]:
            return None
        i = int(np.searchsorted(self.time, t, side="right")) - 1
        return 0.0 if i < 0 else opt(math.sqrt(self.variance[i]))


@dataclass(frozen=True, eq=False)
class CumulativeIncidence:
    """The cumulative incidence of every cause (keyed 1, 2, …)."""

    causes: dict[int, CauseIncidence]
    n: int
    conf_type: CifConfType
    conf_level: float


def cumulative_incidence(
    times: ArrayLike,
    causes: Sequence[int] | NDArray[np.integer],
    conf_type: CifConfType = "log-log",
    conf_level: float = 0.95,
) -> CumulativeIncidence:
    """Aalen–Johansen cumulative incidence of each cause (0 = censored, 1, 2, … = causes)."""
    if conf_type not in ("log-log", "plain"):
        raise AnalysisError(
            _("Unknown confidence interval type {kind!r}; use log-log or plain.").format(
                kind=conf_type
            )
        )
    z = z_value(conf_level)
    t = as_times(times)
    if t.size == 0:
        raise AnalysisError(_("There are no subjects to analyse."))
    try:
        c = np.asarray(causes, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(_("Each cause must be a whole number: 0 for censored.")) from exc
    check_length(c, t.size, _("causes"))
    bad = int(np.count_nonzero(~np.isfinite(c) | (c < 0) | (c != np.round(c))))
    if bad:
        raise AnalysisError(
            ngettext(
                "Causes must be 0 (censored) or 1, 2, … (the event); {count} value is not.",
                "Causes must be 0 (censored) or 1, 2, … (the event); {count} values are not.",
                bad,
            ).format(count=bad)
        )
    codes = c.astype(np.int64)
    if not codes.any():
        raise AnalysisError(_("There are no events, so there is no incidence to estimate."))
    from statsmodels.duration.survfunc import CumIncidenceRight

    # statsmodels also computes its own (Stata) standard errors, which divide by zero once
    # everyone has had an event; those are not used here
    with np.errstate(divide="ignore", invalid="ignore"):
        fit = CumIncidenceRight(t, codes)
    utime = np.asarray(fit.times, dtype=np.float64)
    inverse = np.searchsorted(utime, t)
    total = np.bincount(inverse, minlength=utime.size)
    at_risk = np.cumsum(total[::-1])[::-1].astype(np.float64)
    any_dead = np.bincount(
        inverse, weights=(codes > 0).astype(np.float64), minlength=utime.size
    ).astype(np.float64)
    km_before = np.concatenate(([1.0], np.cumprod(1.0 - any_dead / at_risk)[:-1]))
    out: dict[int, CauseIncidence] = {}
    for k in sorted(int(v) for v in np.unique(codes[codes > 0])):
        dk = np.bincount(
            inverse, weights=(codes == k).astype(np.float64), minlength=utime.size
        ).astype(np.float64)
        estimate = np.asarray(fit.cinc[k - 1], dtype=np.float64)
        variance = _cuminc_variance(at_risk, dk, any_dead - dk, km_before, estimate)
        lower, upper = _limits(estimate, np.sqrt(variance), conf_type, z)
        out[k] = CauseIncidence(
            cause=k,
            time=utime,
            n_risk=at_risk.astype(np.int64),
            n_event=dk.astype(np.int64),
            estimate=estimate,
            variance=variance,
            lower=lower,
            upper=upper,
        )
    return CumulativeIncidence(out, int(t.size), conf_type, conf_level)


def _cuminc_variance(
    rs: NDArray[np.float64],
    nd1: NDArray[np.float64],
    nd2: NDArray[np.float64],
    fk: NDArray[np.float64],
    f: NDArray[np.float64],
) -> NDArray[np.float64]:
    """The variance of ``cmprsk``'s ``cinc`` at every distinct time.

    ``rs`` at risk, ``nd1`` events of the cause, ``nd2`` competing events, ``fk`` the
    event-free Kaplan–Meier just before each time and ``f`` the cumulative incidence.
    """
    nd = nd1 + nd2
    with np.errstate(divide="ignore", invalid="ignore"):
        fkn = fk * (rs - nd) / rs
        inv = np.where(fkn > 0, 1.0 / fkn, 0.0)

        def tie(d: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.where(d > 1, 1.0 - (d - 1.0) / (rs - 1.0), 1.0)

        # competing events (only while someone stays event-free)
        use2 = (nd2 > 0) & (fkn > 0)
        t6 = np.where(use2, fk * fk * tie(nd2) * nd2 / (rs * rs), 0.0)
        t4 = f * inv
        v1 = t4 * t4 * t6
        v2 = inv * t4 * t6
        v3 = inv * inv * t6
        # events of the cause
        use1 = nd1 > 0
        t6 = np.where(use1, fk * fk * tie(nd1) * nd1 / (rs * rs), 0.0)
        t4 = 1.0 + inv * f
        v1 = v1 + t4 * t4 * t6
        v2 = v2 + inv * t4 * t6
        v3 = v3 + inv * inv * t6
    c1, c2, c3 = np.cumsum(v1), np.cumsum(v2), np.cumsum(v3)
    at_cause = c1 + f * f * c3 - 2 * f * c2
    last = np.maximum.accumulate(np.where(use1, np.arange(rs.size), -1))
    return np.where(last >= 0, at_cause[np.maximum(last, 0)], 0.0)


def _limits(
    f: NDArray[np.float64], se: NDArray[np.float64], conf_type: CifConfType, z: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "plain":
            lower = np.clip(f - z * se, 0.0, 1.0)
            upper = np.clip(f + z * se, 0.0, 1.0)
            bad = np.isnan(se)
        else:
            ok = (f > 0) & (f < 1)
            step = np.where(ok, z * se / (f * np.log(np.where(ok, f, 0.5))), np.nan)
            # step < 0 (log F < 0): F ** exp(-step) < F < F ** exp(step)
            lower = f ** np.exp(-step)
            upper = f ** np.exp(step)
            bad = ~ok | np.isnan(se)
    return np.where(bad, np.nan, lower), np.where(bad, np.nan, upper)
