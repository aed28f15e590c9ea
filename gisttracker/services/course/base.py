"""What every part of the course service stands on: look-ups of deaths, surgeries and
drugs, date checks, and the anchor dates and groups that follow the recorded course.

Which anchor follows which record is the protocol's (``set_by`` on an ``[[anchors]]``
entry: the first or last dose of a drug in a phase, the first surgery, or the first surgery
of some procedures); no anchor name is known here.
"""

from __future__ import annotations

from datetime import date

from gisttracker.domain.plausibility import date_problem
from gisttracker.i18n import _, local
from gisttracker.protocols.model import AnchorSource
from gisttracker.services.base import Writer
from gisttracker.services.common import SiteService, date_context
from gisttracker.services.common import as_date as _as_date
from gisttracker.services.common import id_column as _col
from gisttracker.services.course.values import DEFAULT_DRUGS
from gisttracker.store.models_course import (
    CourseEvent,
    Surgery,
    TreatmentExposure,
)
from gisttracker.store.models_patients import Patient


class CourseServiceBase(SiteService):
    """Look-ups and checks the treatment, surgery, pathology and event parts share."""


    def drugs(self, patient_key: str) -> list[str]:
        """Drug names to offer: those of the protocol's arms first, then the usual ones."""
        study = self.study_of(self.patient(patient_key))
        names: list[str] = []
        for arm in study.arms:
            for intervention in arm.interventions:
                if intervention.type == "drug":
                    names.append(intervention.name.split(" (")[0].split()[0].lower())
            names.extend(option.drug.lower() for option in arm.options)
        return list(dict.fromkeys([*names, *DEFAULT_DRUGS]))

    def _death(self, patient: Patient, *, exclude: str | None = None) -> date | None:
        query = CourseEvent.select().where((CourseEvent.patient == patient)
                                           & (CourseEvent.kind == "death"))
        dates = [_as_date(e.occurred_on) for e in query if e.uid != exclude]
        return min((d for d in dates if d), default=None)

    def _surgeries(self, patient: Patient) -> list[Surgery]:
        return list(Surgery.select().where(Surgery.patient == patient)
                    .order_by(Surgery.performed_on, _col(Surgery)))

    def index_surgery_date(self, patient_key: str) -> date | None:
        """The date of the first surgery (the index operation), or None."""
        rows = self._surgeries(self.patient(patient_key))
        return _as_date(rows[0].performed_on) if rows else None

    def _check_date(self, errors: dict[str, str], name: str, on: date | None, *,
                    patient: Patient, today: date, exclude_death: str | None = None) -> None:
        if on is None:
            return
        ctx = date_context(patient, today)
        early = date_problem(on, today=today, birth=ctx.birth)
        if early is not None and on <= today and (ctx.death is None or on <= ctx.death):
            errors.setdefault(name, early)  # before 1900 or before birth
        if on > today:
            errors.setdefault(name, _("{date} is in the future (today is {today})").format(
                date=on.isoformat(), today=today.isoformat()))
        died = self._death(patient, exclude=exclude_death)
        if died is not None and on > died:
            errors.setdefault(name, _("{date} is after the recorded death ({death})").format(
                date=on.isoformat(), death=died.isoformat()))

    def _anchor_from_course(self, patient: Patient, source: AnchorSource) -> date | None:
        """The date an anchor with ``set_by`` = ``source`` takes from the recorded course
        (None when the course does not give it yet: no such record, or a last dose while the
        drug is still being taken)."""
        if source.record == "first_surgery":
            surgeries = [s for s in self._surgeries(patient)
                         if not source.procedures or s.procedure in source.procedures]
            return _as_date(surgeries[0].performed_on) if surgeries else None
        query = TreatmentExposure.select().where(TreatmentExposure.patient == patient)
        rows = [r for r in query
                if (source.drug is None or r.drug == source.drug)
                and (source.phase is None or r.phase == source.phase)]
        if not rows:
            return None
        if source.record == "first_dose":
            return min(_as_date(r.start_on) or date.max for r in rows)
        stops = [_as_date(r.stop_on) for r in rows]
        if any(stop is None for stop in stops):
            return None
        return max(stop for stop in stops if stop is not None)

    def _follow_course(self, w: Writer, patient: Patient, reason: str | None) -> None:
        """Inside the caller's transaction: every anchor the protocol sets from the course
        takes its date from the records (through the visits service, so the visits replan
        and each move is audited), then a group derived from the data follows."""
        study = self.study_of(patient)
        from gisttracker.services.visits import VisitService

        visits = VisitService(self.session)
        for anchor in study.anchors:
            if anchor.source != "entered" or anchor.set_by is None:
                continue
            on = self._anchor_from_course(patient, anchor.set_by)
            if on is not None:
                visits.set_anchor(patient.uid, anchor.key, on, reason=reason or _(
                    "{anchor} follows the recorded course").format(anchor=local(anchor.label)))
        from gisttracker.services.patients import recompute_group

        recompute_group(w, self.session, Patient.get_by_id(patient.id), reason)

    def _clear_course_anchors(self, patient: Patient, reason: str | None) -> None:
        """Inside the caller's transaction: an anchor the protocol takes from the first
        surgery loses its date when no such surgery is left (the one recorded was deleted);
        the visits counted from it wait for it again."""
        study = self.study_of(patient)
        from gisttracker.services.visits import VisitService
        from gisttracker.store.models_visits import AnchorDate

        for anchor in study.anchors:
            source = anchor.set_by
            if anchor.source != "entered" or source is None \
                    or source.record != "first_surgery":
                continue
            if self._anchor_from_course(patient, source) is not None:
                continue
            if AnchorDate.get_or_none((AnchorDate.patient == patient)
                                      & (AnchorDate.anchor_key == anchor.key)) is None:
                continue
            VisitService(self.session).clear_anchor(
                patient.uid, anchor.key,
                reason=reason or _("{anchor} removed").format(anchor=local(anchor.label)))
