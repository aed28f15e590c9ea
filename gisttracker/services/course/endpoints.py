"""One patient's endpoints, computed from the declarations of the protocol file.

The values are those of the study's outcomes: :mod:`gisttracker.outcomes.derive` derives them
(from the ``[[endpoints]]`` declarations, nothing known per study) from the patient's facts,
gathered as :mod:`gisttracker.outcomes.gather` gathers a whole study's, with ``today`` as the
data cut-off; the course tab shows them with the fact that decided each (``note``). Time to
event, objective response, R0 resection, organ preservation and other proportions are
listed; repeated measures, descriptive endpoints and endpoints of a file without
declarations are listed as not computed here (their analysis is the Outcomes area's).
:meth:`EndpointsMixin.organ_preservation` gives the rectal composite itself, with its reason.
"""

from __future__ import annotations

from datetime import date

from gisttracker.domain import course as course_rules
from gisttracker.i18n import _
from gisttracker.outcomes import derive as derive_types
from gisttracker.protocols import Study
from gisttracker.protocols.model import Endpoint
from gisttracker.services.common import as_date as _as_date
from gisttracker.services.course.surgery import SurgeryMixin
from gisttracker.services.course.values import (
    EndpointResult,
)
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import AnchorDate


def _criterion_name(criterion: str) -> str:
    return "Choi" if criterion == "choi" else "RECIST 1.1"


class EndpointsMixin(SurgeryMixin):
    """Endpoints of one patient."""

    def _start_date(self, patient: Patient, study: Study, anchor_key: str | None
                    ) -> date | None:
        """The date an endpoint counts from: its anchor's date (an enrollment anchor is the
        enrollment date); the enrollment date when the endpoint names no anchor."""
        if anchor_key is None:
            return _as_date(patient.enrolled_on)
        row = AnchorDate.get_or_none((AnchorDate.patient == patient)
                                     & (AnchorDate.anchor_key == anchor_key))
        if row is not None:
            return _as_date(row.date)
        if any(a.key == anchor_key and a.source == "enrollment" for a in study.anchors):
            return _as_date(patient.enrolled_on)
        return None

    @staticmethod
    def _horizon_day(endpoint: Endpoint, start: date | None) -> date | None:
        if start is None or endpoint.horizon.is_zero:
            return None
        return endpoint.horizon.after(start)

    def organ_preservation(self, patient_key: str, *, today: date
                           ) -> course_rules.OrganPreservation | None:
        """The rectal organ-preservation composite (a study with an ``organ_preservation``
        proportion endpoint), at that endpoint's horizon counted from its ``measured_from``
        date; None when the study has none or that date is unknown."""
        patient = self.patient(patient_key)
        study = self.study_of(patient)
        endpoint = next((e for e in study.endpoints if e.measure == "organ_preservation"), None)
        if endpoint is None:
            return None
        start = self._start_date(patient, study, endpoint.measured_from)
        if start is None or today < start:
            return None
        surgeries = self.surgeries(patient_key)
        stomas = [course_rules.Stoma(s.data.performed_on, s.data.stoma,
                                     s.data.stoma_reversed_on if s.data.stoma == "temporary"
                                     else None)
                  for s in surgeries if s.data.stoma in course_rules.STOMA_KINDS]
        regrowths = [course_rules.Regrowth(e.data.occurred_on, e.data.salvage_procedure,
                                           e.data.salvage_margin)
                     for e in self.events(patient_key)
                     if e.data.kind in ("regrowth", "local_recurrence")]
        return course_rules.organ_preservation(
            [course_rules.Surgery(s.data.performed_on, s.data.procedure, s.data.margin)
             for s in surgeries], stomas, regrowths, surgery_date=start, today=today,
            horizon_months=endpoint.horizon.months)

    def endpoints(self, patient_key: str, *, today: date) -> list[EndpointResult]:
        """Each endpoint of the patient's protocol for this patient, as of ``today``: the
        same derivation as the study's outcomes (:mod:`gisttracker.outcomes.derive`), so the
        course tab and the Outcomes area never disagree; ``note`` names the deciding fact."""
        from gisttracker.outcomes import derive, text
        from gisttracker.outcomes.gather import gather

        patient = self.patient(patient_key)
        study = self.study_of(patient)
        found = gather(self.session, study, as_of=today, patient_uids=[patient.uid])
        values = (derive.derive_patient(study, found[0], as_of=today).endpoints
                  if found else {})
        out: list[EndpointResult] = []
        for endpoint in study.endpoints:
            value = values.get(endpoint.key)
            start = self._start_date(patient, study, endpoint.measured_from)
            if isinstance(value, derive.TimeToEvent):
                if value.excluded:
                    out.append(EndpointResult(endpoint.key, endpoint.name, "time_to_event",
                                              note=text.exclusion_text(value.excluded)))
                    continue
                competing = (value.decided_by.code if value.status == 2 and value.decided_by
                             else None)
                out.append(EndpointResult(
                    endpoint.key, endpoint.name, "time_to_event", value.origin,
                    value.status == 1, value.end, value.months,
                    note=_("{status}: {fact}").format(
                        status=text.status_text(value),
                        fact=text.describe_fact(study, value.decided_by)),
                    competing=competing))
            elif isinstance(value, derive.Binary) and value.excluded in (None, "no_origin"):
                # Without the origin the patient is left out of the study's rate, but the
                # course tab still shows what was found (a best response, a margin).
                out.append(self._binary(study, endpoint, value, start))
            else:
                out.append(EndpointResult(endpoint.key, endpoint.name, "not_computed", start))
        return out

    @staticmethod
    def _binary(study: Study, endpoint: Endpoint, value: derive_types.Binary,
                start: date | None) -> EndpointResult:
        from gisttracker.outcomes import text

        fact = text.describe_fact(study, value.decided_by)
        if value.excluded:
            fact = _("{what}: {why}").format(what=fact, why=text.exclusion_text(
                value.excluded)) if fact else text.exclusion_text(value.excluded)
        if endpoint.measure == "objective_response":
            criterion = _criterion_name(endpoint.criterion
                                        or study.primary_response_criterion or "recist")
            note = _("best overall response by {criterion}").format(criterion=criterion)
            return EndpointResult(endpoint.key, endpoint.name, "response", start,
                                  value=value.value, event=value.outcome,
                                  on=value.decided_by.on if value.decided_by else None,
                                  note=_("{what}: {fact}").format(what=note, fact=fact)
                                  if fact else note)
        if endpoint.measure == "r0_resection":
            return EndpointResult(endpoint.key, endpoint.name, "r0", start, event=value.outcome,
                                  on=value.decided_by.on if value.decided_by else None,
                                  value=value.value, note=fact)
        if endpoint.measure == "organ_preservation":
            shown = None if value.outcome is None else (_("met") if value.outcome
                                                        else _("failed"))
            return EndpointResult(endpoint.key, endpoint.name, "organ_preservation", start,
                                  event=value.outcome,
                                  on=(value.decided_by.on if value.decided_by
                                      and value.outcome is False else None),
                                  value=shown, note=value.note)
        shown = None if value.outcome is None else (_("yes") if value.outcome else _("no"))
        return EndpointResult(endpoint.key, endpoint.name, "proportion", start,
                              event=value.outcome, value=value.value or shown, note=fact)
