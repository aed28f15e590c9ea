"""Time-to-event analysis: Kaplan–Meier, log-rank, Cox, cumulative incidence — as R does it.

Times are in any one unit (days, months: the caller's choice, used unchanged); ``events``
are 1 for an event and 0 for a censored observation (right censoring only). Every
convention below is the default of R's ``survival`` package (Therneau), which is the
reference the tests check to 4 decimal places on published data sets:

Kaplan–Meier (:func:`kaplan_meier`, R's ``survfit(Surv(time, status) ~ 1)``)
    The product-limit estimate (Kaplan & Meier 1958) at every distinct time, with
    subjects censored at time *t* counted at risk at *t* (Kalbfleisch & Prentice 2002,
    §1.4), computed as R's ``survfitKM`` does: the running product of (1 − d/n), a few
    vectorised numpy lines. statsmodels' ``SurvfuncRight`` gives the same estimate and
    Greenwood error (the tests check it to 1e-12) but as exp(Σ log(1 − d/n)), whose last
    bits differ, enough to move a median sitting exactly on 0.5; and it differs from R in
    the points below, which are pinned here:

    - ``std_err`` is the standard error of the survival estimate, as
      ``summary(survfit(...))`` prints it: Greenwood's variance of log S(t),
      Σ d / (n (n − d)), times S(t) (Collett 2015, §2.2); NaN (None) where S(t) = 0.
    - Confidence intervals (Collett §2.2.3; R's ``conf.type``): ``"log"`` (default,
      exp(log S ± z·se(log S)), the upper limit clipped to 1), ``"log-log"``
      (exp(−exp(log(−log S) ∓ z·se(log S)/log S)), undefined where S is 0 or 1) and
      ``"plain"`` (S ± z·se(S), clipped to [0, 1]). statsmodels' intervals use other
      transforms.
    - The median and its confidence interval follow ``print.survfit``: the first time
      at which the curve (or its lower / upper confidence limit) is below 0.5, except
      that where the curve equals 0.5 exactly (within √machine-ε) over an interval the
      median is the midpoint of that flat segment: the time it reached 0.5 and the next
      time it drops. None means "not reached". statsmodels takes the first time below
      0.5 and builds its interval differently.
    - :meth:`KaplanMeier.quantile` follows ``quantile.survfit`` (the same midpoint rule,
      and a flat at the very end of the curve gives the midpoint to the last follow-up).
    - :meth:`KaplanMeier.at` follows ``summary(fit, times = t)``: the step function's
      value at *t*; None beyond the last observed time (R drops such times).

Log-rank (:func:`log_rank`, R's ``survdiff(..., rho = 0)``)
    Observed and expected events per group and the hypergeometric variance matrix
    summed over event times (Kalbfleisch & Prentice §7.3; stratified: summed over
    strata). The chi-square is (O − E)ᵀ V⁻¹ (O − E) over all groups but the first of
    those with expected events > 0, on (groups − 1) degrees of freedom, as ``survdiff``.
    The observed, expected and variance per group are computed here with numpy (about
    twenty vectorised lines) because statsmodels' ``survdiff`` returns only the
    statistic, and its p-value loses precision below 1e-16; the tests check that both
    give the same chi-square. :func:`log_rank_vs_reference` compares each group with a
    reference group on the subjects of those two groups only.

Cox model (:func:`cox`) and its proportional-hazards test (:func:`cox_zph`)
    See :mod:`gisttracker.analysis.cox`.

Cumulative incidence with competing risks (:func:`cumulative_incidence`)
    See :mod:`gisttracker.analysis.competing`.

References: Kaplan EL, Meier P. JASA 1958;53:457–481. Kalbfleisch JD, Prentice RL. The
Statistical Analysis of Failure Time Data, 2nd ed. Wiley 2002. Therneau TM, Grambsch PM.
Modeling Survival Data: Extending the Cox Model. Springer 2000. Collett D. Modelling
Survival Data in Medical Research, 3rd ed. CRC 2015.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gisttracker.analysis import AnalysisError
from gisttracker.analysis._inputs import group_codes, opt, survival_data, z_value
from gisttracker.analysis.competing import CumulativeIncidence, cumulative_incidence
from gisttracker.analysis.cox import CoxModel, CoxTerm, PHTest, cox, cox_zph
from gisttracker.i18n import _

__all__ = [
    "CoxModel",
    "CoxTerm",
    "CumulativeIncidence",
    "KMRow",
    "KaplanMeier",
    "LogRank",
    "LogRankGroup",
    "PHTest",
    "cox",
    "cox_zph",
    "cumulative_incidence",
    "kaplan_meier",
    "kaplan_meier_by_group",
    "log_rank",
    "log_rank_vs_reference",
]

ConfType = Literal["log", "log-log", "plain"]
CONF_TYPES: tuple[ConfType, ...] = ("log", "log-log", "plain")
# R's tolerance for "the curve equals 0.5": sqrt(.Machine$double.eps), as all.equal uses.
_TOLERANCE = math.sqrt(np.finfo(np.float64).eps)


@dataclass(frozen=True, slots=True)
class KMRow:
    """One distinct time of a Kaplan–Meier table (``summary(fit, censored = TRUE)``).

    ``std_err`` is the standard error of ``survival``; ``lower``/``upper`` the confidence
    limits. Each of the three is None where R prints NaN/NA (after the curve reaches 0,
    and for log-log limits where the survival is exactly 1).
    """

    time: float
    n_risk: int
    n_event: int
    n_censor: int
    survival: float
    std_err: float | None
    lower: float | None
    upper: float | None


@dataclass(frozen=True, eq=False)
class KaplanMeier:
    """A Kaplan–Meier estimate; arrays have one entry per distinct time, ascending.

    ``se_log`` is the Greenwood standard error of log S(t) (R's ``fit$std.err``);
    ``std_err`` = S(t) × ``se_log`` (what ``summary`` prints). NaN marks R's NA.
    """

    time: NDArray[np.float64]
    n_risk: NDArray[np.int64]
    n_event: NDArray[np.int64]
    n_censor: NDArray[np.int64]
    survival: NDArray[np.float64]
    se_log: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    conf_type: ConfType
    conf_level: float
    n: int
    median: float | None = field(init=False)
    median_lower: float | None = field(init=False)
    median_upper: float | None = field(init=False)
    _sorted_times: NDArray[np.float64] = field(repr=False, default_factory=lambda: np.empty(0))

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "median", _print_survfit_median(self.time, self.survival))
        set_(self, "median_lower", _print_survfit_median(self.time, self.lower))
        set_(self, "median_upper", _print_survfit_median(self.time, self.upper))

    @property
    def events(self) -> int:
        """Total number of events."""
        return int(self.n_event.sum())

    @cached_property
    def std_err(self) -> NDArray[np.float64]:
        """Standard error of the survival estimate at each time (NaN where S = 0)."""
        with np.errstate(invalid="ignore"):
            out = self.survival * self.se_log
        out[self.survival == 0] = np.nan
        return out

    @cached_property
    def table(self) -> tuple[KMRow, ...]:
        """Every distinct time (events and censorings) as a row, like ``survfit`` holds."""
        se = self.std_err
        return tuple(
            KMRow(
                time=float(self.time[i]),
                n_risk=int(self.n_risk[i]),
                n_event=int(self.n_event[i]),
                n_censor=int(self.n_censor[i]),
                survival=float(self.survival[i]),
                std_err=opt(se[i]),
                lower=opt(self.lower[i]),
                upper=opt(self.upper[i]),
            )
            for i in range(self.time.size)
        )

    @property
    def event_table(self) -> tuple[KMRow, ...]:
        """Only the rows with events: what R's default ``summary(fit)`` prints."""
        return tuple(row for row in self.table if row.n_event > 0)

    def at(self, t: float) -> tuple[float | None, float | None, float | None]:
        """``(survival, lower, upper)`` at time ``t``, as ``summary(fit, times = t)``.

        Before the first time the survival is 1 (limits 1, or None for log-log); beyond
        the last observed time all three are None: the data say nothing there.
        """
        t = _check_time_point(t)
        if t > self.time[-1]:
            return None, None, None
        i = int(np.searchsorted(self.time, t, side="right")) - 1
        if i < 0:
            lo, up = _conf_limits(np.ones(1), np.zeros(1), self.conf_type, self.conf_level)
            return 1.0, opt(lo[0]), opt(up[0])
        return float(self.survival[i]), opt(self.lower[i]), opt(self.upper[i])

    def std_err_at(self, t: float) -> float | None:
        """The standard error of the survival estimate at ``t`` (None beyond follow-up)."""
        t = _check_time_point(t)
        if t > self.time[-1]:
            return None
        i = int(np.searchsorted(self.time, t, side="right")) - 1
        return 0.0 if i < 0 else opt(self.std_err[i])

    def n_risk_at(self, times: Sequence[float]) -> list[int]:
        """Numbers at risk (time ≥ t) at each of ``times``: the table under a KM plot.

        Beyond the last observed time the number at risk is 0.
        """
        points = np.asarray([_check_time_point(t) for t in times], dtype=np.float64)
        idx = np.searchsorted(self._sorted_times, points, side="left")
        return [int(v) for v in (self.n - idx)]

    def quantile(self, p: float) -> tuple[float | None, float | None, float | None]:
        """``(time, lower, upper)`` at which the curve falls to ``1 − p``.

        As R's ``quantile.survfit`` (so ``quantile(0.5)`` can differ from :attr:`median`
        only when the curve ends exactly at 0.5, where R's two functions differ too).
        """
        if not 0 <= p <= 1:
            raise AnalysisError(
                _("A quantile must be between 0 and 1, not {p}.").format(p=p)
            )
        return (
            _quantile_survfit(self.time, self.survival, p),
            _quantile_survfit(self.time, self.lower, p),
            _quantile_survfit(self.time, self.upper, p),
        )


def kaplan_meier(
    times: ArrayLike,
    events: ArrayLike,
    conf_type: ConfType = "log",
    conf_level: float = 0.95,
) -> KaplanMeier:
    """The Kaplan–Meier estimate of ``times``/``events`` (see the module docstring)."""
    t, e = survival_data(times, events)
    return _kaplan_meier(t, e, conf_type, conf_level)


def kaplan_meier_by_group(
    times: ArrayLike,
    events: ArrayLike,
    groups: Sequence[Hashable],
    conf_type: ConfType = "log",
    conf_level: float = 0.95,
    levels: Sequence[Hashable] | None = None,
) -> dict[Hashable, KaplanMeier]:
    """One Kaplan–Meier estimate per group, in group order (R's ``survfit(... ~ group)``)."""
    t, e = survival_data(times, events)
    labels, codes = group_codes(groups, t.size, levels)
    return {
        label: _kaplan_meier(t[codes == i], e[codes == i], conf_type, conf_level)
        for i, label in enumerate(labels)
    }


def _kaplan_meier(
    t: NDArray[np.float64], e: NDArray[np.float64], conf_type: ConfType, conf_level: float
) -> KaplanMeier:
    if conf_type not in CONF_TYPES:
        raise AnalysisError(
            _("Unknown confidence interval type {kind!r}; use log, log-log or plain.").format(
                kind=conf_type
            )
        )
    z = z_value(conf_level)  # checks the level before any work
    order = np.argsort(t, kind="stable")
    st, se_ = t[order], e[order]
    utime, first = np.unique(st, return_index=True)
    counts = np.diff(np.append(first, st.size))
    n_event = np.add.reduceat(se_, first).astype(np.int64) if st.size else np.zeros(0, np.int64)
    n_censor = counts - n_event
    n_risk = st.size - first

    # R's survfitKM: S is the running product of (1 - d/n); Greenwood's sum for log S.
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - n_event / n_risk).astype(np.float64)
        terms = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
    se_log = np.sqrt(np.cumsum(terms))  # inf once S reaches 0, as R's (NA when shown)
    lower, upper = _conf_limits(survival, se_log, conf_type, conf_level, z)
    return KaplanMeier(
        time=utime,
        n_risk=n_risk.astype(np.int64),
        n_event=n_event,
        n_censor=n_censor.astype(np.int64),
        survival=survival,
        se_log=se_log,
        lower=lower,
        upper=upper,
        conf_type=conf_type,
        conf_level=conf_level,
        n=int(st.size),
        _sorted_times=st,
    )


def _conf_limits(
    surv: NDArray[np.float64],
    se_log: NDArray[np.float64],
    conf_type: ConfType,
    conf_level: float,
    z: float | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """R's ``survfit_confint`` with ``logse = TRUE`` (NaN where R gives NA)."""
    zz = z_value(conf_level) if z is None else z
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if conf_type == "plain":
            half = zz * se_log * surv
            lower = np.maximum(surv - half, 0.0)
            upper = np.minimum(surv + half, 1.0)
            bad = np.isnan(half) | (surv == 0)
        elif conf_type == "log":
            xx = np.where(surv == 0, np.nan, surv)
            lower = np.exp(np.log(xx) - zz * se_log)
            upper = np.minimum(np.exp(np.log(xx) + zz * se_log), 1.0)
            bad = np.isnan(xx) | np.isnan(se_log)
        else:  # log-log
            xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
            step = zz * se_log / np.log(xx)
            lower = np.exp(-np.exp(np.log(-np.log(xx)) - step))
            upper = np.exp(-np.exp(np.log(-np.log(xx)) + step))
            bad = np.isnan(xx) | np.isnan(se_log)
    lower = np.where(bad, np.nan, lower)
    upper = np.where(bad, np.nan, upper)
    return lower, upper


def _print_survfit_median(time: NDArray[np.float64], curve: NDArray[np.float64]) -> float | None:
    """``minmin`` of R's ``print.survfit``: first time below 0.5, midpoint over a flat 0.5."""
    keep = ~np.isnan(curve) & (curve < 0.5 + _TOLERANCE)
    if not keep.any():
        return None
    x, y = time[keep], curve[keep]
    if abs(y[0] - 0.5) < _TOLERANCE:
        below = np.flatnonzero(y < y[0])
        if below.size:
            return float((x[0] + x[below[0]]) / 2)
    return float(x[0])


def _quantile_survfit(
    time: NDArray[np.float64], curve: NDArray[np.float64], p: float
) -> float | None:
    """``findq`` of R's ``quantile.survfit`` on the curve ``1 − curve``, starting at 0."""
    x = np.concatenate(([0.0], time))
    y = np.concatenate(([0.0], 1.0 - curve))
    finite = y[~np.isnan(y)]
    if finite.size == 0 or finite.max() < p:
        return None
    xmax = x[-1]
    # duplicated(): keep only the first time each level (NA included) is reached
    seen: set[float | None] = set()
    keep = np.zeros(y.size, dtype=bool)
    for i, v in enumerate(y.tolist()):
        key = None if math.isnan(v) else v
        keep[i] = key not in seen
        seen.add(key)
    x, y = x[keep], y[keep]
    if p == 0:
        return float(x[0])
    valid = np.flatnonzero(~np.isnan(y))
    # approx() orders its knots; a confidence limit need not be monotone in time
    order = valid[np.argsort(y[valid], kind="stable")]
    knots0 = y[order]

    def first_at_least(shift: float) -> int | None:
        # approx(y + shift, 1:n, p, method = "constant", f = 1): the knot at or next
        # after p, NA outside the range of the knots.
        knots = knots0 + shift
        if p < knots[0] or p > knots[-1]:
            return None
        return int(order[np.searchsorted(knots, p, side="left")])

    i1 = first_at_least(_TOLERANCE)
    i2 = first_at_least(-_TOLERANCE)
    if not math.isnan(y[-1]) and abs(p - y[-1]) < _TOLERANCE and i1 is not None:
        return float((x[i1] + xmax) / 2)
    if i1 is None or i2 is None:
        return None
    return float((x[i1] + x[i2]) / 2)


def _check_time_point(t: float) -> float:
    try:
        value = float(t)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(_("A time point must be a number, not {t!r}.").format(t=t)) from exc
    if not math.isfinite(value) or value < 0:
        raise AnalysisError(
            _("A time point must be a finite number not below 0, not {t}.").format(t=t)
        )
    return value


# --------------------------------------------------------------------------- log-rank


@dataclass(frozen=True, slots=True)
class LogRankGroup:
    """One group's line of ``survdiff``: subjects, observed and expected events, variance.

    ``variance`` is the group's diagonal element of the variance matrix; R prints
    (O − E)²/E and (O − E)²/V from these.
    """

    label: Hashable
    n: int
    observed: int
    expected: float
    variance: float


@dataclass(frozen=True, slots=True)
class LogRank:
    """A log-rank test: chi-square on ``df`` degrees of freedom and its p-value."""

    chi2: float
    df: int
    p: float
    groups: tuple[LogRankGroup, ...]
    stratified: bool


def log_rank(
    times: ArrayLike,
    events: ArrayLike,
    groups: Sequence[Hashable],
    strata: Sequence[Hashable] | None = None,
    levels: Sequence[Hashable] | None = None,
) -> LogRank:
    """The log-rank test of all ``groups`` (R's ``survdiff``; with ``strata``, stratified)."""
    t, e = survival_data(times, events)
    labels, codes = group_codes(groups, t.size, levels)
    if strata is None:
        scodes = np.zeros(t.size, dtype=np.intp)
    else:
        scodes = group_codes(strata, t.size, what=_("strata"))[1]
    return _log_rank(t, e, codes, labels, scodes, strata is not None)


def log_rank_vs_reference(
    times: ArrayLike,
    events: ArrayLike,
    groups: Sequence[Hashable],
    reference: Hashable,
    strata: Sequence[Hashable] | None = None,
    levels: Sequence[Hashable] | None = None,
) -> dict[Hashable, LogRank]:
    """Each other group against ``reference``, each test on those two groups' subjects."""
    t, e = survival_data(times, events)
    labels, codes = group_codes(groups, t.size, levels)
    if reference not in labels:
        raise AnalysisError(
            _("The reference group {reference} has no subjects.").format(reference=reference)
        )
    if strata is None:
        scodes = np.zeros(t.size, dtype=np.intp)
    else:
        scodes = group_codes(strata, t.size, what=_("strata"))[1]
    ref = labels.index(reference)
    out: dict[Hashable, LogRank] = {}
    for i, label in enumerate(labels):
        if i == ref:
            continue
        mask = (codes == ref) | (codes == i)
        pair = np.where(codes[mask] == ref, 0, 1).astype(np.intp)
        out[label] = _log_rank(
            t[mask], e[mask], pair, (reference, label), scodes[mask], strata is not None
        )
    return out


def _log_rank(
    t: NDArray[np.float64],
    e: NDArray[np.float64],
    codes: NDArray[np.intp],
    labels: tuple[Hashable, ...],
    scodes: NDArray[np.intp],
    stratified: bool,
) -> LogRank:
    from scipy.stats import chi2 as chi2_dist

    k = len(labels)
    if k < 2:
        raise AnalysisError(_("The log-rank test needs at least two groups with subjects."))
    if not e.any():
        raise AnalysisError(_("There are no events, so survival cannot be compared."))
    observed = np.bincount(codes, weights=e, minlength=k)
    expected = np.zeros(k)
    var = np.zeros((k, k))
    for s in np.unique(scodes):
        m = scodes == s
        o_s, v_s = _oe_var(t[m], e[m], codes[m], k)
        expected += o_s
        var += v_s
    keep = np.flatnonzero(expected > 0)
    if keep.size < 2:
        raise AnalysisError(
            _("Only one group had subjects at risk when events happened; nothing to compare.")
        )
    diff = (observed - expected)[keep][1:]
    vv = var[np.ix_(keep, keep)][1:, 1:]
    try:
        stat = float(diff @ np.linalg.solve(vv, diff))
    except np.linalg.LinAlgError as exc:
        raise AnalysisError(_("The groups cannot be compared: their variance is zero.")) from exc
    df = int(keep.size - 1)
    n = np.bincount(codes, minlength=k)
    return LogRank(
        chi2=stat,
        df=df,
        p=float(chi2_dist.sf(stat, df)),
        groups=tuple(
            LogRankGroup(labels[i], int(n[i]), int(observed[i]), float(expected[i]),
                         float(var[i, i]))
            for i in range(k)
        ),
        stratified=stratified,
    )


def _oe_var(
    t: NDArray[np.float64], e: NDArray[np.float64], codes: NDArray[np.intp], k: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Expected events per group and the variance matrix, summed over distinct times."""
    utime, inverse = np.unique(t, return_inverse=True)
    nt = utime.size
    cell = inverse * k + codes
    total = np.bincount(cell, minlength=nt * k).reshape(nt, k)
    dead = np.bincount(cell, weights=e, minlength=nt * k).reshape(nt, k)
    at_risk = np.cumsum(total[::-1], axis=0)[::-1].astype(np.float64)  # time >= t
    d = dead.sum(axis=1)
    n = at_risk.sum(axis=1)
    ev = d > 0
    d, n, at_risk = d[ev], n[ev], at_risk[ev]
    frac = at_risk / n[:, None]
    expected = (d[:, None] * frac).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
    var = np.diag((w[:, None] * frac).sum(axis=0)) - (w[:, None] * frac).T @ frac
    return expected, var
