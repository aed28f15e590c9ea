"""What every part of the course service stands on: look-ups of deaths, surgeries and
drugs, date checks, and anchor dates moved through the visits service.
"""

from __future__ import annotations

from datetime import date

from gisttracker.domain.plausibility import date_problem
from gisttracker.i18n import _
from gisttracker.services.common import SiteService, date_context
from gisttracker.services.common import as_date as _as_date
from gisttracker.services.common import id_column as _col
from gisttracker.services.course.values import DEFAULT_DRUGS
from gisttracker.store.models_course import (
    CourseEvent,
    Surgery,
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

    def _set_anchor(self, patient: Patient, key: str, on: date | None,
                    reason: str | None) -> None:
        """Set an entered anchor the protocol declares (inside the caller's transaction)."""
        study = self.study_of(patient)
        if on is None or not any(a.key == key and a.source == "entered" for a in study.anchors):
            return
        from gisttracker.services.visits import VisitService

        VisitService(self.session).set_anchor(
            patient.uid, key, on, reason=reason or _("{anchor} recorded").format(anchor=key))


    def _clear_anchor(self, patient: Patient, key: str, reason: str | None) -> None:
        """Remove an entered anchor the protocol declares, if it has a date (inside the
        caller's transaction); the visits counted from it wait for it again."""
        study = self.study_of(patient)
        if not any(a.key == key and a.source == "entered" for a in study.anchors):
            return
        from gisttracker.services.visits import VisitService
        from gisttracker.store.models_visits import AnchorDate

        if AnchorDate.get_or_none((AnchorDate.patient == patient)
                                  & (AnchorDate.anchor_key == key)) is None:
            return
        VisitService(self.session).clear_anchor(
            patient.uid, key, reason=reason or _("{anchor} removed").format(anchor=key))
