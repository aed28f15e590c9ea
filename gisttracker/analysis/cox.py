"""The Cox proportional hazards model and its test of proportional hazards, as R fits them.

:func:`cox` is R's ``coxph(Surv(time, status) ~ ...)`` with its defaults: Efron's
approximation for tied event times (Breslow's on request), Newton–Raphson from zero, a 95 %
Wald interval for each hazard ratio, and the likelihood-ratio, Wald and score (log-rank)
tests of all coefficients (Therneau & Grambsch 2000, ch. 3; Collett 2015, ch. 3). The fit
itself is statsmodels' ``PHReg`` (which uses the same partial likelihoods); this module
builds the design matrix the way R's model formula does and refuses what R would only warn
about:

- a numeric covariate is one column named as given; text values make a factor whose
  levels are sorted (R's default) with the first, or the one given in ``reference``, as
  the reference level, and one column per other level named ``name`` + ``level``
  (``groupB``), as R names them; True/False values make a column ``nameTRUE``;
- a covariate with no variation, covariates that repeat each other (collinear), missing
  values, no events, or no more events than coefficients raise :class:`AnalysisError`;
- a coefficient that runs away to infinity (monotone likelihood, e.g. a group with no
  events; R warns "coefficient may be infinite") raises :class:`AnalysisError` instead of
  returning a huge, meaningless hazard ratio. The rule: |coefficient × SD of its column|
  above 10, a hazard ratio beyond e¹⁰ per standard deviation.

:func:`cox_zph` is R's ``cox.zph(fit)`` (survival ≥ 3.0, ``transform = "km"``,
``terms = TRUE``): the score test, at the fitted coefficients, for adding to each term
its product with g(t) = 1 − KM(t−) centred over the events (Grambsch & Therneau 1994).
No Python library computes it, so it is written here in numpy following the published
algorithm of R's ``zph1`` (efron ties split each tied death's weight into 1/d steps), one
test per term (a factor's columns together) and a global test.

References: Cox DR. J R Stat Soc B 1972;34:187–220. Efron B. JASA 1977;72:557–565.
Breslow NE. Biometrics 1974;30:89–99. Grambsch PM, Therneau TM. Biometrika 1994;81:515–526.
Therneau TM, Grambsch PM. Modeling Survival Data. Springer 2000.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gisttracker.analysis import AnalysisError
from gisttracker.analysis._inputs import check_length, group_codes, survival_data, z_value
from gisttracker.i18n import _, ngettext

__all__ = ["CoxModel", "CoxTerm", "PHTest", "PHTestRow", "cox", "cox_zph"]

Ties = Literal["efron", "breslow"]
# |coef × SD(column)| beyond this is treated as an infinite coefficient (see docstring).
_RUNAWAY = 10.0
# Fewer events per coefficient than this is allowed but flagged (a common rule of thumb).
_EVENTS_PER_COEFFICIENT = 10


@dataclass(frozen=True, slots=True)
class CoxTerm:
    """One coefficient: log hazard ratio, hazard ratio, SE, z, Wald p and the HR's CI."""

    coef: float
    hr: float
    se: float
    z: float
    p: float
    lower: float
    upper: float


@dataclass(frozen=True, eq=False)
class CoxModel:
    """A fitted Cox model. ``terms`` is keyed by column name in design order.

    ``covariates`` maps each covariate as given to its column names (one for a number,
    levels − 1 for a factor). ``loglik`` is (null model, fitted model). The three global
    tests are on ``df`` = number of coefficients. ``notes`` carries cautions for the
    reader (few events per coefficient) that do not stop the fit.
    """

    terms: dict[str, CoxTerm]
    covariates: dict[str, tuple[str, ...]]
    n: int
    n_events: int
    ties: Ties
    loglik: tuple[float, float]
    df: int
    lr_chi2: float
    lr_p: float
    wald_chi2: float
    wald_p: float
    score_chi2: float
    score_p: float
    conf_level: float
    cov: NDArray[np.float64]
    notes: tuple[str, ...]
    # what cox_zph needs to recompute the fit's risk sets
    _times: NDArray[np.float64]
    _events: NDArray[np.float64]
    _design: NDArray[np.float64]
    _strata: NDArray[np.intp]

    @property
    def coefficients(self) -> NDArray[np.float64]:
        """The coefficients in design order."""
        return np.array([term.coef for term in self.terms.values()])


def cox(
    times: ArrayLike,
    events: ArrayLike,
    covariates: Mapping[str, Sequence[object]],
    ties: Ties = "efron",
    strata: Sequence[Hashable] | None = None,
    reference: Mapping[str, Hashable] | None = None,
    conf_level: float = 0.95,
) -> CoxModel:
    """Fit ``coxph(Surv(times, events) ~ covariates [+ strata(strata)])``.

    ``covariates`` maps a name to one value per subject (numbers, True/False, or text for
    a factor); ``reference`` names the reference level of a factor. ``strata`` fits a
    separate baseline hazard per stratum (R's ``strata()``).
    """
    if ties not in ("efron", "breslow"):
        raise AnalysisError(
            _("Unknown method for tied times {ties!r}; use efron or breslow.").format(ties=ties)
        )
    z = z_value(conf_level)
    t, e = survival_data(times, events)
    if not covariates:
        raise AnalysisError(_("A Cox model needs at least one covariate."))
    design, names, groups = _design(covariates, t.size, reference or {})
    if strata is None:
        scodes = np.zeros(t.size, dtype=np.intp)
    else:
        scodes = group_codes(strata, t.size, what=_("strata"))[1]
    p = design.shape[1]
    n_events = int(e.sum())
    if n_events == 0:
        raise AnalysisError(_("There are no events, so a Cox model cannot be fitted."))
    if n_events <= p:
        raise AnalysisError(
            ngettext(
                "Too few events for a model: {events} event for {p} coefficients.",
                "Too few events for a model: {events} events for {p} coefficients.",
                n_events,
            ).format(events=n_events, p=p)
        )
    result, model = _fit(t, e, design, scodes, ties)
    beta = np.asarray(result.params, dtype=np.float64)
    cov = np.asarray(result.cov_params(), dtype=np.float64)
    sd = design.std(axis=0)
    runaway = [names[j] for j in range(p) if abs(beta[j]) * sd[j] > _RUNAWAY]
    if runaway or not np.all(np.isfinite(cov)):
        raise AnalysisError(
            _(
                "The model cannot be estimated: {names} separates the events completely "
                "(for example, a group with no events), so its hazard ratio is infinite."
            ).format(names=", ".join(runaway) or ", ".join(names))
        )
    se = np.sqrt(np.diag(cov))
    from scipy.stats import chi2, norm

    zval = beta / se
    pval = 2 * norm.sf(np.abs(zval))
    terms = {
        names[j]: CoxTerm(
            coef=float(beta[j]),
            hr=float(math.exp(beta[j])),
            se=float(se[j]),
            z=float(zval[j]),
            p=float(pval[j]),
            lower=float(math.exp(beta[j] - z * se[j])),
            upper=float(math.exp(beta[j] + z * se[j])),
        )
        for j in range(p)
    }
    zeros = np.zeros(p)
    ll0 = float(model.loglike(zeros))
    llf = float(model.loglike(beta))
    lr = max(2 * (llf - ll0), 0.0)
    wald = float(beta @ np.linalg.solve(cov, beta))
    u0 = np.asarray(model.score(zeros), dtype=np.float64)
    info0 = -np.asarray(model.hessian(zeros), dtype=np.float64)
    score = float(u0 @ np.linalg.solve(info0, u0))
    notes: list[str] = []
    if n_events < _EVENTS_PER_COEFFICIENT * p:
        notes.append(
            _(
                "Only {events} events for {p} coefficients (fewer than {rule} per "
                "coefficient): the estimates may be unreliable."
            ).format(events=n_events, p=p, rule=_EVENTS_PER_COEFFICIENT)
        )
    return CoxModel(
        terms=terms,
        covariates=groups,
        n=int(t.size),
        n_events=n_events,
        ties=ties,
        loglik=(ll0, llf),
        df=p,
        lr_chi2=lr,
        lr_p=float(chi2.sf(lr, p)),
        wald_chi2=wald,
        wald_p=float(chi2.sf(wald, p)),
        score_chi2=score,
        score_p=float(chi2.sf(score, p)),
        conf_level=conf_level,
        cov=cov,
        notes=tuple(notes),
        _times=t,
        _events=e,
        _design=design,
        _strata=scodes,
    )


def _fit(
    t: NDArray[np.float64],
    e: NDArray[np.float64],
    design: NDArray[np.float64],
    scodes: NDArray[np.intp],
    ties: Ties,
) -> tuple[Any, Any]:
    from statsmodels.duration.hazard_regression import PHReg
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, HessianInversionWarning

    strata = None if np.all(scodes == 0) else scodes
    model = PHReg(t, design, status=e, strata=strata, ties=ties)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = model.fit()
        except (np.linalg.LinAlgError, ValueError) as exc:
            # statsmodels' Newton steps hit a singular information matrix: what a
            # runaway coefficient (a group with no events) looks like to it
            raise AnalysisError(
                _(
                    "The model cannot be estimated: a covariate separates the events "
                    "completely (for example, a group with no events), so its hazard ratio "
                    "is infinite."
                )
            ) from exc
    trouble = [w for w in caught
               if issubclass(w.category, ConvergenceWarning | HessianInversionWarning)]
    converged = bool(getattr(result, "mle_retvals", {}).get("converged", True))
    if trouble or not converged:
        raise AnalysisError(
            _(
                "The Cox model did not converge: the data cannot determine the hazard "
                "ratios (too few events, or a covariate that separates the events)."
            )
        )
    return result, model


def _design(
    covariates: Mapping[str, Sequence[object]], n: int, reference: Mapping[str, Hashable]
) -> tuple[NDArray[np.float64], list[str], dict[str, tuple[str, ...]]]:
    """The model matrix as R's formula builds it with treatment contrasts."""
    columns: list[NDArray[np.float64]] = []
    names: list[str] = []
    groups: dict[str, tuple[str, ...]] = {}
    for name, raw in covariates.items():
        values = list(raw.tolist() if isinstance(raw, np.ndarray) else raw)
        check_length(values, n, _("values of {name}").format(name=name))
        missing = sum(1 for v in values if v is None or (isinstance(v, float) and math.isnan(v)))
        if missing:
            raise AnalysisError(
                ngettext(
                    "{count} subject has no value for {name}; leave them out or fill it in.",
                    "{count} subjects have no value for {name}; leave them out or fill it in.",
                    missing,
                ).format(count=missing, name=name)
            )
        if all(isinstance(v, bool | np.bool_) for v in values):
            col = np.array([1.0 if v else 0.0 for v in values])
            cols = {f"{name}TRUE": col}
        elif all(isinstance(v, Real) and not isinstance(v, bool) for v in values):
            cols = {name: np.asarray(values, dtype=np.float64)}
        elif all(isinstance(v, str) for v in values):
            levels = sorted(set(values))  # type: ignore[type-var]
            ref = reference.get(name, levels[0])
            if ref not in levels:
                raise AnalysisError(
                    _("The reference level {level} of {name} does not occur in the data.")
                    .format(level=ref, name=name)
                )
            cols = {
                f"{name}{level}": np.array([1.0 if v == level else 0.0 for v in values])
                for level in levels
                if level != ref
            }
        else:
            raise AnalysisError(
                _("The values of {name} must be all numbers, all yes/no, or all text.").format(
                    name=name
                )
            )
        if not cols or any(np.ptp(col) == 0 for col in cols.values()):
            raise AnalysisError(
                _("{name} has the same value for every subject, so it cannot be in the model.")
                .format(name=name)
            )
        groups[name] = tuple(cols)
        names.extend(cols)
        columns.extend(cols.values())
    design = np.column_stack(columns)
    centred = design - design.mean(axis=0)
    scaled = centred / np.linalg.norm(centred, axis=0)
    if np.linalg.matrix_rank(scaled, tol=1e-9) < design.shape[1]:
        raise AnalysisError(
            _(
                "Some covariates repeat the information of others (they are collinear): "
                "{names}. Leave one of them out."
            ).format(names=", ".join(names))
        )
    return design, names, groups


# ------------------------------------------------------------------ proportional hazards


@dataclass(frozen=True, slots=True)
class PHTestRow:
    """One line of ``cox.zph``: chi-square, degrees of freedom, p-value."""

    chisq: float
    df: int
    p: float


@dataclass(frozen=True, slots=True)
class PHTest:
    """R's ``cox.zph`` table: one row per covariate (a factor's columns together), global."""

    terms: dict[str, PHTestRow]
    global_test: PHTestRow
    transform: str


def cox_zph(model: CoxModel) -> PHTest:
    """The test of proportional hazards of ``model``, as ``cox.zph(fit)`` (transform "km")."""
    from scipy.stats import chi2

    t, e, x, scodes = model._times, model._events, model._design, model._strata
    beta = model.coefficients
    p = x.shape[1]
    g = _km_transform(t, e)
    x = x - x.mean(axis=0)
    eta = x @ beta
    u2 = np.zeros(p)
    imat = np.zeros((2 * p, 2 * p))
    for s in np.unique(scodes):
        m = scodes == s
        su, si = _zph_stratum(t[m], e[m], x[m], eta[m], g[m], model.ties)
        u2 += su
        imat += si
    columns = list(model.terms)
    rows: dict[str, PHTestRow] = {}
    for name, cols in model.covariates.items():
        jj = [columns.index(c) for c in cols]
        kk = list(range(p)) + [p + j for j in jj]
        u = np.concatenate((np.zeros(p), u2[jj]))
        stat = float(u @ np.linalg.solve(imat[np.ix_(kk, kk)], u))
        rows[name] = PHTestRow(stat, len(jj), float(chi2.sf(stat, len(jj))))
    u = np.concatenate((np.zeros(p), u2))
    stat = float(u @ np.linalg.solve(imat, u))
    return PHTest(rows, PHTestRow(stat, p, float(chi2.sf(stat, p))), "km")


def _km_transform(t: NDArray[np.float64], e: NDArray[np.float64]) -> NDArray[np.float64]:
    """1 − KM(t−) for every subject (one curve over all strata), centred over the events."""
    utime, inverse = np.unique(t, return_inverse=True)
    total = np.bincount(inverse, minlength=utime.size)
    dead = np.bincount(inverse, weights=e, minlength=utime.size)
    at_risk = np.cumsum(total[::-1])[::-1]
    surv = np.cumprod(1.0 - dead / at_risk)
    before = np.concatenate(([1.0], surv))[inverse]  # KM just before each subject's time
    g = 1.0 - before
    return np.asarray(g - g[e == 1].mean(), dtype=np.float64)


def _zph_stratum(
    t: NDArray[np.float64],
    e: NDArray[np.float64],
    x: NDArray[np.float64],
    eta: NDArray[np.float64],
    g: NDArray[np.float64],
    ties: Ties,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Score for the g(t)·x terms and the 2p × 2p information at (β̂, 0) in one stratum."""
    p = x.shape[1]
    utime, inverse = np.unique(t, return_inverse=True)
    nt = utime.size
    r = np.exp(eta - eta.max())  # a common factor cancels in every ratio below
    rx = r[:, None] * x
    rxx = rx[:, :, None] * x[:, None, :]

    def per_time(values: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray[np.float64]:
        out = np.zeros((nt, *values.shape[1:]))
        np.add.at(out, inverse[mask], values[mask])
        return out

    everyone = np.ones(t.size, dtype=bool)
    died = e == 1
    all0, all1, all2 = per_time(r, everyone), per_time(rx, everyone), per_time(rxx, everyone)
    d0, d1, d2 = per_time(r, died), per_time(rx, died), per_time(rxx, died)
    ndead = np.bincount(inverse, weights=e, minlength=nt).astype(np.int64)
    xdead = per_time(x, died)
    gtime = np.zeros(nt)
    gtime[inverse] = g

    def later(a: NDArray[np.float64]) -> NDArray[np.float64]:
        # sums over the times strictly after each time
        c = np.cumsum(a[::-1], axis=0)[::-1]
        return np.concatenate((c[1:], np.zeros((1, *a.shape[1:]))), axis=0)

    # risk set without this time's deaths: later times plus this time's censorings
    o0 = later(all0) + (all0 - d0)
    o1 = later(all1) + (all1 - d1)
    o2 = later(all2) + (all2 - d2)
    ev = np.flatnonzero(ndead > 0)
    if ties == "efron":
        block = np.repeat(ev, ndead[ev])
        start = np.repeat(np.cumsum(ndead[ev]) - ndead[ev], ndead[ev])
        k = np.arange(block.size) - start + 1
        frac = k / ndead[block]
        weight = np.ones(block.size)
    else:
        block = ev
        frac = np.ones(ev.size)
        weight = ndead[ev].astype(np.float64)
    den = o0[block] + frac * d0[block]
    m1 = (o1[block] + frac[:, None] * d1[block]) / den[:, None]
    m2 = (o2[block] + frac[:, None, None] * d2[block]) / den[:, None, None]
    info = weight[:, None, None] * (m2 - m1[:, :, None] * m1[:, None, :])
    gb = gtime[block]
    u2 = (gtime[ev, None] * xdead[ev]).sum(axis=0) - (weight[:, None] * gb[:, None] * m1).sum(
        axis=0
    )
    imat = np.zeros((2 * p, 2 * p))
    imat[:p, :p] = info.sum(axis=0)
    imat[:p, p:] = (gb[:, None, None] * info).sum(axis=0)
    imat[p:, :p] = imat[:p, p:].T
    imat[p:, p:] = ((gb**2)[:, None, None] * info).sum(axis=0)
    return u2, imat
