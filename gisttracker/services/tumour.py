"""Tumour assessments: target lesions, non-target status, new lesions, and their responses.

An assessment is one CT/MRI reading on a date. Its target lesions keep the label given at
baseline across visits (the follow-up readings are matched to the baseline by label). Each
target lesion has an organ, a diameter in millimetres (longest diameter; short axis for a
lymph node), an optional mean density in Hounsfield units (HU, for Choi) and a "present but
too small to measure" flag (counted as 5 mm, RECIST 1.1 §4.3). Non-target disease is one
status per assessment: ``none`` (no non-target disease), ``absent`` (gone: CR), ``present``
(non-CR/non-PD), ``progression`` (unequivocal progression: PD), ``not_evaluated`` (NE).

Derived for every follow-up (:func:`evaluate`): the sum of diameters, the change from the
baseline sum and from the nadir (smallest sum before it), the RECIST 1.1 target, non-target
and overall responses, and the Choi response; for the patient, the best overall response by
each criterion. These are computed by the pure rules of :mod:`gisttracker.response`.

Baseline target selection: the RECIST 1.1 rules (at most five targets, two per organ, nodes
as one organ, ≥ 10 mm / nodes ≥ 15 mm short axis) are checked when the baseline is saved. A
selection that breaks them is refused with :class:`SelectionProblems` (listing every
problem) unless the caller passes ``confirm=True``: the radiologist's reading is source data
and is kept as read, but only after someone has seen and accepted the problems. The
confirmation is audited as the reason of the change.

Choi density: the mean of the densities of the target lesions measured at that assessment.
Choi "obvious progression of non-measurable disease" is taken from the non-target status
(``progression`` makes Choi PD, as it makes RECIST PD).

Best overall response (RECIST 1.1 §4.4, applied to Choi the same way) follows the study's
``[response]`` rules: stable disease counts only from the declared minimum duration after
the start of treatment (the ``start`` anchor's date; the baseline assessment's date while
that is not known), and CR/PR only when confirmed, if the protocol asks for confirmation
(:func:`gisttracker.response.recist.best_response`). A protocol without ``[response]``
keeps RECIST's plain reading (no minimum, no confirmation).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, cast

from gisttracker.domain.plausibility import date_problem
from gisttracker.errors import InputError
from gisttracker.i18n import N_, _, join_list, join_sentences
from gisttracker.protocols.model import ResponseRules
from gisttracker.response import choi, recist
from gisttracker.services.base import ServiceError, Writer, service
from gisttracker.services.claims import claim
from gisttracker.services.common import SiteService, date_context
from gisttracker.services.common import as_date as _as_date
from gisttracker.services.common import fk_id as _fk
from gisttracker.services.common import id_column as _col
from gisttracker.services.common import pk as _pk
from gisttracker.services.scopes import refuse_unseen
from gisttracker.store.models_course import CourseEvent, LesionMeasurement, TumourAssessment
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import AnchorDate, Visit

__all__ = [
    "NON_TARGET_STATES",
    "AssessmentInput",
    "AssessmentRecord",
    "Evaluation",
    "LesionInput",
    "SelectionProblems",
    "SeriesResult",
    "TumourService",
    "best_of",
    "evaluate",
    "selection_problems",
]

NON_TARGET_STATES: Final[Mapping[str, str]] = {
    "none": N_("no non-target disease"),
    "present": N_("present (non-CR/non-PD)"),
    "absent": N_("absent (complete response)"),
    "progression": N_("unequivocal progression"),
    "not_evaluated": N_("not evaluated"),
}
#: Non-target status → RECIST 1.1 non-target response code (``none`` → no such disease).
_NON_TARGET_CODE: Final[Mapping[str, str | None]] = {
    "none": None, "present": "NON-CR/NON-PD", "absent": "CR", "progression": "PD",
    "not_evaluated": "NE",
}
MODALITIES: Final = ("CT", "MRI", "PET-CT", "other")
_CHOI_ORDER: Final[Mapping[str, int]] = {"CR": 4, "PR": 3, "SD": 2, "PD": 1, "NE": 0}


class SelectionProblems(ServiceError):
    """A baseline target selection that breaks RECIST 1.1; saved only when confirmed."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(_("the baseline target selection breaks RECIST 1.1: {problems}")
                         .format(problems=join_sentences(problems)))


@dataclass(frozen=True)
class LesionInput:
    """One lesion as read: ``diameter_mm`` longest diameter (short axis for a node)."""

    label: str
    organ: str
    diameter_mm: float | None = None
    density_hu: float | None = None
    is_node: bool = False
    too_small: bool = False
    is_target: bool = True


@dataclass(frozen=True)
class AssessmentInput:
    """One tumour assessment as entered. ``non_target`` is a key of NON_TARGET_STATES."""

    assessed_on: date
    lesions: tuple[LesionInput, ...]
    is_baseline: bool = False
    non_target: str = "none"
    new_lesions: bool = False
    new_nodules: bool = False
    modality: str | None = "CT"
    visit_uid: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class AssessmentRecord:
    """A stored assessment: its uid and what was entered."""

    uid: str
    data: AssessmentInput


@dataclass(frozen=True)
class Evaluation:
    """What is derived at one assessment (response fields None at baseline).

    ``sum_mm`` None at a follow-up means the targets were not all measured (NE).
    ``mean_hu``: mean density of the target lesions (HU) or None.
    """

    assessed_on: date
    is_baseline: bool
    sum_mm: float | None
    mean_hu: float | None
    change_from_baseline_pct: float | None = None
    change_from_nadir_pct: float | None = None
    nadir_mm: float | None = None
    recist_target: str | None = None
    recist_non_target: str | None = None
    recist_overall: str | None = None
    choi: str | None = None


@dataclass(frozen=True)
class SeriesResult:
    """Evaluations in date order (baseline first), best responses, and problems found.

    ``problems`` are messages for the user (a selection breaking RECIST 1.1, a follow-up
    before the baseline…); when the series cannot be evaluated at all ``evaluations`` is
    empty and the problems say why.
    """

    evaluations: tuple[Evaluation, ...] = ()
    best_recist: str | None = None
    best_choi: str | None = None
    problems: tuple[str, ...] = ()
    selection_problems: tuple[str, ...] = ()
    primary: str | None = None

    @property
    def best_primary(self) -> str | None:
        """The best overall response by the study's primary criterion."""
        return self.best_choi if self.primary == "choi" else self.best_recist


# --- pure evaluation ------------------------------------------------------------------------


def _targets(data: AssessmentInput) -> list[LesionInput]:
    return [lesion for lesion in data.lesions if lesion.is_target]


def selection_problems(baseline: AssessmentInput) -> list[str]:
    """RECIST 1.1 problems with the baseline's target selection (empty when fine)."""
    problems: list[str] = []
    lesions = []
    for lesion in _targets(baseline):
        if lesion.diameter_mm is None and not lesion.too_small:
            problems.append(_("{label}: no diameter").format(label=lesion.label))
            continue
        try:
            lesions.append(recist.Lesion(
                lesion.label, lesion.organ,
                recist.recorded_diameter(lesion.diameter_mm, too_small=lesion.too_small),
                lesion.is_node))
        except InputError as exc:
            problems.append(f"{lesion.label}: {exc}")
    return problems + recist.check_target_selection(lesions)


def _mean_hu(lesions: Sequence[LesionInput]) -> float | None:
    values = [lesion.density_hu for lesion in lesions if lesion.density_hu is not None]
    return math.fsum(values) / len(values) if values else None


def _sum(lesions: Sequence[LesionInput]) -> float | None:
    """The sum of the recorded diameters (:func:`recist.recorded_diameter`: a measurement,
    or 5 mm for a lesion too small to measure), or None when one is missing or invalid."""
    diameters = []
    try:
        for lesion in lesions:
            diameter = lesion.diameter_mm
            diameters.append(recist.validate_mm("diameter_mm", diameter)
                             if diameter is not None else
                             recist.recorded_diameter(None, too_small=lesion.too_small))
    except InputError:
        return None
    return math.fsum(diameters)


def _complete(lesions: Sequence[LesionInput]) -> bool:
    """RECIST's complete-response condition of the targets
    (:func:`recist.targets_complete`), with each diameter checked as :class:`recist.Lesion`
    checks it, lesion by lesion up to the first that is not gone — without building the
    lesions, which a study of thousands of patients would otherwise pay for at every
    follow-up."""
    if not lesions or any(lesion.diameter_mm is None for lesion in lesions):
        return False
    first = lesions[0]
    if not first.is_node and recist.validate_mm("diameter_mm", first.diameter_mm or 0.0):
        return False  # the usual case, decided at once: the first target is still there
    measured = (_Measured(recist.validate_mm("diameter_mm", lesion.diameter_mm or 0.0),
                          lesion.is_node) for lesion in lesions)
    return recist.targets_complete(cast("Iterator[recist.Lesion]", measured))


class _Measured:
    """The two attributes of a lesion :func:`recist.targets_complete` reads."""

    __slots__ = ("diameter_mm", "is_node")

    def __init__(self, diameter_mm: float, is_node: bool) -> None:
        self.diameter_mm = diameter_mm
        self.is_node = is_node


def _best_choi(responses: Sequence[str]) -> str | None:
    if not responses:
        return None
    best = "NE"
    for code in responses:
        if _CHOI_ORDER[code] > _CHOI_ORDER[best]:
            best = code
        if code == "PD":
            break
    return best


def best_of(evaluations: Sequence[Evaluation], criterion: str, *,
            rules: ResponseRules | None, start: date | None,
            until: date | None = None) -> str | None:
    """The best overall response by ``criterion`` (``recist`` or ``choi``) over the
    follow-ups of ``evaluations`` dated up to ``until`` (an endpoint's horizon), by the
    protocol's ``rules``; None without a follow-up. ``start`` is the start-of-treatment date
    the minimum SD duration counts from (the baseline's date when None)."""
    follow_ups = [e for e in evaluations if not e.is_baseline
                  and (until is None or e.assessed_on <= until)]
    codes = [(e.assessed_on, e.choi if criterion == "choi" else e.recist_overall)
             for e in follow_ups]
    dated = [(day, code) for day, code in codes if code is not None]
    if not dated:
        return None
    if rules is None:
        if criterion == "choi":
            return _best_choi([code for _day, code in dated])
        return recist.best_overall_response(code for _day, code in dated)
    baseline = next((e.assessed_on for e in evaluations if e.is_baseline), dated[0][0])
    return recist.best_response(dated, start=start or baseline, sd_min=rules.sd_min,
                                confirm_after=rules.confirm_after if rules.confirm else None)


def evaluate(assessments: Sequence[AssessmentInput], *, primary: str | None = None,
             rules: ResponseRules | None = None, start: date | None = None,
             best: bool = True, selection: bool = True) -> SeriesResult:
    """Evaluate a patient's assessments (any order; sorted by date, the baseline first).

    Follow-up target lesions are matched to the baseline targets by label (case and
    surrounding blanks ignored); a baseline target missing or unmeasured at a follow-up
    (no diameter, not flagged too small) makes the sum NE. The best responses follow the
    protocol's ``rules`` counted from ``start`` (:func:`best_of`); ``best=False`` leaves
    them out (a caller that judges its own time frame, as the study outcomes do for
    thousands of patients), and ``selection=False`` the check of the baseline's target
    selection (``selection_problems`` empty: the outcomes never show it). Never raises for
    bad data: what cannot be evaluated is reported in ``problems``.
    """
    ordered = sorted(assessments, key=lambda a: (not a.is_baseline, a.assessed_on))
    baselines = [a for a in ordered if a.is_baseline]
    if not baselines:
        return SeriesResult(problems=(_("no baseline assessment yet"),) if ordered else (),
                            primary=primary)
    baseline = baselines[0]
    problems: list[str] = []
    if len(baselines) > 1:
        problems.append(_("more than one baseline assessment: the first one is used"))
    follow_ups = [a for a in ordered if not a.is_baseline]
    for a in follow_ups:
        if a.assessed_on < baseline.assessed_on:
            problems.append(_("the assessment of {date} is before the baseline ({baseline})")
                            .format(date=a.assessed_on.isoformat(),
                                    baseline=baseline.assessed_on.isoformat()))
    follow_ups = [a for a in follow_ups if a.assessed_on >= baseline.assessed_on]
    base_targets = _targets(baseline)
    base_labels = [lesion.label.strip().casefold() for lesion in base_targets]
    base_sum = _sum(base_targets) if base_targets else None
    if base_targets and base_sum is None:
        problems.append(_("a baseline target lesion has no diameter"))
    base_code = _NON_TARGET_CODE.get(baseline.non_target)
    has_non_target = base_code is not None
    base_hu = _mean_hu(base_targets)

    timepoints = [recist.Timepoint(base_sum if base_sum else None,
                                   non_target="NON-CR/NON-PD" if has_non_target else None,
                                   assessed_on=baseline.assessed_on)]
    follow_targets: list[list[LesionInput]] = []
    known = set(base_labels)
    for a in follow_ups:
        keyed = [(lesion.label.strip().casefold(), lesion) for lesion in a.lesions
                 if lesion.is_target]
        by_label = dict(keyed)
        extra = [lesion.label for key, lesion in keyed if key not in known]
        if extra:
            problems.append(_("{date}: {labels} not a baseline target (record new lesions "
                              "as new lesions)").format(date=a.assessed_on.isoformat(),
                                                        labels=join_list(extra)))
        matched = [by_label[key] for key in base_labels if key in by_label]
        follow_targets.append(matched)
        complete_ = len(matched) == len(base_labels) and _complete(matched)
        current = _sum(matched) if len(matched) == len(base_labels) else None
        code = _NON_TARGET_CODE.get(a.non_target)
        if not has_non_target:
            code = None
        elif code is None:
            code = "NE"
        if base_sum:
            timepoints.append(recist.Timepoint(current, complete_, code, a.new_lesions,
                                               a.assessed_on))
        else:
            timepoints.append(recist.Timepoint(None, False, code, a.new_lesions,
                                               a.assessed_on))
    try:
        series = recist.evaluate_series(timepoints)
    except InputError as exc:
        problems.append(str(exc))
        return SeriesResult(problems=tuple(problems),
                            selection_problems=tuple(selection_problems(baseline))
                            if selection else (),
                            primary=primary)

    evaluations = [Evaluation(baseline.assessed_on, True, base_sum, base_hu)]
    for a, matched, tp in zip(follow_ups, follow_targets, series.timepoints[1:], strict=True):
        hu = _mean_hu(matched)
        choi_code: str | None = None
        if a.new_lesions or a.new_nodules or a.non_target == "progression":
            choi_code = "PD"
        elif base_sum and tp.sum_mm is not None:
            try:
                choi_code = choi.response(
                    base_sum, base_hu, tp.sum_mm, hu, nadir_mm=tp.nadir_mm,
                    complete=tp.target_response == "CR" and a.non_target in ("none", "absent"))
            except InputError as exc:
                problems.append(str(exc))
                choi_code = "NE"
        else:
            choi_code = "NE"
        non_target = _NON_TARGET_CODE.get(a.non_target) if has_non_target else None
        if has_non_target and non_target is None:
            non_target = "NE"
        evaluations.append(Evaluation(
            a.assessed_on, False, tp.sum_mm, hu, tp.change_from_baseline_pct,
            tp.change_from_nadir_pct, tp.nadir_mm, tp.target_response, non_target,
            tp.overall_response, choi_code))
    return SeriesResult(
        tuple(evaluations),
        best_of(evaluations, "recist", rules=rules, start=start) if best else None,
        best_of(evaluations, "choi", rules=rules, start=start) if best else None,
        tuple(problems), tuple(selection_problems(baseline)) if selection else (), primary)


# --- the service ------------------------------------------------------------------------


def _check_input(data: AssessmentInput, today: date) -> dict[str, str]:
    """Field errors of one assessment, keyed by ``assessed_on``, ``lesions[i].field``…"""
    errors: dict[str, str] = {}
    if data.assessed_on > today:
        errors["assessed_on"] = _("{date} is in the future").format(
            date=data.assessed_on.isoformat())
    if data.non_target not in NON_TARGET_STATES:
        errors["non_target"] = _("unknown non-target status {value!r}").format(
            value=data.non_target)
    if data.modality is not None and data.modality not in MODALITIES:
        errors["modality"] = _("unknown modality {value!r}").format(value=data.modality)
    if data.is_baseline and (data.new_lesions or data.new_nodules):
        errors["new_lesions"] = _("a baseline cannot have new lesions or nodules")
    seen: set[str] = set()
    for i, lesion in enumerate(data.lesions):
        key = lesion.label.strip().casefold()
        if not key:
            errors[f"lesions[{i}].label"] = _("give the lesion a label")
        elif key in seen:
            errors[f"lesions[{i}].label"] = _("label {label!r} is used twice").format(
                label=lesion.label.strip())
        seen.add(key)
        if not lesion.organ.strip() and not lesion.is_node:
            errors[f"lesions[{i}].organ"] = _("give the organ")
        if lesion.diameter_mm is not None:
            try:
                recist.validate_mm(_("diameter"), lesion.diameter_mm)
            except InputError as exc:
                errors[f"lesions[{i}].diameter_mm"] = str(exc)
        if lesion.density_hu is not None and not (
                math.isfinite(lesion.density_hu)
                and choi.MIN_HU <= lesion.density_hu <= choi.MAX_HU):
            errors[f"lesions[{i}].density_hu"] = _(
                "density must be between -1000 and 3000 HU, got {value:g}").format(
                value=lesion.density_hu)
    return errors


class AssessmentInputError(ServiceError):
    """Field errors of an assessment: ``errors`` maps a field path to its message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(join_sentences(self.errors.values()))


def death_date(patient: Patient) -> date | None:
    """The recorded date of death of ``patient``, or None."""
    row = (CourseEvent.select(CourseEvent.occurred_on)
           .where((CourseEvent.patient == patient) & (CourseEvent.kind == "death"))
           .order_by(CourseEvent.occurred_on).first())
    return _as_date(row.occurred_on) if row else None




def _float(value: float | None) -> float | None:
    """Numbers are stored (and audited) as floats, whether typed as 20 or 20.0."""
    return None if value is None else float(value)




@service
class TumourService(SiteService):
    """Tumour assessments of one open site; every write audited."""

    def primary_criterion(self, patient: Patient) -> str | None:
        return self.study_of(patient).primary_response_criterion

    # ----- reading ------------------------------------------------------------------------
    def assessments(self, patient_key: str) -> list[AssessmentRecord]:
        """The patient's assessments in date order, baseline first (two queries)."""
        patient = self.patient(patient_key)
        rows = list(TumourAssessment.select().where(TumourAssessment.patient == patient)
                    .order_by(TumourAssessment.is_baseline.desc(),
                              TumourAssessment.assessed_on, _col(TumourAssessment)))
        lesions: dict[int, list[LesionMeasurement]] = {}
        visits: dict[int, str] = {}
        if rows:
            for lesion in (LesionMeasurement.select()
                           .where(LesionMeasurement.assessment.in_([_pk(r) for r in rows]))
                           .order_by(_col(LesionMeasurement))):
                lesions.setdefault(_fk(lesion, "assessment") or 0, []).append(lesion)
            visit_ids = [v for v in (_fk(r, "visit") for r in rows) if v]
            if visit_ids:
                visits = {_pk(v): v.uid for v in Visit.select(_col(Visit), Visit.uid)
                          .where(_col(Visit).in_(visit_ids))}
        return [AssessmentRecord(r.uid, AssessmentInput(
            assessed_on=_as_date(r.assessed_on) or date.min,
            lesions=tuple(LesionInput(
                m.label, m.organ, m.diameter_mm, m.density_hu, bool(m.is_node),
                bool(m.too_small), bool(m.is_target)) for m in lesions.get(_pk(r), [])),
            is_baseline=bool(r.is_baseline), non_target=r.non_target or "none",
            new_lesions=bool(r.new_lesions), new_nodules=bool(r.new_nodules),
            modality=r.modality, visit_uid=visits.get(_fk(r, "visit") or 0),
            notes=r.notes)) for r in rows]

    def baseline_targets(self, patient_key: str) -> tuple[LesionInput, ...]:
        """The baseline's target lesions (to pre-fill a follow-up), empty without one."""
        for record in self.assessments(patient_key):
            if record.data.is_baseline:
                return tuple(lesion for lesion in record.data.lesions if lesion.is_target)
        return ()

    def response_rules(self, patient: Patient) -> tuple[ResponseRules | None, date | None]:
        """The study's best-response rules and the patient's start-of-treatment date they
        count from (None while that anchor date is unknown)."""
        rules = self.study_of(patient).response
        if rules is None:
            return None, None
        row = AnchorDate.get_or_none((AnchorDate.patient == patient)
                                     & (AnchorDate.anchor_key == rules.start))
        return rules, _as_date(row.date) if row is not None else None

    def evaluation(self, patient_key: str) -> SeriesResult:
        """Every assessment of the patient evaluated by RECIST 1.1 and Choi, the best
        responses by the study's rules."""
        patient = self.patient(patient_key)
        rules, start = self.response_rules(patient)
        return evaluate([r.data for r in self.assessments(patient_key)],
                        primary=self.primary_criterion(patient), rules=rules, start=start)

    # ----- writing ------------------------------------------------------------------------
    def check(self, patient_key: str, data: AssessmentInput, *, today: date,
              uid: str | None = None) -> dict[str, str]:
        """Field errors the save would refuse (empty when it would be accepted)."""
        patient = self.patient(patient_key)
        errors = _check_input(data, today)
        if "assessed_on" not in errors:
            ctx = date_context(patient, today)
            early = date_problem(data.assessed_on, today=today, birth=ctx.birth)
            if early:
                errors["assessed_on"] = early
        # Imaging before enrollment is normal (screening), so it is not refused.
        died = death_date(patient)
        if died is not None and data.assessed_on > died:
            errors.setdefault("assessed_on", _("{date} is after the recorded death ({death})")
                              .format(date=data.assessed_on.isoformat(),
                                      death=died.isoformat()))
        others = [r for r in self.assessments(patient_key) if r.uid != uid]
        base = next((r.data for r in others if r.data.is_baseline), None)
        if data.is_baseline and base is not None:
            errors.setdefault("is_baseline", _("the patient already has a baseline ({date})")
                              .format(date=base.assessed_on.isoformat()))
        if not data.is_baseline:
            if base is None:
                errors.setdefault("is_baseline", _("enter the baseline assessment first"))
            elif data.assessed_on < base.assessed_on:
                errors.setdefault("assessed_on", _("{date} is before the baseline ({base})")
                                  .format(date=data.assessed_on.isoformat(),
                                          base=base.assessed_on.isoformat()))
            if base is not None:
                labels = {lesion.label.strip().casefold() for lesion in base.lesions
                          if lesion.is_target}
                for i, lesion in enumerate(data.lesions):
                    if lesion.is_target and lesion.label.strip().casefold() not in labels:
                        errors.setdefault(f"lesions[{i}].label", _(
                            "{label} is not a baseline target; record a new lesion with "
                            "\"new lesions\"").format(label=lesion.label))
            if base is not None and base.non_target == "none" and data.non_target not in (
                    "none",):
                errors.setdefault("non_target", _("there was no non-target disease at "
                                                  "baseline"))
        elif not _targets(data) and data.non_target == "none":
            errors.setdefault("lesions", _("a baseline needs target lesions or non-target "
                                           "disease"))
        return errors

    def record(self, patient_key: str, data: AssessmentInput, *, today: date,
             uid: str | None = None, confirm: bool = False,
             reason: str | None = None) -> str:
        """Save a new assessment (``uid`` None) or correct one; returns its uid.

        Raises :class:`AssessmentInputError` with the field errors, or
        :class:`SelectionProblems` for a baseline target selection breaking RECIST 1.1 unless
        ``confirm``. Correcting a saved assessment needs a ``reason``.
        """
        patient = self.patient(patient_key)
        errors = self.check(patient_key, data, today=today, uid=uid)
        if errors:
            raise AssessmentInputError(errors)
        problems = selection_problems(data) if data.is_baseline else []
        if problems and not confirm:
            raise SelectionProblems(problems)
        visit_id = None
        if data.visit_uid:
            visit = Visit.get_or_none((Visit.uid == data.visit_uid)
                                      & (Visit.patient == patient))
            if visit is None:
                raise ServiceError(_("no visit {uid!r} for this patient").format(
                    uid=data.visit_uid))
            visit_id = _pk(visit)
        values: dict[str, Any] = {"assessed_on": data.assessed_on, "is_baseline": data.is_baseline,
                  "non_target": data.non_target, "new_lesions": data.new_lesions,
                  "new_nodules": data.new_nodules, "modality": data.modality,
                  "visit": visit_id, "notes": (data.notes or "").strip() or None}
        why = reason
        if problems:
            note = _("baseline selection accepted despite: {problems}").format(
                problems=join_sentences(problems))
            why = f"{reason}: {note}" if reason else note
        if uid is None:
            with self.tracker.transaction(why or _("tumour assessment entered")) as w:
                self._check_again(w, patient, patient_key, data, today, uid)
                row = w.insert(TumourAssessment, patient_uid=patient.uid, patient=patient,
                               **values)
                self._write_lesions(w, patient, row, data.lesions, [])
            return str(row.uid)
        stored = TumourAssessment.get_or_none((TumourAssessment.uid == uid)
                                              & (TumourAssessment.patient == patient))
        if stored is None:
            raise ServiceError(_("no tumour assessment {uid!r}").format(uid=uid))
        if not (reason and reason.strip()):
            raise ServiceError(_("a reason is required to correct a saved assessment"))
        with self.tracker.transaction(why) as w:
            # A form that sent the versions it showed rewrites the lesions it showed: one
            # added meanwhile by someone else would be deleted unseen, so that is refused.
            refuse_unseen(self.tracker, "lesion_measurement", "assessment_id", _pk(stored),
                          stored.uid)
            self._check_again(w, patient, patient_key, data, today, uid)
            w.update(stored, values, patient_uid=patient.uid)
            old = list(LesionMeasurement.select().where(
                LesionMeasurement.assessment == stored))
            self._write_lesions(w, patient, stored, data.lesions, old)
        return uid

    def _check_again(self, w: Writer, patient: Patient, patient_key: str,
                     data: AssessmentInput, today: date, uid: str | None) -> None:
        """The checks of :meth:`check` again, inside the transaction that writes, under the
        patient's claim, which every save and removal of an assessment takes: two baselines
        entered at once on two workstations, or a follow-up entered while its baseline is
        removed or moved, cannot both pass against what the other has not committed."""
        claim(w, "tumour_assessments", patient.uid)
        errors = self.check(patient_key, data, today=today, uid=uid)
        if errors:
            raise AssessmentInputError(errors)

    @staticmethod
    def _write_lesions(w: Writer, patient: Patient, row: TumourAssessment,
                       lesions: Sequence[LesionInput], old: list[LesionMeasurement]) -> None:
        by_label = {m.label.strip().casefold(): m for m in old}
        keep: set[str] = set()
        for lesion in lesions:
            key = lesion.label.strip().casefold()
            keep.add(key)
            values: dict[str, Any] = {"label": lesion.label.strip(), "organ": lesion.organ.strip()
                      or recist.LYMPH_NODE_ORGAN, "is_node": lesion.is_node,
                      "is_target": lesion.is_target, "diameter_mm": _float(lesion.diameter_mm),
                      "density_hu": _float(lesion.density_hu), "too_small": lesion.too_small}
            if key in by_label:
                w.update(by_label[key], values, patient_uid=patient.uid)
            else:
                w.insert(LesionMeasurement, patient_uid=patient.uid, assessment=row, **values)
        for key, m in by_label.items():
            if key not in keep:
                w.delete(m, patient_uid=patient.uid)

    def delete(self, uid: str, *, reason: str) -> None:
        """Remove an assessment entered in error (its values stay in the audit trail)."""
        row = TumourAssessment.get_or_none(TumourAssessment.uid == uid)
        if row is None:
            raise ServiceError(_("no tumour assessment {uid!r}").format(uid=uid))
        if not reason.strip():
            raise ServiceError(_("a reason is required to delete an assessment"))
        patient = Patient.get_by_id(_fk(row, "patient"))
        with self.tracker.transaction(reason) as w:
            # Under the patient's claim: a follow-up being entered meanwhile against this
            # baseline is waited for (see _check_again).
            claim(w, "tumour_assessments", patient.uid)
            refuse_unseen(self.tracker, "lesion_measurement", "assessment_id", _pk(row),
                          row.uid)
            for m in LesionMeasurement.select().where(LesionMeasurement.assessment == row):
                w.delete(m, patient_uid=patient.uid)
            w.delete(row, patient_uid=patient.uid)
