"""Gather every enrolled patient's facts of one study from the database, set-based.

One query per kind of record over the whole study (patients, anchors, course events,
surgeries, pathology, treatment, tumour assessments and their lesions, done visits, the
last screening with the date of birth, and — when the study has repeated measures — the
answers of its complete questionnaires, scored here by the same scoring code the forms
use), never one per patient: a 10,000-patient study is a dozen queries.

Facts dated after the data cut-off are still gathered (a visit after the cut-off shows the
patient was alive at it); :mod:`gisttracker.outcomes.derive` decides what counts.
Questionnaires are read only from visits done on or before the cut-off.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from datetime import date
from typing import Any

from peewee import fn

from gisttracker.forms import FormContext, spec_for
from gisttracker.outcomes.facts import (
    Assessment,
    Event,
    Exposure,
    PathologyReport,
    PatientFacts,
    ScoreSet,
    SurgeryRecord,
    VisitDone,
)
from gisttracker.protocols import Study
from gisttracker.risk import mitoses_per_50hpf_from_5mm2
from gisttracker.services.common import id_column as _col
from gisttracker.services.tumour import AssessmentInput, LesionInput
from gisttracker.session import Session
from gisttracker.store.db import database
from gisttracker.store.models_course import (
    CourseEvent,
    LesionMeasurement,
    Pathology,
    Surgery,
    TreatmentExposure,
    TumourAssessment,
)
from gisttracker.store.models_forms import Form, FormValue
from gisttracker.store.models_patients import Patient, PatientIdentity, Screening
from gisttracker.store.models_visits import AnchorDate, Visit

__all__ = ["gather"]

#: Screening columns a covariate may read (``mitotic_count`` is converted to per 50 HPF).
_SCREENING_COLUMNS = ("ecog", "asa", "primary_site", "tumour_size_cm", "mutation", "ruptured")


_DAYS: dict[object, date] = {}


def _day(value: object) -> date | None:
    """A stored date as ``date``; the few thousand distinct days of a study are parsed once."""
    if value is None or value == "":
        return None
    found = _DAYS.get(value)
    if found is None:
        found = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        if len(_DAYS) < 100_000:
            _DAYS[value] = found
    return found


def _rows(query: Any) -> Iterator[tuple[Any, ...]]:
    """The raw rows of a peewee query: the values as the database holds them (dates as ISO
    text), without peewee's per-value conversion — most of the time of reading a large
    study otherwise."""
    return iter(database.execute(query))


def _age(born: date | None, on: date) -> int | None:
    if born is None:
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _value(text: str | None) -> object:
    """A stored answer (JSON text); small integers and booleans without the JSON parser,
    which is most of a questionnaire and most of the time of scoring one."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    if text == "true":
        return True
    if text == "false":
        return False
    return json.loads(text)


def gather(session: Session, study: Study, *, as_of: date,
           patient_uids: Collection[str] | None = None) -> list[PatientFacts]:
    """The facts of every patient of ``study`` enrolled on or before ``as_of`` (all of them,
    or only those in ``patient_uids``), in study-identifier order."""
    del session  # the models are bound to the open database; kept for the callers' symmetry
    where = ((Patient.study_key == study.key) & Patient.enrolled_on.is_null(False)
             & (Patient.enrolled_on <= as_of))
    if patient_uids is not None:
        where &= Patient.uid.in_(list(patient_uids))
    query: Any = (Patient.select(_col(Patient), Patient.uid, Patient.study_id, Patient.arm_code,
                                 Patient.sex, Patient.status, Patient.enrolled_on,
                                 Patient.ended_on)
                  .where(where).order_by(Patient.study_id))
    by_id: dict[int, PatientFacts] = {}
    for pid, uid, study_id, arm, sex, status, enrolled, ended in _rows(query):
        enrolled_on = _day(enrolled)
        assert enrolled_on is not None  # selected above
        by_id[pid] = PatientFacts(uid=uid, study_id=study_id, arm=arm, sex=sex, status=status,
                                  enrolled_on=enrolled_on, ended_on=_day(ended))
    if not by_id:
        return []
    # Every other table is read once for the whole study: its rows whose patient is one of
    # these (a subquery, so no list of ids is sent, however many patients there are).
    who: Any = Patient.select(_col(Patient)).where(where)
    _anchors(by_id, who)
    _events(by_id, who)
    _surgeries(by_id, who)
    _pathology(by_id, who)
    _exposures(by_id, who)
    _assessments(by_id, who)
    _visits(by_id, who, as_of)
    _screening(by_id, who)
    kinds = sorted({k for e in study.endpoints if e.type == "repeated_measure"
                    for k in e.instruments})
    if kinds:
        _scores(by_id, who, kinds, as_of)
    return list(by_id.values())


def _anchors(by_id: dict[int, PatientFacts], ids: Any) -> None:
    rows: Any = _rows(
        AnchorDate.select(AnchorDate.patient, AnchorDate.anchor_key, AnchorDate.date,
                          AnchorDate.uid)
        .where(AnchorDate.patient.in_(ids)))
    for pid, key, day, uid in rows:
        on = _day(day)
        if on is not None:
            by_id[pid].anchors[key] = (on, uid)


def _events(by_id: dict[int, PatientFacts], ids: Any) -> None:
    rows: Any = _rows(
        CourseEvent.select(CourseEvent.patient, CourseEvent.uid, CourseEvent.kind,
                           CourseEvent.occurred_on, CourseEvent.criterion,
                           CourseEvent.salvage_procedure, CourseEvent.salvage_margin)
        .where(CourseEvent.patient.in_(ids))
        .order_by(CourseEvent.occurred_on, _col(CourseEvent)))
    for pid, uid, kind, on, criterion, procedure, margin in rows:
        day = _day(on)
        if day is not None:
            by_id[pid].events.append(Event(uid, kind, day, criterion, procedure, margin))


def _surgeries(by_id: dict[int, PatientFacts], ids: Any) -> None:
    rows: Any = _rows(
        Surgery.select(Surgery.patient, Surgery.uid, Surgery.performed_on, Surgery.procedure,
                       Surgery.margin, Surgery.stoma, Surgery.stoma_reversed_on)
        .where(Surgery.patient.in_(ids)).order_by(Surgery.performed_on, _col(Surgery)))
    for pid, uid, on, procedure, margin, stoma, reversed_on in rows:
        day = _day(on)
        if day is not None:
            by_id[pid].surgeries.append(SurgeryRecord(uid, day, procedure, margin, stoma,
                                                      _day(reversed_on)))


def _pathology(by_id: dict[int, PatientFacts], ids: Any) -> None:
    rows: Any = _rows(
        Pathology.select(Pathology.patient, Pathology.uid, Pathology.reported_on,
                         Pathology.primary_site, Pathology.tumour_size_cm, Pathology.mutation,
                         Pathology.ruptured, Pathology.response_grade)
        .where(Pathology.patient.in_(ids)).order_by(Pathology.reported_on, _col(Pathology))
        )
    for pid, uid, on, site, size, mutation, ruptured, grade in rows:
        by_id[pid].pathology.append(PathologyReport(
            uid, _day(on), site or None, size, mutation or None,
            None if ruptured is None else bool(ruptured), (grade or "").strip() or None))


def _exposures(by_id: dict[int, PatientFacts], ids: Any) -> None:
    rows: Any = _rows(
        TreatmentExposure.select(TreatmentExposure.patient, TreatmentExposure.uid,
                                 TreatmentExposure.drug, TreatmentExposure.phase,
                                 TreatmentExposure.start_on, TreatmentExposure.stop_on)
        .where(TreatmentExposure.patient.in_(ids))
        .order_by(TreatmentExposure.start_on, _col(TreatmentExposure)))
    for pid, uid, drug, phase, start, stop in rows:
        day = _day(start)
        if day is not None:
            by_id[pid].exposures.append(Exposure(uid, str(drug).lower(), phase, day,
                                                 _day(stop)))


def _assessments(by_id: dict[int, PatientFacts], ids: Any) -> None:
    found: Any = _rows(
        TumourAssessment.select(_col(TumourAssessment), TumourAssessment.patient,
                                TumourAssessment.uid, TumourAssessment.assessed_on,
                                TumourAssessment.is_baseline, TumourAssessment.non_target,
                                TumourAssessment.new_lesions, TumourAssessment.new_nodules,
                                TumourAssessment.modality)
        .where(TumourAssessment.patient.in_(ids))
        .order_by(TumourAssessment.assessed_on, _col(TumourAssessment)))
    rows: list[tuple[Any, ...]] = list(found)
    if not rows:
        return
    lesions: dict[int, list[LesionInput]] = {}
    query: Any = _rows(
        LesionMeasurement.select(LesionMeasurement.assessment, LesionMeasurement.label,
                                 LesionMeasurement.organ, LesionMeasurement.diameter_mm,
                                 LesionMeasurement.density_hu, LesionMeasurement.is_node,
                                 LesionMeasurement.too_small, LesionMeasurement.is_target)
        .join(TumourAssessment)
        .where(TumourAssessment.patient.in_(ids))
        .order_by(_col(LesionMeasurement)))
    for aid, label, organ, diameter, density, node, small, target in query:
        lesions.setdefault(aid, []).append(LesionInput(
            label, organ, diameter, density, bool(node), bool(small), bool(target)))
    for aid, pid, uid, on, baseline, non_target, new, nodules, modality in rows:
        day = _day(on)
        if day is None:
            continue
        by_id[pid].assessments.append(Assessment(uid, AssessmentInput(
            assessed_on=day, lesions=tuple(lesions.get(aid, ())), is_baseline=bool(baseline),
            non_target=non_target or "none", new_lesions=bool(new),
            new_nodules=bool(nodules), modality=modality)))


def _visits(by_id: dict[int, PatientFacts], ids: Any, as_of: date) -> None:
    """Per patient, the last visit done on or before the cut-off and the first one after it:
    all a time to event reads from visits (the last contact, and whether the patient was
    seen later), with two grouped queries rather than every visit of the study.

    SQLite takes the other columns of a query with a single ``max()`` / ``min()`` from the
    row holding that value (its documented "bare columns"), so each query gives the visit
    itself, through the patient index, without joining the visits to their own summary
    (which made SQLite build an index for the one query). Of two visits done the same day
    either may be named; the day is the same.
    """
    from gisttracker.store.server import is_server_db

    done = ((Visit.state == "done") & Visit.done_on.is_null(False)
            & Visit.patient.in_(ids))
    # PostgreSQL has no bare columns: there the same rows come from DISTINCT ON.
    server = is_server_db(getattr(Visit._meta.database, "obj", Visit._meta.database))
    for after, pick in ((False, fn.MAX), (True, fn.MIN)):
        when = (Visit.done_on > as_of) if after else (Visit.done_on <= as_of)
        if server:
            query = (Visit.select(Visit.patient, Visit.uid, Visit.visit_key, Visit.done_on)
                     .where(done & when).distinct(Visit.patient)
                     .order_by(Visit.patient,
                               Visit.done_on.asc() if after else Visit.done_on.desc()))
        else:
            query = (Visit.select(Visit.patient, Visit.uid, Visit.visit_key,
                                  pick(Visit.done_on))
                     .where(done & when).group_by(Visit.patient))
        rows: Any = _rows(query)
        for pid, uid, key, on in rows:
            day = _day(on)
            if day is not None:
                by_id[pid].visits.append(VisitDone(uid, key, day))
    for facts in by_id.values():
        facts.visits.sort(key=lambda v: v.on)


def _screening(by_id: dict[int, PatientFacts], ids: Any) -> None:
    rows: Any = _rows(
        Screening.select(Screening.patient, Screening.uid, Screening.screened_on,
                         Screening.mitotic_count, Screening.mitotic_unit,
                         *(getattr(Screening, c) for c in _SCREENING_COLUMNS))
        .where(Screening.patient.in_(ids)).order_by(Screening.screened_on, Screening.id)
        )
    for pid, uid, on, mitoses, unit, *values in rows:
        facts = by_id[pid]  # the last screening wins (rows are in date order)
        facts.screening_uid, facts.screening_on = uid, _day(on)
        screening: dict[str, object] = dict(zip(_SCREENING_COLUMNS, values, strict=True))
        if screening.get("ruptured") is not None:
            screening["ruptured"] = bool(screening["ruptured"])
        if mitoses is not None:
            screening["mitoses_per_50hpf"] = (mitoses_per_50hpf_from_5mm2(mitoses)
                                              if unit == "5mm2" else float(mitoses))
        facts.screening = screening
    born: Any = _rows(
        PatientIdentity.select(PatientIdentity.patient, PatientIdentity.date_of_birth)
        .where(PatientIdentity.patient.in_(ids) & PatientIdentity.date_of_birth.is_null(False))
        )
    for pid, dob in born:
        facts = by_id[pid]
        facts.age = _age(_day(dob), facts.enrolled_on)


def _scores(by_id: dict[int, PatientFacts], ids: Any, kinds: list[str],
            as_of: date) -> None:
    """Score every complete questionnaire of ``kinds`` at a visit done by ``as_of``."""
    forms: dict[int, tuple[int, str, str, str | None, date | None]] = {}
    rows: Any = _rows(
        Form.select(_col(Form), Form.uid, Form.kind, Visit.patient, Visit.visit_key,
                    Visit.done_on)
        .join(Visit)
        .where(Visit.patient.in_(ids) & Form.kind.in_(kinds) & (Form.state == "complete")
               & Visit.done_on.is_null(False) & (Visit.done_on <= as_of))
        .order_by(Visit.done_on, _col(Form)))
    for fid, uid, kind, pid, key, on in rows:
        forms[fid] = (pid, uid, kind, key, _day(on))
    if not forms:
        return
    answers: dict[int, dict[str, object]] = {fid: {} for fid in forms}
    values: Any = _rows(
        FormValue.select(FormValue.form, FormValue.item, FormValue.value)
        .join(Form).join(Visit)
        .where(Visit.patient.in_(ids) & Form.kind.in_(kinds) & (Form.state == "complete")
               & Visit.done_on.is_null(False) & (Visit.done_on <= as_of)
               & FormValue.value.is_null(False))
        )
    for fid, item, text in values:
        if fid in answers:
            answers[fid][item] = _value(text)
    specs = {kind: spec_for(kind) for kind in kinds}
    for fid, (pid, uid, kind, key, on) in forms.items():
        facts = by_id[pid]
        given = answers[fid]
        scores = specs[kind].scores(given, FormContext(facts.sex, given))
        facts.scores.append(ScoreSet(uid, kind, key, on, {s.key: s.value for s in scores}))
