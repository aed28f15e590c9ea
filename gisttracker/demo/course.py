"""Demo enricher: treatment, surgery, pathology and the dates schedules count from.

Enrolled demo patients get the entered anchors their protocol declares (start of
imatinib, last preoperative dose, surgery, diagnosis of liver metastases, local treatment),
the imatinib exposure and surgery those dates imply, a pathology report, and a death event
where the demo ended a participation by death. Visits waiting for these anchors are then
given their planned dates, so the site calendar has real work in every study. Runs before
the visit-history enricher, which marks the past visits done.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta

from gisttracker.domain.schedule import plan
from gisttracker.session import Session
from gisttracker.store.models_course import CourseEvent, Pathology, Surgery, TreatmentExposure
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import AnchorDate, Visit

PROCEDURES = {
    "RECTAL-LE": ("local_excision_transanal", "local_excision_transanal",
                  "local_excision_tamis", "local_excision_tamis", "tme", "apr"),
    "NCT04933669": ("gastrectomy", "gastrectomy", "small_bowel_resection", "other"),
    "PREOP-DURATION": ("gastrectomy", "small_bowel_resection", "gastrectomy", "other"),
    "NCT03862768": ("other",),
}
LOCAL_TREATMENT = {"IM_HR": "hepatic_resection", "IM_LOCAL": "rfa"}


def _anchors(study_key: str, arm: str | None, declared: set[str], known: dict[str, date],
             enrolled: date, rng: random.Random, today: date) -> dict[str, date]:
    """The entered anchor dates this patient would have by ``today`` (none in the future)."""
    out = dict(known)
    if "imatinib_start" in declared and "imatinib_start" not in out:
        out["imatinib_start"] = enrolled + timedelta(days=rng.randint(0, 14))
    if "last_preop_dose" in declared and "last_preop_dose" not in out and "imatinib_start" in out:
        months = rng.randint(4, 11) if study_key == "NCT04933669" else rng.randint(5, 12)
        out["last_preop_dose"] = out["imatinib_start"] + relativedelta(months=months)
    if "surgery" in declared and "surgery" not in out:
        base = out.get("last_preop_dose") or enrolled + relativedelta(months=rng.randint(6, 10))
        out["surgery"] = base + timedelta(days=rng.randint(1, 7))
    if "liver_mets_diagnosis" in declared and "liver_mets_diagnosis" not in out:
        out["liver_mets_diagnosis"] = enrolled - timedelta(days=rng.randint(5, 60))
    if "local_treatment" in declared and "local_treatment" not in out and arm in LOCAL_TREATMENT:
        out["local_treatment"] = out.get("liver_mets_diagnosis", enrolled) + timedelta(
            days=rng.randint(30, 120))
    return {k: v for k, v in out.items() if v <= today}


def enrich(session: Session, rng: random.Random, today: date) -> None:
    """Add anchors, treatment, surgery, pathology and deaths; date the waiting visits."""
    known: dict[int, dict[str, date]] = defaultdict(dict)
    anchor_rows: Any = AnchorDate.select(AnchorDate.patient, AnchorDate.anchor_key,
                                         AnchorDate.date).dicts()
    for row in anchor_rows:
        known[row["patient"]][row["anchor_key"]] = row["date"]
    waiting: dict[int, list[dict[str, Any]]] = defaultdict(list)
    open_visits: Any = (Visit.select(Visit._meta.primary_key, Visit.uid, Visit.patient,
                                     Visit.visit_key)
                        .where(Visit.planned_on.is_null() & (Visit.state == "planned")).dicts())
    for open_visit in open_visits:
        waiting[open_visit["patient"]].append(open_visit)

    anchors: list[dict[str, Any]] = []
    anchor_uids: list[str | None] = []
    exposures: list[dict[str, Any]] = []
    surgeries: list[dict[str, Any]] = []
    pathology: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    updates: list[tuple[int, str, str | None, dict[str, tuple[Any, Any]]]] = []
    patients = (Patient.select().where(Patient.enrolled_on.is_null(False)).order_by(Patient.id))
    for patient in patients:
        study = session.studies.get(patient.study_key)
        if study is None:
            continue
        declared = {a.key for a in study.anchors if a.source == "entered"}
        horizon = min(today, patient.ended_on) if patient.ended_on else today
        enrolled = patient.enrolled_on
        assert enrolled is not None  # selected above
        dates = _anchors(study.key, patient.arm_code, declared, known[patient.id],
                         enrolled, rng, horizon)
        for key, day in dates.items():
            if key not in known[patient.id]:
                anchors.append({"patient": patient.id, "anchor_key": key, "date": day})
                anchor_uids.append(patient.uid)
        surgery = dates.get("surgery") or dates.get("local_treatment")
        if "imatinib_start" in dates and "last_preop_dose" in dates:
            exposures.append({"patient": patient.id, "drug": "imatinib", "dose_mg_per_day": 400,
                              "phase": "preoperative", "start_on": dates["imatinib_start"],
                              "stop_on": dates["last_preop_dose"]})
        elif study.key == "RECTAL-LE" and surgery is not None:
            # Its protocol counts from enrollment, not from a separate start of imatinib.
            exposures.append({"patient": patient.id, "drug": "imatinib", "dose_mg_per_day": 400,
                              "phase": "preoperative", "start_on": enrolled + timedelta(days=3),
                              "stop_on": surgery - timedelta(days=2)})
        if surgery is not None:
            procedure = (LOCAL_TREATMENT.get(patient.arm_code or "")
                         or rng.choice(PROCEDURES.get(study.key, ("other",))))
            stoma = "none"
            if procedure in ("tme", "apr"):
                stoma = "permanent" if procedure == "apr" else "temporary"
            surgeries.append({"patient": patient.id, "performed_on": surgery,
                              "procedure": procedure,
                              "margin": rng.choice(("R0",) * 9 + ("R1",)),
                              "ruptured": rng.random() < 0.05, "stoma": stoma})
            pathology.append({"patient": patient.id, "reported_on": surgery + timedelta(days=7),
                              "tumour_size_cm": round(rng.uniform(2.0, 11.0), 1),
                              "mitotic_count": rng.choice((1, 2, 3, 4, 6, 8, 12)),
                              "mitotic_unit": "50hpf", "mutation": "KIT_11",
                              "response_grade": rng.choice(("grade 1", "grade 2", "grade 3"))})
            post_start = surgery + timedelta(days=rng.randint(10, 30))
            if post_start <= horizon and study.key != "NCT06038552":
                exposures.append({"patient": patient.id, "drug": "imatinib",
                                  "dose_mg_per_day": 400, "phase": "postoperative",
                                  "start_on": post_start})
        if patient.status == "died" and patient.ended_on:
            events.append({"patient": patient.id, "kind": "death",
                           "occurred_on": patient.ended_on, "cause": "GIST progression"})
        if waiting.get(patient.id):
            by_key = {pv.visit_key: pv for pv in plan(study, dates | {
                a.key: patient.enrolled_on for a in study.anchors if a.source == "enrollment"})}
            for visit in waiting[patient.id]:
                pv = by_key.get(visit["visit_key"] or "")
                if pv is None or pv.target is None:
                    continue
                changes: dict[str, tuple[Any, Any]] = {
                    "planned_on": (None, pv.target), "window_start": (None, pv.window_start),
                    "window_end": (None, pv.window_end)}
                if patient.ended_on and pv.window_start and pv.window_start > patient.ended_on:
                    changes["state"] = ("planned", "cancelled")
                    changes["reason"] = (None, "participation ended")
                updates.append((visit["id"], visit["uid"], patient.uid, changes))

    with session.tracker.transaction("demo data: treatment, surgery and anchors") as w:
        w.insert_many(AnchorDate, anchors, patient_uids=anchor_uids)
        w.insert_many(TreatmentExposure, exposures)
        w.insert_many(Surgery, surgeries)
        w.insert_many(Pathology, pathology)
        w.insert_many(CourseEvent, events)
        w.update_many(Visit, updates)
