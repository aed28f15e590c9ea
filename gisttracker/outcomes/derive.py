"""Each patient's endpoints, derived from the protocol's declarations and the recorded facts.

Pure functions of a :class:`~gisttracker.protocols.Study`, one patient's
:class:`~gisttracker.outcomes.facts.PatientFacts` and the data cut-off ``as_of`` (the day
the analysis is "as of", chosen by the user): no database, no clock. Nothing here knows a
study or an endpoint key; every rule below reads the endpoint's declaration. Every value
names the fact that decided it (:class:`~gisttracker.outcomes.facts.Fact`).

Conventions (also written into the analysis data set's dictionary):

* **Origin**: the date of the endpoint's ``measured_from`` anchor (an enrollment anchor is
  the enrollment date). A patient whose origin is not recorded, or lies after the cut-off,
  is left out of that endpoint, with the reason.
* **Time to event**: the first of the declared ``events`` dated from the origin to the
  cut-off — ``progression`` includes a progression on imaging (PD) by the study's primary
  response criterion, judged on the assessments up to the cut-off. A ``competing`` event
  first ends follow-up as a competing event (status 2). Without either, the patient is
  censored (status 0) at the last contact (any course event, done visit, tumour
  assessment, surgery, treatment start or stop, the enrollment) or at the last adequate
  tumour assessment (one with an evaluable response, or the baseline), as the endpoint
  declares; at a death that is neither event nor competing; and, for the last-contact
  rule, at the cut-off itself when a fact dated after the cut-off shows the patient was
  alive and event-free on it (events after the cut-off never count). Everything is cut
  at the endpoint's horizon (origin + horizon, calendar months). Times are in days and
  in months of 30.4375 days (365.25 / 12).
* **Objective response**: the best overall response by the endpoint's criterion (else
  the study's primary one) over the follow-up assessments up to the horizon day (the
  origin itself for a zero horizon) and the cut-off, judged by the study's ``[response]``
  rules; CR or PR is a response. Not yet evaluable (left out of the denominator) while the
  time frame is still open at the cut-off and neither a progression nor the end of
  follow-up has settled it.
* **R0 resection**: the margin of the first surgery up to the horizon day and the
  cut-off; patients without a resection or without a recorded margin are not evaluable.
* **Organ preservation**: :func:`gisttracker.domain.course.organ_preservation` at the
  horizon, judged as of the cut-off (open until the horizon day has passed).
* **Pathological response**: the grade of the first pathology report that gives one;
  a success when it is one of the endpoint's ``grades``.
* **Repeated measures**: the scores of the complete questionnaires of the endpoint's
  instruments at its visits, from visits done on or before the cut-off.
* **Descriptive**: maximum tumour diameter (cm; the largest target lesion) at the
  baseline assessment (else the screening's maximum diameter) and at the last follow-up
  assessment on or before the origin, with the shrinkage in per cent; the recorded
  pathological response grade; a treatment's duration from its first to its last dose
  day (days / 30.4375 months; a treatment still taken at the cut-off counts to the
  cut-off and is marked ongoing).
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from typing import Any, Final, Literal

from gisttracker.domain import course as course_rules
from gisttracker.domain.treatment import DAYS_PER_MONTH
from gisttracker.outcomes.facts import Fact, PatientFacts, ScoreSet
from gisttracker.protocols import Study
from gisttracker.protocols.model import Covariate, Endpoint, Period
from gisttracker.services.tumour import Evaluation, SeriesResult, best_of, evaluate

__all__ = [
    "DAYS_PER_MONTH",
    "EXCLUSIONS",
    "Binary",
    "CovariateValue",
    "Descriptive",
    "PatientOutcome",
    "Repeated",
    "TimeToEvent",
    "derive_patient",
]

Exclusion = Literal["no_origin", "origin_after_cut_off", "not_computed"]
#: Why a patient is not in an endpoint's analysis (codes; the reader's words are in
#: :mod:`gisttracker.outcomes.text`).
EXCLUSIONS: Final[tuple[Exclusion, ...]] = ("no_origin", "origin_after_cut_off",
                                            "not_computed")
_RESPONDERS: Final = ("CR", "PR")


@dataclass(frozen=True, slots=True)
class TimeToEvent:
    """One patient's time to event: from ``origin`` to ``end``; ``status`` 1 event, 0
    censored, 2 ended by a competing event; ``decided_by`` the fact that set ``end``.
    ``excluded`` (with everything else None) when the patient is not in the analysis."""

    origin: date | None
    origin_fact: Fact | None
    end: date | None = None
    status: int = 0
    decided_by: Fact | None = None
    excluded: Exclusion | None = None

    @property
    def days(self) -> int | None:
        if self.origin is None or self.end is None:
            return None
        return (self.end - self.origin).days

    @property
    def months(self) -> float | None:
        days = self.days
        return None if days is None else days / DAYS_PER_MONTH

    @property
    def event(self) -> int | None:
        """1 for the event, 0 otherwise (censored or competing); None when excluded."""
        return None if self.excluded else int(self.status == 1)


BinaryReason = Literal["", "window_open", "no_margin", "no_resection", "no_grade",
                       "no_follow_up", "invalid"]


@dataclass(frozen=True, slots=True)
class Binary:
    """One patient's yes/no outcome (a proportion's numerator when True).

    ``outcome`` None: not evaluable (``reason`` says why: the time frame is still open, no
    margin or grade recorded, no resection…; ``note`` a sentence when a rule gave one).
    ``value`` is what was found: a best response (``PR``), a margin (``R1``), a grade.
    """

    origin: date | None
    origin_fact: Fact | None
    outcome: bool | None = None
    value: str | None = None
    decided_by: Fact | None = None
    reason: BinaryReason = ""
    note: str = ""
    excluded: Exclusion | None = None


@dataclass(frozen=True, slots=True)
class Repeated:
    """One patient's questionnaires at the endpoint's visits: visit key -> score sets."""

    by_visit: dict[str, list[ScoreSet]] = field(default_factory=dict)
    excluded: Exclusion | None = None


@dataclass(frozen=True, slots=True)
class Descriptive:
    """One patient's descriptive values by name (``before_cm``, ``after_cm``,
    ``shrinkage_pct``; ``grade``; ``months``, ``ongoing``) and the fact behind each."""

    values: dict[str, float | str | bool | None] = field(default_factory=dict)
    facts: dict[str, Fact] = field(default_factory=dict)
    excluded: Exclusion | None = None


EndpointValue = TimeToEvent | Binary | Repeated | Descriptive


@dataclass(frozen=True, slots=True)
class CovariateValue:
    """A covariate's value for one patient (None: unknown) and the fact behind it."""

    value: float | str | bool | None
    decided_by: Fact | None = None


@dataclass(frozen=True, slots=True)
class PatientOutcome:
    """Everything derived for one patient: the group of analysis, the covariates and the
    value of every computable endpoint (keyed by endpoint key)."""

    uid: str
    study_id: str
    group: str | None
    endpoints: dict[str, EndpointValue]
    covariates: dict[str, CovariateValue]


# --- the patient's context ----------------------------------------------------------------


@lru_cache(maxsize=65536)
def after(period: Period, day: date) -> date:
    """``period`` after ``day``, as :meth:`Period.after` (calendar months, clipped to the
    month's end, then weeks and days). Whole months are added here directly — the same
    result as relativedelta (a test compares them on every day of four years), at a
    fraction of its cost, which a large study pays for every patient and horizon."""
    if period.weeks or period.days or period.months < 0:
        return period.after(day)
    total = day.month - 1 + period.months
    year, month = day.year + total // 12, total % 12 + 1
    if year > 9999:
        return period.after(day)  # let the library say what it says about such a date
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class _Context:
    """What several endpoints of one patient share, computed once."""

    def __init__(self, study: Study, facts: PatientFacts, as_of: date) -> None:
        self.study = study
        self.facts = facts
        self.as_of = as_of
        rules = study.response
        self.response_start = (facts.anchors[rules.start][0]
                               if rules is not None and rules.start in facts.anchors else None)
        if (rules is not None and self.response_start is None
                and rules.start in study.enrollment_anchors):
            self.response_start = facts.enrolled_on
        self.assessments = [a for a in facts.assessments if a.data.assessed_on <= as_of]
        self._series: SeriesResult | None = None
        self._contacts: list[Fact] | None = None
        self._last: tuple[Fact | None, bool] | None = None
        self._origins: dict[str | None, tuple[date | None, Fact | None]] = {}
        self._death: Fact | bool | None = False  # False: not looked up yet

    @property
    def series(self) -> SeriesResult:
        if self._series is None:
            self._series = evaluate([a.data for a in self.assessments],
                                    primary=self.study.primary_response_criterion,
                                    rules=self.study.response, start=self.response_start,
                                    best=False, selection=False)
        return self._series

    def assessment_fact(self, on: date, code: str | None = None,
                        detail: str | None = None) -> Fact:
        uid = next((a.uid for a in self.assessments if a.data.assessed_on == on
                    and not a.data.is_baseline), None) or next(
            (a.uid for a in self.assessments if a.data.assessed_on == on), None)
        return Fact("tumour_assessment", on, uid, code, detail)

    def origin(self, anchor_key: str | None) -> tuple[date | None, Fact | None]:
        """The origin's date and fact (an endpoint's ``measured_from``), once per anchor."""
        known = self._origins.get(anchor_key)
        if known is None:
            facts = self.facts
            found = facts.anchors.get(anchor_key or "")
            if anchor_key is None or anchor_key in self.study.enrollment_anchors:
                known = (facts.enrolled_on, Fact("enrollment", facts.enrolled_on,
                                                 code=anchor_key))
            elif found is None:
                known = (None, None)
            else:
                known = (found[0], Fact("anchor", found[0], found[1], anchor_key))
            self._origins[anchor_key] = known
        return known

    def death(self) -> Fact | None:
        if self._death is False:
            self._death = next((Fact("course_event", e.on, e.uid, e.kind)
                                for e in self.facts.events
                                if e.kind == "death" and e.on <= self.as_of), None)
        return self._death if isinstance(self._death, Fact) else None

    def follow_up_ended(self) -> bool:
        """Whether follow-up ended by the cut-off (a death, or participation ended)."""
        ended = self.facts.ended_on
        return self.death() is not None or (ended is not None and ended <= self.as_of)

    def contacts(self) -> list[Fact]:
        """Every dated fact that shows the patient alive on its date (any date)."""
        if self._contacts is None:
            self._contacts = self._all_contacts()
        return self._contacts

    def last_contact(self) -> tuple[Fact | None, bool]:
        """The last contact on or before the cut-off, and whether any fact is dated after it
        (the patient was then alive on the cut-off day). Scans the records without making a
        fact of each (only the one found is)."""
        if self._last is None:
            f, as_of = self.facts, self.as_of
            best: tuple[date, int, str, Any] | None = None
            later = False
            order = 0
            for kind, records in (("enrollment", ((f.enrolled_on, None),)),
                                  ("course_event", ((e.on, e) for e in f.events)),
                                  ("visit", ((v.on, v) for v in f.visits)),
                                  ("tumour_assessment", ((a.data.assessed_on, a)
                                                         for a in f.assessments)),
                                  ("surgery", ((x.on, x) for x in f.surgeries)),
                                  ("treatment", ((d, x) for x in f.exposures
                                                 for d in (x.start, x.stop) if d is not None))):
                for day, record in records:
                    order += 1
                    if day > as_of:
                        later = True
                    elif best is None or day > best[0]:
                        best = (day, order, kind, record)
            self._last = (None if best is None else _contact_fact(best[2], best[3], best[0]),
                          later)
        return self._last

    def _all_contacts(self) -> list[Fact]:
        f = self.facts
        out = [Fact("enrollment", f.enrolled_on)]
        out += [Fact("course_event", e.on, e.uid, e.kind) for e in f.events]
        out += [Fact("visit", v.on, v.uid, v.key) for v in f.visits]
        out += [Fact("tumour_assessment", a.data.assessed_on, a.uid) for a in f.assessments]
        out += [Fact("surgery", s.on, s.uid, s.procedure) for s in f.surgeries]
        for x in f.exposures:
            out.append(Fact("treatment", x.start, x.uid, x.drug, x.phase))
            if x.stop is not None:
                out.append(Fact("treatment", x.stop, x.uid, x.drug, x.phase))
        return out


def _contact_fact(kind: str, record: Any, day: date) -> Fact:
    """The fact of a contact found by :meth:`_Context.last_contact`."""
    if kind == "course_event":
        return Fact("course_event", day, record.uid, record.kind)
    if kind == "visit":
        return Fact("visit", day, record.uid, record.key)
    if kind == "tumour_assessment":
        return Fact("tumour_assessment", day, record.uid)
    if kind == "surgery":
        return Fact("surgery", day, record.uid, record.procedure)
    if kind == "treatment":
        return Fact("treatment", day, record.uid, record.drug, record.phase)
    return Fact("enrollment", day)


def _criterion(study: Study, endpoint: Endpoint) -> str:
    return endpoint.criterion or study.primary_response_criterion or "recist"


def _code(evaluation: Evaluation, criterion: str) -> str | None:
    return evaluation.choi if criterion == "choi" else evaluation.recist_overall


# --- time to event --------------------------------------------------------------------------


def time_to_event(ctx: _Context, endpoint: Endpoint) -> TimeToEvent:
    """The time to event of one patient (see the module docstring)."""
    origin, origin_fact = ctx.origin(endpoint.measured_from)
    if origin is None:
        return TimeToEvent(None, None, excluded="no_origin")
    as_of = ctx.as_of
    if origin > as_of:
        return TimeToEvent(origin, origin_fact, excluded="origin_after_cut_off")
    horizon = after(endpoint.horizon, origin)
    start = origin_fact or Fact("enrollment", origin)
    # The window is origin <= day <= as_of (written out: this runs for every patient and
    # endpoint of a study).
    hits = [Fact("course_event", e.on, e.uid, e.kind, e.criterion) for e in ctx.facts.events
            if e.kind in endpoint.events and origin <= e.on <= as_of]
    if "progression" in endpoint.events:
        criterion = ctx.study.primary_response_criterion or "recist"
        pd = next((e for e in ctx.series.evaluations if not e.is_baseline
                   and origin <= e.assessed_on <= as_of and _code(e, criterion) == "PD"),
                  None)
        if pd is not None:
            hits.append(ctx.assessment_fact(pd.assessed_on, "PD", criterion))
    rivals = [Fact("course_event", e.on, e.uid, e.kind) for e in ctx.facts.events
              if e.kind in endpoint.competing and origin <= e.on <= as_of]
    first = min(hits, key=_when) if hits else None
    rival = min(rivals, key=_when) if rivals else None
    if first is not None and _when(first) <= horizon and (rival is None
                                                           or _when(first) <= _when(rival)):
        return TimeToEvent(origin, origin_fact, _when(first), 1, first)
    if rival is not None and _when(rival) <= horizon:
        return TimeToEvent(origin, origin_fact, _when(rival), 2, rival)

    if endpoint.censor == "last_tumour_assessment":
        adequate = [e for e in ctx.series.evaluations
                    if e.assessed_on <= as_of
                    and (e.is_baseline or _code(e, ctx.study.primary_response_criterion
                                                or "recist") not in (None, "NE"))]
        last = max((e.assessed_on for e in adequate), default=None)
        censor: Fact = (ctx.assessment_fact(last) if last is not None and last >= origin
                        else start)
    else:
        latest, later = ctx.last_contact()
        if later:
            # Alive and without a counted event on the cut-off day: a later fact shows it.
            censor = Fact("cut_off", as_of)
        else:
            censor = latest if latest is not None and _when(latest) >= origin else start
    death = ctx.death()
    if death is not None and origin <= _when(death) < _when(censor):
        censor = death
    if _when(censor) < origin:
        censor = start
    if _when(censor) > horizon:
        censor = Fact("horizon", horizon, code=endpoint.key)
    return TimeToEvent(origin, origin_fact, _when(censor), 0, censor)


def _when(fact: Fact) -> date:
    assert fact.on is not None  # every fact used as a time point is dated
    return fact.on


# --- proportions ----------------------------------------------------------------------------


def _until(endpoint: Endpoint, origin: date | None) -> date:
    """The last day of a proportion's time frame (the origin itself for a zero horizon;
    no end without an origin)."""
    return date.max if origin is None else after(endpoint.horizon, origin)


def proportion(ctx: _Context, endpoint: Endpoint) -> Binary:
    """One patient's yes/no outcome of a proportion endpoint (see the module docstring)."""
    origin, origin_fact = ctx.origin(endpoint.measured_from)
    if origin is not None and origin > ctx.as_of:
        return Binary(origin, origin_fact, excluded="origin_after_cut_off")
    measure = endpoint.measure
    if origin is None:
        # Without the origin the time frame is unknown: the patient is left out of the
        # rate, but the value found without a time frame is kept for the patient's view.
        if measure == "objective_response":
            found = _objective_response(ctx, endpoint, None, None)
        elif measure == "r0_resection":
            found = _r0(ctx, endpoint, None, None)
        else:
            return Binary(None, None, excluded="no_origin")
        return replace(found, excluded="no_origin")
    if measure == "objective_response":
        return _objective_response(ctx, endpoint, origin, origin_fact)
    if measure == "r0_resection":
        return _r0(ctx, endpoint, origin, origin_fact)
    if measure == "organ_preservation":
        return _organ_preservation(ctx, endpoint, origin, origin_fact)
    if measure == "pathological_response":
        report = next((p for p in ctx.facts.pathology if p.response_grade
                       and (p.reported_on is None or p.reported_on <= ctx.as_of)), None)
        if report is None:
            return Binary(origin, origin_fact, reason="no_grade")
        grade = report.response_grade or ""
        wanted = {g.strip().casefold() for g in endpoint.grades}
        return Binary(origin, origin_fact, grade.strip().casefold() in wanted, grade,
                      Fact("pathology", report.reported_on, report.uid, "response_grade",
                           grade))
    return Binary(origin, origin_fact, excluded="not_computed")


def _objective_response(ctx: _Context, endpoint: Endpoint, origin: date | None,
                        origin_fact: Fact | None) -> Binary:
    criterion = _criterion(ctx.study, endpoint)
    until = _until(endpoint, origin)
    last_day = min(until, ctx.as_of)
    evaluations = ctx.series.evaluations
    best = best_of(evaluations, criterion, rules=ctx.study.response,
                   start=ctx.response_start, until=last_day)
    seen = next((e for e in evaluations if not e.is_baseline and e.assessed_on <= last_day
                 and _code(e, criterion) == best), None) if best else None
    fact = ctx.assessment_fact(seen.assessed_on, best, criterion) if seen else None
    if best in _RESPONDERS:
        return Binary(origin, origin_fact, True, best, fact)
    settled = best == "PD" or ctx.as_of >= until or ctx.follow_up_ended()
    if not settled:
        return Binary(origin, origin_fact, None, best, fact, reason="window_open")
    if fact is None:
        return Binary(origin, origin_fact, False, best,
                      Fact("horizon", until, code=endpoint.key) if ctx.as_of >= until
                      else ctx.death() or Fact("patient", ctx.facts.ended_on),
                      reason="no_follow_up")
    return Binary(origin, origin_fact, False, best, fact)


def _r0(ctx: _Context, endpoint: Endpoint, origin: date | None,
        origin_fact: Fact | None) -> Binary:
    last_day = min(_until(endpoint, origin), ctx.as_of)
    first = next((s for s in ctx.facts.surgeries if s.on <= last_day), None)
    if first is None:
        return Binary(origin, origin_fact, reason="no_resection")
    fact = Fact("surgery", first.on, first.uid, first.procedure, first.margin)
    if first.margin is None:
        return Binary(origin, origin_fact, None, None, fact, reason="no_margin")
    return Binary(origin, origin_fact, first.margin == "R0", first.margin, fact)


def _organ_preservation(ctx: _Context, endpoint: Endpoint, origin: date,
                        origin_fact: Fact | None) -> Binary:
    f = ctx.facts
    try:
        surgeries = [course_rules.Surgery(s.on, s.procedure, s.margin) for s in f.surgeries]
        stomas = [course_rules.Stoma(s.on, s.stoma, s.stoma_reversed_on
                                     if s.stoma == "temporary" else None)
                  for s in f.surgeries if s.stoma in course_rules.STOMA_KINDS]
        regrowths = [course_rules.Regrowth(e.on, e.salvage_procedure, e.salvage_margin)
                     for e in f.events if e.kind in ("regrowth", "local_recurrence")]
        result = course_rules.organ_preservation(
            surgeries, stomas, regrowths, surgery_date=origin, today=ctx.as_of,
            horizon_months=endpoint.horizon.months)
    except ValueError as exc:
        return Binary(origin, origin_fact, reason="invalid", note=str(exc))
    value = None if result.preserved is None else ("met" if result.preserved else "failed")
    if result.preserved is None:
        return Binary(origin, origin_fact, None, None, Fact("horizon", result.horizon,
                                                            code=endpoint.key),
                      reason="window_open", note=result.reason)
    fact = Fact("horizon", result.horizon, code=endpoint.key)
    if result.failed_on is not None:
        day = result.failed_on
        fact = next((Fact("surgery", s.on, s.uid, s.procedure, s.margin) for s in f.surgeries
                     if s.on == day), None) or next(
            (Fact("course_event", e.on, e.uid, e.kind) for e in f.events
             if e.on == day and e.kind in ("regrowth", "local_recurrence")), fact)
    return Binary(origin, origin_fact, result.preserved, value, fact, note=result.reason)


# --- repeated and descriptive ---------------------------------------------------------------


def repeated(ctx: _Context, endpoint: Endpoint) -> Repeated:
    """The patient's questionnaires of the endpoint's instruments at its visits."""
    by_visit: dict[str, list[ScoreSet]] = {}
    for scores in ctx.facts.scores:
        if (scores.kind in endpoint.instruments and scores.visit_key in endpoint.visits
                and (scores.on is None or scores.on <= ctx.as_of)):
            kept = by_visit.setdefault(scores.visit_key or "", [])
            if all(s.kind != scores.kind for s in kept):  # one form per kind and visit
                kept.append(scores)
    return Repeated(by_visit)


def _largest_cm(ctx: _Context, on: date) -> float | None:
    assessment = next((a for a in ctx.assessments if a.data.assessed_on == on), None)
    if assessment is None:
        return None
    sizes = [lesion.diameter_mm for lesion in assessment.data.lesions
             if lesion.is_target and lesion.diameter_mm is not None]
    return max(sizes) / 10 if sizes else None


def descriptive(ctx: _Context, endpoint: Endpoint) -> Descriptive:
    """A descriptive endpoint's values for one patient (see the module docstring)."""
    f = ctx.facts
    values: dict[str, float | str | bool | None] = {}
    facts: dict[str, Fact] = {}
    if endpoint.measure == "tumour_diameter":
        origin, _fact = ctx.origin(endpoint.measured_from)
        baseline = next((a for a in ctx.assessments if a.data.is_baseline), None)
        before = _largest_cm(ctx, baseline.data.assessed_on) if baseline else None
        if before is not None and baseline is not None:
            facts["before_cm"] = Fact("tumour_assessment", baseline.data.assessed_on,
                                      baseline.uid)
        elif isinstance(f.screening.get("tumour_size_cm"), int | float):
            before = float(f.screening["tumour_size_cm"])  # type: ignore[arg-type]
            facts["before_cm"] = Fact("screening", f.screening_on, f.screening_uid,
                                      "tumour_size_cm")
        after = None
        if origin is not None:
            before_origin = [a for a in ctx.assessments if not a.data.is_baseline
                             and a.data.assessed_on <= min(origin, ctx.as_of)]
            if before_origin:
                latest = before_origin[-1]
                after = _largest_cm(ctx, latest.data.assessed_on)
                if after is not None:
                    facts["after_cm"] = Fact("tumour_assessment", latest.data.assessed_on,
                                             latest.uid)
        values["before_cm"] = before
        values["after_cm"] = after
        values["shrinkage_pct"] = (100 * (before - after) / before
                                   if before and after is not None else None)
    elif endpoint.measure == "pathological_response_grade":
        report = next((p for p in f.pathology if p.response_grade
                       and (p.reported_on is None or p.reported_on <= ctx.as_of)), None)
        values["grade"] = report.response_grade if report else None
        if report is not None:
            facts["grade"] = Fact("pathology", report.reported_on, report.uid,
                                  "response_grade", report.response_grade)
    elif endpoint.measure == "treatment_duration":
        taken = [x for x in f.exposures if x.drug == endpoint.drug and x.phase == endpoint.phase
                 and x.start <= ctx.as_of]
        if taken:
            first = min(taken, key=lambda x: x.start)
            ongoing = any(x.stop is None or x.stop > ctx.as_of for x in taken)
            stops = [x.stop for x in taken if x.stop is not None]
            last = ctx.as_of if ongoing or not stops else max(stops)
            values["months"] = (last - first.start).days / DAYS_PER_MONTH
            values["ongoing"] = ongoing
            facts["months"] = (Fact("cut_off", ctx.as_of) if ongoing else next(
                Fact("treatment", x.stop, x.uid, x.drug, x.phase) for x in taken
                if x.stop == last))
            facts["start"] = Fact("treatment", first.start, first.uid, first.drug, first.phase)
        else:
            values["months"] = None
            values["ongoing"] = None
    return Descriptive(values, facts)


# --- covariates -----------------------------------------------------------------------------


def _fact_value(ctx: _Context, name: str) -> CovariateValue:
    f = ctx.facts
    if name == "age":
        return CovariateValue(f.age, Fact("patient", f.enrolled_on, code="age"))
    if name == "sex":
        return CovariateValue(f.sex, Fact("patient", None, code="sex"))
    if name in ("primary_site", "mutation", "ruptured"):
        for report in f.pathology:
            value = getattr(report, name)
            if value is not None:
                return CovariateValue(value, Fact("pathology", report.reported_on, report.uid,
                                                  name, str(value)))
    value = f.screening.get(name)
    if value is None:
        return CovariateValue(None)
    shown: float | str | bool = (value if isinstance(value, bool | str)
                                 else float(value))  # type: ignore[arg-type]
    return CovariateValue(shown, Fact("screening", f.screening_on, f.screening_uid, name,
                                      str(value)))


def covariate(ctx: _Context, cov: Covariate,
              endpoints: dict[str, EndpointValue]) -> CovariateValue:
    """The covariate's value for the patient: a number, a factor level or yes/no."""
    if cov.fact is not None:
        raw = _fact_value(ctx, cov.fact)
        value, fact = raw.value, raw.decided_by
    else:
        result = endpoints.get(cov.endpoint or "")
        if isinstance(result, Binary):
            if result.excluded or result.outcome is None:
                return CovariateValue(None)
            return CovariateValue(result.outcome, result.decided_by)
        if not isinstance(result, Descriptive) or result.excluded:
            return CovariateValue(None)
        months = result.values.get("months")
        fact = result.facts.get("months")
        if not isinstance(months, float):
            return CovariateValue(None)
        if result.values.get("ongoing"):
            # Still taken: only a bound the duration has already passed is known.
            if cov.at_most is not None and months > cov.at_most:
                return CovariateValue(False, fact)
            if cov.at_least is not None and months >= cov.at_least:
                return CovariateValue(True, fact)
            return CovariateValue(None, fact)
        value = months
    if value is None:
        return CovariateValue(None, fact)
    if cov.values:
        return CovariateValue(str(value) in cov.values, fact)
    if cov.at_most is not None or cov.at_least is not None:
        if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
            return CovariateValue(None, fact)
        yes = (cov.at_most is None or value <= cov.at_most) and (
            cov.at_least is None or value >= cov.at_least)
        return CovariateValue(yes, fact)
    return CovariateValue(value, fact)


# --- one patient ----------------------------------------------------------------------------


def derive_patient(study: Study, facts: PatientFacts, *, as_of: date,
                   endpoints: Sequence[Endpoint] | None = None) -> PatientOutcome:
    """Every computable endpoint of ``study`` (or only ``endpoints``) and every covariate
    for one patient, as of the cut-off ``as_of``."""
    ctx = _Context(study, facts, as_of)
    values: dict[str, EndpointValue] = {}
    for endpoint in (study.endpoints if endpoints is None else endpoints):
        if endpoint.type == "time_to_event":
            values[endpoint.key] = time_to_event(ctx, endpoint)
        elif endpoint.type == "proportion":
            values[endpoint.key] = proportion(ctx, endpoint)
        elif endpoint.type == "repeated_measure":
            values[endpoint.key] = repeated(ctx, endpoint)
        elif endpoint.type == "descriptive":
            values[endpoint.key] = descriptive(ctx, endpoint)
    covariates: dict[str, CovariateValue] = {}
    if endpoints is None:
        for cov in study.covariates:
            covariates[cov.key] = covariate(ctx, cov, values)
    return PatientOutcome(facts.uid, facts.study_id, facts.arm, values, covariates)
