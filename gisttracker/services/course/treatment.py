"""Treatment exposures, interruptions and dose changes, and the treatment summary.

The anchors the protocol sets from the treatment (first and last dose of a drug in a phase)
and a duration group follow every change (:meth:`CourseServiceBase._follow_course`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from dateutil.relativedelta import relativedelta

from gisttracker.domain import allocation as alloc
from gisttracker.domain import treatment as tx
from gisttracker.domain.plausibility import dose_problem
from gisttracker.domain.schedule import check_timing
from gisttracker.errors import InputError
from gisttracker.i18n import _
from gisttracker.services.base import ServiceError
from gisttracker.services.common import as_date as _as_date
from gisttracker.services.common import fk_id as _fk
from gisttracker.services.common import id_column as _col
from gisttracker.services.common import pk as _pk
from gisttracker.services.course.base import CourseServiceBase
from gisttracker.services.course.values import (
    CourseInputError,
    ExposureInput,
    ExposureRow,
    InterruptionRow,
    TreatmentSummary,
    _insert,
    _text,
)
from gisttracker.services.scopes import refuse_unseen
from gisttracker.services.visits import VisitService
from gisttracker.store.models_course import (
    TreatmentExposure,
    TreatmentInterruption,
)
from gisttracker.store.models_patients import Patient


class TreatmentMixin(CourseServiceBase):
    """Drug exposures with their interruptions and dose changes."""

    def _check_exposure(self, data: ExposureInput, patient: Patient, today: date) -> None:
        errors: dict[str, str] = {}
        if not data.drug.strip():
            errors["drug"] = _("give the drug")
        dose = dose_problem(data.drug, data.dose_mg_per_day)
        if dose is not None:
            errors["dose_mg_per_day"] = dose
        if data.phase not in tx.PHASES:
            errors["phase"] = _("unknown phase {value!r}").format(value=data.phase)
        if data.stop_on is not None and data.stop_on < data.start_on:
            errors["stop_on"] = _("the last dose ({stop}) is before the first ({start})").format(
                stop=data.stop_on.isoformat(), start=data.start_on.isoformat())
        self._check_date(errors, "start_on", data.start_on, patient=patient, today=today)
        self._check_date(errors, "stop_on", data.stop_on, patient=patient, today=today)
        surgery = self.index_surgery_date(patient.uid)
        if surgery is not None and data.phase == "preoperative" and data.start_on >= surgery:
            errors.setdefault("start_on", _("preoperative treatment must start before the "
                                            "surgery ({surgery})").format(
                surgery=surgery.isoformat()))
        if surgery is not None and data.phase == "postoperative" and data.start_on < surgery:
            errors.setdefault("start_on", _("postoperative treatment cannot start before the "
                                            "surgery ({surgery})").format(
                surgery=surgery.isoformat()))
        if errors:
            raise CourseInputError(errors)

    def _exposure_values(self, data: ExposureInput) -> dict[str, Any]:
        return {"drug": data.drug.strip().lower(),
                "dose_mg_per_day": float(data.dose_mg_per_day),
                "phase": data.phase, "start_on": data.start_on, "stop_on": data.stop_on,
                "reason": _text(data.reason)}

    def add_exposure(self, patient_key: str, data: ExposureInput, *, today: date) -> str:
        """Record a period on drug; returns its uid."""
        patient = self.patient(patient_key)
        self._check_exposure(data, patient, today)
        with self.tracker.transaction(_("treatment recorded")) as w:
            uid = _insert(w, TreatmentExposure, patient,
                          {"patient": patient, **self._exposure_values(data)})
            self._follow_course(w, patient, None)
        return uid

    def update_exposure(self, uid: str, data: ExposureInput, *, today: date,
                        reason: str) -> None:
        """Correct an exposure (reason required); anchors and group follow."""
        row = self._exposure(uid)
        patient = Patient.get_by_id(_fk(row, "patient"))
        self._check_exposure(data, patient, today)
        with self.tracker.transaction(reason) as w:
            w.update(row, self._exposure_values(data), patient_uid=patient.uid,
                     require_reason=True)
            self._follow_course(w, patient, reason)

    def change_dose(self, uid: str, on: date, dose_mg_per_day: float, *, today: date,
                    reason: str) -> str:
        """A dose change from ``on``: the exposure stops the day before, a new one starts."""
        row = self._exposure(uid)
        patient = Patient.get_by_id(_fk(row, "patient"))
        start = _as_date(row.start_on) or on
        stop = _as_date(row.stop_on)
        if not reason.strip():
            raise CourseInputError({"reason": _("give the reason for the dose change")})
        if on <= start or (stop is not None and on > stop):
            raise CourseInputError({"start_on": _(
                "the new dose must start after {start} and within the exposure").format(
                start=start.isoformat())})
        new = ExposureInput(row.drug, dose_mg_per_day, row.phase, on, stop, reason)
        self._check_exposure(new, patient, today)
        with self.tracker.transaction(reason) as w:
            w.update(row, {"stop_on": on - relativedelta(days=1)}, patient_uid=patient.uid)
            created = _insert(w, TreatmentExposure, patient,
                              {"patient": patient, **self._exposure_values(new)})
            self._follow_course(w, patient, reason)
        return created

    def _exposure(self, uid: str) -> TreatmentExposure:
        row = TreatmentExposure.get_or_none(TreatmentExposure.uid == uid)
        if row is None:
            raise ServiceError(_("no treatment exposure {uid!r}").format(uid=uid))
        return row

    def delete_exposure(self, uid: str, *, reason: str) -> None:
        row = self._exposure(uid)
        patient = Patient.get_by_id(_fk(row, "patient"))
        if not reason.strip():
            raise ServiceError(_("a reason is required to delete treatment data"))
        with self.tracker.transaction(reason) as w:
            # Its interruptions go with it: one added meanwhile and never shown is refused.
            refuse_unseen(self.tracker, "treatment_interruption", "exposure_id", _pk(row),
                          row.uid)
            for i in TreatmentInterruption.select().where(
                    TreatmentInterruption.exposure == row):
                w.delete(i, patient_uid=patient.uid)
            w.delete(row, patient_uid=patient.uid)

    def add_interruption(self, exposure_uid: str, start_on: date, end_on: date | None, *,
                         reason: str, today: date) -> str:
        """Days off drug (first and last inclusive; ``end_on`` None: still off)."""
        row = self._exposure(exposure_uid)
        patient = Patient.get_by_id(_fk(row, "patient"))
        errors: dict[str, str] = {}
        if not reason.strip():
            errors["reason"] = _("give the reason for the interruption")
        start = _as_date(row.start_on) or start_on
        stop = _as_date(row.stop_on)
        if start_on < start or (stop is not None and start_on > stop):
            errors["start_on"] = _("the interruption must start within the exposure "
                                   "({start} – {stop})").format(
                start=start.isoformat(), stop=stop.isoformat() if stop else "…")
        if end_on is not None and end_on < start_on:
            errors["end_on"] = _("the interruption ends before it starts")
        self._check_date(errors, "start_on", start_on, patient=patient, today=today)
        self._check_date(errors, "end_on", end_on, patient=patient, today=today)
        if errors:
            raise CourseInputError(errors)
        with self.tracker.transaction(reason) as w:
            return _insert(w, TreatmentInterruption, patient, {
                "exposure": row, "start_on": start_on, "end_on": end_on,
                "reason": reason.strip()})

    def delete_interruption(self, uid: str, *, reason: str) -> None:
        row = TreatmentInterruption.get_or_none(TreatmentInterruption.uid == uid)
        if row is None:
            raise ServiceError(_("no interruption {uid!r}").format(uid=uid))
        exposure = TreatmentExposure.get_by_id(_fk(row, "exposure"))
        with self.tracker.transaction(reason) as w:
            w.delete(row, patient_uid=Patient.get_by_id(_fk(exposure, "patient")).uid)

    def exposures(self, patient_key: str) -> list[ExposureRow]:
        patient = self.patient(patient_key)
        rows = list(TreatmentExposure.select().where(TreatmentExposure.patient == patient)
                    .order_by(TreatmentExposure.start_on, _col(TreatmentExposure)))
        interruptions: dict[int, list[InterruptionRow]] = {}
        if rows:
            for i in (TreatmentInterruption.select()
                      .where(TreatmentInterruption.exposure.in_([_pk(r) for r in rows]))
                      .order_by(TreatmentInterruption.start_on)):
                interruptions.setdefault(_fk(i, "exposure") or 0, []).append(InterruptionRow(
                    i.uid, _as_date(i.start_on) or date.min, _as_date(i.end_on), i.reason))
        return [ExposureRow(r.uid, ExposureInput(
            r.drug, r.dose_mg_per_day, r.phase, _as_date(r.start_on) or date.min,
            _as_date(r.stop_on), r.reason), tuple(interruptions.get(_pk(r), [])))
            for r in rows]

    def treatment(self, patient_key: str, *, today: date) -> TreatmentSummary:
        """Exposures with the pre- and postoperative imatinib durations and the protocol's
        flags: its timing rules between anchor dates, its limits on treatment phases, and
        the duration group its allocation gives (all from the protocol file)."""
        patient = self.patient(patient_key)
        study = self.study_of(patient)
        rows = self.exposures(patient_key)
        surgery = self.index_surgery_date(patient_key)
        every = [tx.Exposure(r.data.drug, r.data.dose_mg_per_day, r.data.start_on,
                             r.data.stop_on, r.data.phase) for r in rows]
        imatinib = [r for r in rows if r.data.drug == "imatinib"]
        exposures = [e for e in every if e.drug == "imatinib"]
        interruptions = [tx.Interruption(i.start_on, i.end_on, i.reason or "")
                         for r in imatinib for i in r.interruptions]
        flags: list[str] = []
        pre = post = None
        until = min(today, self._death(patient) or today)
        if surgery is not None:
            try:
                pre = tx.preoperative_duration(exposures, interruptions, surgery)
            except InputError as exc:
                flags.append(str(exc))
            try:
                post = tx.postoperative_duration(exposures, interruptions, surgery, until=until)
            except InputError as exc:
                flags.append(str(exc))
        anchors = VisitService(self.session).anchors(patient.uid)
        flags.extend(check.message for check in check_timing(study, anchors) if check.problem)
        for rule in study.treatment_rules:
            problem = tx.check_treatment_rule(rule, every, until=until)
            if problem:
                flags.append(problem)
        group = None
        span = study.allocation.duration
        if study.allocation.method == "derived_duration" and span is not None:
            start, end = anchors.get(span.start), anchors.get(span.end)
            if start is not None and end is not None:
                try:
                    group = alloc.duration_group(study.allocation, start, end)
                except InputError as exc:
                    flags.append(str(exc))
        return TreatmentSummary(tuple(rows), surgery, pre, post, group, tuple(flags))
