"""Demo enricher: questionnaires, physical examinations and laboratory values at done visits.

``enrich(session, rng, today)`` looks at the visits already marked done and fills, for up to
:data:`MAX_VISITS` of them (chosen by ``rng``), the forms their protocol plans among
QLQ-C30, QLQ-CR29, LARS, physical examination and labs, marked complete on the visit day.
Answers are drawn from ``rng``: mostly mild symptoms, the odd abnormal laboratory value. The
cap keeps a 100,000-patient demo quick; every row is audited through ``insert_many``.
"""

from __future__ import annotations

import json
import random
from datetime import date
from typing import Any

from gisttracker.forms import FormContext, Missing, spec_for
from gisttracker.forms.questionnaires import STOMA_KEY
from gisttracker.i18n import _
from gisttracker.session import Session
from gisttracker.store.models_forms import Form, FormValue
from gisttracker.store.models_patients import LabResult

MAX_VISITS = 2000
KINDS = ("qlq_c30", "qlq_cr29", "lars", "physical_exam", "labs")

# analyte: (typical low, typical high, unit, lln, uln, abnormal value)
_LABS = {
    "anc": (2.0, 6.5, "×10⁹/L", 1.8, 6.3, 0.8),
    "platelets": (140.0, 320.0, "×10⁹/L", 125.0, 350.0, 60.0),
    "haemoglobin": (105.0, 150.0, "g/L", 115.0, 150.0, 78.0),
    "alt": (10.0, 42.0, "U/L", 7.0, 40.0, 130.0),
    "ast": (12.0, 36.0, "U/L", 13.0, 35.0, 110.0),
    "bilirubin": (5.0, 19.0, "µmol/L", None, 21.0, 40.0),
    "creatinine": (50.0, 100.0, "µmol/L", 45.0, 104.0, 180.0),
}


def _uid(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _answer(rng: random.Random, high: int) -> int:
    """An answer on a 1..``high`` scale, mostly at the good end (1 of 4, or 5–6 of 7)."""
    weights = [8, 4, 2, 1] if high == 4 else [1, 1, 2, 3, 5, 5, 3]
    return rng.choices(range(1, high + 1), weights)[0]


def _values(kind: str, rng: random.Random, sex: str | None) -> dict[str, object]:
    if kind == "qlq_c30":
        out: dict[str, object] = {str(i): _answer(rng, 4) for i in range(1, 29)}
        out |= {"29": _answer(rng, 7), "30": _answer(rng, 7)}
        if rng.random() < 0.05:
            out[str(rng.randrange(1, 29))] = Missing.NOT_ANSWERED
        return out
    if kind == "qlq_cr29":
        stoma = rng.random() < 0.15
        values: dict[str, object] = {STOMA_KEY: stoma}
        spec = spec_for(kind)
        context = FormContext(sex, values)
        for item in spec.items:
            if item.key == STOMA_KEY:
                continue
            values[item.key] = (_answer(rng, 4) if item.applies_to(context)
                                else Missing.NOT_APPLICABLE)
        return values
    if kind == "lars":
        return {"flatus": rng.choice((0, 0, 1, 2)), "liquid": rng.choice((0, 0, 1, 2)),
                "frequency": rng.choice((1, 2, 2, 2, 3)), "clustering": rng.choice((0, 1, 2)),
                "urgency": rng.choice((0, 0, 1, 2))}
    return {"weight_kg": round(rng.uniform(48, 92), 1), "ecog": rng.choice((0, 0, 0, 1, 1, 2)),
            "systolic_bp": rng.randrange(105, 150), "diastolic_bp": rng.randrange(60, 95)}


_DONE_SQL = (
    "SELECT v.id, v.visit_key, v.done_on, p.id, p.uid, p.sex, p.study_key FROM visit v"
    " JOIN patient p ON p.id = v.patient_id"
    " WHERE v.state = 'done' AND v.done_on IS NOT NULL ORDER BY v.id")


def _fetch(session: Session, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    cursor = session.db.execute_sql(sql, params or [])
    return list(cursor.fetchall())


def enrich(session: Session, rng: random.Random, today: date) -> None:
    """Fill forms at done visits (see the module docstring)."""
    planned = {(s.key, v.key): v.assessments for s in session.studies.values()
               for v in s.visits}
    done: list[tuple[Any, ...]] = [
        row for row in _fetch(session, _DONE_SQL)
        if set(planned.get((row[6], row[1]), ())) & set(KINDS)]
    if len(done) > MAX_VISITS:
        done = sorted(rng.sample(done, MAX_VISITS))
    existing = {(v, k) for v, k in _fetch(session, "SELECT visit_id, kind FROM form")}
    forms: list[dict[str, Any]] = []
    form_patients: list[str | None] = []
    values: list[tuple[str, str, object]] = []  # form uid, item, value
    value_patients: list[str | None] = []
    labs: list[dict[str, Any]] = []
    lab_patients: list[str | None] = []
    for visit_id, visit_key, done_on, patient_id, patient_uid, sex, study_key in done:
        day = done_on if isinstance(done_on, date) else date.fromisoformat(str(done_on))
        for kind in planned[(study_key, visit_key)]:
            if kind not in KINDS or (visit_id, kind) in existing:
                continue
            uid = _uid(rng)
            forms.append({"uid": uid, "visit": visit_id, "kind": kind, "state": "complete",
                          "completed_at": f"{day.isoformat()}T12:00:00+00:00",
                          "completed_by": session.tracker.user})
            form_patients.append(patient_uid)
            if kind == "labs":
                for analyte, (low, high, unit, lln, uln, bad) in _LABS.items():
                    value: float = bad if rng.random() < 0.03 else round(
                        rng.uniform(low, high), 1)
                    labs.append({"uid": _uid(rng), "patient": patient_id, "visit_id": visit_id,
                                 "analyte": analyte, "value": value, "unit": unit,
                                 "lln": lln, "uln": uln, "sampled_on": day})
                    lab_patients.append(patient_uid)
                continue
            for item, answer in _values(kind, rng, sex).items():
                values.append((uid, item, answer))
                value_patients.append(patient_uid)
    if not forms:
        return
    with session.tracker.transaction(_("demo data")) as w:
        w.insert_many(Form, forms, patient_uids=form_patients)
        ids: dict[str, int] = {}
        uids = [f["uid"] for f in forms]
        for start in range(0, len(uids), 500):
            chunk = uids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            ids.update((u, i) for u, i in _fetch(
                session, f"SELECT uid, id FROM form WHERE uid IN ({marks})", chunk))
        rows = []
        for form_uid, item, answer in values:
            missing = answer.value if isinstance(answer, Missing) else None
            stored = None if missing else json.dumps(answer)
            rows.append({"uid": _uid(rng), "form": ids[form_uid], "item": item,
                         "value": stored, "missing": missing})
        w.insert_many(FormValue, rows, patient_uids=value_patients)
        w.insert_many(LabResult, labs, patient_uids=lab_patients)
