"""The analyses of a study's endpoints, as a statistician would run them, on the engine.

Everything is computed by :mod:`gisttracker.analysis` (R's conventions); this module only
arranges the derived values (:mod:`gisttracker.outcomes.derive`) into its inputs and its
results into tables, and remembers, for every number, the patients behind it (their uids),
so that a reader can open them.

* **Time to event** (times in months, days / 30.4375): per group and overall, the number
  of patients, events, censored (and competing) observations, the Kaplan–Meier median with
  its confidence interval, survival at the landmarks with its interval (``conf_type``:
  log by default, log-log or plain) and the number at risk; the log-rank test of all
  groups and of each group against the reference group; for an endpoint with competing
  events, the Aalen–Johansen cumulative incidence of the event (and of the competing
  event) at the landmarks; subgroup analyses (the groups compared within each level of a
  yes/no covariate the protocol names). Cox models (:func:`fit_models`) are a second,
  slower step: each term of the protocol's model alone (univariate) and all together
  (multivariable), Efron ties, with R's ``cox.zph`` test of proportional hazards.
* **Proportions**: per group and overall, the successes of the evaluable patients with the
  exact (Clopper–Pearson) interval, what was found (best responses, margins, grades), and
  the comparison between groups (chi-square or Fisher's exact test by Cochran's rule).
* **Repeated measures**: per instrument, scale and visit, n, mean, SD, median, IQR, and
  the paired change from the first visit with its t interval; LARS categories.
* **Descriptive**: per group and overall, n, mean, SD, median, IQR, minimum and maximum
  of each measure; the counts of a recorded grade.

Results a calculation cannot give (a group with no patients, no events, too few events
for a model, every patient with the same outcome) carry the engine's message in ``note``
instead of a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, overload

import numpy as np

from gisttracker.analysis import AnalysisError
from gisttracker.forms import FormContext, spec_for
from gisttracker.forms.questionnaires import STOMA_KEY
from gisttracker.i18n import _, local
from gisttracker.outcomes.derive import (
    DAYS_PER_MONTH,
    Binary,
    Descriptive,
    PatientOutcome,
    Repeated,
    TimeToEvent,
)
from gisttracker.protocols import Study
from gisttracker.protocols.model import Endpoint, Period

__all__ = [
    "CategoryRow",
    "Comparison",
    "CountRow",
    "CoxFit",
    "CoxTermRow",
    "DescriptiveResult",
    "Landmark",
    "NumberRow",
    "PHRow",
    "ProportionResult",
    "ProportionRow",
    "RepeatedResult",
    "ScaleRow",
    "Subgroup",
    "SurvivalSummary",
    "TimeToEventResult",
    "analyse_endpoint",
    "default_landmarks",
    "fit_models",
    "landmark_label",
    "model_terms",
    "scale_labels",
]

Uids = Sequence[str]
#: Default landmarks, months from the origin (1, 3 and 5 years).
DEFAULT_LANDMARKS = (12.0, 36.0, 60.0)


@lru_cache(maxsize=256)
def _shortest_days(horizon: Period) -> int:
    start = date(2001, 1, 1)
    return min((horizon.after(day) - day).days
               for day in (start + timedelta(days=i) for i in range(1461)))


def _horizon_months(endpoint: Endpoint) -> float:
    """The shortest length of the endpoint's horizon, in analysis months (days / 30.4375).

    A horizon of 12 calendar months is 365 or 366 days, depending on the origin; a landmark
    at the horizon is read at the shortest, where every patient followed to the horizon is
    still observed (a 1-year landmark read at 365.25 days would fall after the end of
    follow-up of a patient censored at the horizon, and the curve says nothing there).
    """
    return _shortest_days(endpoint.horizon) / DAYS_PER_MONTH


def default_landmarks(study: Study, endpoint: Endpoint) -> tuple[float, ...]:
    """The protocol's landmarks (else 1, 3 and 5 years) as far as the endpoint's horizon;
    one that reaches the horizon is read at its shortest length (:func:`_horizon_months`)."""
    wanted = tuple(float(m) for m in study.analysis.landmark_months) or DEFAULT_LANDMARKS
    horizon = _horizon_months(endpoint)
    kept = [m for m in wanted if m < horizon]
    if any(m >= horizon for m in wanted) or not kept:
        kept.append(horizon)
    return tuple(kept)


def landmark_label(months: float) -> float:
    """The landmark as a reader names it: 11.99 months (a 12-month horizon of 365 days)
    is 12 months."""
    whole = round(months)
    return float(whole) if abs(months - whole) < 0.05 else months


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Landmark:
    """A curve read at ``months``: estimate with its interval (None beyond follow-up), the
    number at risk, and the patients at risk then."""

    months: float
    estimate: float | None
    lower: float | None
    upper: float | None
    std_err: float | None
    n_risk: int
    patients: Uids


@dataclass(frozen=True)
class SurvivalSummary:
    """One group's (``group`` None: every patient's) time-to-event summary."""

    group: str | None
    n: int
    events: int
    censored: int
    competing: int
    median: float | None = None
    median_lower: float | None = None
    median_upper: float | None = None
    landmarks: tuple[Landmark, ...] = ()
    incidence: tuple[Landmark, ...] = ()
    competing_incidence: tuple[Landmark, ...] = ()
    km: Any = None  # gisttracker.analysis.survival.KaplanMeier (the curve), or None
    cif: Any = None  # the event's CauseIncidence (competing endpoints), or None
    patients: Uids = ()
    event_patients: Uids = ()
    censored_patients: Uids = ()
    competing_patients: Uids = ()
    note: str = ""


@dataclass(frozen=True)
class Comparison:
    """A log-rank test of ``groups`` (all, or one against the reference)."""

    groups: tuple[str, ...]
    chi2: float | None = None
    df: int | None = None
    p: float | None = None
    observed: tuple[int, ...] = ()
    expected: tuple[float, ...] = ()
    patients: Uids = ()
    note: str = ""


@dataclass(frozen=True)
class CoxTermRow:
    """One coefficient of a Cox model: ``covariate`` (``group`` or a covariate key) and, for
    a factor, the ``level`` compared with the reference level."""

    covariate: str
    level: str | None
    coef: float
    hr: float
    se: float
    z: float
    p: float
    lower: float
    upper: float


@dataclass(frozen=True)
class PHRow:
    """One line of the proportional-hazards test (``covariate`` None: the global test)."""

    covariate: str | None
    chisq: float
    df: int
    p: float


@dataclass(frozen=True)
class CoxFit:
    """A Cox model of ``terms`` (``group`` and covariate keys) on the patients with every
    term known; ``note`` when it cannot be fitted."""

    terms: tuple[str, ...]
    n: int = 0
    events: int = 0
    rows: tuple[CoxTermRow, ...] = ()
    lr_chi2: float | None = None
    lr_df: int | None = None
    lr_p: float | None = None
    ph: tuple[PHRow, ...] = ()
    cautions: tuple[str, ...] = ()
    missing: int = 0
    reference: dict[str, str] = field(default_factory=dict)
    patients: Uids = ()
    note: str = ""


@dataclass(frozen=True)
class Subgroup:
    """The groups compared within one level (yes/no) of a covariate."""

    covariate: str
    level: bool
    summaries: tuple[SurvivalSummary, ...]
    log_rank: Comparison | None
    pairwise: tuple[Comparison, ...]
    patients: Uids


@dataclass(frozen=True)
class TimeToEventResult:
    endpoint: Endpoint
    landmarks: tuple[float, ...]
    overall: SurvivalSummary
    groups: tuple[SurvivalSummary, ...]
    reference: str | None
    log_rank: Comparison | None
    pairwise: tuple[Comparison, ...]
    subgroups: tuple[Subgroup, ...]
    excluded: tuple[tuple[str, str], ...]
    univariate: tuple[CoxFit, ...] = ()
    multivariable: CoxFit | None = None
    competing: bool = False
    kind: str = "time_to_event"


@dataclass(frozen=True)
class ProportionRow:
    """``successes`` of the ``total`` evaluable patients of a group (None: every patient)."""

    group: str | None
    successes: int
    total: int
    estimate: float | None
    lower: float | None
    upper: float | None
    patients: Uids
    success_patients: Uids
    pending_patients: Uids
    found: tuple[tuple[str, Uids], ...]
    note: str = ""


@dataclass(frozen=True)
class ProportionResult:
    endpoint: Endpoint
    overall: ProportionRow
    groups: tuple[ProportionRow, ...]
    test: str | None
    statistic: float | None
    p: float | None
    comparison_patients: Uids
    note: str
    excluded: tuple[tuple[str, str], ...]
    kind: str = "proportion"


@dataclass(frozen=True)
class ScaleRow:
    """A scale at a visit: distribution (with the 95% t interval of the mean, for the
    chart) and the paired change from the first visit."""

    instrument: str
    scale: str
    label: str
    visit: str
    n: int
    mean: float | None
    sd: float | None
    median: float | None
    q1: float | None
    q3: float | None
    change_n: int | None
    change_mean: float | None
    change_lower: float | None
    change_upper: float | None
    patients: Uids
    mean_lower: float | None = None
    mean_upper: float | None = None


@dataclass(frozen=True)
class CategoryRow:
    """Patients per category of a scale at a visit (LARS: no, minor, major)."""

    instrument: str
    visit: str
    n: int
    counts: tuple[tuple[str, int, Uids], ...]


@dataclass(frozen=True)
class RepeatedResult:
    endpoint: Endpoint
    group: str | None
    scales: tuple[ScaleRow, ...]
    categories: tuple[CategoryRow, ...]
    note: str
    excluded: tuple[tuple[str, str], ...]
    kind: str = "repeated_measure"


@dataclass(frozen=True)
class NumberRow:
    measure: str
    group: str | None
    n: int
    mean: float | None
    sd: float | None
    median: float | None
    q1: float | None
    q3: float | None
    minimum: float | None
    maximum: float | None
    patients: Uids


@dataclass(frozen=True)
class CountRow:
    measure: str
    value: str
    group: str | None
    count: int
    patients: Uids


@dataclass(frozen=True)
class DescriptiveResult:
    endpoint: Endpoint
    numbers: tuple[NumberRow, ...]
    counts: tuple[CountRow, ...]
    excluded: tuple[tuple[str, str], ...]
    kind: str = "descriptive"


Result = TimeToEventResult | ProportionResult | RepeatedResult | DescriptiveResult


# --- helpers --------------------------------------------------------------------------------


def _opt(value: object) -> float | None:
    if value is None:
        return None
    v = float(value)  # type: ignore[arg-type]
    return None if math.isnan(v) else v


def _groups_of(study: Study, patients: Sequence[PatientOutcome]) -> list[str]:
    """The study's arms that have patients, in protocol order."""
    present = {p.group for p in patients}
    return [a.code for a in study.arms if a.code in present]


def _reference(study: Study, groups: Sequence[str]) -> str | None:
    wanted = study.analysis.reference_group
    if wanted in groups:
        return wanted
    return groups[0] if groups else None


def _excluded(patients: Sequence[PatientOutcome], key: str) -> tuple[tuple[str, str], ...]:
    out = []
    for p in patients:
        value = p.endpoints.get(key)
        reason = getattr(value, "excluded", None)
        if reason:
            out.append((p.uid, str(reason)))
    return tuple(out)


# --- time to event --------------------------------------------------------------------------


class Who(Sequence[str]):
    """The patients behind a number, as uids: a view of the endpoint's patients by index,
    turned into uids only when someone asks (a 10,000-patient study's landmarks and
    subgroups would otherwise build hundreds of thousands of tuples nobody opens)."""

    __slots__ = ("_index", "_uids")

    def __init__(self, uids: Sequence[str], index: np.ndarray | None = None) -> None:
        self._uids = uids
        self._index = np.arange(len(uids)) if index is None else index

    def __len__(self) -> int:
        return int(self._index.size)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...

    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        if isinstance(i, slice):
            return [self._uids[j] for j in self._index[i].tolist()]
        return self._uids[int(self._index[i])]

    def __iter__(self) -> Iterator[str]:
        uids = self._uids
        return (uids[j] for j in self._index.tolist())

    def __repr__(self) -> str:
        return f"Who({len(self)} patients)"


@dataclass(frozen=True)
class _Times:
    """An endpoint's analysable patients: positions into ``uids`` (every analysable patient
    of the endpoint), their times (months), statuses and groups ("" for none yet)."""

    uids: list[str]
    index: np.ndarray
    months: np.ndarray
    status: np.ndarray
    groups: np.ndarray

    def who(self, mask: np.ndarray | None = None) -> Who:
        return Who(self.uids, self.index if mask is None else self.index[mask])

    @property
    def size(self) -> int:
        return int(self.index.size)


def _times(patients: Sequence[PatientOutcome], key: str) -> _Times:
    uids, months, status, groups = [], [], [], []
    for p in patients:
        value = p.endpoints.get(key)
        if not isinstance(value, TimeToEvent) or value.excluded:
            continue
        m = value.months  # read once: a property, for every patient of every endpoint
        if m is None:
            continue
        uids.append(p.uid)
        months.append(m)
        status.append(value.status)
        groups.append(p.group or "")
    return _Times(uids, np.arange(len(uids)), np.asarray(months, dtype=np.float64),
                  np.asarray(status, dtype=np.int64), np.asarray(groups, dtype=object))


def _subset(data: _Times, mask: np.ndarray) -> _Times:
    return _Times(data.uids, data.index[mask], data.months[mask], data.status[mask],
                  data.groups[mask])


def _landmarks(curve: Any, landmarks: Sequence[float], data: _Times) -> tuple[Landmark, ...]:
    out = []
    for t in landmarks:
        at_risk = data.months >= t
        estimate, lower, upper = curve.at(t)
        se = curve.std_err_at(t)
        out.append(Landmark(t, estimate, lower, upper, se, int(at_risk.sum()),
                            data.who(at_risk)))
    return tuple(out)


def _summary(data: _Times, group: str | None, landmarks: Sequence[float], conf_type: str,
             competing: bool) -> SurvivalSummary:
    from gisttracker.analysis import survival

    n = data.size
    base: dict[str, Any] = dict(
        group=group, n=n, events=int((data.status == 1).sum()),
        censored=int((data.status == 0).sum()), competing=int((data.status == 2).sum()),
        patients=data.who(), event_patients=data.who(data.status == 1),
        censored_patients=data.who(data.status == 0),
        competing_patients=data.who(data.status == 2))
    if n == 0:
        return SurvivalSummary(**base, note=_("No patients in this group."))
    # The Kaplan–Meier curve of the event itself: a competing event censors it
    # (cause-specific); the cumulative incidence below accounts for the competition.
    events = (data.status == 1).astype(np.float64)
    try:
        km = survival.kaplan_meier(data.months, events, conf_type=conf_type)  # type: ignore[arg-type]
    except AnalysisError as exc:
        return SurvivalSummary(**base, note=str(exc))
    extra: dict[str, Any] = {}
    if competing:
        try:
            cif = survival.cumulative_incidence(data.months, data.status)
        except AnalysisError as exc:
            extra["note"] = str(exc)
        else:
            if 1 in cif.causes:
                extra["cif"] = cif.causes[1]
                extra["incidence"] = _landmarks(cif.causes[1], landmarks, data)
            if 2 in cif.causes:
                extra["competing_incidence"] = _landmarks(cif.causes[2], landmarks, data)
    return SurvivalSummary(**base, median=km.median, median_lower=km.median_lower,
                           median_upper=km.median_upper,
                           landmarks=_landmarks(km, landmarks, data), km=km, **extra)


def _log_rank(data: _Times, groups: Sequence[str]) -> Comparison:
    from gisttracker.analysis import survival

    part = _subset(data, np.isin(data.groups, list(groups)))
    found = set(part.groups.tolist())
    present = [g for g in groups if g in found]
    uids = part.who()
    if len(present) < 2:
        return Comparison(tuple(groups), patients=uids, note=_(
            "The test needs at least two groups with patients."))
    try:
        test = survival.log_rank(part.months, (part.status == 1).astype(np.float64),
                                 part.groups.tolist(), levels=present)
    except AnalysisError as exc:
        return Comparison(tuple(present), patients=uids, note=str(exc))
    return Comparison(tuple(present), test.chi2, test.df, test.p,
                      tuple(g.observed for g in test.groups),
                      tuple(g.expected for g in test.groups), uids)


def _by_group(data: _Times, groups: Sequence[str], landmarks: Sequence[float], conf_type: str,
              competing: bool, reference: str | None, *, pairwise: bool = True
              ) -> tuple[tuple[SurvivalSummary, ...], Comparison | None, tuple[Comparison, ...]]:
    summaries = tuple(_summary(_subset(data, data.groups == g), g, landmarks, conf_type,
                               competing) for g in groups)
    if len(groups) < 2:
        return summaries, None, ()
    overall = _log_rank(data, groups)
    pairs = tuple(_log_rank(data, [reference, g]) for g in groups
                  if reference is not None and g != reference) if (
        pairwise and len(groups) > 2) else ()
    return summaries, overall, pairs


def _time_to_event(study: Study, endpoint: Endpoint, patients: Sequence[PatientOutcome],
                   conf_type: str, extra_landmarks: Sequence[float]) -> TimeToEventResult:
    landmarks = tuple(sorted(set(default_landmarks(study, endpoint)) | {
        float(m) for m in extra_landmarks}))
    data = _times(patients, endpoint.key)
    competing = bool(endpoint.competing)
    groups = _groups_of(study, patients)
    reference = _reference(study, groups)
    overall = _summary(data, None, landmarks, conf_type, competing)
    summaries, log_rank, pairwise = _by_group(data, groups, landmarks, conf_type, competing,
                                              reference)
    subgroups: list[Subgroup] = []
    if len(groups) > 1:
        by_uid = {p.uid: p for p in patients}
        covariates = [by_uid[u].covariates for u in data.uids]  # looked up once, not per key
        for key in study.analysis.subgroups:
            found = [c.get(key) for c in covariates]
            values = np.array([None if v is None else v.value for v in found], dtype=object)
            for level in (True, False):
                part = _subset(data, values == level)
                # Within a subgroup the groups are compared all together (the source's
                # stratified analysis); each against the reference is the whole cohort's.
                sums, test, pairs = _by_group(part, groups, landmarks, conf_type, False,
                                              reference, pairwise=False)
                subgroups.append(Subgroup(key, level, sums, test, pairs, part.who()))
    return TimeToEventResult(endpoint, landmarks, overall, summaries, reference, log_rank,
                             pairwise, tuple(subgroups), _excluded(patients, endpoint.key),
                             competing=competing)


# --- Cox models -----------------------------------------------------------------------------


def _cox(study: Study, data: _Times, patients: dict[str, PatientOutcome], terms: Sequence[str],
         groups: Sequence[str], reference: str | None) -> CoxFit:
    from gisttracker.analysis import survival

    labels: dict[str, str] = {}
    columns: dict[str, list[object]] = {}
    keep: list[int] = []
    refs: dict[str, Hashable] = {}
    for term in terms:
        labels[term] = (_("Group") if term == "group"
                        else local(study.covariate(term).name))
    for i in data.index.tolist():
        p = patients[data.uids[i]]
        row: list[object] = []
        for term in terms:
            if term == "group":
                row.append(p.group if p.group in groups else None)
            else:
                cv = p.covariates.get(term)
                row.append(None if cv is None else cv.value)
        if all(v is not None for v in row):
            keep.append(i)
            for term, value in zip(terms, row, strict=True):
                columns.setdefault(term, []).append(value)
    part = _subset(data, np.isin(data.index, keep))
    missing = data.size - len(keep)
    reference_levels: dict[str, str] = {}
    if "group" in terms and reference is not None and reference in set(columns.get("group", [])):
        refs[labels["group"]] = reference
        reference_levels["group"] = reference
    for term in terms:
        if term != "group":
            cov = study.covariate(term)
            if cov.kind == "factor" and cov.reference and cov.reference in set(
                    columns.get(term, [])):
                refs[labels[term]] = cov.reference
                reference_levels[term] = cov.reference
    if not keep:
        return CoxFit(tuple(terms), missing=missing, note=_(
            "No patient has every term of the model recorded."))
    try:
        model = survival.cox(part.months, (part.status == 1).astype(np.float64),
                             {labels[t]: columns[t] for t in terms}, reference=refs)
    except AnalysisError as exc:
        return CoxFit(tuple(terms), n=len(keep), events=int((part.status == 1).sum()),
                      missing=missing, patients=part.who(), note=str(exc))
    rows = []
    order = {a.code: i for i, a in enumerate(study.arms)}
    for term in terms:
        label = labels[term]
        columns_of = list(model.covariates[label])
        if term == "group":  # the groups in protocol order, not R's alphabetical one
            columns_of.sort(key=lambda c: order.get(c[len(label):], len(order)))
        for column in columns_of:
            c = model.terms[column]
            level = column[len(label):] or None
            if level == "TRUE":
                level = None
            rows.append(CoxTermRow(term, level, c.coef, c.hr, c.se, c.z, c.p, c.lower,
                                   c.upper))
    ph: list[PHRow] = []
    try:
        zph = survival.cox_zph(model)
    except (AnalysisError, np.linalg.LinAlgError):
        zph = None
    if zph is not None:
        by_label = {labels[t]: t for t in terms}
        ph = [PHRow(by_label[name], row.chisq, row.df, row.p)
              for name, row in zph.terms.items()]
        ph.append(PHRow(None, zph.global_test.chisq, zph.global_test.df, zph.global_test.p))
    return CoxFit(tuple(terms), model.n, model.n_events, tuple(rows), model.lr_chi2, model.df,
                  model.lr_p, tuple(ph), model.notes, missing, reference_levels,
                  part.who())


def model_terms(study: Study, groups: Sequence[str]) -> tuple[str, ...]:
    """The terms of a study's Cox models: the protocol's, else the group (when there are
    two groups or more); a group term is dropped with fewer than two groups."""
    terms = study.analysis.model or (("group",) if len(groups) > 1 else ())
    return tuple(t for t in terms if t != "group" or len(groups) > 1)


def fit_models(study: Study, result: TimeToEventResult, patients: Sequence[PatientOutcome],
               progress: Callable[[], None] | None = None) -> TimeToEventResult:
    """``result`` with its Cox models: each term alone, then all terms together."""
    from dataclasses import replace

    data = _times(patients, result.endpoint.key)
    groups = [s.group for s in result.groups if s.group is not None and s.n > 0]
    by_uid = {p.uid: p for p in patients}
    terms = model_terms(study, groups)
    univariate = []
    for term in terms:
        univariate.append(_cox(study, data, by_uid, [term], groups, result.reference))
        if progress:
            progress()
    multivariable = None
    if len(terms) > 1:
        multivariable = _cox(study, data, by_uid, list(terms), groups, result.reference)
        if progress:
            progress()
    return replace(result, univariate=tuple(univariate), multivariable=multivariable)


# --- proportions ----------------------------------------------------------------------------


def _proportion_row(group: str | None, values: Sequence[tuple[str, Binary]]) -> ProportionRow:
    from gisttracker.analysis import proportions

    evaluable = [(u, v) for u, v in values if v.outcome is not None]
    successes = tuple(u for u, v in evaluable if v.outcome)
    pending = tuple(u for u, v in values if v.outcome is None)
    found: dict[str, list[str]] = {}
    for u, v in values:
        found.setdefault(v.value or "", []).append(u)
    row: dict[str, Any] = dict(
        group=group, successes=len(successes), total=len(evaluable),
        patients=tuple(u for u, _v in evaluable), success_patients=successes,
        pending_patients=pending,
        found=tuple((k, tuple(us)) for k, us in sorted(found.items())))
    if not evaluable:
        return ProportionRow(**row, estimate=None, lower=None, upper=None,
                             note=_("No evaluable patients."))
    p = proportions.proportion(len(successes), len(evaluable))
    return ProportionRow(**row, estimate=p.estimate, lower=p.lower, upper=p.upper)


def _proportion(study: Study, endpoint: Endpoint, patients: Sequence[PatientOutcome]
                ) -> ProportionResult:
    from gisttracker.analysis import proportions

    values = [(p.uid, p.group, v) for p in patients
              if isinstance(v := p.endpoints.get(endpoint.key), Binary) and not v.excluded]
    overall = _proportion_row(None, [(u, v) for u, _g, v in values])
    groups = _groups_of(study, patients)
    rows = tuple(_proportion_row(g, [(u, v) for u, gg, v in values if gg == g])
                 for g in groups)
    test = statistic = p_value = None
    note = ""
    compared = [r for r in rows if r.total > 0]
    uids: Uids = tuple(u for r in compared for u in r.patients)
    if len(groups) > 1:
        if len(compared) < 2:
            note = _("The comparison needs at least two groups with evaluable patients.")
        else:
            table = [[r.successes for r in compared],
                     [r.total - r.successes for r in compared]]
            if sum(table[0]) == 0 or sum(table[1]) == 0:
                note = _("Every patient has the same outcome, so the groups cannot be "
                         "compared.")
            else:
                # The engine's rule (compare_proportions): Fisher's exact test when an
                # expected count is below 5, else Pearson's chi-square. The chi-square comes
                # first so that a large study's exact test is never enumerated for nothing.
                chi = proportions.chi_square(table)
                if min(min(row) for row in chi.expected) < 5:
                    try:
                        test, p_value = "fisher", proportions.fisher_exact(table).p
                    except AnalysisError:
                        test, p_value = "chi_square", chi.p
                else:
                    test, p_value = "chi_square", chi.p
                statistic = chi.chi2 if test == "chi_square" else None
                if len(compared) < len(rows):
                    note = _("Groups without evaluable patients are left out of the "
                             "comparison.")
    return ProportionResult(endpoint, overall, rows, test, statistic, p_value, uids, note,
                            _excluded(patients, endpoint.key))


# --- repeated measures ----------------------------------------------------------------------

#: Scores that are a category, not a number (LARS: no, minor, major).
_CATEGORICAL = ("category",)


def scale_labels(kind: str) -> list[tuple[str, str]]:
    """The numeric scales an instrument's scorer gives, in its order, with their (N_-marked)
    names (for QLQ-CR29 the scales of both sexes, with and without a stoma)."""
    spec = spec_for(kind)
    out: list[tuple[str, str]] = []
    for sex in ("female", "male"):
        for stoma in (False, True):
            for score in spec.scores({}, FormContext(sex, {STOMA_KEY: stoma})):
                if score.key not in _CATEGORICAL and (score.key, score.label) not in out:
                    out.append((score.key, score.label))
    return out


def _repeated(study: Study, endpoint: Endpoint, patients: Sequence[PatientOutcome],
              group: str | None) -> RepeatedResult:
    from scipy.stats import t as t_dist

    from gisttracker.analysis import repeated
    from gisttracker.scoring import lars

    chosen = [p for p in patients if group is None or p.group == group]
    visits = list(endpoint.visits)
    scale_rows: list[ScaleRow] = []
    categories: list[CategoryRow] = []
    # One pass over the patients for every scale: each questionnaire's scores by kind, in
    # patient and visit order.
    taken: dict[str, list[tuple[str, Hashable, Mapping[str, object]]]] = {}
    for p in chosen:
        value = p.endpoints.get(endpoint.key)
        if isinstance(value, Repeated):
            for visit, sets in value.by_visit.items():
                for s in sets:
                    taken.setdefault(s.kind, []).append((p.uid, visit, s.scores))
    for kind in endpoint.instruments:
        for scale, label in scale_labels(kind):
            records: list[tuple[Hashable, Hashable, float | None]] = []
            by_visit: dict[Hashable, list[str]] = {}
            for uid, when, scores in taken.get(kind, ()):
                score = scores.get(scale)
                if isinstance(score, int | float) and not isinstance(score, bool):
                    records.append((uid, when, float(score)))
                    by_visit.setdefault(when, []).append(uid)
            summaries = repeated.summarise_scores(records, visits)
            changes = {c.timepoint: c for c in repeated.change_from_baseline(records, visits)}
            for summary in summaries:
                c = changes.get(summary.timepoint)
                who = tuple(by_visit.get(summary.timepoint, ()))
                low = high = None
                if summary.mean is not None and summary.sd is not None and summary.n > 1:
                    half = (float(t_dist.ppf(0.975, summary.n - 1)) * summary.sd
                            / math.sqrt(summary.n))
                    low, high = summary.mean - half, summary.mean + half
                scale_rows.append(ScaleRow(
                    kind, scale, label, str(summary.timepoint), summary.n, summary.mean,
                    summary.sd, summary.median, summary.q1, summary.q3,
                    c.n if c else None, c.mean if c else None, c.lower if c else None,
                    c.upper if c else None, who, low, high))
            if kind == "lars" and scale == "total":
                for counts in repeated.lars_categories(records, visits):
                    cells: list[tuple[str, int, Uids]] = []
                    for category, count in counts.counts.items():
                        who = tuple(str(u) for u, tp, v in records
                                    if tp == counts.timepoint and v is not None
                                    and lars.category(int(v)) == category)
                        cells.append((category, count, who))
                    categories.append(CategoryRow(kind, str(counts.timepoint), counts.n,
                                                  tuple(cells)))
    note = "" if any(r.n for r in scale_rows) else _("No questionnaire scored yet.")
    return RepeatedResult(endpoint, group, tuple(scale_rows), tuple(categories), note,
                          _excluded(patients, endpoint.key))


# --- descriptive ----------------------------------------------------------------------------


_NUMBERS = {"tumour_diameter": ("before_cm", "after_cm", "shrinkage_pct"),
            "treatment_duration": ("months",)}


def _descriptive(study: Study, endpoint: Endpoint, patients: Sequence[PatientOutcome]
                 ) -> DescriptiveResult:
    from gisttracker.analysis import repeated

    groups: list[str | None] = [None, *_groups_of(study, patients)]
    numbers: list[NumberRow] = []
    counts: list[CountRow] = []
    values = [(p.uid, p.group, v) for p in patients
              if isinstance(v := p.endpoints.get(endpoint.key), Descriptive)]
    for measure in _NUMBERS.get(endpoint.measure or "", ()):
        records = [(u, gg or "", float(v.values[measure]))  # type: ignore[arg-type]
                   for u, gg, v in values
                   if isinstance(v.values.get(measure), int | float)
                   and not isinstance(v.values.get(measure), bool)]
        everyone = repeated.summarise_scores([(u, "all", x) for u, _g, x in records], ["all"])
        by_group = repeated.summarise_scores(
            [r for r in records if r[1] in groups[1:]], [g for g in groups[1:] if g])
        for g, s in zip(groups, [*everyone, *by_group], strict=True):
            numbers.append(NumberRow(measure, g, s.n, s.mean, s.sd, s.median, s.q1, s.q3,
                                     s.minimum, s.maximum,
                                     tuple(u for u, gg, _x in records if g is None or gg == g)))
    if endpoint.measure in ("pathological_response_grade", "treatment_duration"):
        measure = "grade" if endpoint.measure == "pathological_response_grade" else "ongoing"
        for g in groups:
            found: dict[str, list[str]] = {}
            for u, gg, v in values:
                if g is None or gg == g:
                    value = v.values.get(measure)
                    if value is not None:
                        found.setdefault(str(value), []).append(u)
            for value, who in sorted(found.items()):
                counts.append(CountRow(measure, value, g, len(who), tuple(who)))
    return DescriptiveResult(endpoint, tuple(numbers), tuple(counts),
                             _excluded(patients, endpoint.key))


# --- one endpoint ---------------------------------------------------------------------------


def analyse_endpoint(study: Study, endpoint: Endpoint, patients: Sequence[PatientOutcome], *,
                     conf_type: str = "log", landmarks: Sequence[float] = ()
                     ) -> Result | None:
    """The analysis of one endpoint (without Cox models: :func:`fit_models`); None for an
    endpoint declared in words only."""
    if endpoint.type == "time_to_event":
        return _time_to_event(study, endpoint, patients, conf_type, landmarks)
    if endpoint.type == "proportion":
        return _proportion(study, endpoint, patients)
    if endpoint.type == "repeated_measure":
        return _repeated(study, endpoint, patients, None)
    if endpoint.type == "descriptive":
        return _descriptive(study, endpoint, patients)
    return None
