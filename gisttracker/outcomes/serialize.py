"""Study outcomes as plain JSON-able data (the command line's ``--json``).

Numbers are as computed (not rounded); times in months (days / 30.4375); a value the data
cannot give is ``null`` with the reason in ``note``. Patients are named by their study
identifier only (pseudonymous).
"""

from __future__ import annotations

from typing import Any

from gisttracker.i18n import _, local
from gisttracker.outcomes import StudyOutcomes
from gisttracker.outcomes.analyse import (
    Comparison,
    CoxFit,
    DescriptiveResult,
    Landmark,
    ProportionResult,
    ProportionRow,
    RepeatedResult,
    SurvivalSummary,
    TimeToEventResult,
    landmark_label,
)
from gisttracker.outcomes.text import (
    endpoint_sentences,
    exclusion_text,
    group_label,
    measure_label,
    term_label,
    type_label,
)

__all__ = ["to_data"]


def _landmark(point: Landmark) -> dict[str, Any]:
    return {"months": landmark_label(point.months), "read_at_months": point.months,
            "estimate": point.estimate, "lower": point.lower, "upper": point.upper,
            "std_err": point.std_err, "n_risk": point.n_risk}


def _survival(o: StudyOutcomes, s: SurvivalSummary) -> dict[str, Any]:
    out: dict[str, Any] = {
        "group": s.group, "group_name": group_label(o.study, s.group), "n": s.n,
        "events": s.events, "censored": s.censored, "competing": s.competing,
        "median": s.median, "median_lower": s.median_lower, "median_upper": s.median_upper,
        "survival": [_landmark(p) for p in s.landmarks], "note": s.note}
    if s.incidence or s.competing_incidence:
        out["cumulative_incidence"] = [_landmark(p) for p in s.incidence]
        out["competing_cumulative_incidence"] = [_landmark(p) for p in s.competing_incidence]
    return out


def _test(c: Comparison | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"groups": list(c.groups), "chi2": c.chi2, "df": c.df, "p": c.p,
            "observed": list(c.observed), "expected": list(c.expected), "note": c.note}


def _cox(o: StudyOutcomes, fit: CoxFit | None) -> dict[str, Any] | None:
    if fit is None:
        return None
    return {
        "terms": list(fit.terms), "n": fit.n, "events": fit.events,
        "left_out_for_missing_values": fit.missing, "reference": fit.reference,
        "coefficients": [{"term": r.covariate, "term_name": term_label(o.study, r.covariate),
                          "level": r.level, "coef": r.coef, "hr": r.hr, "se": r.se, "z": r.z,
                          "p": r.p, "lower": r.lower, "upper": r.upper} for r in fit.rows],
        "likelihood_ratio": {"chi2": fit.lr_chi2, "df": fit.lr_df, "p": fit.lr_p},
        "proportional_hazards": [{"term": r.covariate, "chisq": r.chisq, "df": r.df, "p": r.p}
                                 for r in fit.ph],
        "cautions": list(fit.cautions), "note": fit.note}


def _proportion_row(o: StudyOutcomes, r: ProportionRow) -> dict[str, Any]:
    return {"group": r.group, "group_name": group_label(o.study, r.group),
            "successes": r.successes, "evaluable": r.total, "estimate": r.estimate,
            "lower": r.lower, "upper": r.upper, "not_yet_evaluable": len(r.pending_patients),
            "found": {k: len(v) for k, v in r.found}, "note": r.note}


def _excluded(o: StudyOutcomes, rows: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"patient": o.patient(uid).study_id, "reason": exclusion_text(reason)}
            for uid, reason in rows]


def _endpoint(o: StudyOutcomes, key: str) -> dict[str, Any]:
    result = o.results[key]
    endpoint = result.endpoint
    out: dict[str, Any] = {
        "key": endpoint.key, "name": local(endpoint.name), "role": endpoint.kind,
        "type": endpoint.type, "type_name": type_label(endpoint),
        "definition": local(endpoint.definition),
        "computed_as": endpoint_sentences(o.study, endpoint)}
    if isinstance(result, TimeToEventResult):
        out.update({
            "time_unit": "months", "landmarks": [landmark_label(m) for m in result.landmarks],
            "overall": _survival(o, result.overall),
            "groups": [_survival(o, s) for s in result.groups],
            "reference_group": result.reference, "log_rank": _test(result.log_rank),
            "log_rank_against_reference": [_test(c) for c in result.pairwise],
            "cox_univariate": [_cox(o, f) for f in result.univariate],
            "cox_multivariable": _cox(o, result.multivariable),
            "subgroups": [{"covariate": s.covariate,
                           "covariate_name": term_label(o.study, s.covariate),
                           "level": s.level, "groups": [_survival(o, x) for x in s.summaries],
                           "log_rank": _test(s.log_rank),
                           "log_rank_against_reference": [_test(c) for c in s.pairwise]}
                          for s in result.subgroups],
            "excluded": _excluded(o, result.excluded)})
    elif isinstance(result, ProportionResult):
        out.update({
            "overall": _proportion_row(o, result.overall),
            "groups": [_proportion_row(o, r) for r in result.groups],
            "comparison": {"test": result.test, "statistic": result.statistic, "p": result.p,
                           "note": result.note},
            "excluded": _excluded(o, result.excluded)})
    elif isinstance(result, RepeatedResult):
        out.update({
            "scales": [{"instrument": r.instrument, "scale": r.scale, "scale_name": _(r.label),
                        "visit": r.visit, "visit_name": o.study.visit_name(r.visit, r.visit),
                        "n": r.n, "mean": r.mean, "sd": r.sd, "median": r.median, "q1": r.q1,
                        "q3": r.q3, "change": {"n": r.change_n, "mean": r.change_mean,
                                               "lower": r.change_lower,
                                               "upper": r.change_upper}}
                       for r in result.scales],
            "categories": [{"instrument": c.instrument, "visit": c.visit, "n": c.n,
                            "counts": {name: count for name, count, _who in c.counts}}
                           for c in result.categories],
            "note": result.note})
    elif isinstance(result, DescriptiveResult):
        out.update({
            "numbers": [{"measure": r.measure, "measure_name": measure_label(r.measure),
                         "group": r.group, "n": r.n, "mean": r.mean, "sd": r.sd,
                         "median": r.median, "q1": r.q1, "q3": r.q3, "min": r.minimum,
                         "max": r.maximum} for r in result.numbers],
            "counts": [{"measure": r.measure, "value": r.value, "group": r.group,
                        "count": r.count} for r in result.counts]})
    return out


def to_data(outcomes: StudyOutcomes) -> dict[str, Any]:
    """The whole of ``outcomes`` as JSON-able data."""
    o = outcomes
    return {
        "study": o.study.key, "as_of": o.as_of.isoformat(),
        "first_enrollment": o.first_enrollment.isoformat(), "patients": len(o.patients),
        "conf_type": o.conf_type, "conf_level": 0.95, "models": o.models,
        "groups": [{"code": a.code, "name": local(a.name),
                    "patients": sum(p.group == a.code for p in o.patients)}
                   for a in o.study.arms],
        "endpoints": [_endpoint(o, key) for key in o.results],
    }
