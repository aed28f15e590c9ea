"""Demo enricher: what the endpoints are made of — tumour assessments, progressions and
recurrences, the end of adjuvant imatinib, and the mutation found at pathology.

So that the Outcomes area of a demo site has curves worth looking at, each enrolled patient
gets, as far as the protocol's course and ``today`` allow and never after the end of
follow-up (death, end of participation):

* tumour assessments (CT, one to three target lesions with diameters in mm and densities in
  HU) at baseline and every three months while the study images the tumour (until surgery
  in the preoperative studies), shrinking and losing density in most patients (responses by
  RECIST 1.1 and Choi), growing in a few; at most :data:`MAX_ASSESSED` patients (the first
  by id), so a 100,000-patient demo stays quick;
* a progression (NCT03862768, by RECIST, with a PD assessment on the day) or a recurrence
  after surgery (local, distant, or a locoregional regrowth in the rectal study, sometimes
  salvaged by a local excision), drawn from exponential times whose median depends on the
  arm or group (surgery better than more imatinib; 7–12 months of preoperative imatinib
  better than ≤ 6 months, as in the retrospective cohort's source);
* a last dose of postoperative imatinib 6 to 48 months after its start;
* for the retrospective cohort, the mutation reported at pathology.

Deterministic for a given ``rng``; every row audited through ``insert_many``/``update_many``.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta

from gisttracker.i18n import N_, _
from gisttracker.services.common import id_column as _col
from gisttracker.session import Session
from gisttracker.store.models_course import (
    CourseEvent,
    LesionMeasurement,
    Pathology,
    Surgery,
    TreatmentExposure,
    TumourAssessment,
)
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import AnchorDate

MAX_ASSESSED = 1500
#: Median months to progression (NCT03862768) or recurrence after surgery, by study and arm.
MEDIAN_MONTHS: dict[str, dict[str | None, float]] = {
    "NCT03862768": {"A": 16.0, "B": 8.0},
    "NCT04933669": {None: 90.0},
    "PREOP-DURATION": {"SHORT": 55.0, "MID": 150.0, "LONG": 100.0},
    "RECTAL-LE": {None: 110.0},
}
# Organs and sites are free text a nurse types in her own language: stored translated, so a
# demo made in Chinese (or the pseudo-locale) reads as the site would have typed it.
ORGANS = {"NCT03862768": N_("liver"), "NCT04933669": N_("stomach"),
          "PREOP-DURATION": N_("stomach"), "RECTAL-LE": N_("rectum"), "NCT06038552": N_("liver")}
PATHOLOGY_MUTATIONS = ("KIT_11",) * 14 + ("KIT_9",) * 3 + ("PDGFRA_18",) * 2 + ("WILD_TYPE",)


def _uid(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _months(rng: random.Random, median: float) -> float:
    """An exponential time (months) with the given median."""
    return rng.expovariate(math.log(2) / median)


def _plus_months(start: date, months: float) -> date:
    return start + timedelta(days=round(months * 30.4375))


def enrich(session: Session, rng: random.Random, today: date) -> None:
    """Add assessments, progressions, recurrences, last doses and mutations (see above)."""
    anchors: dict[int, dict[str, date]] = defaultdict(dict)
    rows: Any = AnchorDate.select(AnchorDate.patient, AnchorDate.anchor_key,
                                  AnchorDate.date).tuples()
    for pid, key, day in rows:
        anchors[pid][key] = day
    surgery: dict[int, date] = {}
    rows = Surgery.select(Surgery.patient, Surgery.performed_on).order_by(
        Surgery.performed_on).tuples()
    for pid, day in rows:
        surgery.setdefault(pid, day)
    rows = CourseEvent.select(CourseEvent.patient, CourseEvent.occurred_on).where(
        CourseEvent.kind == "death").tuples()
    deaths: dict[int, date] = {pid: day for pid, day in rows}

    assessments: list[dict[str, Any]] = []
    assessment_patients: list[str | None] = []
    lesions: list[tuple[str, str, dict[str, Any]]] = []  # assessment uid, patient uid, row
    events: list[dict[str, Any]] = []
    event_patients: list[str | None] = []
    assessed = 0
    patients: Any = (Patient.select(_col(Patient), Patient.uid, Patient.study_key, Patient.arm_code,
                               Patient.enrolled_on, Patient.ended_on)
                .where(Patient.enrolled_on.is_null(False)).order_by(_col(Patient)).tuples())
    for pid, uid, study_key, arm, enrolled, ended in patients:
        if study_key not in session.studies:
            continue
        end = min(d for d in (today, ended, deaths.get(pid)) if d is not None)
        dates = anchors[pid]
        operated = surgery.get(pid)
        start: date = dates.get("imatinib_start", enrolled)
        imaged_until = end
        if study_key in ("NCT04933669", "PREOP-DURATION", "RECTAL-LE"):
            imaged_until = min(end, operated) if operated else end
        progression: date | None = None
        if study_key == "NCT03862768":
            t = _plus_months(enrolled, _months(rng, MEDIAN_MONTHS[study_key][arm]))
            if t < end - timedelta(days=14):
                progression = t
                imaged_until = t
        if study_key != "NCT06038552" and assessed < MAX_ASSESSED:
            assessed += 1
            _series(rng, study_key, start, imaged_until, progression, (pid, uid),
                    assessments, assessment_patients, lesions)
        if progression is not None:
            events.append({"uid": _uid(rng), "patient": pid, "kind": "progression",
                           "occurred_on": progression, "criterion": "recist",
                           "site": _(N_("liver"))})
            event_patients.append(uid)
        medians = MEDIAN_MONTHS.get(study_key)
        if operated is not None and medians is not None and study_key != "NCT03862768":
            median = medians.get(arm, medians.get(None, 100.0))
            after = _plus_months(operated, max(1.0, _months(rng, median)))
            # Data entry refuses events before enrollment (the retrospective cohort's
            # surgery may precede it): a recurrence is recorded from enrollment on.
            if max(enrolled, operated) < after < end:
                events.append(_recurrence(rng, study_key, pid, after))
                event_patients.append(uid)
    stops = _last_doses(rng, today, deaths)
    mutations = _mutations(rng)

    with session.tracker.transaction(_("demo data: tumour assessments and the course")) as w:
        w.insert_many(TumourAssessment, assessments, patient_uids=assessment_patients)
        ids: dict[str, int] = {}
        uids = [a["uid"] for a in assessments]
        for first in range(0, len(uids), 500):
            chunk = uids[first:first + 500]
            found: Any = (TumourAssessment.select(TumourAssessment.uid, _col(TumourAssessment))
                          .where(TumourAssessment.uid.in_(chunk)).tuples())
            ids.update(found)
        rows = []
        for assessment_uid, _patient, row in lesions:
            row["assessment"] = ids[assessment_uid]
            rows.append(row)
        w.insert_many(LesionMeasurement, rows, patient_uids=[p for _a, p, _r in lesions])
        w.insert_many(CourseEvent, events, patient_uids=event_patients)
        w.update_many(TreatmentExposure, stops)
        w.update_many(Pathology, mutations)


def _series(rng: random.Random, study_key: str, start: date, until: date,
            progression: date | None, patient: tuple[int, str],
            assessments: list[dict[str, Any]], patients: list[str | None],
            lesions: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Baseline and three-monthly assessments from ``start`` up to ``until``."""
    pid, patient_uid = patient
    baseline_on = start - timedelta(days=rng.randint(0, 14))
    if baseline_on > until:
        return
    count = rng.choice((1, 1, 2, 2, 3))
    organ = _(ORGANS.get(study_key, N_("liver")))
    sizes = [rng.uniform(25.0, 110.0) for _ in range(count)]
    densities = [rng.uniform(45.0, 75.0) for _ in range(count)]
    roll = rng.random()
    shrink = (rng.uniform(0.32, 0.65) if roll < 0.5 else rng.uniform(-0.15, 0.25)
              if roll < 0.9 else rng.uniform(-0.45, -0.25))  # growth is a negative shrink
    fade = rng.uniform(0.2, 0.5) if shrink > 0 else rng.uniform(-0.1, 0.18)
    day, k = baseline_on, 0
    while day <= until:
        uid = _uid(rng)
        final = progression is not None and day >= progression
        factor = 1 - shrink * min(1.0, k / 2)
        hu_factor = 1 - fade * min(1.0, k / 2)
        if final:
            factor = max(factor, 1.0) * 1.3
        assessments.append({"uid": uid, "patient": pid, "assessed_on": day,
                            "modality": "CT", "is_baseline": k == 0, "non_target": "none",
                            "new_lesions": False, "new_nodules": False})
        patients.append(patient_uid)
        for i, (size, hu) in enumerate(zip(sizes, densities, strict=True)):
            diameter = round(max(5.0, size * factor * rng.uniform(0.97, 1.03)), 1)
            lesions.append((uid, patient_uid, {
                "uid": _uid(rng), "label": f"T{i + 1}", "organ": organ, "is_target": True,
                "is_node": False, "too_small": False, "diameter_mm": diameter,
                "density_hu": round(hu * hu_factor, 1)}))
        if final:
            break
        k += 1
        day = baseline_on + relativedelta(months=3 * k) + timedelta(days=rng.randint(-5, 5))
        if progression is not None and day >= progression:
            day = progression


def _recurrence(rng: random.Random, study_key: str, pid: int, on: date) -> dict[str, Any]:
    row: dict[str, Any] = {"uid": _uid(rng), "patient": pid, "occurred_on": on}
    roll = rng.random()
    if study_key == "RECTAL-LE":
        if roll < 0.5:
            salvaged = rng.random() < 0.6
            row.update(kind="regrowth",
                       salvage_procedure="local_excision_transanal" if salvaged else None,
                       salvage_margin="R0" if salvaged else None)
        else:
            row.update(kind="local_recurrence" if roll < 0.8 else "distant_recurrence",
                       site=_(N_("rectum")) if roll < 0.8 else _(N_("liver")))
    else:
        row.update(kind="distant_recurrence" if roll < 0.7 else "local_recurrence",
                   site=_(N_("liver")) if roll < 0.7 else _(N_("peritoneum")))
    return row


def _last_doses(rng: random.Random, today: date, deaths: dict[int, date]
                ) -> list[tuple[int, str, str | None, dict[str, tuple[Any, Any]]]]:
    updates = []
    query: Any = (TreatmentExposure.select(_col(TreatmentExposure), TreatmentExposure.uid,
                                      Patient.uid, TreatmentExposure.start_on, _col(Patient),
                                      Patient.ended_on)
             .join(Patient)
             .where((TreatmentExposure.phase == "postoperative")
                    & TreatmentExposure.stop_on.is_null())
             .order_by(_col(TreatmentExposure)).tuples())
    for xid, xuid, puid, start, pid, ended in query:
        stop = start + relativedelta(months=rng.randint(6, 48))
        limit = min(d for d in (today, ended, deaths.get(pid)) if d is not None)
        if stop <= limit:
            updates.append((xid, xuid, puid, {"stop_on": (None, stop)}))
    return updates


def _mutations(rng: random.Random) -> list[tuple[int, str, str | None, dict[str, tuple[Any, Any]]]]:
    updates = []
    query: Any = (Pathology.select(_col(Pathology), Pathology.uid, Patient.uid, Pathology.mutation)
             .join(Patient).where(Patient.study_key == "PREOP-DURATION")
             .order_by(_col(Pathology)).tuples())
    for rid, ruid, puid, old in query:
        new = rng.choice(PATHOLOGY_MUTATIONS)
        if new != old:
            updates.append((rid, ruid, puid, {"mutation": (old, new)}))
    return updates
