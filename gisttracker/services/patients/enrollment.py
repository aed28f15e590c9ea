"""Enrollment: into the arm or group the study's allocation gives, randomization with
concealed allocation, the arm option, and groups derived from treatment or dates.

Every rule comes from the protocol file: the strata and where their values come from (a
patient attribute or a screening field, :func:`gisttracker.protocols.catalogue.stratum_source`),
the duration groups and the two anchors they count between, and the group rules of a study
whose group is the treatment received. A derived group follows the data after enrollment
(:func:`recompute_group`): corrected dates, or a procedure recorded later on the course tab,
move the patient to the group the protocol gives, audited with the reason.

Concealment: the allocation list of a randomized study is never stored and no method here
returns an allocation that has not been made. :meth:`EnrollmentMixin.enroll` computes the one
allocation it needs, at the moment of randomization, inside the transaction that records it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from datetime import date
from typing import Any

from gisttracker.domain import allocation as alloc
from gisttracker.domain import eligibility, plausibility
from gisttracker.errors import InputError
from gisttracker.i18n import _, join_sentences, local
from gisttracker.protocols import Study
from gisttracker.protocols.catalogue import stratum_source
from gisttracker.services.base import ReasonRequired, ServiceError, Writer
from gisttracker.services.concealment import Keyring
from gisttracker.services.patients.rules import screening_facts
from gisttracker.services.patients.screening import ScreeningMixin
from gisttracker.services.patients.values import (
    ENROLLED_STATUSES,
    EnrollmentPreview,
    EnrollmentResult,
)
from gisttracker.services.versions import protocol_version_id
from gisttracker.session import Session
from gisttracker.store.models_course import Surgery
from gisttracker.store.models_patients import (
    Patient,
    PatientIdentity,
    Randomization,
    RandomizationSeed,
    Screening,
)
from gisttracker.store.models_visits import AnchorDate


class EnrollmentMixin(ScreeningMixin):
    """Enrollment into the arm or group the study's allocation gives."""

    def _eligible_screening(self, patient: Patient) -> Screening:
        if patient.status in ENROLLED_STATUSES:
            if Randomization.get_or_none(Randomization.patient == patient) is not None:
                raise ServiceError(_("{patient} is already randomized ({number}); a "
                                     "randomization cannot be repeated").format(
                    patient=patient.study_id, number=patient.randomization_number))
            raise ServiceError(_("{patient} is already enrolled").format(
                patient=patient.study_id))
        screening = self.latest_screening(patient.uid)
        if patient.status != "screened" or screening is None or screening.closed:
            raise ServiceError(_("{patient} has no open eligible screening").format(
                patient=patient.study_id))
        # Evaluated again from what is stored: never enroll on a stale outcome.
        result = self.evaluate(patient.uid, screening)
        if result.outcome != eligibility.ELIGIBLE:
            reasons = join_sentences(f"{r.criterion.id}: {r.reason}"
                                for r in (result.failures or result.unknown)[:3])
            raise ServiceError(_("{patient} is not eligible ({outcome}): {reasons}").format(
                patient=patient.study_id, outcome=_(eligibility.OUTCOME_LABELS[result.outcome]),
                reasons=reasons))
        return screening

    def _stratum(self, study: Study, patient: Patient, screening: Screening) -> str:
        """The patient's stratum: each factor's value from where the protocol says (a patient
        attribute such as the site, or a fact of the screening the enrollment rests on)."""
        facts: Any = None
        values: dict[str, object] = {}
        for name in study.allocation.strata:
            source = stratum_source(name)
            if source is None:  # the loader refuses such a protocol
                raise ServiceError(_("stratification factor {name} has no source").format(
                    name=name))
            kind, column = source
            if kind == "patient":
                values[name] = getattr(patient, column)
                continue
            if facts is None:
                ident = PatientIdentity.get_or_none(PatientIdentity.patient == patient)
                facts = screening_facts(
                    self.screening_data(screening), sex=patient.sex,
                    date_of_birth=ident.date_of_birth if ident else None,
                    screened_on=screening.screened_on)
            values[name] = facts.get(column)
        try:
            return alloc.stratum_key(study.allocation.strata, values)
        except InputError as exc:
            raise ServiceError(str(exc)) from None

    def preview_enrollment(self, ref: str) -> EnrollmentPreview:
        """What :meth:`enroll` will do, in words, without doing it (and without the arm of
        a randomization: that stays hidden until it is made)."""
        patient = self.get(ref)
        screening = self._eligible_screening(patient)
        study = self.study(patient.study_key)
        method = study.allocation.method
        pid = patient.study_id
        if method == "randomized":
            stratum = self._stratum(study, patient, screening)
            message = _("{patient} will be randomized in stratum {stratum} of {study}; this "
                        "cannot be undone.").format(patient=pid, stratum=stratum or "—",
                                                    study=study.key)
            return EnrollmentPreview(pid, study.key, method, message, stratum=stratum)
        if method == "single_arm":
            arm = study.arms[0]
            message = _("{patient} will be enrolled in {study}, arm {arm} ({name}).").format(
                patient=pid, study=study.key, arm=arm.code, name=local(arm.name))
            return EnrollmentPreview(pid, study.key, method, message, arm_code=arm.code)
        if method == "treatment_received":
            message = _("{patient} will be enrolled in {study}; the group follows from the "
                        "treatment received.").format(patient=pid, study=study.key)
            return EnrollmentPreview(pid, study.key, method, message)
        span = study.allocation.duration
        assert span is not None  # the loader requires it for this method
        message = _("{patient} will be enrolled in {study}; the group follows from the time "
                    "between {start} and {end}.").format(
            patient=pid, study=study.key, start=local(study.anchor(span.start).label),
            end=local(study.anchor(span.end).label))
        return EnrollmentPreview(pid, study.key, method, message)

    def enroll(self, ref: str, *, today: date, rng: random.Random | None = None,
               seed: str | None = None, arm_option: str | None = None,
               procedures: Iterable[str] | None = None, preop_start: date | None = None,
               last_preop_dose: date | None = None) -> EnrollmentResult:
        """Enroll an eligible patient into the arm or group their study's allocation gives.

        Randomized study: ``rng`` (or an explicit ``seed``) is used only the first time, to
        create the study's secret seed; ``arm_option`` is the patient's choice within the
        allocated arm, used when that arm has options (it may also be recorded later).
        Group from the treatment received (NCT06038552): ``procedures`` received so far (may
        be empty); procedures recorded later on the course tab move the group too.
        Duration groups: ``preop_start`` and ``last_preop_dose`` are the dates of the two
        anchors the protocol's ``[allocation] duration`` counts between.
        Refused (ServiceError, nothing written) unless the latest screening is eligible.
        """
        patient = self.get(ref)
        screening = self._eligible_screening(patient)
        study = self.study(patient.study_key)
        if today < screening.screened_on:
            raise ServiceError(_("the enrollment date is before the screening date"))
        method = study.allocation.method
        # The protocol version the patient is enrolled under travels with the patient.
        values: dict[str, Any] = {"status": "enrolled", "enrolled_on": today,
                                  "protocol_version_id": protocol_version_id(study)}
        if method == "treatment_received":
            if procedures is None:
                raise ServiceError(_("give the liver-directed treatment received (none for "
                                     "imatinib alone)"))
            procs = sorted({alloc.procedure_code(p) for p in procedures})
            values["arm_code"] = alloc.group_from_treatment(
                study.allocation, [*procs, *_recorded_procedures(patient)])
            values["treatment_procedures"] = json.dumps(procs)
        elif method == "derived_duration":
            if preop_start is None or last_preop_dose is None:
                raise ServiceError(_("give the start and the last dose of preoperative "
                                     "imatinib"))
            values["arm_code"] = self._duration_group(study, preop_start, last_preop_dose,
                                                      today)
        elif method == "single_arm":
            values["arm_code"] = study.arms[0].code
        stratum = None
        randomization: Randomization | None = None
        with self.tracker.transaction(_("enrollment")) as w:
            # Checked again with the patient held (_hold_patient): a screening changed or a
            # second enrollment made meanwhile on another workstation is seen here.
            screening = self._eligible_screening(self._hold_patient(w, patient))
            pu = patient.uid
            values["enrolled_by"] = w.user
            if method == "randomized":
                stratum = self._stratum(study, patient, screening)
                randomization = self._randomize(w, study, patient, stratum, rng, seed)
                values["arm_code"] = randomization.arm_code
                values["randomization_number"] = randomization.number
            arm = study.arm(values["arm_code"])
            if arm_option is not None and arm.options:
                if arm_option not in {o.code for o in arm.options}:
                    raise ServiceError(_("{option!r} is not an option of arm {arm}").format(
                        option=arm_option, arm=arm.code))
                values["arm_option"] = arm_option
            w.update(patient, values, patient_uid=pu)
            if method == "derived_duration":
                assert preop_start is not None and last_preop_dose is not None
                span = study.allocation.duration
                assert span is not None  # the loader requires it for this method
                self._set_anchor(w, patient, span.start, preop_start)
                self._set_anchor(w, patient, span.end, last_preop_dose)
            from gisttracker.services.visits import plan_for_enrollment

            plan_for_enrollment(w, self.session, patient)
        return EnrollmentResult(
            patient=patient.study_id, study_key=study.key, arm_code=arm.code, arm_name=arm.name,
            arm_option=patient.arm_option, enrolled_on=today, enrolled_by=str(patient.enrolled_by),
            randomization_number=patient.randomization_number, stratum=stratum,
            randomized_at=randomization.randomized_at if randomization else None)

    def _randomize(self, w: Writer, study: Study, patient: Patient, stratum: str,
                   rng: random.Random | None, seed: str | None) -> Randomization:
        w.serialize()  # one position, one number, one seed: one writer at a time (a server)
        if Randomization.get_or_none(Randomization.patient == patient) is not None:
            raise ServiceError(_("{patient} is already randomized").format(
                patient=patient.study_id))
        # The seed is sealed (services.concealment): opened here with the acting account's
        # allocation key, only for the one allocation this transaction makes.
        keyring = Keyring(self.tracker)
        record = RandomizationSeed.get_or_none(RandomizationSeed.study_key == study.key)
        if record is None:
            if seed is None:
                if rng is None:
                    raise ServiceError(_("the first randomization of {study} needs a random "
                                         "generator for the seed").format(study=study.key))
                seed = f"{rng.getrandbits(128):032x}"
            w.insert(RandomizationSeed, **keyring.sealed_row(study.key, seed),
                     created_at=w.at, created_by=w.user)
            clear = seed
        else:
            clear = keyring.seed(study.key) or ""
        position = Randomization.select().where(
            (Randomization.study_key == study.key) & (Randomization.stratum == stratum)).count()
        arm_code = alloc.allocation_at(study.allocation, [a.code for a in study.arms],
                                       clear, stratum, position)
        number = f"R-{Randomization.select().count() + 1:04d}"
        return w.insert(Randomization, patient_uid=patient.uid, patient=patient,
                        study_key=study.key, stratum=stratum, position=position, number=number,
                        arm_code=arm_code, randomized_at=w.at, randomized_by=w.user)

    def randomization(self, ref: str) -> Randomization | None:
        """The randomization already made for the patient (never a future one)."""
        return Randomization.get_or_none(Randomization.patient == self.get(ref))

    def record_arm_option(self, ref: str, option: str, *, reason: str | None = None) -> None:
        """The patient's choice within their arm (NCT03862768 arm B: IM600 or SU37.5)."""
        patient = self.get(ref)
        if patient.arm_code is None:
            raise ServiceError(_("{patient} is not enrolled").format(patient=patient.study_id))
        arm = self.study(patient.study_key).arm(patient.arm_code)
        if option not in {o.code for o in arm.options}:
            raise ServiceError(_("{option!r} is not an option of arm {arm}").format(
                option=option, arm=arm.code))
        if patient.arm_option is not None and patient.arm_option != option and not (
                reason and reason.strip()):
            raise ReasonRequired(_("a reason is required to change the recorded choice"))
        with self.tracker.transaction(reason or _("treatment choice recorded")) as w:
            w.update(patient, {"arm_option": option}, patient_uid=patient.uid)

    def correct_enrollment_date(self, ref: str, on: date, *, today: date,
                                reason: str) -> None:
        """Correct the date of enrollment (``reason`` required); the anchors the protocol
        counts from the enrollment move with it and their planned visits are replanned. A
        randomization keeps its own record (number, time) untouched."""
        patient = self.get(ref)
        if patient.status not in ENROLLED_STATUSES or patient.enrolled_on is None:
            raise ServiceError(_("{patient} is not enrolled").format(patient=patient.study_id))
        if not (reason and reason.strip()):
            raise ServiceError(_("a reason is required to correct the enrollment date"))
        problem = plausibility.date_problem(on, today=today, label=_("Enrollment date"))
        if problem:
            raise ServiceError(problem)
        screening = self.latest_screening(patient.uid)
        if screening is not None and on < screening.screened_on:
            raise ServiceError(_("Enrollment date {date} is before the screening ({screened})")
                               .format(date=on.isoformat(),
                                       screened=screening.screened_on.isoformat()))
        study = self.study(patient.study_key)
        from gisttracker.services.visits import VisitService

        visits = VisitService(self.session)
        with self.tracker.transaction(reason.strip()) as w:
            w.update(patient, {"enrolled_on": on}, patient_uid=patient.uid)
            for anchor in study.anchors:
                if anchor.source == "enrollment":
                    visits.set_anchor(patient.uid, anchor.key, on, reason=reason.strip(),
                                      today=today)

    def _duration_group(self, study: Study, start: date, last: date, today: date) -> str:
        if last > today or start > today:
            raise ServiceError(_("preoperative imatinib dates may not be in the future"))
        for day, label in ((start, _("Start of preoperative imatinib")),
                           (last, _("Last preoperative dose"))):
            problem = plausibility.date_problem(day, today=today, label=label)
            if problem:
                raise ServiceError(problem)
        try:
            return alloc.duration_group(study.allocation, start, last)
        except InputError as exc:
            raise ServiceError(str(exc)) from None

    def _set_anchor(self, w: Writer, patient: Patient, key: str, on: date,
                    reason: str | None = None) -> None:
        row = AnchorDate.get_or_none((AnchorDate.patient == patient)
                                     & (AnchorDate.anchor_key == key))
        if row is None:
            w.insert(AnchorDate, patient_uid=patient.uid, patient=patient, anchor_key=key,
                     date=on)
        else:
            w.update(row, {"date": on}, patient_uid=patient.uid, reason=reason)

    def correct_preop_dates(self, ref: str, *, preop_start: date, last_preop_dose: date,
                            today: date, reason: str) -> str:
        """Correct the preoperative imatinib dates (duration cohort); the group follows.

        Returns the (possibly new) group; every change is audited with ``reason``.
        """
        patient = self.get(ref)
        study = self.study(patient.study_key)
        span = study.allocation.duration
        if study.allocation.method != "derived_duration" or span is None or (
                patient.arm_code is None):
            raise ServiceError(_("{patient} has no group derived from preoperative dates")
                               .format(patient=patient.study_id))
        if not reason.strip():
            raise ServiceError(_("a reason is required to correct the dates"))
        group = self._duration_group(study, preop_start, last_preop_dose, today)
        from gisttracker.services.visits import VisitService

        visits = VisitService(self.session)
        with self.tracker.transaction(reason) as w:
            # Through the visits service, so visits counted from these dates move too.
            visits.set_anchor(patient.uid, span.start, preop_start, reason=reason)
            visits.set_anchor(patient.uid, span.end, last_preop_dose, reason=reason)
            w.update(patient, {"arm_code": group}, patient_uid=patient.uid)
        return group

    def change_treatment(self, ref: str, procedures: Iterable[str], *, reason: str) -> str:
        """The treatment received (as declared at enrollment) changed; the group follows the
        protocol's group rules over these and the procedures recorded on the course tab.
        Returns the group; audited with ``reason``."""
        patient = self.get(ref)
        study = self.study(patient.study_key)
        if study.allocation.method != "treatment_received" or patient.arm_code is None:
            raise ServiceError(_("{patient} has no group from the treatment received").format(
                patient=patient.study_id))
        if not reason.strip():
            raise ServiceError(_("a reason is required to change the treatment received"))
        procs = sorted({alloc.procedure_code(p) for p in procedures})
        group = alloc.group_from_treatment(study.allocation,
                                           [*procs, *_recorded_procedures(patient)])
        with self.tracker.transaction(reason) as w:
            w.update(patient, {"arm_code": group, "treatment_procedures": json.dumps(procs)},
                     patient_uid=patient.uid)
        return group



def _recorded_procedures(patient: Patient) -> list[str]:
    """The procedures of the patient's recorded surgeries (the course tab)."""
    return [s.procedure for s in Surgery.select(Surgery.procedure).where(
        Surgery.patient == patient)]


def recompute_group(writer: Writer, session: Session, patient: Patient,
                    reason: str | None = None) -> str | None:
    """Re-derive an enrolled patient's group from the data, by the protocol's rules.

    Duration groups: from the two anchor dates of ``[allocation] duration``. Groups from the
    treatment received: from the procedures declared at enrollment together with those of the
    surgeries recorded since (a hepatic resection recorded on the course tab after enrollment
    moves a NCT06038552 patient to IM + HR). For code that changed those data inside its
    transaction; the change of group is audited through ``writer``, its reason naming the
    old and new group followed by ``reason`` (what changed the data). Returns the group, or
    None when the study derives none or a date is missing.
    """
    study = session.studies.get(patient.study_key)
    if study is None or not patient.arm_code:
        return None
    allocation = study.allocation
    if allocation.method == "derived_duration" and allocation.duration is not None:
        span = allocation.duration
        dates = {a.anchor_key: a.date for a in AnchorDate.select().where(
            (AnchorDate.patient == patient)
            & (AnchorDate.anchor_key.in_((span.start, span.end))))}
        start, last = dates.get(span.start), dates.get(span.end)
        if start is None or last is None:
            return None
        try:
            group = alloc.duration_group(allocation, start, last)
        except InputError as exc:
            raise ServiceError(str(exc)) from None
    elif allocation.method == "treatment_received" and allocation.rules:
        declared = json.loads(patient.treatment_procedures or "[]")
        group = alloc.group_from_treatment(allocation,
                                           [*declared, *_recorded_procedures(patient)])
    else:
        return None
    if group != patient.arm_code:
        why = _("group {old} → {new} by the protocol's rules").format(old=patient.arm_code,
                                                                      new=group)
        if reason and reason.strip():
            why = f"{why}: {reason.strip()}"
        writer.update(patient, {"arm_code": group}, patient_uid=patient.uid, reason=why)
    return group
