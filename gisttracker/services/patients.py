"""Patients: registration, screening against the eligibility criteria, enrollment, the end of
participation, accrual, the screening log and the patient list.

Every write goes through :meth:`Tracker.transaction` and its :class:`Writer` (audited).
Dates are ``datetime.date``; "today" is always a parameter. Laboratory values are stored as
entered (value, unit and the site's reference range in that unit) and converted exactly
(:mod:`gisttracker.grading.units`) to the unit a criterion names when the criteria are
evaluated.

Concealment: the allocation list of a randomized study is never stored and no method here
returns an allocation that has not been made. :meth:`PatientService.enroll` computes the one
allocation it needs, at the moment of randomization, inside the transaction that records it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

import peewee

from gisttracker.domain import allocation as alloc
from gisttracker.domain import eligibility
from gisttracker.grading import units
from gisttracker.i18n import N_, _
from gisttracker.protocols import Study
from gisttracker.protocols.catalogue import MUTATIONS, PRIMARY_SITES, SCREENING_FIELDS
from gisttracker.services.base import ServiceError, Writer

# The patient list lives in its own light module (the window's first screen); its names
# are still found here.
from gisttracker.services.patient_list import STATUS_LABELS as STATUS_LABELS
from gisttracker.services.patient_list import PatientFilter as PatientFilter
from gisttracker.services.patient_list import PatientList
from gisttracker.services.patient_list import PatientRow as PatientRow
from gisttracker.services.settings import SettingsService
from gisttracker.session import Session
from gisttracker.store.models import Record, new_uid
from gisttracker.store.models_patients import (
    LabResult,
    Patient,
    PatientIdentity,
    Randomization,
    RandomizationSeed,
    Screening,
    ScreeningJudgement,
)
from gisttracker.store.models_visits import AnchorDate

END_STATUSES: Final = ("withdrawn", "lost_to_follow_up", "died", "completed")
ENROLLED_STATUSES: Final = ("enrolled", *END_STATUSES)

# Screening columns (``Screening`` model) the form fills, with the kind of value each holds.
BOOL_COLUMNS: Final = (
    "ruptured", "cd117_positive", "dog1_positive", "histology_confirmed",
    "distant_metastases", "liver_metastases", "prior_imatinib", "prior_tki",
    "other_malignancy_5y", "pregnant_or_lactating", "hiv_positive",
)
INT_COLUMNS: Final = ("ecog", "asa", "progressive_lesions", "progressive_organs")
FLOAT_COLUMNS: Final = ("tumour_size_cm", "mitotic_count")
TEXT_COLUMNS: Final = ("primary_site", "mutation", "mitotic_unit", "metastasis_sites")
DATE_COLUMNS: Final = ("consent_date",)
SCREENING_COLUMNS: Final = (*INT_COLUMNS, *FLOAT_COLUMNS, *TEXT_COLUMNS, *BOOL_COLUMNS,
                            *DATE_COLUMNS)
MITOTIC_UNITS: Final = ("50hpf", "5mm2")

# Screening lab keys (catalogue) → analyte keys of gisttracker.grading.units.
LAB_ANALYTES: Final[Mapping[str, str]] = {
    "anc": "neutrophils", "platelets": "platelets", "haemoglobin": "hemoglobin",
    "alt": "alt", "ast": "ast", "bilirubin": "bilirubin", "creatinine": "creatinine",
}
ARM_OPTION_REQUIRED: Final = N_("patient's choice of treatment within the arm")


@dataclass(frozen=True)
class LabEntry:
    """A laboratory value as typed: ``value`` in ``unit``, reference limits in that unit."""

    value: float
    unit: str
    lln: float | None = None
    uln: float | None = None
    sampled_on: date | None = None


@dataclass
class ScreeningData:
    """What the screening form holds: Screening columns, labs by catalogue key, ticks.

    ``values`` maps :data:`SCREENING_COLUMNS` names to values (None = not entered);
    ``labs`` maps lab keys (``anc``, ``alt``…) to :class:`LabEntry`; ``judgements`` maps a
    criterion id to the investigator's tick (None = not judged).
    """

    values: dict[str, Any] = field(default_factory=dict)
    labs: dict[str, LabEntry] = field(default_factory=dict)
    judgements: dict[str, bool | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Identity:
    record_number: str | None = None
    name: str | None = None
    initials: str | None = None
    date_of_birth: date | None = None


@dataclass(frozen=True)
class EnrollmentPreview:
    """What enrolling will do, said before it is done (the enrollment dialog shows it)."""

    patient: str
    study_key: str
    method: str
    message: str
    stratum: str | None = None
    arm_code: str | None = None


@dataclass(frozen=True)
class EnrollmentResult:
    patient: str
    study_key: str
    arm_code: str
    arm_name: str
    arm_option: str | None
    enrolled_on: date
    enrolled_by: str
    randomization_number: str | None = None
    stratum: str | None = None
    randomized_at: str | None = None


@dataclass(frozen=True)
class LogEntry:
    patient: str
    screening: int
    screened_on: date
    outcome: str
    status: str
    reasons: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ScreeningLog:
    """The screening log of a study and the numbers a CONSORT diagram starts from."""

    study_key: str
    entries: tuple[LogEntry, ...]
    screened: int
    eligible: int
    screen_failed: int
    enrolled: int
    failures_by_criterion: dict[str, int]


@dataclass(frozen=True)
class Accrual:
    study_key: str
    target: int | None
    enrolled: int
    by_arm: dict[str, int]
    by_month: list[tuple[str, int]]


# --- pure helpers (also used by the form, live) ---------------------------------------------


def _label(column: str) -> str:
    labels = {
        "ecog": N_("ECOG performance status"), "asa": N_("ASA class"),
        "tumour_size_cm": N_("Maximum tumour diameter"), "mitotic_count": N_("Mitotic count"),
        "mitotic_unit": N_("Mitotic count unit"), "primary_site": N_("Primary tumour site"),
        "mutation": N_("Mutation"), "progressive_lesions": N_("Progressive lesions"),
        "progressive_organs": N_("Organs with progressive lesions"),
        "consent_date": N_("Consent date"), "metastasis_sites": N_("Metastasis sites"),
        "date_of_birth": N_("Date of birth"), "sex": N_("Sex"),
    }
    if column in labels:
        return _(labels[column])
    spec = SCREENING_FIELDS.get(column)
    return _(spec.label) if spec else column


def validate_screening(data: ScreeningData, *, date_of_birth: date | None, screened_on: date,
                       today: date) -> dict[str, str]:
    """Messages by field (column or lab key) for everything that cannot be right.

    Empty when the data may be saved. Nothing here is clinical judgement: only impossible
    or implausible values (an ECOG of 7, a negative diameter, platelets in the wrong unit).
    """
    problems: dict[str, str] = {}
    v = data.values
    unknown = set(v) - set(SCREENING_COLUMNS)
    for name in sorted(unknown):
        problems[name] = _("{field} is not a screening field").format(field=name)
    for name, low, high in (("ecog", 0, 5), ("asa", 1, 6)):
        value = v.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems[name] = _("{field} must be a whole number from {low} to {high}").format(
                field=_label(name), low=low, high=high)
    for name in ("progressive_lesions", "progressive_organs"):
        value = v.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            problems[name] = _("{field} must be a whole number of 0 or more").format(
                field=_label(name))
    for name in FLOAT_COLUMNS:
        value = v.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            problems[name] = _("{field} must be a number of 0 or more").format(
                field=_label(name))
    size = v.get("tumour_size_cm")
    if isinstance(size, int | float) and not isinstance(size, bool) and size > 100:
        problems["tumour_size_cm"] = _("{field}: {value} cm is not plausible (in cm, not mm?)"
                                       ).format(field=_label("tumour_size_cm"), value=size)
    if v.get("mitotic_count") is not None and v.get("mitotic_unit") not in MITOTIC_UNITS:
        problems["mitotic_unit"] = _("say whether the mitotic count is per 50 HPF or per 5 mm²")
    for name, allowed in (("primary_site", PRIMARY_SITES), ("mutation", MUTATIONS),
                          ("mitotic_unit", MITOTIC_UNITS)):
        value = v.get(name)
        if value is not None and value not in allowed:
            problems[name] = _("{field}: {value!r} is not one of {allowed}").format(
                field=_label(name), value=value, allowed=", ".join(allowed))
    for name in BOOL_COLUMNS:
        value = v.get(name)
        if value is not None and not isinstance(value, bool):
            problems[name] = _("{field}: expected yes or no").format(field=_label(name))
    consent = v.get("consent_date")
    if consent is not None:
        if not isinstance(consent, date):
            problems["consent_date"] = _("Consent date: expected a date")
        elif consent > today:
            problems["consent_date"] = _("Consent date {date} is in the future").format(
                date=consent.isoformat())
    if screened_on > today:
        problems["screened_on"] = _("Screening date {date} is in the future").format(
            date=screened_on.isoformat())
    if date_of_birth is not None and date_of_birth > screened_on:
        problems["date_of_birth"] = _("Date of birth {dob} is after the screening date").format(
            dob=date_of_birth.isoformat())
    for key, lab in data.labs.items():
        message = validate_lab(key, lab, today=today)
        if message:
            problems[key] = message
    return problems


def validate_lab(key: str, lab: LabEntry, *, today: date | None = None) -> str | None:
    """None if the laboratory entry is usable, else a message naming the field."""
    if key not in LAB_ANALYTES:
        return _("{field} is not a laboratory field").format(field=key)
    label = _label(key)
    analyte = LAB_ANALYTES[key]
    try:
        problem = units.plausibility(analyte, lab.value, lab.unit)
    except ValueError as exc:
        return f"{label}: {exc}"
    if problem:
        return problem
    for name, limit in (("LLN", lab.lln), ("ULN", lab.uln)):
        if limit is not None and (isinstance(limit, bool) or limit < 0):
            return _("{field}: {limit} must be 0 or more").format(field=label, limit=name)
    if lab.uln is not None and lab.uln <= 0:
        return _("{field}: ULN must be greater than 0").format(field=label)
    if lab.lln is not None and lab.uln is not None and lab.lln >= lab.uln:
        return _("{field}: LLN must be below ULN").format(field=label)
    if today is not None and lab.sampled_on is not None and lab.sampled_on > today:
        return _("{field}: the sample date is in the future").format(field=label)
    return None


def _lab_fact(key: str, lab: LabEntry) -> eligibility.LabValue:
    """The lab in the unit the catalogue records it in (exact conversion), for the rules."""
    spec = SCREENING_FIELDS[key]
    target = spec.unit or lab.unit
    analyte = LAB_ANALYTES[key]

    def conv(x: float | None) -> float | None:
        return None if x is None else units.convert(analyte, x, lab.unit, target)

    value = conv(lab.value)
    assert value is not None
    return eligibility.LabValue(value=value, unit=target, lln=conv(lab.lln), uln=conv(lab.uln))


def screening_facts(data: ScreeningData, *, sex: str | None, date_of_birth: date | None,
                    screened_on: date) -> eligibility.Facts:
    """The eligibility facts of a screening (age from the date of birth at ``screened_on``).

    A mitotic count per 5 mm² is taken as per 50 HPF (5 mm² is the area the WHO 2019
    classification uses in place of 50 high-power fields). ``consent_signed`` is yes once a
    consent date is recorded. FactError names the field of a value that cannot be right.
    """
    v = data.values
    plain: dict[str, object] = {}
    for name in (*INT_COLUMNS, "tumour_size_cm", "primary_site", "mutation", *BOOL_COLUMNS):
        if name in SCREENING_FIELDS and v.get(name) is not None:
            plain[name] = v[name]
    if v.get("mitotic_count") is not None:
        plain["mitoses_per_50hpf"] = float(v["mitotic_count"])
    if sex:
        plain["sex"] = sex
    if v.get("consent_date") is not None:
        plain["consent_signed"] = True
    if plain.get("tumour_size_cm") == 0:
        del plain["tumour_size_cm"]  # a size of 0 is "not measured", not a tumour
    for key, lab in data.labs.items():
        if validate_lab(key, lab) is None:
            plain[key] = _lab_fact(key, lab)
    return eligibility.facts_from_patient(
        plain, date_of_birth=date_of_birth,
        screening_date=screened_on if date_of_birth is not None else None)


def evaluate_screening(study: Study, data: ScreeningData, *, sex: str | None,
                       date_of_birth: date | None, screened_on: date) -> eligibility.Screening:
    """Every criterion of ``study`` for this screening (the live criteria panel uses it)."""
    facts = screening_facts(data, sex=sex, date_of_birth=date_of_birth, screened_on=screened_on)
    ticks = {c.id: data.judgements.get(c.id) for c in study.criteria if c.rule is None}
    return eligibility.evaluate(study, facts, ticks)


def _reasons_json(result: eligibility.Screening) -> str:
    if result.outcome == eligibility.INELIGIBLE:
        chosen = result.failures
    elif result.outcome == eligibility.INCOMPLETE:
        chosen = result.unknown
    else:
        chosen = ()
    return json.dumps([{"criterion": r.criterion.id, "reason": r.reason} for r in chosen],
                      ensure_ascii=False)


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


# --- the service ----------------------------------------------------------------------------


class PatientService:
    """Patients of one open site: every write audited through the session's tracker."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.tracker = session.tracker

    # ----- reading ------------------------------------------------------------------------
    def study(self, key: str) -> Study:
        try:
            return self.session.study(key)
        except KeyError as exc:
            raise ServiceError(str(exc.args[0])) from None

    def get(self, ref: str) -> Patient:
        """The patient with uid or study identifier ``ref``; ServiceError if none."""
        patient = Patient.get_or_none((Patient.uid == ref) | (Patient.study_id == ref.upper()))
        if patient is None:
            raise ServiceError(_("no patient {ref}").format(ref=ref))
        return patient

    def identity(self, ref: str) -> PatientIdentity | None:
        return PatientIdentity.get_or_none(PatientIdentity.patient == self.get(ref))

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

    # ----- registration and identity ------------------------------------------------------
    def next_study_id(self) -> tuple[str, int, str]:
        site = SettingsService(self.tracker).get("site_code")
        last = Patient.select(peewee.fn.MAX(Patient.seq)).where(
            Patient.site_code == site).scalar()
        seq = int(last or 0) + 1
        return site, seq, f"{site}-{seq:04d}"

    def _check_identity(self, identity: Identity, today: date,
                        editing: int | None = None) -> None:
        dob = identity.date_of_birth
        if dob is not None:
            if not isinstance(dob, date):
                raise ServiceError(_("Date of birth: expected a date"))
            if dob > today:
                raise ServiceError(_("Date of birth {dob} is in the future").format(
                    dob=dob.isoformat()))
            if dob.year < today.year - 120:
                raise ServiceError(_("Date of birth {dob} is more than 120 years ago").format(
                    dob=dob.isoformat()))
        initials = _text(identity.initials)
        if initials is not None and len(initials) > 10:
            raise ServiceError(_("Initials: at most 10 characters"))
        if not any(_text(x) for x in (identity.record_number, identity.name, initials)):
            raise ServiceError(_(
                "Identity: give at least a record number, a name or initials, so the "
                "patient can be found again"))
        if _text(identity.record_number):
            clash = (PatientIdentity.select().where(
                PatientIdentity.record_number == _text(identity.record_number)).first())
            if clash is not None and clash.patient_id != editing:
                raise ServiceError(_("Record number {number} is already registered as {pid}")
                                   .format(number=_text(identity.record_number),
                                           pid=clash.patient.study_id))

    def register(self, study_key: str, *, sex: str | None, identity: Identity,
                 today: date) -> Patient:
        """A new patient of ``study_key`` with the next study identifier (e.g. ZJU-0007)."""
        self.study(study_key)
        if sex not in ("male", "female"):
            raise ServiceError(_("Sex: choose male or female"))
        self._check_identity(identity, today)
        uid = new_uid()
        with self.tracker.transaction(_("patient registered")) as w:
            site, seq, study_id = self.next_study_id()
            patient = w.insert(Patient, patient_uid=uid, uid=uid, study_key=study_key,
                               study_id=study_id, site_code=site, seq=seq, sex=sex,
                               status="screened", created_on=today)
            w.insert(PatientIdentity, patient_uid=patient.uid, patient=patient,
                     record_number=_text(identity.record_number), name=_text(identity.name),
                     initials=_text(identity.initials), date_of_birth=identity.date_of_birth)
        return patient

    def update_identity(self, ref: str, identity: Identity, *, today: date,
                        reason: str | None = None) -> list[str]:
        """Change personal identifiers; returns the fields that changed."""
        patient = self.get(ref)
        self._check_identity(identity, today, editing=patient.id)
        row = PatientIdentity.get_or_none(PatientIdentity.patient == patient)
        values: dict[str, Any] = {
            "record_number": _text(identity.record_number), "name": _text(identity.name),
                  "initials": _text(identity.initials), "date_of_birth": identity.date_of_birth}
        with self.tracker.transaction(reason or _("identity corrected")) as w:
            if row is None:
                w.insert(PatientIdentity, patient_uid=patient.uid, patient=patient, **values)
                return [k for k, v in values.items() if v is not None]
            return w.update(row, values, patient_uid=patient.uid)

    def update_sex(self, ref: str, sex: str, *, reason: str | None = None) -> None:
        if sex not in ("male", "female"):
            raise ServiceError(_("Sex: choose male or female"))
        patient = self.get(ref)
        with self.tracker.transaction(reason or _("sex corrected")) as w:
            w.update(patient, {"sex": sex}, patient_uid=patient.uid)

    # ----- screening ----------------------------------------------------------------------
    def save_screening(self, ref: str, data: ScreeningData, *, today: date,
                       screened_on: date | None = None) -> eligibility.Screening:
        """Save the facts, labs and judgements of the patient's open screening and evaluate.

        The open screening is the latest one unless it was closed (screen failure) or the
        patient is already enrolled; a first call creates it. Validation problems raise
        ServiceError naming the first field, and nothing is written.
        """
        patient = self.get(ref)
        if patient.status != "screened":
            raise ServiceError(_("{patient} is {status}: screening can no longer change; "
                                 "re-screen to start a new screening").format(
                patient=patient.study_id, status=_(STATUS_LABELS[patient.status])))
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
        except (eligibility.FactError, ValueError) as exc:
            raise ServiceError(str(exc)) from None
        values: dict[str, Any] = {name: data.values.get(name) for name in SCREENING_COLUMNS}
        with self.tracker.transaction(_("screening saved")) as w:
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

    def _save_labs(self, w: Writer, patient: Patient, screening: Screening,
                   labs: Mapping[str, LabEntry], on: date) -> None:
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

    def close_screen_failure(self, ref: str, *, reason: str | None = None) -> None:
        """Close the open screening as a screen failure; its reasons stay in the log.

        A screening that is not ineligible by the criteria needs ``reason`` (e.g. consent
        declined), which is kept as its reason.
        """
        patient = self.get(ref)
        screening = self.latest_screening(ref)
        if patient.status != "screened" or screening is None or screening.closed:
            raise ServiceError(_("{patient} has no open screening to close").format(
                patient=patient.study_id))
        reasons = json.loads(screening.reasons or "[]")
        if screening.outcome == eligibility.INELIGIBLE:
            if reason:
                reasons.append({"criterion": None, "reason": reason})
        elif not (reason and reason.strip()):
            raise ServiceError(_("{patient} is not ineligible by the criteria: say why the "
                                 "screening failed").format(patient=patient.study_id))
        else:
            reasons = [{"criterion": None, "reason": reason.strip()}]
        with self.tracker.transaction(reason or _("screen failure")) as w:
            w.update(screening, {"closed": True, "reasons": json.dumps(reasons,
                                                                       ensure_ascii=False)},
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

    # ----- enrollment ---------------------------------------------------------------------
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
            reasons = "; ".join(f"{r.criterion.id}: {r.reason}"
                                for r in (result.failures or result.unknown)[:3])
            raise ServiceError(_("{patient} is not eligible ({outcome}): {reasons}").format(
                patient=patient.study_id, outcome=_(eligibility.OUTCOME_LABELS[result.outcome]),
                reasons=reasons))
        return screening

    def _stratum(self, study: Study, patient: Patient, screening: Screening) -> str:
        values: dict[str, object] = {"site": patient.site_code,
                                     "progressive_organ": screening.progressive_organs}
        try:
            return alloc.stratum_key(study.allocation.strata, values)
        except ValueError as exc:
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
                patient=pid, study=study.key, arm=arm.code, name=arm.name)
            return EnrollmentPreview(pid, study.key, method, message, arm_code=arm.code)
        if method == "treatment_received":
            message = _("{patient} will be enrolled in {study}; the group follows from the "
                        "liver-directed treatment received.").format(patient=pid,
                                                                      study=study.key)
            return EnrollmentPreview(pid, study.key, method, message)
        message = _("{patient} will be enrolled in {study}; the group follows from the dates "
                    "of preoperative imatinib.").format(patient=pid, study=study.key)
        return EnrollmentPreview(pid, study.key, method, message)

    def enroll(self, ref: str, *, today: date, rng: random.Random | None = None,
               seed: str | None = None, arm_option: str | None = None,
               procedures: Iterable[str] | None = None, preop_start: date | None = None,
               last_preop_dose: date | None = None) -> EnrollmentResult:
        """Enroll an eligible patient into the arm or group their study's allocation gives.

        Randomized study: ``rng`` (or an explicit ``seed``) is used only the first time, to
        create the study's secret seed; ``arm_option`` is the patient's choice within the
        allocated arm, used when that arm has options (it may also be recorded later).
        NCT06038552: ``procedures`` received (may be empty: imatinib alone).
        Duration cohort: ``preop_start`` and ``last_preop_dose``.
        Refused (ServiceError, nothing written) unless the latest screening is eligible.
        """
        patient = self.get(ref)
        screening = self._eligible_screening(patient)
        study = self.study(patient.study_key)
        if today < screening.screened_on:
            raise ServiceError(_("the enrollment date is before the screening date"))
        method = study.allocation.method
        values: dict[str, Any] = {"status": "enrolled", "enrolled_on": today}
        if method == "treatment_received":
            if procedures is None:
                raise ServiceError(_("give the liver-directed treatment received (none for "
                                     "imatinib alone)"))
            procs = sorted({p for p in procedures})
            values["arm_code"] = alloc.group_from_treatment(procs)
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
                self._set_anchor(w, patient, "imatinib_start", preop_start)
                self._set_anchor(w, patient, "last_preop_dose", last_preop_dose)
            from gisttracker.services.visits import plan_for_enrollment

            plan_for_enrollment(w, self.session, patient)
        return EnrollmentResult(
            patient=patient.study_id, study_key=study.key, arm_code=arm.code, arm_name=arm.name,
            arm_option=patient.arm_option, enrolled_on=today, enrolled_by=str(patient.enrolled_by),
            randomization_number=patient.randomization_number, stratum=stratum,
            randomized_at=randomization.randomized_at if randomization else None)

    def _randomize(self, w: Writer, study: Study, patient: Patient, stratum: str,
                   rng: random.Random | None, seed: str | None) -> Randomization:
        if Randomization.get_or_none(Randomization.patient == patient) is not None:
            raise ServiceError(_("{patient} is already randomized").format(
                patient=patient.study_id))
        record = RandomizationSeed.get_or_none(RandomizationSeed.study_key == study.key)
        if record is None:
            if seed is None:
                if rng is None:
                    raise ServiceError(_("the first randomization of {study} needs a random "
                                         "generator for the seed").format(study=study.key))
                seed = f"{rng.getrandbits(128):032x}"
            record = w.insert(RandomizationSeed, study_key=study.key, seed=seed,
                              created_at=w.at, created_by=w.user)
        position = Randomization.select().where(
            (Randomization.study_key == study.key) & (Randomization.stratum == stratum)).count()
        arm_code = alloc.allocation_at(study.allocation, [a.code for a in study.arms],
                                       record.seed, stratum, position)
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
        with self.tracker.transaction(reason or _("treatment choice recorded")) as w:
            w.update(patient, {"arm_option": option}, patient_uid=patient.uid,
                     require_reason=patient.arm_option is not None)

    def _duration_group(self, study: Study, start: date, last: date, today: date) -> str:
        if last > today or start > today:
            raise ServiceError(_("preoperative imatinib dates may not be in the future"))
        try:
            return alloc.duration_group(study.allocation, start, last)
        except ValueError as exc:
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
        if study.allocation.method != "derived_duration" or patient.arm_code is None:
            raise ServiceError(_("{patient} has no group derived from preoperative dates")
                               .format(patient=patient.study_id))
        if not reason.strip():
            raise ServiceError(_("a reason is required to correct the dates"))
        group = self._duration_group(study, preop_start, last_preop_dose, today)
        from gisttracker.services.visits import VisitService

        visits = VisitService(self.session)
        with self.tracker.transaction(reason) as w:
            # Through the visits service, so visits counted from these dates move too.
            visits.set_anchor(patient.uid, "imatinib_start", preop_start, reason=reason)
            visits.set_anchor(patient.uid, "last_preop_dose", last_preop_dose, reason=reason)
            w.update(patient, {"arm_code": group}, patient_uid=patient.uid)
        return group

    def change_treatment(self, ref: str, procedures: Iterable[str], *, reason: str) -> str:
        """NCT06038552: the liver-directed treatment actually received changed; the group
        follows. Returns the group; audited with ``reason``."""
        patient = self.get(ref)
        study = self.study(patient.study_key)
        if study.allocation.method != "treatment_received" or patient.arm_code is None:
            raise ServiceError(_("{patient} has no group from the treatment received").format(
                patient=patient.study_id))
        if not reason.strip():
            raise ServiceError(_("a reason is required to change the treatment received"))
        procs = sorted(set(procedures))
        group = alloc.group_from_treatment(procs)
        with self.tracker.transaction(reason) as w:
            w.update(patient, {"arm_code": group, "treatment_procedures": json.dumps(procs)},
                     patient_uid=patient.uid)
        return group

    # ----- end of participation -----------------------------------------------------------
    def end_participation(self, ref: str, status: str, *, on: date, today: date,
                          reason: str | None = None) -> None:
        """Withdrawal (reason required), lost to follow-up, death or completion, on ``on``.

        Visits planned after ``on`` are cancelled by the visits service.
        """
        patient = self.get(ref)
        if status not in END_STATUSES:
            raise ServiceError(_("end of participation must be one of: {allowed}").format(
                allowed=", ".join(_(STATUS_LABELS[s]) for s in END_STATUSES)))
        if patient.status != "enrolled":
            raise ServiceError(_("{patient} is {status}, not enrolled").format(
                patient=patient.study_id, status=_(STATUS_LABELS[patient.status])))
        if status == "withdrawn" and not (reason and reason.strip()):
            raise ServiceError(_("Withdrawal: give the reason"))
        if on > today:
            raise ServiceError(_("End date {date} is in the future").format(date=on.isoformat()))
        if patient.enrolled_on is not None and on < patient.enrolled_on:
            raise ServiceError(_("End date {date} is before enrollment ({enrolled})").format(
                date=on.isoformat(), enrolled=patient.enrolled_on.isoformat()))
        with self.tracker.transaction(reason or _(STATUS_LABELS[status])) as w:
            w.update(patient, {"status": status, "ended_on": on,
                               "end_reason": _text(reason)}, patient_uid=patient.uid)
            from gisttracker.services.visits import end_participation_visits

            end_participation_visits(w, self.session, patient)

    # ----- accrual and the screening log --------------------------------------------------
    def accrual(self, study_key: str) -> Accrual:
        """Enrolled versus target, per arm and per month of enrollment."""
        study = self.study(study_key)
        by_arm = {a.code: 0 for a in study.arms}
        statuses = ",".join("?" * len(ENROLLED_STATUSES))
        where = f"WHERE study_key = ? AND status IN ({statuses})"
        params = [study_key, *ENROLLED_STATUSES]
        for code, n in self._sql(
                f"SELECT arm_code, count(*) FROM patient {where} GROUP BY arm_code", params):
            by_arm[code or "—"] = int(n)
        by_month = [(str(m), int(n)) for m, n in self._sql(
            f"SELECT substr(enrolled_on, 1, 7) AS m, count(*) FROM patient {where} "
            "GROUP BY m ORDER BY m", params)]
        return Accrual(study_key, study.target_enrollment, sum(by_arm.values()), by_arm,
                       by_month)

    def screening_log(self, study_key: str) -> ScreeningLog:
        """Every screening episode of the study with its outcome and reasons, and counts.

        ``failures_by_criterion`` counts the patients who are screen failures by the criteria
        of their last failed screening (a patient failing two criteria counts under both;
        "other" for a stated reason). A patient re-screened since is not counted.
        """
        self.study(study_key)
        rows = self._sql(
            "SELECT s.id, s.screened_on, s.outcome, s.reasons, s.closed, p.study_id, p.status, "
            "p.id FROM screening s JOIN patient p ON p.id = s.patient_id WHERE p.study_key = ? "
            "ORDER BY p.study_id, s.id", [study_key])
        entries = []
        failures: dict[str, int] = {}
        patients: set[int] = set()
        eligible: set[int] = set()
        latest_closed_failure: dict[int, list[dict[str, Any]]] = {}
        for sid, on, outcome, reasons, closed, pid, status, patient_id in rows:
            parsed = json.loads(reasons or "[]")
            patients.add(patient_id)
            if outcome == eligibility.ELIGIBLE:
                eligible.add(patient_id)
            if closed and status == "screen_failed":
                latest_closed_failure[patient_id] = parsed  # the failure that stands
            entries.append(LogEntry(pid, sid, date.fromisoformat(str(on)), outcome, status,
                                    tuple((r.get("criterion") or "", r["reason"])
                                          for r in parsed)))
        failed = (Patient.select().where((Patient.study_key == study_key)
                                         & (Patient.status == "screen_failed")).count())
        for parsed in latest_closed_failure.values():
            for criterion in {r.get("criterion") or "other" for r in parsed}:
                failures[criterion] = failures.get(criterion, 0) + 1
        enrolled = (Patient.select().where((Patient.study_key == study_key)
                                           & (Patient.status.in_(ENROLLED_STATUSES))).count())
        return ScreeningLog(study_key, tuple(entries), len(patients), len(eligible), failed,
                            enrolled, dict(sorted(failures.items())))

    # ----- the patient list ---------------------------------------------------------------
    def count(self, flt: PatientFilter) -> int:
        """How many patients match ``flt`` (see :mod:`gisttracker.services.patient_list`)."""
        return PatientList(self.session).count(flt)

    def page(self, flt: PatientFilter, sort: str = "patient", *, descending: bool = False,
             offset: int = 0, limit: int = 200, after: str | None = None) -> list[PatientRow]:
        """A window of the list (see :meth:`PatientList.page`)."""
        return PatientList(self.session).page(flt, sort, descending=descending, offset=offset,
                                              limit=limit, after=after)

    def _sql(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        cursor = self.session.db.execute_sql(sql, params)
        return list(cursor.fetchall())

    def header(self, ref: str) -> str:
        """The patient window's title: study id, study, arm, status."""
        p = self.get(ref)
        arm = p.arm_code or "—"
        if p.arm_option:
            arm += f" ({p.arm_option})"
        return _("{patient} · {study} · arm {arm} · {status}").format(
            patient=p.study_id, study=p.study_key, arm=arm,
            status=_(STATUS_LABELS.get(p.status, p.status)))


def recompute_duration_group(writer: Writer, session: Session, patient: Patient) -> str | None:
    """Re-derive a duration-cohort patient's group from the stored anchor dates.

    For code that changes ``imatinib_start`` / ``last_preop_dose`` itself (inside its
    transaction); returns the group, or None when the study does not derive groups or a
    date is missing. The change is audited through ``writer``.
    """
    study = session.studies.get(patient.study_key)
    if study is None or study.allocation.method != "derived_duration" or not patient.arm_code:
        return None
    dates = {a.anchor_key: a.date for a in AnchorDate.select().where(
        (AnchorDate.patient == patient)
        & (AnchorDate.anchor_key.in_(("imatinib_start", "last_preop_dose"))))}
    start, last = dates.get("imatinib_start"), dates.get("last_preop_dose")
    if start is None or last is None:
        return None
    try:
        group = alloc.duration_group(study.allocation, start, last)
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
    writer.update(patient, {"arm_code": group}, patient_uid=patient.uid)
    return group


@dataclass
class BulkLoad:
    """Rows for :meth:`PatientService.bulk_load` (the demo generator, imports).

    Each row is a dict of model fields with its own ``uid``. Instead of foreign-key ids, rows
    name their owners by uid: ``patient_uid`` (identities, screenings, labs, anchors,
    randomizations) and ``screening_uid`` (labs, judgements).
    """

    patients: list[dict[str, Any]] = field(default_factory=list)
    identities: list[dict[str, Any]] = field(default_factory=list)
    screenings: list[dict[str, Any]] = field(default_factory=list)
    labs: list[dict[str, Any]] = field(default_factory=list)
    judgements: list[dict[str, Any]] = field(default_factory=list)
    anchors: list[dict[str, Any]] = field(default_factory=list)
    seeds: list[dict[str, Any]] = field(default_factory=list)
    randomizations: list[dict[str, Any]] = field(default_factory=list)


def _uid_ids(model: Any, uids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(uids), 900):
        chunk = uids[start:start + 900]
        out.update(dict(model.select(model.uid, model.id).where(model.uid.in_(chunk)).tuples()))
    return out


def bulk_load(session: Session, load: BulkLoad, *, reason: str,
              plan_visits: bool = True) -> int:
    """Write many patients at once in one audited transaction; returns visits planned.

    Enrolled patients get their planned visits through the visits service (bulk), as if
    each had been enrolled one by one.
    """
    def owned(rows: list[dict[str, Any]], ids: dict[str, int], key: str, column: str,
              ) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            row = dict(row)
            row[column] = ids[row.pop(key)]
            row.pop("patient_uid", None)
            out.append(row)
        return out

    visits = 0
    with session.tracker.transaction(reason) as w:
        keys = sorted({k for row in load.patients for k in row})
        rows = [{k: row.get(k) for k in keys} for row in load.patients]
        uids: list[str | None] = [str(r["uid"]) for r in rows]
        w.insert_many(Patient, rows, patient_uids=uids)
        pids = _uid_ids(Patient, [str(r["uid"]) for r in rows])
        by_patient: list[tuple[type[Record], list[dict[str, Any]]]] = [
            (PatientIdentity, load.identities), (Screening, load.screenings),
            (AnchorDate, load.anchors), (Randomization, load.randomizations)]
        for model, table in by_patient:
            who = [r["patient_uid"] for r in table]
            w.insert_many(model, owned(table, pids, "patient_uid", "patient"),
                          patient_uids=list(who))
        sids = _uid_ids(Screening, [r["uid"] for r in load.screenings])
        by_screening: list[tuple[type[Record], list[dict[str, Any]]]] = [
            (LabResult, load.labs), (ScreeningJudgement, load.judgements)]
        for model, table in by_screening:
            who = [r["patient_uid"] for r in table]
            prepared = owned(table, sids, "screening_uid", "screening")
            if model is LabResult:
                prepared = [{**r, "patient": pids[u]} for r, u in zip(prepared, who,
                                                                       strict=True)]
            w.insert_many(model, prepared, patient_uids=list(who))
        w.insert_many(RandomizationSeed, load.seeds)
        if plan_visits:
            from gisttracker.services.visits import plan_many

            enrolled = [pids[str(r["uid"])] for r in rows if r.get("enrolled_on") is not None]
            for start in range(0, len(enrolled), 500):
                chunk = list(Patient.select().where(
                    Patient.id.in_(enrolled[start:start + 500])).order_by(Patient.id))
                visits += int(plan_many(w, session, chunk))
    return visits
