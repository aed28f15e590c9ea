"""Data queries: a monitor asks about one recorded value, the site answers, the monitor
closes it (or asks again).

States: ``open`` → ``answered`` (a research nurse or investigator answers) → ``closed``
(the monitor accepts). An answered query the monitor is not satisfied with goes back to
``open`` with a follow-up question; the monitor may also close an open query (withdrawn).
Every step is an audited change of the query record, and the value the monitor saw when
asking is kept with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import peewee

from gisttracker.i18n import N_, _
from gisttracker.services.base import ServiceError, StaleRecordError, service
from gisttracker.services.common import find_patient
from gisttracker.services.policy import Permission
from gisttracker.session import Session
from gisttracker.store.introspect import audited_models
from gisttracker.store.models_accounts import DataQuery

STATES = ("open", "answered", "closed")
STATE_LABELS = {"open": N_("open"), "answered": N_("answered"), "closed": N_("closed")}


@dataclass(frozen=True)
class QueryInfo:
    uid: str
    number: int
    patient: str  # study identifier
    patient_uid: str
    study_key: str
    table: str
    record_uid: str
    field: str | None
    value_seen: Any
    question: str
    state: str
    raised_by: str
    raised_at: str
    answer: str | None
    answered_by: str | None
    answered_at: str | None
    closed_by: str | None
    closed_at: str | None
    close_note: str | None
    version: int

    @property
    def code(self) -> str:
        return f"Q-{self.number:04d}"

    @property
    def state_label(self) -> str:
        return _(STATE_LABELS.get(self.state, self.state))

    @property
    def item(self) -> str:
        return f"{self.table}.{self.field}" if self.field else self.table


@dataclass(frozen=True)
class QueryTarget:
    """A value a query can be about."""

    label: str
    table: str
    record_uid: str
    field: str
    value: Any


def _info(row: DataQuery, study_ids: dict[str, str]) -> QueryInfo:
    seen = None if row.value_seen is None else json.loads(row.value_seen)
    return QueryInfo(str(row.uid), int(row.number), study_ids.get(str(row.patient_ref), "?"),
                     str(row.patient_ref), str(row.study_key), str(row.table_name),
                     str(row.record_uid), row.field, seen, str(row.question), str(row.state),
                     str(row.raised_by), str(row.raised_at), row.answer, row.answered_by,
                     row.answered_at, row.closed_by, row.closed_at, row.close_note,
                     int(row.version))


# What a monitor can ask about, per table: the columns shown, in this order.
_QUERYABLE: dict[str, tuple[str, ...]] = {
    "patient": ("sex", "status", "arm_code", "arm_option", "enrolled_on", "ended_on",
                "end_reason"),
    "screening": ("screened_on", "ecog", "asa", "primary_site", "tumour_size_cm",
                  "mitotic_count", "mitotic_unit", "mutation", "ruptured", "consent_date",
                  "progressive_lesions", "progressive_organs", "distant_metastases",
                  "liver_metastases", "prior_imatinib", "prior_tki"),
    "lab_result": ("value", "unit", "uln", "lln", "sampled_on"),
    "visit": ("state", "done_on"),
    "form_value": ("value", "missing"),
    "adverse_event": ("term", "grade", "onset", "resolved_on", "serious", "relation"),
    "tumour_assessment": ("assessed_on", "modality", "non_target", "new_lesions"),
    "lesion_measurement": ("diameter_mm", "density_hu"),
    "treatment_exposure": ("drug", "dose_mg_per_day", "start_on", "stop_on"),
    "surgery": ("performed_on", "procedure", "margin", "stoma"),
    "pathology": ("reported_on", "tumour_size_cm", "mitotic_count", "mutation",
                  "response_grade"),
    "course_event": ("kind", "occurred_on", "criterion"),
    "anchor_date": ("date",),
}


@service
class QueryService:
    """Data queries of one open site."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.tracker = session.tracker

    # ----- reading -------------------------------------------------------------------
    def queries(self, *, study_key: str | None = None, state: str | None = None,
                patient_ref: str | None = None, record_uid: str | None = None,
                ) -> list[QueryInfo]:
        """Queries, newest first, filtered by study, state, patient or record."""
        self.tracker.require(Permission.VIEW_DATA)
        query = DataQuery.select()
        if state is not None:
            if state not in STATES:
                raise ServiceError(_("unknown query state {state!r} (open, answered, closed)")
                                   .format(state=state))
            query = query.where(DataQuery.state == state)
        if study_key is not None:
            query = query.where(DataQuery.study_key == study_key)
        if patient_ref is not None:
            query = query.where(DataQuery.patient_ref == find_patient(patient_ref).uid)
        if record_uid is not None:
            query = query.where(DataQuery.record_uid == record_uid)
        rows = list(query.order_by(DataQuery.number.desc()))
        ids = self._study_ids({str(r.patient_ref) for r in rows})
        return [_info(r, ids) for r in rows]

    def get(self, ref: str) -> QueryInfo:
        """A query by its code (Q-0007), number or uid."""
        row = self._row(ref)
        return _info(row, self._study_ids({str(row.patient_ref)}))

    def _row(self, ref: str) -> DataQuery:
        text = str(ref).strip().upper()
        number = text[2:] if text.startswith("Q-") else text
        row = None
        if number.isdigit():
            row = DataQuery.get_or_none(DataQuery.number == int(number))
        if row is None:
            row = DataQuery.get_or_none(DataQuery.uid == str(ref).strip().lower())
        if row is None:
            raise ServiceError(_("no query {ref!r}").format(ref=ref))
        return row

    def _study_ids(self, patient_uids: set[str]) -> dict[str, str]:
        if not patient_uids:
            return {}
        from gisttracker.store.models_patients import Patient

        return {str(p.uid): str(p.study_id) for p in Patient.select(
            Patient.uid, Patient.study_id).where(Patient.uid.in_(list(patient_uids)))}

    def counts(self, study_key: str | None = None) -> dict[str, int]:
        """How many queries are in each state."""
        sql = "SELECT state, count(*) FROM data_query"
        params: list[Any] = []
        if study_key is not None:
            sql += " WHERE study_key = ?"
            params.append(study_key)
        found = {str(k): int(v) for k, v in self.session.db.execute_sql(
            sql + " GROUP BY state", params).fetchall()}
        return {s: int(found.get(s, 0)) for s in STATES}

    def targets(self, patient_ref: str) -> list[QueryTarget]:
        """The recorded values of a patient a query can be about, labelled for a list."""
        patient = find_patient(patient_ref)
        db = self.session.db
        out: list[QueryTarget] = []

        def add(table: str, where: str, params: tuple[Any, ...], label: str,
                extra: str = "") -> None:
            cols = _QUERYABLE[table]
            sql = (f'SELECT t.uid, {", ".join(f"t.{c}" for c in cols)}{extra} '
                   f'FROM "{table}" t {where} ORDER BY t.id')
            for row in db.execute_sql(sql, params).fetchall():
                prefix = label.format(*row[1 + len(cols):]) if extra else label
                for column, value in zip(cols, row[1:1 + len(cols)], strict=True):
                    if value is not None:
                        out.append(QueryTarget(f"{prefix} · {column}", table, str(row[0]),
                                               column, value))

        pid = int(patient.id)
        add("patient", "WHERE t.id = ?", (pid,), _("Patient"))
        add("screening", "WHERE t.patient_id = ?", (pid,), _("Screening {0}"),
            ", t.screened_on")
        add("lab_result", "WHERE t.patient_id = ? AND t.screening_id IS NOT NULL", (pid,),
            _("Screening laboratory {0}"), ", t.analyte")
        add("anchor_date", "WHERE t.patient_id = ?", (pid,), _("Date {0}"), ", t.anchor_key")
        add("visit", "WHERE t.patient_id = ? AND t.state != 'planned'", (pid,),
            _("Visit {0}"), ", t.name")
        add("form_value", "JOIN form f ON f.id = t.form_id JOIN visit v ON v.id = f.visit_id "
            "WHERE v.patient_id = ?", (pid,), _("{0} · {1} · item {2}"),
            ", v.name, f.kind, t.item")
        add("lab_result", "JOIN visit v ON v.id = t.visit_id WHERE t.patient_id = ?", (pid,),
            _("{0} · laboratory {1}"), ", v.name, t.analyte")
        add("adverse_event", "WHERE t.patient_id = ?", (pid,), _("Adverse event {0}"),
            ", t.term")
        add("tumour_assessment", "WHERE t.patient_id = ?", (pid,),
            _("Tumour assessment {0}"), ", t.assessed_on")
        add("lesion_measurement", "JOIN tumour_assessment a ON a.id = t.assessment_id "
            "WHERE a.patient_id = ?", (pid,), _("Lesion {0} ({1})"),
            ", t.label, a.assessed_on")
        add("treatment_exposure", "WHERE t.patient_id = ?", (pid,), _("Treatment {0}"),
            ", t.drug")
        add("surgery", "WHERE t.patient_id = ?", (pid,), _("Surgery {0}"),
            ", t.performed_on")
        add("pathology", "WHERE t.patient_id = ?", (pid,), _("Pathology"))
        add("course_event", "WHERE t.patient_id = ?", (pid,), _("Event {0}"), ", t.kind")
        return out

    # ----- the workflow --------------------------------------------------------------
    def raise_query(self, patient_ref: str, table: str, record_uid: str, field: str | None,
                    question: str) -> QueryInfo:
        """Ask about ``field`` of the record ``record_uid`` (a row of ``table``) of the
        patient. Monitors only. The value as it is now is kept with the query."""
        actor = self.tracker.require(Permission.RAISE_QUERY)
        if not question.strip():
            raise ServiceError(_("write the question"))
        patient = find_patient(patient_ref)
        model = audited_models().get(table)
        if model is None:
            raise ServiceError(_("no table {table!r}").format(table=table))
        columns = {f.column_name for f in model._meta.sorted_fields}
        if field is not None and field not in columns:
            raise ServiceError(_("{table} has no field {field!r}").format(table=table,
                                                                        field=field))
        column = f'"{field}"' if field else "uid"
        row = self.session.db.execute_sql(f'SELECT {column} FROM "{table}" WHERE uid = ?',
                                          (record_uid,)).fetchone()
        if row is None:
            raise ServiceError(_("no {table} record {uid!r}").format(table=table,
                                                                    uid=record_uid))
        seen = json.dumps(row[0], ensure_ascii=False, default=str) if field else None
        with self.tracker.transaction(_("query raised")) as w:
            w.serialize()  # the next number is one writer's at a time (a server)
            last = DataQuery.select(peewee.fn.MAX(DataQuery.number)).scalar() or 0
            created = w.insert(DataQuery, patient_uid=patient.uid, patient_ref=patient.uid,
                               number=int(last) + 1,
                               study_key=patient.study_key, table_name=table,
                               record_uid=record_uid, field=field, value_seen=seen,
                               question=question.strip(), state="open",
                               raised_by=actor.name, raised_at=w.at)
        return self.get(str(created.uid))

    def answer(self, ref: str, answer: str, *, expected_version: int | None = None,
               ) -> QueryInfo:
        """The site's answer to an open query (research nurse or investigator)."""
        actor = self.tracker.require(Permission.ANSWER_QUERY)
        if not answer.strip():
            raise ServiceError(_("write the answer"))
        row = self._row(ref)
        with self.tracker.transaction(_("query answered")) as w:
            fresh = self._fresh(row, expected_version)
            if fresh.state != "open":
                raise ServiceError(_("Q-{n:04d} is {state}: only an open query can be "
                                     "answered").format(n=fresh.number,
                                                        state=_(STATE_LABELS[fresh.state])))
            w.update(fresh, {"state": "answered", "answer": answer.strip(),
                             "answered_by": actor.name, "answered_at": w.at},
                     patient_uid=str(fresh.patient_ref), expected_version=expected_version)
        return self.get(str(row.uid))

    def close(self, ref: str, note: str | None = None, *,
              expected_version: int | None = None) -> QueryInfo:
        """The monitor accepts the answer (or withdraws an open query) and closes it."""
        actor = self.tracker.require(Permission.CLOSE_QUERY)
        row = self._row(ref)
        with self.tracker.transaction(note or _("query closed")) as w:
            fresh = self._fresh(row, expected_version)
            if fresh.state == "closed":
                raise ServiceError(_("Q-{n:04d} is already closed").format(n=fresh.number))
            w.update(fresh, {"state": "closed", "closed_by": actor.name, "closed_at": w.at,
                             "close_note": (note or "").strip() or None},
                     patient_uid=str(fresh.patient_ref), expected_version=expected_version)
        return self.get(str(row.uid))

    def reopen(self, ref: str, follow_up: str, *,
               expected_version: int | None = None) -> QueryInfo:
        """The monitor is not satisfied with the answer: the query is open again, with the
        follow-up added to the question."""
        self.tracker.require(Permission.RAISE_QUERY)
        if not follow_up.strip():
            raise ServiceError(_("write the follow-up question"))
        row = self._row(ref)
        with self.tracker.transaction(_("query reopened")) as w:
            fresh = self._fresh(row, expected_version)
            if fresh.state != "answered":
                raise ServiceError(_("only an answered query can be reopened"))
            question = f"{fresh.question}\n\n{w.at[:10]} {w.user}: {follow_up.strip()}"
            w.update(fresh, {"state": "open", "question": question},
                     patient_uid=str(fresh.patient_ref), expected_version=expected_version)
        return self.get(str(row.uid))

    def _fresh(self, row: DataQuery, expected_version: int | None) -> DataQuery:
        fresh = DataQuery.get_by_id(row.id)
        if expected_version is not None and int(fresh.version) != expected_version:
            raise self.tracker.stale_error("data_query", str(fresh.uid), expected_version,
                                           int(fresh.version))
        return fresh


__all__ = ["STATES", "QueryInfo", "QueryService", "QueryTarget", "StaleRecordError"]
