"""Study outcomes in words: endpoint definitions, the facts that decided a value, statuses,
groups, measures and scales — whole translatable sentences, for the window, the PDF, the
command line and the data dictionary alike.

Dates are ISO (``2027-03-02``); a record is named by the first eight characters of its uid
(``#3fa85f64``), which the window uses to open it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from gisttracker.domain.eligibility import value_label
from gisttracker.i18n import N_, _, join_list, local
from gisttracker.outcomes.derive import Binary, TimeToEvent
from gisttracker.outcomes.facts import Fact
from gisttracker.protocols import Study
from gisttracker.protocols.catalogue import ASSESSMENTS, COVARIATE_FACTS
from gisttracker.protocols.model import Covariate, Endpoint
from gisttracker.services.course.values import (
    PHASE_LABELS,
    drug_label,
    event_label,
    procedure_label,
)

__all__ = [
    "MEASURE_LABELS",
    "binary_text",
    "conf_label",
    "covariate_text",
    "criterion_name",
    "describe_fact",
    "endpoint_sentences",
    "exclusion_text",
    "group_label",
    "measure_label",
    "record",
    "status_text",
    "term_label",
    "type_label",
]

_TYPES: Final[Mapping[str, str]] = {
    "time_to_event": N_("time to event"),
    "proportion": N_("proportion"),
    "repeated_measure": N_("repeated measure"),
    "descriptive": N_("descriptive"),
}
_EXCLUSIONS: Final[Mapping[str, str]] = {
    "no_origin": N_("origin date not recorded"),
    "origin_after_cut_off": N_("origin after the data cut-off"),
    "not_computed": N_("not computed"),
}
_REASONS: Final[Mapping[str, str]] = {
    "window_open": N_("not yet evaluable: the time frame is still open"),
    "no_margin": N_("not evaluable: no margin recorded"),
    "no_resection": N_("not evaluable: no resection recorded"),
    "no_grade": N_("not evaluable: no pathological response grade recorded"),
    "no_follow_up": N_("no follow-up assessment in the time frame"),
    "invalid": N_("not evaluable: the record cannot be judged"),
}
_NOT_EVALUABLE: Final = N_("not evaluable")
#: Names of the descriptive measures and of what a proportion found.
MEASURE_LABELS: Final[Mapping[str, str]] = {
    "before_cm": N_("Maximum tumour diameter before imatinib (cm)"),
    "after_cm": N_("Maximum tumour diameter before surgery (cm)"),
    "shrinkage_pct": N_("Shrinkage (%)"),
    "months": N_("Duration (months)"),
    "grade": N_("Pathological response grade"),
    "ongoing": N_("Still taken at the data cut-off"),
}
_FOUND: Final[Mapping[str, str]] = {
    "met": N_("met"), "failed": N_("failed"), "": N_("nothing recorded"),
    "True": N_("yes"), "False": N_("no"),
}


_CONF: Final[Mapping[str, str]] = {"log": N_("log"), "log-log": N_("log-log"),
                                   "plain": N_("plain")}


def conf_label(kind: str) -> str:
    """The name of a confidence interval type (R's ``conf.type``) in the reader's words."""
    return _(_CONF.get(kind, kind))


def record(uid: str | None) -> str:
    """How a record is named in text: ``#`` and the first eight characters of its uid."""
    return f"#{uid[:8]}" if uid else ""


def type_label(endpoint: Endpoint) -> str:
    return _(_TYPES.get(endpoint.type or "", _EXCLUSIONS["not_computed"]))


def criterion_name(criterion: str | None) -> str:
    return "Choi" if criterion == "choi" else "RECIST 1.1"


def group_label(study: Study, code: str | None) -> str:
    """An arm's or group's name in the reader's language (``code`` None: every patient)."""
    if code is None:
        return _("All patients")
    for arm in study.arms:
        if arm.code == code:
            return local(arm.name)
    return code


def term_label(study: Study, term: str) -> str:
    """A Cox model term: the group, or a covariate's name."""
    if term == "group":
        return _("Group")
    return local(study.covariate(term).name)


def measure_label(key: str) -> str:
    return _(MEASURE_LABELS[key]) if key in MEASURE_LABELS else key


def found_label(value: str) -> str:
    """What a proportion found for a patient (a response code, a margin, a grade)."""
    return _(_FOUND[value]) if value in _FOUND else value


def exclusion_text(code: str) -> str:
    return _(_EXCLUSIONS.get(code, _EXCLUSIONS["not_computed"]))


def status_text(value: TimeToEvent) -> str:
    """Event, censored or competing event (or why the patient is left out)."""
    if value.excluded:
        return exclusion_text(value.excluded)
    if value.status == 1:
        return _("event")
    if value.status == 2:
        return _("competing event")
    return _("censored")


def binary_text(value: Binary) -> str:
    """Success, failure or why not evaluable, for one patient."""
    if value.excluded:
        return exclusion_text(value.excluded)
    if value.outcome is None:
        return _(_REASONS.get(value.reason, _NOT_EVALUABLE))
    if value.reason == "no_follow_up":
        return _(_REASONS["no_follow_up"])
    return _("yes") if value.outcome else _("no")


def _field_value(name: str, value: str | None) -> str:
    if value is None:
        return ""
    if value in ("True", "False"):
        return _("yes") if value == "True" else _("no")
    spec = COVARIATE_FACTS.get(name)
    if spec is not None and spec.kind == "text":
        return value_label(value)
    return value


def describe_fact(study: Study, fact: Fact | None) -> str:
    """The fact in one sentence, naming its record (see the module docstring)."""
    if fact is None:
        return ""
    day = fact.on.isoformat() if fact.on else "—"
    ref = record(fact.uid)
    kind = fact.kind
    if kind == "course_event":
        return _("{event} on {date} (course event {record})").format(
            event=event_label(fact.code or ""), date=day, record=ref)
    if kind == "tumour_assessment":
        if fact.code == "PD":
            return _("progression on imaging by {criterion} on {date} (tumour assessment "
                     "{record})").format(criterion=criterion_name(fact.detail), date=day,
                                         record=ref)
        if fact.code:
            return _("{response} by {criterion} on {date} (tumour assessment {record})").format(
                response=fact.code, criterion=criterion_name(fact.detail), date=day,
                record=ref)
        return _("tumour assessment on {date} ({record})").format(date=day, record=ref)
    if kind == "visit":
        return _("visit {visit} on {date}").format(
            visit=study.visit_name(fact.code, fact.code or ""), date=day)
    if kind == "surgery":
        if fact.detail:
            return _("{procedure} on {date}, margin {margin} (surgery {record})").format(
                procedure=procedure_label(fact.code or ""), date=day, margin=fact.detail,
                record=ref)
        return _("{procedure} on {date} (surgery {record})").format(
            procedure=procedure_label(fact.code or ""), date=day, record=ref)
    if kind == "pathology":
        if fact.code == "response_grade":
            return _("pathological response {grade} (pathology report of {date}, {record})"
                     ).format(grade=fact.detail or "", date=day, record=ref)
        return _("{field}: {value} (pathology report of {date}, {record})").format(
            field=_fact_name(fact.code), value=_field_value(fact.code or "", fact.detail),
            date=day, record=ref)
    if kind == "treatment":
        return _("{drug} ({phase}) on {date} (treatment {record})").format(
            drug=drug_label(fact.code or ""),
            phase=_(PHASE_LABELS.get(fact.detail or "", fact.detail or "")), date=day,
            record=ref)
    if kind == "anchor":
        label = next((local(a.label) for a in study.anchors if a.key == fact.code),
                     fact.code or "")
        return _("{anchor} on {date}").format(anchor=label, date=day)
    if kind == "enrollment":
        return _("enrollment on {date}").format(date=day)
    if kind == "screening":
        return _("{field}: {value} (screening of {date}, {record})").format(
            field=_fact_name(fact.code), value=_field_value(fact.code or "", fact.detail),
            date=day, record=ref)
    if kind == "form":
        return _("{form} on {date} ({record})").format(
            form=_(ASSESSMENTS.get(fact.code or "", fact.code or "")), date=day, record=ref)
    if kind == "patient":
        if fact.code == "age":
            return _("age at enrollment on {date}").format(date=day)
        if fact.code == "sex":
            return _("sex in the patient's record")
        return _("participation ended on {date}").format(date=day)
    if kind == "cut_off":
        return _("data cut-off on {date} (later data show the patient then)").format(date=day)
    return _("end of the time frame on {date}").format(date=day)


def _fact_name(name: str | None) -> str:
    spec = COVARIATE_FACTS.get(name or "")
    return _(spec.label) if spec else (name or "")


def _events(study: Study, events: tuple[str, ...]) -> str:
    names = []
    for kind in events:
        if kind == "progression":
            names.append(_("progression (also on imaging by {criterion})").format(
                criterion=criterion_name(study.primary_response_criterion)))
        else:
            names.append(event_label(kind))
    return join_list(names)


def _origin(study: Study, endpoint: Endpoint) -> str:
    key = endpoint.measured_from
    anchor = next((a for a in study.anchors if a.key == key), None)
    if anchor is None or anchor.source == "enrollment":
        return _("enrollment") if anchor is None else local(anchor.label)
    return local(anchor.label)


def endpoint_sentences(study: Study, endpoint: Endpoint) -> list[str]:
    """How the application computes the endpoint, in a few sentences (from the
    declaration, never from code per study). Protocol labels stand after a colon, so no
    sentence depends on their case."""
    horizon = endpoint.horizon.describe()
    origin = _origin(study, endpoint)
    out: list[str] = []
    if endpoint.type == "time_to_event":
        out.append(_("Counted from: {origin}; followed for at most {horizon}.").format(
            origin=origin, horizon=horizon))
        out.append(_("Events (the first counts): {events}.").format(
            events=_events(study, endpoint.events)))
        if endpoint.competing:
            out.append(_("Competing events, which end follow-up without the event: {events}. "
                         "Their cumulative incidence is estimated with the event's.").format(
                events=_events(study, endpoint.competing)))
        if endpoint.censor == "last_tumour_assessment":
            out.append(_("Without an event, a patient is censored at the last adequate tumour "
                         "assessment up to the data cut-off."))
        else:
            out.append(_("Without an event, a patient is censored at the last contact, or at "
                         "the data cut-off when later data show the patient alive then."))
    elif endpoint.type == "proportion":
        measure = endpoint.measure
        if endpoint.horizon.is_zero:
            out.append(_("Judged at: {origin}.").format(origin=origin))
        else:
            out.append(_("Counted from: {origin}; time frame {horizon}.").format(
                origin=origin, horizon=horizon))
        if measure == "objective_response":
            out.append(_("Share of patients whose best overall response by {criterion} in the "
                         "time frame is a complete or partial response.").format(
                criterion=criterion_name(endpoint.criterion or study.primary_response_criterion)))
            if study.response is not None:
                out.append(_("Stable disease counts only from {period} after the start of "
                             "treatment.").format(period=study.response.sd_min.describe()))
                if study.response.confirm and study.response.confirm_after is not None:
                    out.append(_("A response counts only when confirmed at least {period} "
                                 "later.").format(period=study.response.confirm_after
                                                  .describe()))
        elif measure == "r0_resection":
            out.append(_("Share of resected patients whose first resection in the time frame "
                         "has an R0 margin."))
        elif measure == "organ_preservation":
            out.append(_("Share of patients with the rectum intact, no permanent stoma and no "
                         "unsalvaged regrowth at the end of the time frame."))
        elif measure == "pathological_response":
            out.append(_("Share of patients whose pathological response grade is one of: "
                         "{grades}.").format(grades=join_list(endpoint.grades)))
        out.append(_("Patients not yet evaluable at the data cut-off are not counted."))
    elif endpoint.type == "repeated_measure":
        out.append(_("Questionnaires: {instruments}.").format(
            instruments=join_list(_(ASSESSMENTS.get(k, k)) for k in endpoint.instruments)))
        out.append(_("Visits: {visits}.").format(
            visits=join_list(study.visit_name(v, v) for v in endpoint.visits)))
        out.append(_("Scores per visit, and the change from the first visit with its 95% "
                     "confidence interval (patients with both)."))
    elif endpoint.type == "descriptive":
        if endpoint.measure == "tumour_diameter":
            out.append(_("Largest target lesion at the baseline assessment and at the last "
                         "assessment up to the origin ({origin}), and the shrinkage.").format(
                origin=origin))
        elif endpoint.measure == "pathological_response_grade":
            out.append(_("The pathological response grade of the first pathology report that "
                         "gives one."))
        elif endpoint.measure == "treatment_duration":
            out.append(_("From the first to the last dose of {drug} ({phase}); a treatment "
                         "still taken counts up to the data cut-off.").format(
                drug=drug_label(endpoint.drug or ""),
                phase=_(PHASE_LABELS.get(endpoint.phase or "", endpoint.phase or ""))))
    return out


def covariate_text(study: Study, cov: Covariate) -> str:
    """How a covariate is read, in one sentence."""
    if cov.fact is not None:
        spec = COVARIATE_FACTS[cov.fact]
        source = _(spec.source)
        if cov.values:
            return _("{fact}: yes when {values}; read from {source}.").format(
                fact=_(spec.label), values=join_list(value_label(v) for v in cov.values),
                source=source)
        if cov.at_most is not None:
            return _("{fact}: yes when at most {bound:g}; read from {source}.").format(
                fact=_(spec.label), bound=cov.at_most, source=source)
        if cov.at_least is not None:
            return _("{fact}: yes when at least {bound:g}; read from {source}.").format(
                fact=_(spec.label), bound=cov.at_least, source=source)
        return _("{fact}; read from {source}.").format(fact=_(spec.label), source=source)
    target = study.endpoint(cov.endpoint or "")
    if cov.at_most is not None:
        return _("{endpoint}: yes when at most {bound:g} months.").format(
            endpoint=local(target.name), bound=cov.at_most)
    if cov.at_least is not None:
        return _("{endpoint}: yes when at least {bound:g} months.").format(
            endpoint=local(target.name), bound=cov.at_least)
    return _("{endpoint}: yes for a patient who meets it.").format(endpoint=local(target.name))


# --- numbers as every output prints them ----------------------------------------------------


def number(value: float | None, digits: int = 2) -> str:
    """A number with ``digits`` decimals; an em dash when there is none."""
    if value is None:
        return "—"
    text = f"{value:.{digits}f}"
    # -0.04 to one decimal is "-0.0": no sign on a zero.
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def p_value(p: float | None) -> str:
    """A p-value to three decimals, ``<0.001`` below that."""
    if p is None:
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def not_reached() -> str:
    # TRANSLATORS: a median survival time that the curve has not reached (short, in tables).
    return _("NR")


def months_ci(value: float | None, lower: float | None, upper: float | None) -> str:
    """A median with its interval in months: ``9.6 (6.0–NR)``; NR = not reached."""
    def one(x: float | None) -> str:
        return not_reached() if x is None else f"{x:.1f}"

    return _("{value} ({lower}–{upper})").format(value=one(value), lower=one(lower),
                                                 upper=one(upper))


def percent_ci(value: float | None, lower: float | None, upper: float | None) -> str:
    """A share with its interval in per cent: ``87.1% (79.5–95.4)``; — beyond the data."""
    if value is None:
        return "—"
    def one(x: float | None) -> str:
        return "—" if x is None else f"{100 * x:.1f}"

    return _("{value}% ({lower}–{upper})").format(value=one(value), lower=one(lower),
                                                  upper=one(upper))


def hr_ci(hr: float, lower: float, upper: float) -> str:
    """A hazard ratio with its interval: ``0.42 (0.18–0.97)``."""
    return _("{value} ({lower}–{upper})").format(value=f"{hr:.2f}", lower=f"{lower:.2f}",
                                                 upper=f"{upper:.2f}")


def landmark_name(months: float) -> str:
    """A landmark as a column heading: ``12 months``."""
    from gisttracker.i18n import ngettext
    from gisttracker.outcomes.analyse import landmark_label

    label = landmark_label(months)
    if label == int(label):
        return ngettext("{n} month", "{n} months", int(label)).format(n=int(label))
    return _("{n} months").format(n=f"{label:.1f}")


def level_text(study: Study, term: str, level: str | None) -> str:
    """A Cox coefficient's row name: a group against the reference, or a covariate."""
    if term == "group" and level is not None:
        return group_label(study, level)
    if level is not None:
        return _("{term}: {level}").format(term=term_label(study, term),
                                           level=value_label(level))
    return term_label(study, term)
