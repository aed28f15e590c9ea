"""One patient's endpoints and the rectal organ-preservation composite.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from gisttracker.domain import course as course_rules
from gisttracker.i18n import _
from gisttracker.protocols import Study
from gisttracker.services.common import as_date as _as_date
from gisttracker.services.course.surgery import SurgeryMixin
from gisttracker.services.course.values import (
    _TIME_TO_EVENT,
    EndpointResult,
    EventInput,
    EventRow,
    _months,
)
from gisttracker.services.tumour import TumourService
from gisttracker.store.models_course import (
    CourseEvent,
    TumourAssessment,
)
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import AnchorDate, Visit


class EndpointsMixin(SurgeryMixin):
    """Endpoints of one patient."""

    def _start_date(self, patient: Patient, study: Study, anchor_key: str | None
                    ) -> date | None:
        if anchor_key is None:
            return _as_date(patient.enrolled_on)
        if anchor_key == "surgery":
            first = self.index_surgery_date(patient.uid)
            if first is not None:
                return first
        row = AnchorDate.get_or_none((AnchorDate.patient == patient)
                                     & (AnchorDate.anchor_key == anchor_key))
        if row is not None:
            return _as_date(row.date)
        if anchor_key == "enrollment" or any(
                a.key == anchor_key and a.source == "enrollment" for a in study.anchors):
            return _as_date(patient.enrolled_on)
        return None

    def organ_preservation(self, patient_key: str, *, today: date
                           ) -> course_rules.OrganPreservation | None:
        """The rectal organ-preservation composite at 18 months (studies with an
        ``organ_preservation`` endpoint), counted from its ``measured_from`` date; None
        when the study has none or that date is unknown."""
        patient = self.patient(patient_key)
        study = self.study_of(patient)
        endpoint = next((e for e in study.endpoints if e.key == "organ_preservation"), None)
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
             for s in surgeries], stomas, regrowths, surgery_date=start, today=today)

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
        tumour = TumourService(self.session).evaluation(patient.uid)
        imaging_pd = next((e.assessed_on for e in tumour.evaluations
                           if (e.choi if tumour.primary == "choi" else e.recist_overall) == "PD"
                           and e.assessed_on <= today), None)
        if imaging_pd is not None:
            # Progression by the primary criterion on imaging counts even when no separate
            # progression event was entered.
            events.append(EventRow("", EventInput("progression", imaging_pd,
                                                  tumour.primary or "recist")))
        last = self.last_contact(patient, today=today)
        out: list[EndpointResult] = []
        for endpoint in study.endpoints:
            key = endpoint.key
            start = self._start_date(patient, study, endpoint.measured_from)
            prefix = next((p for p in sorted(_TIME_TO_EVENT, key=len, reverse=True)
                           if key == p or key.startswith(p + "_")), None)
            if prefix is not None:
                out.append(self._time_to_event(endpoint, _TIME_TO_EVENT[prefix], start, events,
                                               last))
            elif key.startswith("orr") or key == "imaging_response":
                result = tumour
                best = result.best_primary
                out.append(EndpointResult(
                    key, endpoint.name, "response", start, value=best,
                    event=None if best in (None, "NE") else best in ("CR", "PR"),
                    note=_("best overall response by {criterion}").format(
                        criterion="Choi" if result.primary == "choi" else "RECIST 1.1")))
            elif key == "r0":
                surgeries = self.surgeries(patient_key)
                margin = surgeries[0].data.margin if surgeries else None
                out.append(EndpointResult(key, endpoint.name, "r0", start,
                                          event=None if margin is None else margin == "R0",
                                          on=surgeries[0].data.performed_on if surgeries
                                          else None, value=margin))
            elif key == "organ_preservation":
                op = self.organ_preservation(patient_key, today=today)
                value = None if op is None or op.preserved is None else (
                    _("met") if op.preserved else _("failed"))
                out.append(EndpointResult(key, endpoint.name, "organ_preservation", start,
                                          event=None if op is None else op.preserved,
                                          on=op.failed_on if op else None, value=value,
                                          note=op.reason if op else ""))
            else:
                out.append(EndpointResult(key, endpoint.name, "not_computed", start))
        return out

    @staticmethod
    def _time_to_event(endpoint: Any, kinds: Sequence[str], start: date | None,
                       events: Sequence[EventRow], last: date | None) -> EndpointResult:
        if start is None:
            return EndpointResult(endpoint.key, endpoint.name, "time_to_event",
                                  note=_("no start date ({anchor})").format(
                                      anchor=endpoint.measured_from))
        horizon = endpoint.horizon.after(start) if any(
            (endpoint.horizon.months, endpoint.horizon.weeks, endpoint.horizon.days)) else None
        hits = sorted(e.data.occurred_on for e in events
                      if e.data.kind in kinds and e.data.occurred_on >= start)
        if hits and (horizon is None or hits[0] <= horizon):
            return EndpointResult(endpoint.key, endpoint.name, "time_to_event", start, True,
                                  hits[0], _months(start, hits[0]), _("event"))
        censor = max(last or start, start)
        deaths = [e.data.occurred_on for e in events if e.data.kind == "death"]
        if deaths:
            censor = min(censor, deaths[0]) if censor > deaths[0] else censor
        if horizon is not None and censor > horizon:
            censor = horizon
        return EndpointResult(endpoint.key, endpoint.name, "time_to_event", start, False,
                              censor, _months(start, censor), _("censored"))
