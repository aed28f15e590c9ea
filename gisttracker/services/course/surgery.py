"""Surgeries and pathology with NIH-2008 risk.

A surgery moves the anchors the protocol sets from surgeries (``set_by.record =
"first_surgery"``) and a group derived from the treatment received.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from gisttracker.domain import course as course_rules
from gisttracker.i18n import _
from gisttracker.protocols.catalogue import MUTATIONS, PRIMARY_SITES
from gisttracker.services.base import ServiceError
from gisttracker.services.common import as_date as _as_date
from gisttracker.services.common import fk_id as _fk
from gisttracker.services.common import id_column as _col
from gisttracker.services.common import pk as _pk
from gisttracker.services.course.events import EventsMixin
from gisttracker.services.course.treatment import TreatmentMixin
from gisttracker.services.course.values import (
    MITOTIC_UNITS,
    STOMAS,
    CourseInputError,
    PathologyInput,
    PathologyRow,
    SurgeryInput,
    SurgeryRow,
    _text,
    procedure_label,
    risk_of,
)
from gisttracker.store.models_course import (
    Pathology,
    Surgery,
)
from gisttracker.store.models_patients import Patient, Screening


class SurgeryMixin(TreatmentMixin, EventsMixin):
    """Surgeries and their pathology."""

    def _check_surgery(self, data: SurgeryInput, patient: Patient, today: date) -> None:
        errors: dict[str, str] = {}
        if data.procedure not in course_rules.PROCEDURES:
            errors["procedure"] = _("choose the procedure")
        if data.margin is not None and data.margin not in course_rules.MARGINS:
            errors["margin"] = _("margin must be R0, R1 or R2")
        if data.stoma not in STOMAS:
            errors["stoma"] = _("unknown stoma {value!r}").format(value=data.stoma)
        if data.stoma_reversed_on is not None:
            if data.stoma != "temporary":
                errors["stoma_reversed_on"] = _("only a temporary stoma can be reversed")
            elif data.stoma_reversed_on < data.performed_on:
                errors["stoma_reversed_on"] = _("the stoma is reversed before the surgery")
        self._check_date(errors, "performed_on", data.performed_on, patient=patient,
                         today=today)
        self._check_date(errors, "stoma_reversed_on", data.stoma_reversed_on,
                         patient=patient, today=today)
        if errors:
            raise CourseInputError(errors)

    @staticmethod
    def _surgery_values(data: SurgeryInput) -> dict[str, Any]:
        return {"performed_on": data.performed_on, "procedure": data.procedure,
                "margin": data.margin, "ruptured": data.ruptured, "stoma": data.stoma,
                "stoma_reversed_on": data.stoma_reversed_on,
                "complications": _text(data.complications)}

    def record_surgery(self, patient_key: str, data: SurgeryInput, *, today: date,
                       uid: str | None = None, reason: str | None = None) -> str:
        """Record (or, with ``uid`` and a reason, correct) a surgery; the first surgery sets
        the protocol's ``surgery`` anchor and the visits replan."""
        patient = self.patient(patient_key)
        self._check_surgery(data, patient, today)
        with self.tracker.transaction(reason or _("surgery recorded")) as w:
            if uid is None:
                row = w.insert(Surgery, patient_uid=patient.uid, patient=patient,
                               **self._surgery_values(data))
            else:
                found = Surgery.get_or_none((Surgery.uid == uid) & (Surgery.patient == patient))
                if found is None:
                    raise ServiceError(_("no surgery {uid!r}").format(uid=uid))
                row = found
                w.update(row, self._surgery_values(data), patient_uid=patient.uid,
                         require_reason=True)
            first = self.index_surgery_date(patient.uid)
            recurrences = [e for e in self.events(patient.uid)
                           if e.data.kind in course_rules.RECURRENCE_KINDS
                           and first is not None and e.data.occurred_on <= first]
            if recurrences:
                raise CourseInputError({"performed_on": _(
                    "a recurrence is recorded on {date}, not after this surgery").format(
                    date=recurrences[0].data.occurred_on.isoformat())})
            # The anchors the protocol sets from surgeries, and a group that follows the
            # treatment received (a hepatic resection after enrollment: IM + HR).
            self._follow_course(w, patient, reason or _("{procedure} on {date}").format(
                procedure=procedure_label(data.procedure), date=data.performed_on.isoformat()))
        return str(row.uid)

    def surgeries(self, patient_key: str) -> list[SurgeryRow]:
        return [SurgeryRow(r.uid, SurgeryInput(
            _as_date(r.performed_on) or date.min, r.procedure, r.margin, r.ruptured,
            r.stoma or "none", _as_date(r.stoma_reversed_on), r.complications))
            for r in self._surgeries(self.patient(patient_key))]

    def delete_surgery(self, uid: str, *, reason: str) -> None:
        """Remove a surgery recorded by mistake (``reason`` required). What depended on it
        follows: the surgery anchor moves to the next surgery (or is removed, and the visits
        counted from it wait again), the preoperative dates and group are derived again, and
        pathology reports linked to it keep their data without the link."""
        row = Surgery.get_or_none(Surgery.uid == uid)
        if row is None:
            raise ServiceError(_("no surgery {uid!r}").format(uid=uid))
        if not reason.strip():
            raise ServiceError(_("a reason is required to delete a surgery"))
        patient = Patient.get_by_id(_fk(row, "patient"))
        with self.tracker.transaction(reason) as w:
            for report in Pathology.select().where(Pathology.surgery == row):
                w.update(report, {"surgery": None}, patient_uid=patient.uid)
            w.delete(row, patient_uid=patient.uid)
            self._follow_course(w, patient, reason)
            self._clear_course_anchors(patient, reason)

    # ----- pathology ----------------------------------------------------------------------
    def record_pathology(self, patient_key: str, data: PathologyInput, *, today: date,
                         uid: str | None = None, reason: str | None = None) -> str:
        """Record (or correct, with ``uid`` and a reason) a pathology report."""
        patient = self.patient(patient_key)
        errors: dict[str, str] = {}
        if data.tumour_size_cm is not None and not 0 <= data.tumour_size_cm <= 100:
            errors["tumour_size_cm"] = _("size must be between 0 and 100 cm")
        if data.mitotic_count is not None and not 0 <= data.mitotic_count <= 1000:
            errors["mitotic_count"] = _("mitotic count must be between 0 and 1000")
        if data.mitotic_unit not in MITOTIC_UNITS:
            errors["mitotic_unit"] = _("unit must be per 50 HPF or per 5 mm²")
        if data.primary_site is not None and data.primary_site not in PRIMARY_SITES:
            errors["primary_site"] = _("unknown primary site {value!r}").format(
                value=data.primary_site)
        if data.mutation is not None and data.mutation not in MUTATIONS:
            errors["mutation"] = _("unknown mutation {value!r}").format(value=data.mutation)
        self._check_date(errors, "reported_on", data.reported_on, patient=patient, today=today)
        surgery_id = None
        if data.surgery_uid:
            surgery = Surgery.get_or_none((Surgery.uid == data.surgery_uid)
                                          & (Surgery.patient == patient))
            if surgery is None:
                errors["surgery_uid"] = _("no such surgery for this patient")
            else:
                surgery_id = _pk(surgery)
        if errors:
            raise CourseInputError(errors)
        values: dict[str, Any] = {
                  "reported_on": data.reported_on, "primary_site": data.primary_site,
                  "tumour_size_cm": None if data.tumour_size_cm is None
                  else float(data.tumour_size_cm),
                  "mitotic_count": None if data.mitotic_count is None
                  else float(data.mitotic_count),
                  "mitotic_unit": data.mitotic_unit, "mutation": data.mutation,
                  "ruptured": data.ruptured, "response_grade": _text(data.response_grade),
                  "surgery": surgery_id}
        with self.tracker.transaction(reason or _("pathology recorded")) as w:
            if uid is None:
                row = w.insert(Pathology, patient_uid=patient.uid, patient=patient, **values)
            else:
                found = Pathology.get_or_none((Pathology.uid == uid)
                                              & (Pathology.patient == patient))
                if found is None:
                    raise ServiceError(_("no pathology {uid!r}").format(uid=uid))
                row = found
                w.update(row, values, patient_uid=patient.uid, require_reason=True)
        return str(row.uid)

    def delete_pathology(self, uid: str, *, reason: str) -> None:
        """Remove a pathology report recorded by mistake (``reason`` required)."""
        row = Pathology.get_or_none(Pathology.uid == uid)
        if row is None:
            raise ServiceError(_("no pathology {uid!r}").format(uid=uid))
        if not reason.strip():
            raise ServiceError(_("a reason is required to delete a pathology report"))
        with self.tracker.transaction(reason) as w:
            w.delete(row, patient_uid=Patient.get_by_id(_fk(row, "patient")).uid)

    def default_primary_site(self, patient_key: str) -> str | None:
        """The primary site given at screening (to pre-fill pathology), or None."""
        row = (Screening.select(Screening.primary_site)
               .where(Screening.patient == self.patient(patient_key))
               .order_by(Screening.screened_on.desc()).first())
        return row.primary_site if row else None

    def pathology(self, patient_key: str) -> list[PathologyRow]:
        patient = self.patient(patient_key)
        surgeries = {_pk(s): s for s in self._surgeries(patient)}
        out = []
        for r in Pathology.select().where(Pathology.patient == patient).order_by(
                _col(Pathology)):
            surgery = surgeries.get(_fk(r, "surgery") or 0)
            data = PathologyInput(_as_date(r.reported_on), r.primary_site, r.tumour_size_cm,
                                  r.mitotic_count, r.mitotic_unit or "50hpf", r.mutation,
                                  r.ruptured, r.response_grade,
                                  surgery.uid if surgery else None)
            risk, missing = risk_of(data, surgery_ruptured=surgery.ruptured if surgery else None)
            out.append(PathologyRow(r.uid, data, risk, missing))
        return out

