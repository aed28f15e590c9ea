"""Bulk loads (the demo generator, imports): many patients in one audited transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gisttracker.session import Session
from gisttracker.store.models import Record
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
