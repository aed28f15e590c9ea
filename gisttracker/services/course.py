"""Treatment, surgery, pathology and the clinical course of a patient, and the endpoints
computed from them.

Everything an endpoint counts from is entered here and validated where it is entered:

* treatment exposures (drug, daily dose in mg, phase, first and last dose day inclusive)
  with interruptions (first and last day off drug inclusive, reason) and dose changes (the
  running exposure stops the day before, a new one starts on the day, with the reason);
  the preoperative and postoperative durations come from :mod:`gisttracker.domain.treatment`;
* surgeries (date, procedure code of :data:`gisttracker.domain.course.PROCEDURES`, margin,
  rupture, stoma and its reversal, complications);
* pathology (size in cm, mitotic count per 50 HPF or per 5 mm², mutation, pathological
  response grade) with the NIH-2008 risk whenever size, mitoses, site and rupture are known;
* course events (progression, recurrences, regrowth, death, last known alive, lost to
  follow-up), with the date rules of :func:`gisttracker.domain.course.validate_event_date`.

Anchor dates follow the data: the first surgery sets the study's ``surgery`` anchor, the
first preoperative dose ``imatinib_start`` and the last one ``last_preop_dose`` (when the
protocol declares those anchors as entered), through :class:`VisitService.set_anchor` so the
visits replan and every move is audited; a derived duration group follows the corrected dates
(:func:`gisttracker.services.patients.recompute_duration_group`). A death or loss to
follow-up ends participation through :meth:`PatientService.end_participation`.

Endpoints (:meth:`CourseService.endpoints`): each endpoint of the protocol, by the prefix of
its key — ``os`` (death), ``pfs`` (progression or death), ``dfs`` (progression, recurrence,
regrowth or death), ``rfs`` (recurrence, regrowth or death), ``local_recurrence`` (local
recurrence or regrowth; death censors) — gives an event or censoring date and the time in
months (days / 30.4375) from the protocol's ``measured_from`` anchor, censored at the
endpoint's horizon (a tumour assessment whose response by the study's primary criterion
is PD counts as progression even without a separate progression event);
``orr``/``imaging_response`` the best overall response by the study's primary criterion
(CR or PR is a response); ``r0`` the margin of the first resection; and
``organ_preservation`` the rectal composite at 18 months.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from dateutil.relativedelta import relativedelta

from gisttracker.domain import course as course_rules
from gisttracker.domain import treatment as tx
from gisttracker.i18n import N_, _
from gisttracker.protocols import Study
from gisttracker.protocols.catalogue import MUTATIONS, PRIMARY_SITES
from gisttracker.risk import mitoses_per_50hpf_from_5mm2, nih2008
from gisttracker.services.base import ServiceError, Writer
from gisttracker.services.common import SiteService
from gisttracker.services.common import as_date as _as_date
from gisttracker.services.common import fk_id as _fk
from gisttracker.services.common import id_column as _col
from gisttracker.services.common import pk as _pk
from gisttracker.services.tumour import TumourService
from gisttracker.store.models import Record
from gisttracker.store.models_course import (
    CourseEvent,
    Pathology,
    Surgery,
    TreatmentExposure,
    TreatmentInterruption,
    TumourAssessment,
)
from gisttracker.store.models_patients import Patient, Screening
from gisttracker.store.models_visits import AnchorDate, Visit

__all__ = [
    "CourseInputError",
    "CourseService",
    "EndpointResult",
    "EventInput",
    "ExposureInput",
    "PathologyInput",
    "SurgeryInput",
    "TreatmentSummary",
]

PROCEDURE_LABELS: Final[Mapping[str, str]] = {
    "local_excision_transanal": N_("local excision (transanal)"),
    "local_excision_tamis": N_("local excision (TAMIS)"),
    "tme": N_("total mesorectal excision"),
    "apr": N_("abdominoperineal resection"),
    "gastrectomy": N_("gastrectomy"),
    "small_bowel_resection": N_("small-bowel resection"),
    "hepatic_resection": N_("hepatic resection"),
    "rfa": N_("radiofrequency ablation"),
    "tace": N_("TACE"),
    "other": N_("other"),
}
EVENT_LABELS: Final[Mapping[str, str]] = {
    "progression": N_("progression"),
    "local_recurrence": N_("local recurrence"),
    "distant_recurrence": N_("distant recurrence"),
    "regrowth": N_("locoregional regrowth"),
    "death": N_("death"),
    "last_known_alive": N_("last known alive"),
    "lost_to_follow_up": N_("lost to follow-up"),
}
PHASE_LABELS: Final[Mapping[str, str]] = {
    "preoperative": N_("preoperative"),
    "postoperative": N_("postoperative"),
    "palliative": N_("palliative"),
    "other": N_("other"),
}
#: Drugs offered besides those the protocol names.
DEFAULT_DRUGS: Final = ("imatinib", "sunitinib", "regorafenib", "ripretinib", "avapritinib")
MITOTIC_UNITS: Final = ("50hpf", "5mm2")
STOMAS: Final = ("none", "temporary", "permanent")
#: Maximum postoperative imatinib of the neoadjuvant protocol (calendar months).
MAX_POSTOP_MONTHS: Final = 36

#: Endpoint key prefix → event kinds that end it (death counts for all but local recurrence).
_TIME_TO_EVENT: Final[Mapping[str, tuple[str, ...]]] = {
    "os": ("death",),
    "pfs": ("progression", "death"),
    "dfs": ("progression", "local_recurrence", "distant_recurrence", "regrowth", "death"),
    "rfs": ("local_recurrence", "distant_recurrence", "regrowth", "death"),
    "local_recurrence": ("local_recurrence", "regrowth"),
}


class CourseInputError(ServiceError):
    """Field errors: ``errors`` maps a field name to its message (shown beside the field)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


# --- inputs and results --------------------------------------------------------------------


@dataclass(frozen=True)
class ExposureInput:
    """A period on one drug at one dose (mg/day); ``stop_on`` the last dose day or None."""

    drug: str
    dose_mg_per_day: float
    phase: str
    start_on: date
    stop_on: date | None = None
    reason: str | None = None


@dataclass(frozen=True)
class InterruptionRow:
    uid: str
    start_on: date
    end_on: date | None
    reason: str | None


@dataclass(frozen=True)
class ExposureRow:
    uid: str
    data: ExposureInput
    interruptions: tuple[InterruptionRow, ...]


@dataclass(frozen=True)
class TreatmentSummary:
    """Exposures and what is derived from them.

    ``preoperative``/``postoperative``: durations (None when there is no such phase or no
    surgery yet); ``group``: the duration group of the preoperative imatinib; ``flags``:
    timing problems (NCT04933669 window) and data problems, for display.
    """

    exposures: tuple[ExposureRow, ...]
    surgery_date: date | None
    preoperative: tx.PhaseDuration | None
    postoperative: tx.PhaseDuration | None
    group: str | None
    flags: tuple[str, ...]


@dataclass(frozen=True)
class SurgeryInput:
    performed_on: date
    procedure: str
    margin: str | None = None
    ruptured: bool | None = None
    stoma: str = "none"
    stoma_reversed_on: date | None = None
    complications: str | None = None


@dataclass(frozen=True)
class SurgeryRow:
    uid: str
    data: SurgeryInput


@dataclass(frozen=True)
class PathologyInput:
    """Pathology of the resected (or biopsied) tumour: size in cm, mitoses per ``unit``."""

    reported_on: date | None = None
    primary_site: str | None = None
    tumour_size_cm: float | None = None
    mitotic_count: float | None = None
    mitotic_unit: str = "50hpf"
    mutation: str | None = None
    ruptured: bool | None = None
    response_grade: str | None = None
    surgery_uid: str | None = None


@dataclass(frozen=True)
class PathologyRow:
    uid: str
    data: PathologyInput
    risk: str | None
    risk_missing: tuple[str, ...]


@dataclass(frozen=True)
class EventInput:
    kind: str
    occurred_on: date
    criterion: str | None = None
    site: str | None = None
    cause: str | None = None
    salvage_procedure: str | None = None
    salvage_margin: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class EventRow:
    uid: str
    data: EventInput


@dataclass(frozen=True)
class EndpointResult:
    """One endpoint of one patient.

    ``kind``: ``time_to_event``, ``response``, ``r0``, ``organ_preservation`` or
    ``not_computed``. For time to event: ``start`` (the measured-from date), ``event``
    (True event, False censored), ``on`` (event or censoring date) and ``months``.
    ``value`` is the display text (a response code, "R0", "met"…); None when unknown.
    """

    key: str
    name: str
    kind: str
    start: date | None = None
    event: bool | None = None
    on: date | None = None
    months: float | None = None
    value: str | None = None
    note: str = ""


# --- helpers --------------------------------------------------------------------------------




def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def procedure_label(code: str) -> str:
    return _(PROCEDURE_LABELS.get(code, code))


def event_label(kind: str) -> str:
    return _(EVENT_LABELS.get(kind, kind))


def risk_of(data: PathologyInput, *, surgery_ruptured: bool | None = None
            ) -> tuple[str | None, tuple[str, ...]]:
    """NIH-2008 risk of ``data`` and, when it cannot be given, what is missing."""
    ruptured = data.ruptured if data.ruptured is not None else surgery_ruptured
    missing = []
    if data.tumour_size_cm is None:
        missing.append(_("size"))
    if data.mitotic_count is None:
        missing.append(_("mitotic count"))
    if not data.primary_site:
        missing.append(_("primary site"))
    if ruptured is None:
        missing.append(_("rupture"))
    if missing or data.tumour_size_cm is None or data.mitotic_count is None:
        return None, tuple(missing)
    mitoses = (mitoses_per_50hpf_from_5mm2(data.mitotic_count)
               if data.mitotic_unit == "5mm2" else data.mitotic_count)
    return nih2008(data.tumour_size_cm, mitoses, gastric=data.primary_site == "stomach",
                   ruptured=bool(ruptured)), ()


def _insert(w: Writer, model: type[Record], patient: Patient, values: dict[str, Any]) -> str:
    """Insert one audited row whose columns may include ``reason`` (which
    :meth:`Writer.insert` takes as the audit reason): through ``insert_many``, audited the
    same way. Foreign keys are given as records or ids. Returns the new uid."""
    row = {k: (_pk(v) if isinstance(v, Record) else v) for k, v in values.items()}
    return w.insert_many(model, [row], patient_uids=[patient.uid])[0]


def _months(start: date, end: date) -> float:
    return (end - start).days / tx.DAYS_PER_MONTH


# --- the service ----------------------------------------------------------------------------


class CourseService(SiteService):
    """Treatment, surgery, pathology and course events of one open site (audited)."""

    # ----- lookups ------------------------------------------------------------------------

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

    # ----- treatment ----------------------------------------------------------------------
    def _check_exposure(self, data: ExposureInput, patient: Patient, today: date) -> None:
        errors: dict[str, str] = {}
        if not data.drug.strip():
            errors["drug"] = _("give the drug")
        if not data.dose_mg_per_day > 0:
            errors["dose_mg_per_day"] = _("the dose must be more than 0 mg/day")
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

    def _follow_preop(self, w: Writer, patient: Patient, reason: str | None) -> None:
        """Preoperative anchors and the derived group follow the preoperative exposures."""
        rows = [r for r in TreatmentExposure.select().where(
            (TreatmentExposure.patient == patient)
            & (TreatmentExposure.phase == "preoperative")) if r.drug == "imatinib"]
        if not rows:
            return
        first = min(_as_date(r.start_on) or date.max for r in rows)
        stops = [_as_date(r.stop_on) for r in rows]
        last = None if any(s is None for s in stops) else max(s for s in stops if s)
        self._set_anchor(patient, "imatinib_start", first, reason)
        self._set_anchor(patient, "last_preop_dose", last, reason)
        from gisttracker.services.patients import recompute_duration_group

        patient = Patient.get_by_id(_pk(patient))
        recompute_duration_group(w, self.session, patient)

    def add_exposure(self, patient_key: str, data: ExposureInput, *, today: date) -> str:
        """Record a period on drug; returns its uid."""
        patient = self.patient(patient_key)
        self._check_exposure(data, patient, today)
        with self.tracker.transaction(_("treatment recorded")) as w:
            uid = _insert(w, TreatmentExposure, patient,
                          {"patient": patient, **self._exposure_values(data)})
            self._follow_preop(w, patient, None)
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
            self._follow_preop(w, patient, reason)

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
            self._follow_preop(w, patient, reason)
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
        """Exposures with the pre- and postoperative imatinib durations and timing flags."""
        patient = self.patient(patient_key)
        study = self.study_of(patient)
        rows = self.exposures(patient_key)
        surgery = self.index_surgery_date(patient_key)
        imatinib = [r for r in rows if r.data.drug == "imatinib"]
        exposures = [tx.Exposure(r.data.drug, r.data.dose_mg_per_day, r.data.start_on,
                                 r.data.stop_on, r.data.phase) for r in imatinib]
        interruptions = [tx.Interruption(i.start_on, i.end_on, i.reason or "")
                         for r in imatinib for i in r.interruptions]
        flags: list[str] = []
        pre = post = None
        group = None
        preop = [e for e in exposures if e.phase == "preoperative"]
        if (study.allocation.method == "derived_duration" and preop
                and all(e.stop is not None for e in preop)):
            first = min(e.start for e in preop)
            last = max(e.stop for e in preop if e.stop is not None)
            group = tx.duration_group(first, last)
        if surgery is not None:
            try:
                pre = tx.preoperative_duration(exposures, interruptions, surgery)
            except ValueError as exc:
                flags.append(str(exc))
            try:
                post = tx.postoperative_duration(exposures, interruptions, surgery,
                                                 until=min(today, self._death(patient)
                                                           or today))
            except ValueError as exc:
                flags.append(str(exc))
        if self._neoadjuvant(study):
            if preop and all(e.stop is not None for e in preop) and surgery is not None:
                first = min(e.start for e in preop)
                last = max(e.stop for e in preop if e.stop is not None)
                flags.extend(tx.check_neoadjuvant_timing(first, last, surgery))
            if post is not None and (post.calendar_months > MAX_POSTOP_MONTHS or (
                    post.calendar_months == MAX_POSTOP_MONTHS and post.extra_days > 0)):
                flags.append(_("postoperative imatinib lasted {months} months {days} days, "
                               "longer than {max} months").format(
                    months=post.calendar_months, days=post.extra_days, max=MAX_POSTOP_MONTHS))
        return TreatmentSummary(tuple(rows), surgery, pre, post, group, tuple(flags))

    @staticmethod
    def _neoadjuvant(study: Study) -> bool:
        """The study limits preoperative imatinib (timing rules from imatinib_start to
        last_preop_dose and from there to surgery: NCT04933669)."""
        pairs = {(r.start, r.end) for r in study.timing_rules}
        return {("imatinib_start", "last_preop_dose"), ("last_preop_dose", "surgery")} <= pairs

    # ----- surgery ------------------------------------------------------------------------
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
            self._set_anchor(patient, "surgery", first, reason)
            recurrences = [e for e in self.events(patient.uid)
                           if e.data.kind in course_rules.RECURRENCE_KINDS
                           and first is not None and e.data.occurred_on <= first]
            if recurrences:
                raise CourseInputError({"performed_on": _(
                    "a recurrence is recorded on {date}, not after this surgery").format(
                    date=recurrences[0].data.occurred_on.isoformat())})
            self._follow_preop(w, patient, reason)
        return str(row.uid)

    def surgeries(self, patient_key: str) -> list[SurgeryRow]:
        return [SurgeryRow(r.uid, SurgeryInput(
            _as_date(r.performed_on) or date.min, r.procedure, r.margin, r.ruptured,
            r.stoma or "none", _as_date(r.stoma_reversed_on), r.complications))
            for r in self._surgeries(self.patient(patient_key))]

    def delete_surgery(self, uid: str, *, reason: str) -> None:
        row = Surgery.get_or_none(Surgery.uid == uid)
        if row is None:
            raise ServiceError(_("no surgery {uid!r}").format(uid=uid))
        if not reason.strip():
            raise ServiceError(_("a reason is required to delete a surgery"))
        with self.tracker.transaction(reason) as w:
            w.delete(row, patient_uid=Patient.get_by_id(_fk(row, "patient")).uid)

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

    # ----- course events ------------------------------------------------------------------
    def check_event(self, patient_key: str, data: EventInput, *, today: date,
                    uid: str | None = None) -> dict[str, str]:
        """Field errors the save of ``data`` would meet (empty when fine)."""
        patient = self.patient(patient_key)
        errors: dict[str, str] = {}
        if data.kind not in course_rules.EVENT_KINDS:
            return {"kind": _("choose the kind of event")}
        if data.kind == "progression" and data.criterion not in course_rules.PROGRESSION_CRITERIA:
            errors["criterion"] = _("give the criterion of the progression")
        if data.salvage_procedure is not None and (
                data.salvage_procedure not in course_rules.PROCEDURES):
            errors["salvage_procedure"] = _("unknown procedure")
        if data.salvage_margin is not None and data.salvage_margin not in course_rules.MARGINS:
            errors["salvage_margin"] = _("margin must be R0, R1 or R2")
        death = self._death(patient, exclude=uid)
        problems = course_rules.validate_event_date(
            data.kind, data.occurred_on, today=today,
            enrolled_on=_as_date(patient.enrolled_on),
            surgery_date=self.index_surgery_date(patient_key), death_date=death)
        if problems:
            errors["occurred_on"] = "; ".join(problems)
        if data.kind == "death" and "occurred_on" not in errors:
            later = self._data_after(patient, data.occurred_on, exclude=uid)
            if later:
                errors["occurred_on"] = _("data are recorded after this date: {items}").format(
                    items="; ".join(later))
        return errors

    def _data_after(self, patient: Patient, on: date, *, exclude: str | None) -> list[str]:
        """What is recorded for ``patient`` after ``on`` (no data may follow a death)."""
        found = []
        for e in CourseEvent.select().where((CourseEvent.patient == patient)
                                            & (CourseEvent.occurred_on > on)):
            if e.uid != exclude:
                found.append(_("{event} on {date}").format(event=event_label(e.kind),
                                                           date=str(e.occurred_on)))
        for a in TumourAssessment.select().where((TumourAssessment.patient == patient)
                                                 & (TumourAssessment.assessed_on > on)):
            found.append(_("tumour assessment on {date}").format(date=str(a.assessed_on)))
        for s in Surgery.select().where((Surgery.patient == patient)
                                        & (Surgery.performed_on > on)):
            found.append(_("surgery on {date}").format(date=str(s.performed_on)))
        for v in Visit.select().where((Visit.patient == patient) & (Visit.done_on > on)):
            found.append(_("visit {name} done on {date}").format(name=v.name,
                                                                 date=str(v.done_on)))
        return found

    def record_event(self, patient_key: str, data: EventInput, *, today: date,
                     uid: str | None = None, reason: str | None = None) -> str:
        """Record (or correct, with ``uid`` and a reason) a course event.

        A death or loss to follow-up ends the participation of an enrolled patient on that
        date (:meth:`PatientService.end_participation`: later visits are cancelled).
        """
        patient = self.patient(patient_key)
        errors = self.check_event(patient_key, data, today=today, uid=uid)
        if errors:
            raise CourseInputError(errors)
        values: dict[str, Any] = {"kind": data.kind, "occurred_on": data.occurred_on,
                  "criterion": data.criterion if data.kind == "progression" else None,
                  "site": _text(data.site), "cause": _text(data.cause),
                  "salvage_procedure": data.salvage_procedure,
                  "salvage_margin": data.salvage_margin, "notes": _text(data.notes)}
        with self.tracker.transaction(reason or event_label(data.kind)) as w:
            if uid is None:
                row = w.insert(CourseEvent, patient_uid=patient.uid, patient=patient, **values)
            else:
                found = CourseEvent.get_or_none((CourseEvent.uid == uid)
                                                & (CourseEvent.patient == patient))
                if found is None:
                    raise ServiceError(_("no course event {uid!r}").format(uid=uid))
                row = found
                w.update(row, values, patient_uid=patient.uid, require_reason=True)
            status = {"death": "died", "lost_to_follow_up": "lost_to_follow_up"}.get(data.kind)
            if status is not None and patient.status == "enrolled":
                from gisttracker.services.patients import PatientService

                PatientService(self.session).end_participation(
                    patient.uid, status, on=data.occurred_on, today=today,
                    reason=_text(data.cause) or reason)
        return str(row.uid)

    def events(self, patient_key: str) -> list[EventRow]:
        patient = self.patient(patient_key)
        return [EventRow(e.uid, EventInput(
            e.kind, _as_date(e.occurred_on) or date.min, e.criterion, e.site, e.cause,
            e.salvage_procedure, e.salvage_margin, e.notes))
            for e in CourseEvent.select().where(CourseEvent.patient == patient)
            .order_by(CourseEvent.occurred_on, _col(CourseEvent))]

    def delete_event(self, uid: str, *, reason: str) -> None:
        row = CourseEvent.get_or_none(CourseEvent.uid == uid)
        if row is None:
            raise ServiceError(_("no course event {uid!r}").format(uid=uid))
        if not reason.strip():
            raise ServiceError(_("a reason is required to delete an event"))
        with self.tracker.transaction(reason) as w:
            w.delete(row, patient_uid=Patient.get_by_id(_fk(row, "patient")).uid)

    # ----- organ preservation and endpoints -----------------------------------------------
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
