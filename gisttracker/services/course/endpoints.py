"""One patient's endpoints, computed from the declarations of the protocol file.

Each ``[[endpoints]]`` entry says what it is (:class:`gisttracker.protocols.model.Endpoint`);
nothing here knows a study or an endpoint key:

* ``time_to_event``: from the ``measured_from`` anchor date (the origin) to the first of the
  declared ``events`` on or after it and within the ``horizon`` — ``progression`` includes
  a PD on imaging by the study's primary response criterion, even without a separate
  progression event. Without the event the patient is censored at the last contact or at
  the last tumour assessment (``censor``), never after a death or the horizon; a
  ``competing`` event (death before a local recurrence) ends follow-up and is reported as
  such. Time in months is days / 30.4375.
* ``proportion``: ``objective_response`` — the best overall response by the endpoint's
  criterion (or the study's primary one) over the assessments up to the horizon, judged by
  the study's ``[response]`` rules, CR or PR being a response; ``r0_resection`` — the margin
  of the first resection; ``organ_preservation`` — the rectal composite at the horizon.
* ``repeated_measure`` and ``descriptive`` endpoints, and endpoints of a file without
  declarations, are listed as not computed here (their analysis is the outcomes area's).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from gisttracker.domain import course as course_rules
from gisttracker.i18n import _
from gisttracker.protocols import Study
from gisttracker.protocols.model import Endpoint, ResponseRules
from gisttracker.services.common import as_date as _as_date
from gisttracker.services.course.surgery import SurgeryMixin
from gisttracker.services.course.values import (
    EndpointResult,
    EventInput,
    EventRow,
    _months,
)
from gisttracker.services.tumour import SeriesResult, TumourService, best_of
from gisttracker.store.models_course import (
    CourseEvent,
    TumourAssessment,
)
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import AnchorDate, Visit


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

    def last_contact(self, patient: Patient, *, today: date) -> date | None:
        """The last date the patient is known alive (events, visits, imaging, surgery)."""
        dates: list[date] = []
        for e in CourseEvent.select().where(CourseEvent.patient == patient):
            d = _as_date(e.occurred_on)
            if d is not None:
                dates.append(d)
        for v in Visit.select(Visit.done_on).where((Visit.patient == patient)
                                                   & Visit.done_on.is_null(False)):
            d = _as_date(v.done_on)
            if d is not None:
                dates.append(d)
        for a in TumourAssessment.select(TumourAssessment.assessed_on).where(
                TumourAssessment.patient == patient):
            d = _as_date(a.assessed_on)
            if d is not None:
                dates.append(d)
        for s in self._surgeries(patient):
            d = _as_date(s.performed_on)
            if d is not None:
                dates.append(d)
        enrolled = _as_date(patient.enrolled_on)
        if enrolled is not None:
            dates.append(enrolled)
        dates = [d for d in dates if d <= today]
        return max(dates, default=None)

    def endpoints(self, patient_key: str, *, today: date) -> list[EndpointResult]:
        """Each endpoint of the patient's protocol for this patient (see module doc)."""
        patient = self.patient(patient_key)
        study = self.study_of(patient)
        events = [e for e in self.events(patient_key) if e.data.occurred_on <= today]
        tumours = TumourService(self.session)
        tumour = tumours.evaluation(patient.uid)
        rules, response_start = tumours.response_rules(patient)
        primary = study.primary_response_criterion or "recist"
        imaging_pd = next((e.assessed_on for e in tumour.evaluations
                           if (e.choi if primary == "choi" else e.recist_overall) == "PD"
                           and e.assessed_on <= today), None)
        if imaging_pd is not None:
            # Progression by the primary criterion on imaging counts even when no separate
            # progression event was entered.
            events.append(EventRow("", EventInput("progression", imaging_pd, primary)))
        contact = self.last_contact(patient, today=today)
        assessed = max((e.assessed_on for e in tumour.evaluations if e.assessed_on <= today),
                       default=None)
        out: list[EndpointResult] = []
        for endpoint in study.endpoints:
            start = self._start_date(patient, study, endpoint.measured_from)
            if endpoint.type == "time_to_event":
                last = assessed if endpoint.censor == "last_tumour_assessment" else contact
                out.append(self._time_to_event(endpoint, start, events, last))
            elif endpoint.type == "proportion" and endpoint.measure == "objective_response":
                out.append(self._response(endpoint, start, tumour, rules, response_start,
                                          endpoint.criterion or primary))
            elif endpoint.type == "proportion" and endpoint.measure == "r0_resection":
                surgeries = self.surgeries(patient_key)
                horizon = self._horizon_day(endpoint, start)
                first = next((s for s in surgeries if horizon is None
                              or s.data.performed_on <= horizon), None)
                margin = first.data.margin if first else None
                out.append(EndpointResult(
                    endpoint.key, endpoint.name, "r0", start,
                    event=None if margin is None else margin == "R0",
                    on=first.data.performed_on if first else None, value=margin))
            elif endpoint.type == "proportion" and endpoint.measure == "organ_preservation":
                op = self.organ_preservation(patient_key, today=today)
                value = None if op is None or op.preserved is None else (
                    _("met") if op.preserved else _("failed"))
                out.append(EndpointResult(endpoint.key, endpoint.name, "organ_preservation",
                                          start, event=None if op is None else op.preserved,
                                          on=op.failed_on if op else None, value=value,
                                          note=op.reason if op else ""))
            else:
                out.append(EndpointResult(endpoint.key, endpoint.name, "not_computed", start))
        return out

    def _response(self, endpoint: Endpoint, start: date | None, tumour: SeriesResult,
                  rules: ResponseRules | None, response_start: date | None,
                  criterion: str) -> EndpointResult:
        until = self._horizon_day(endpoint, start)
        best = best_of(tumour.evaluations, criterion, rules=rules, start=response_start,
                       until=until)
        note = _("best overall response by {criterion}").format(
            criterion=_criterion_name(criterion))
        if until is not None:
            note = _("best overall response by {criterion} up to {date}").format(
                criterion=_criterion_name(criterion), date=until.isoformat())
        return EndpointResult(endpoint.key, endpoint.name, "response", start, value=best,
                              event=None if best in (None, "NE") else best in ("CR", "PR"),
                              note=note)

    @staticmethod
    def _time_to_event(endpoint: Endpoint, start: date | None, events: Sequence[EventRow],
                       last: date | None) -> EndpointResult:
        if start is None:
            return EndpointResult(endpoint.key, endpoint.name, "time_to_event",
                                  note=_("no start date ({anchor})").format(
                                      anchor=endpoint.measured_from))
        horizon = endpoint.horizon.after(start)
        hits = sorted(e.data.occurred_on for e in events
                      if e.data.kind in endpoint.events and e.data.occurred_on >= start)
        rivals = sorted(e.data.occurred_on for e in events
                        if e.data.kind in endpoint.competing and e.data.occurred_on >= start)
        first_rival = rivals[0] if rivals and rivals[0] <= horizon else None
        if hits and hits[0] <= horizon and (first_rival is None or hits[0] <= first_rival):
            return EndpointResult(endpoint.key, endpoint.name, "time_to_event", start, True,
                                  hits[0], _months(start, hits[0]), _("event"))
        if first_rival is not None:
            kind = next(e.data.kind for e in events if e.data.occurred_on == first_rival
                        and e.data.kind in endpoint.competing)
            return EndpointResult(endpoint.key, endpoint.name, "time_to_event", start, False,
                                  first_rival, _months(start, first_rival),
                                  _("competing event"), competing=kind)
        censor = max(last or start, start)
        deaths = [e.data.occurred_on for e in events if e.data.kind == "death"]
        if deaths and censor > deaths[0]:
            censor = deaths[0]
        censor = min(censor, horizon)
        return EndpointResult(endpoint.key, endpoint.name, "time_to_event", start, False,
                              censor, _months(start, censor), _("censored"))
