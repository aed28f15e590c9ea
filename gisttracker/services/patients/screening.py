"""Screening: saving what the criteria need, judgements, screen failure, re-screening."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from gisttracker.domain import eligibility
from gisttracker.errors import InputError
from gisttracker.i18n import _
from gisttracker.services.base import ServiceError, Writer
from gisttracker.services.claims import lock_row
from gisttracker.services.common import pk as _pk
from gisttracker.services.patients.base import PatientServiceBase
from gisttracker.services.patients.rules import (
    _reasons_json,
    evaluate_screening,
    validate_screening,
)
from gisttracker.services.patients.values import (
    ENROLLED_STATUSES,
    SCREENING_COLUMNS,
    STATUS_LABELS,
    LabEntry,
    ScreeningData,
)
from gisttracker.services.scopes import refuse_unseen
from gisttracker.store.models_patients import (
    LabResult,
    Patient,
    PatientIdentity,
    Screening,
    ScreeningJudgement,
)


class ScreeningMixin(PatientServiceBase):
    """Screenings: reading and saving them, judgements, screen failure, re-screening."""

    def latest_screening(self, ref: str) -> Screening | None:
        patient = self.get(ref)
        found: Screening | None = (Screening.select().where(Screening.patient == patient)
                                   .order_by(Screening.id.desc()).first())
        return found

    def screenings(self, ref: str) -> list[Screening]:
        """Every screening episode of the patient, oldest first (the history)."""
        return list(Screening.select().where(Screening.patient == self.get(ref))
                    .order_by(Screening.id))

    def screening_data(self, screening: Screening) -> ScreeningData:
        """What a stored screening holds, in the form's terms."""
        values = {name: getattr(screening, name) for name in SCREENING_COLUMNS}
        labs = {
            r.analyte: LabEntry(r.value, r.unit, r.lln, r.uln, r.sampled_on)
            for r in LabResult.select().where(LabResult.screening == screening)
        }
        judgements: dict[str, bool | None] = {
            j.criterion_id: j.met
            for j in ScreeningJudgement.select().where(ScreeningJudgement.screening == screening)
        }
        return ScreeningData(values, labs, judgements)

    def judgement_records(self, screening: Screening) -> dict[str, tuple[bool, str, str]]:
        """Criterion id → (tick, who, when) for the screening's judgements."""
        return {j.criterion_id: (j.met, j.judged_by, j.judged_at)
                for j in ScreeningJudgement.select().where(
                    ScreeningJudgement.screening == screening)}

    def evaluate(self, ref: str, screening: Screening | None = None) -> eligibility.Screening:
        """The criteria of the patient's study over a stored screening (default: latest)."""
        patient = self.get(ref)
        screening = screening or self.latest_screening(ref)
        if screening is None:
            raise ServiceError(_("{patient} has not been screened").format(
                patient=patient.study_id))
        ident = PatientIdentity.get_or_none(PatientIdentity.patient == patient)
        return evaluate_screening(
            self.study(patient.study_key), self.screening_data(screening), sex=patient.sex,
            date_of_birth=ident.date_of_birth if ident else None,
            screened_on=screening.screened_on)

    @staticmethod
    def _hold_patient(w: Writer, patient: Patient) -> Patient:
        """The patient's row as stored, held until the commit (see
        :func:`~gisttracker.services.claims.lock_row`), for a check of their status or
        screening that decides a write. Every write of the screening episode — a save, a
        screen failure, a re-screening, an enrollment — holds it first, so two workstations
        take turns: the second sees the first's screening (not a second one beside it) and
        its enrollment (no change to the screening it was enrolled on)."""
        lock_row(w, "patient", _pk(patient))
        fresh: Patient = Patient.get_by_id(_pk(patient))
        return fresh

    def _not_screening(self, patient: Patient) -> ServiceError:
        return ServiceError(_("{patient} is {status}: screening can no longer change; "
                              "re-screen to start a new screening").format(
            patient=patient.study_id, status=_(STATUS_LABELS[patient.status])))

    def save_screening(self, ref: str, data: ScreeningData, *, today: date,
                       screened_on: date | None = None) -> eligibility.Screening:
        """Save the facts, labs and judgements of the patient's open screening and evaluate.

        The open screening is the latest one unless it was closed (screen failure) or the
        patient is already enrolled; a first call creates it. Validation problems raise
        ServiceError naming the first field, and nothing is written.
        """
        patient = self.get(ref)
        if patient.status != "screened":
            raise self._not_screening(patient)
        study = self.study(patient.study_key)
        current = self.latest_screening(ref)
        if current is not None and current.closed:
            current = None
        on = screened_on or (current.screened_on if current else today)
        ident = PatientIdentity.get_or_none(PatientIdentity.patient == patient)
        dob = ident.date_of_birth if ident else None
        problems = validate_screening(data, date_of_birth=dob, screened_on=on, today=today)
        if problems:
            message = next(iter(problems.values()))
            raise ServiceError(message)
        known = {c.id for c in study.criteria if c.rule is None}
        for cid in data.judgements:
            if cid not in known:
                raise ServiceError(_("{criterion} is not a judgement criterion of {study}")
                                   .format(criterion=cid, study=study.key))
        try:
            result = evaluate_screening(study, data, sex=patient.sex, date_of_birth=dob,
                                        screened_on=on)
        except InputError as exc:
            raise ServiceError(str(exc)) from None
        values: dict[str, Any] = {name: data.values.get(name) for name in SCREENING_COLUMNS}
        with self.tracker.transaction(_("screening saved")) as w:
            held = self._hold_patient(w, patient)
            if held.status != "screened":
                raise self._not_screening(held)  # enrolled or closed meanwhile
            current = self.latest_screening(patient.uid)  # one saved meanwhile: that one
            if current is not None and current.closed:
                current = None
            pu = patient.uid
            outcome = {"outcome": result.outcome, "reasons": _reasons_json(result)}
            if current is None:
                current = w.insert(Screening, patient_uid=pu, patient=patient, screened_on=on,
                                   screened_by=w.user, **values, **outcome)
            else:
                w.update(current, {"screened_on": on, **values, **outcome}, patient_uid=pu)
            self._save_labs(w, patient, current, data.labs, on)
            self._save_judgements(w, patient, current, data.judgements)
        return result

    def correct_screening(self, ref: str, data: ScreeningData, *, today: date, reason: str,
                          screened_on: date | None = None) -> eligibility.Screening:
        """Correct the screening of a patient already enrolled (``reason`` required, every
        change audited with it) and evaluate the criteria again over it.

        The enrollment stands whatever the new outcome (it cannot be undone); the returned
        evaluation says whether the patient met the criteria on the corrected data, so the
        window can say so (a protocol deviation to report). A screening still open is saved
        with :meth:`save_screening`; a screen failure is re-screened.
        """
        patient = self.get(ref)
        if patient.status not in ENROLLED_STATUSES:
            raise ServiceError(_("{patient} is {status}: only the screening of an enrolled "
                                 "patient is corrected this way").format(
                patient=patient.study_id, status=_(STATUS_LABELS[patient.status])))
        if not (reason and reason.strip()):
            raise ServiceError(_("a reason is required to correct a screening"))
        screening = self.latest_screening(ref)
        if screening is None:
            raise ServiceError(_("{patient} has not been screened").format(
                patient=patient.study_id))
        study = self.study(patient.study_key)
        on = screened_on or screening.screened_on
        if patient.enrolled_on is not None and on > patient.enrolled_on:
            raise ServiceError(_("Screening date {date} is after the enrollment ({enrolled})")
                               .format(date=on.isoformat(),
                                       enrolled=patient.enrolled_on.isoformat()))
        ident = PatientIdentity.get_or_none(PatientIdentity.patient == patient)
        dob = ident.date_of_birth if ident else None
        problems = validate_screening(data, date_of_birth=dob, screened_on=on, today=today)
        if problems:
            raise ServiceError(next(iter(problems.values())))
        known = {c.id for c in study.criteria if c.rule is None}
        for cid in data.judgements:
            if cid not in known:
                raise ServiceError(_("{criterion} is not a judgement criterion of {study}")
                                   .format(criterion=cid, study=study.key))
        try:
            result = evaluate_screening(study, data, sex=patient.sex, date_of_birth=dob,
                                        screened_on=on)
        except InputError as exc:
            raise ServiceError(str(exc)) from None
        values: dict[str, Any] = {name: data.values.get(name) for name in SCREENING_COLUMNS}
        with self.tracker.transaction(reason.strip()) as w:
            w.update(screening, {"screened_on": on, **values, "outcome": result.outcome,
                                 "reasons": _reasons_json(result)}, patient_uid=patient.uid)
            self._save_labs(w, patient, screening, data.labs, on)
            self._save_judgements(w, patient, screening, data.judgements)
        return result

    def _save_labs(self, w: Writer, patient: Patient, screening: Screening,
                   labs: Mapping[str, LabEntry], on: date) -> None:
        # A form that sent the versions it showed rewrites the labs it showed: a value
        # someone else added meanwhile would be deleted unseen, so that is refused.
        refuse_unseen(self.tracker, "lab_result", "screening_id", _pk(screening),
                      screening.uid)
        existing = {r.analyte: r for r in LabResult.select().where(
            LabResult.screening == screening)}
        for key, lab in labs.items():
            values: dict[str, Any] = {"value": float(lab.value), "unit": lab.unit,
                                      "lln": lab.lln, "uln": lab.uln,
                                      "sampled_on": lab.sampled_on or on}
            if key in existing:
                w.update(existing.pop(key), values, patient_uid=patient.uid)
            else:
                w.insert(LabResult, patient_uid=patient.uid, patient=patient,
                         screening=screening, analyte=key, **values)
        for row in existing.values():
            w.delete(row, patient_uid=patient.uid)

    def _save_judgements(self, w: Writer, patient: Patient, screening: Screening,
                         ticks: Mapping[str, bool | None]) -> None:
        # The same for a judgement someone else ticked meanwhile (the form shows it as not
        # judged, and saving that would delete it).
        refuse_unseen(self.tracker, "screening_judgement", "screening_id", _pk(screening),
                      screening.uid)
        existing = {j.criterion_id: j for j in ScreeningJudgement.select().where(
            ScreeningJudgement.screening == screening)}
        for cid, tick in ticks.items():
            row = existing.get(cid)
            if tick is None:
                if row is not None:
                    w.delete(row, patient_uid=patient.uid)
            elif row is None:
                w.insert(ScreeningJudgement, patient_uid=patient.uid, screening=screening,
                         criterion_id=cid, met=tick, judged_by=w.user, judged_at=w.at)
            elif row.met != tick:
                w.update(row, {"met": tick, "judged_by": w.user, "judged_at": w.at},
                         patient_uid=patient.uid)

    def close_screen_failure(self, ref: str, *, reason: str | None = None,
                             criteria: Sequence[str] = (), today: date | None = None) -> None:
        """Close the open screening as a screen failure; its reasons stay in the log.

        Always possible while the patient is being screened, whatever the criteria say: a
        patient who declines consent is a screen failure before anything is measured. The
        reasons are the ``criteria`` chosen (ids of the study's criteria) and/or the typed
        ``reason``; at least one is needed unless the criteria already make the patient
        ineligible (their failures are then the reasons). A patient with no screening yet
        gets one, dated ``today`` (default: the registration day), so the log has the row.
        """
        patient = self.get(ref)
        if patient.status != "screened":
            raise ServiceError(_("{patient} is {status}: only a patient being screened can be "
                                 "a screen failure").format(
                patient=patient.study_id, status=_(STATUS_LABELS[patient.status])))
        study = self.study(patient.study_key)
        known = {c.id: c for c in study.criteria}
        unknown = [cid for cid in criteria if cid not in known]
        if unknown:
            raise ServiceError(_("{criterion} is not a criterion of {study}").format(
                criterion=unknown[0], study=study.key))
        screening = self.latest_screening(ref)
        if screening is not None and screening.closed:
            screening = None
        typed = (reason or "").strip()
        # A chosen criterion is kept by id, with its text (source language) to fall back on.
        chosen = [eligibility.criterion_entry(known[cid]) for cid in dict.fromkeys(criteria)]
        ineligible = screening is not None and screening.outcome == eligibility.INELIGIBLE
        if not (typed or chosen or ineligible):
            raise ServiceError(_("{patient} is not ineligible by the criteria: say why the "
                                 "screening failed").format(patient=patient.study_id))
        reasons = json.loads(screening.reasons or "[]") if ineligible and screening else []
        listed = {r.get("criterion") for r in reasons}
        reasons += [r for r in chosen if r["criterion"] not in listed]
        if typed:
            # Typed by the investigator: kept and shown as typed, never translated.
            reasons.append({"criterion": None, "reason": typed})
        why = typed or "; ".join(f"{r['criterion']}: {r['reason']}" for r in chosen) \
            or _("screen failure")
        with self.tracker.transaction(why) as w:
            self._hold_patient(w, patient)  # its status is checked by its version below
            if screening is None:
                # One saved meanwhile on another workstation is the one closed.
                screening = self.latest_screening(patient.uid)
                if screening is not None and screening.closed:
                    screening = None
            if screening is None:
                screening = w.insert(Screening, patient_uid=patient.uid, patient=patient,
                                     screened_on=today or patient.created_on,
                                     screened_by=w.user)
            w.update(screening, {"closed": True,
                                 "reasons": json.dumps(reasons, ensure_ascii=False)},
                     patient_uid=patient.uid)
            w.update(patient, {"status": "screen_failed"}, patient_uid=patient.uid)

    def rescreen(self, ref: str, *, today: date) -> Screening:
        """Start a new screening episode for a screen failure; the old one stays."""
        patient = self.get(ref)
        if patient.status != "screen_failed":
            raise ServiceError(_("only a screen failure can be re-screened ({patient} is "
                                 "{status})").format(patient=patient.study_id,
                                                     status=_(STATUS_LABELS[patient.status])))
        with self.tracker.transaction(_("re-screening")) as w:
            w.update(patient, {"status": "screened"}, patient_uid=patient.uid)
            return w.insert(Screening, patient_uid=patient.uid, patient=patient,
                            screened_on=today, screened_by=w.user)

