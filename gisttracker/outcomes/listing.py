"""The patients behind a number: one line per patient with their values and the fact that
decided each, for the window's patient list (and anyone else who lists them).

:func:`patient_list` takes the uids a result kept for a number (a group's events, the
patients at risk at a landmark, a rate's responders…) and says, for the endpoint in
question, each patient's study identifier, group, origin, time or outcome, and the deciding
fact in words, with the fact itself so that the window can open the record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gisttracker.i18n import _, local
from gisttracker.outcomes import StudyOutcomes
from gisttracker.outcomes.derive import Binary, Descriptive, Repeated, TimeToEvent
from gisttracker.outcomes.facts import Fact
from gisttracker.outcomes.text import (
    binary_text,
    describe_fact,
    group_label,
    measure_label,
    number,
    status_text,
)

__all__ = ["PatientLine", "PatientList", "patient_list"]


@dataclass(frozen=True)
class PatientLine:
    """One patient of the list: the cells to show and the fact to open."""

    uid: str
    study_id: str
    cells: tuple[str, ...]
    fact: Fact | None


@dataclass(frozen=True)
class PatientList:
    headers: tuple[str, ...]
    lines: tuple[PatientLine, ...]


def _day(fact_or_date: object) -> str:
    return fact_or_date.isoformat() if hasattr(fact_or_date, "isoformat") else "—"


def patient_list(outcomes: StudyOutcomes, endpoint_key: str | None, uids: Sequence[str], *,
                 scale: str | None = None, visit: str | None = None) -> PatientList:
    """The patients ``uids`` with their values for ``endpoint_key`` (for a repeated measure,
    at ``scale`` and ``visit``); without an endpoint, their group and covariates."""
    study = outcomes.study
    endpoint = next((e for e in study.endpoints if e.key == endpoint_key), None)
    lines: list[PatientLine] = []
    headers: tuple[str, ...]
    if endpoint is None or endpoint.type is None:
        headers = (_("Patient"), _("Group"), *(local(c.name) for c in study.covariates))
        for uid in uids:
            p = outcomes.patient(uid)
            values = [p.covariates.get(c.key) for c in study.covariates]
            cells = [p.study_id, group_label(study, p.group) if p.group else "—",
                     *["—" if v is None or v.value is None else str(v.value) for v in values]]
            lines.append(PatientLine(uid, p.study_id, tuple(cells), None))
        return PatientList(headers, tuple(lines))
    if endpoint.type == "time_to_event":
        headers = (_("Patient"), _("Group"), _("Origin"), _("End"), _("Months"), _("Status"),
                   _("Decided by"))
    elif endpoint.type == "proportion":
        headers = (_("Patient"), _("Group"), _("Origin"), _("Outcome"), _("Found"),
                   _("Decided by"))
    elif endpoint.type == "repeated_measure":
        headers = (_("Patient"), _("Group"), _("Visit date"), _("Score"), _("Questionnaire"))
    else:
        headers = (_("Patient"), _("Group"), _("Value"), _("Decided by"))
    for uid in uids:
        p = outcomes.patient(uid)
        group = group_label(study, p.group) if p.group else "—"
        value = p.endpoints.get(endpoint.key)
        fact: Fact | None = None
        if isinstance(value, TimeToEvent):
            fact = value.decided_by
            cells = [p.study_id, group, _day(value.origin), _day(value.end),
                     number(value.months, 1), status_text(value),
                     describe_fact(study, value.decided_by)]
        elif isinstance(value, Binary):
            fact = value.decided_by
            cells = [p.study_id, group, _day(value.origin), binary_text(value),
                     value.value or "—", value.note or describe_fact(study, value.decided_by)]
        elif isinstance(value, Repeated):
            sets = value.by_visit.get(visit or "", [])
            found = next((s for s in sets if scale in s.scores), None)
            score = found.scores.get(scale or "") if found else None
            if found is not None:
                fact = Fact("form", found.on, found.form_uid, found.kind, found.visit_key)
            cells = [p.study_id, group, _day(found.on if found else None),
                     number(score, 1) if isinstance(score, int | float) else "—",
                     describe_fact(study, fact)]
        elif isinstance(value, Descriptive):
            shown = "; ".join(
                f"{measure_label(k)}: {number(v, 1) if isinstance(v, float) else v}"
                for k, v in value.values.items() if v is not None)
            fact = next(iter(value.facts.values()), None)
            cells = [p.study_id, group, shown or "—",
                     "; ".join(describe_fact(study, f) for f in value.facts.values())]
        else:
            cells = [p.study_id, group, *["—"] * (len(headers) - 2)]
        lines.append(PatientLine(uid, p.study_id, tuple(cells), fact))
    return PatientList(headers, tuple(lines))
