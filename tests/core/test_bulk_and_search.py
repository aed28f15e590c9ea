"""The bulk write paths and the patient list's name search, on both engines (issue 16).

On a server, :meth:`Writer.insert_many` and :meth:`Writer.update_many` write their rows and
their audit rows in multi-row statements instead of one statement per row, and the name
search runs through the ``text_pattern_ops`` indexes of schema 12: what is stored, what the
audit trail says and what a search finds must be what one row at a time gave.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import psycopg
import pytest

from gisttracker.services.audit import verify
from gisttracker.services.patients import Identity, PatientFilter, PatientService
from gisttracker.session import Session, open_session
from gisttracker.store.db import open_database
from gisttracker.store.migrations import LATEST, migrate
from gisttracker.store.models import AuditLog
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import Visit
from gisttracker.store.server import ServerDatabase, is_server_db
from gisttracker.store.urls import ServerLocation
from tests.core.patients_helpers import TODAY, eligible_patient, set_site
from tests.helpers import server_url


@pytest.fixture
def service(session: Session) -> PatientService:
    set_site(session)
    return PatientService(session)


def _register(service: PatientService, name: str, initials: str, number: str) -> str:
    patient = service.register("RECTAL-LE", sex="female", identity=Identity(
        record_number=number, name=name, initials=initials, date_of_birth=date(1960, 5, 1)),
        today=TODAY)
    return str(patient.study_id)


def test_bulk_changes_store_and_audit_what_one_at_a_time_would(
        service: PatientService, session: Session) -> None:
    for _n in range(3):
        patient = eligible_patient(service, "RECTAL-LE")
        service.enroll(patient.uid, today=TODAY)
    visits = list(Visit.select().where(Visit.state == "planned").order_by(Visit.id))
    assert len(visits) >= 20
    uid_of = {p.id: p.uid for p in Patient.select()}
    # Two groups of fields (two statements), text, dates and empty values among them.
    updates = []
    for n, v in enumerate(visits):
        if n % 2:
            changes = {"state": ("planned", "done"), "done_on": (None, date(2026, 3, 1 + n % 9))}
        else:
            changes = {"state": ("planned", "missed"), "reason": (None, f"missed {n}")}
        updates.append((v.id, v.uid, uid_of[v.patient_id], changes))
    before = AuditLog.select().count()
    with session.tracker.transaction("bulk test") as w:
        w.update_many(Visit, updates)
    for n, v in enumerate(visits):
        stored = Visit.get_by_id(v.id)
        assert stored.version == v.version + 1
        if n % 2:
            assert (stored.state, stored.done_on, stored.reason) == (
                "done", date(2026, 3, 1 + n % 9), None)
        else:
            assert (stored.state, stored.done_on, stored.reason) == ("missed", None,
                                                                    f"missed {n}")
    entries = list(AuditLog.select().where(AuditLog.id > before).order_by(AuditLog.id))
    assert len(entries) == 2 * len(visits)  # one per field changed, in order
    first = [e for e in entries if e.record_uid == visits[1].uid]
    assert [(e.action, e.field, e.old_value, json.loads(e.new_value)) for e in first] == [
        ("update", "done_on", None, "2026-03-02"), ("update", "state", '"planned"', "done")]
    assert verify(session.db).ok


def test_name_search_finds_names_and_initials_by_their_beginning_in_any_case(
        service: PatientService) -> None:
    zhang = _register(service, "Zhang Min", "ZM", "H-100")
    zhao = _register(service, "zhao li", "zl", "H-200")
    wang = _register(service, "王芳", "WF", "A_B%1")
    other = _register(service, "AxB Chen", "AC", "H-300")
    every = PatientFilter()

    def found(text: str) -> list[str]:
        rows = [r.patient for r in service.page(replace(every, text=text))]
        assert service.count(replace(every, text=text)) == len(rows)
        return rows

    assert found("zh") == [zhang, zhao]
    assert found("ZHANG") == [zhang]
    assert found("Zhao L") == [zhao]
    assert found("zm") == [zhang]
    assert found("王") == [wang]
    assert found("A_") == [wang]  # _ and % are letters here, not wildcards
    assert found("%") == []
    assert found("axb") == [other]
    assert found("h-") == []  # record numbers keep their case
    assert found("H-2") == [zhao]
    assert found("min") == []  # the beginning only


def test_a_server_at_schema_11_gets_the_name_search_indexes(server_db: str) -> None:
    db = ServerDatabase(server_url(server_db))  # not open_database: that migrates to the end
    db.connect()
    try:
        assert migrate(db, target=11) == 11
    finally:
        db.close()
    s = open_session(ServerLocation(server_url(server_db)), user="nurse")  # upgrades it
    try:
        assert is_server_db(s.db)
        set_site(s)
        service = PatientService(s)
        for n in range(5):
            _register(service, f"Zhang {n}", f"Z{n}", f"R-{n}")
        assert service.count(replace(PatientFilter(), text="zhang 3")) == 1
    finally:
        s.close()
    with psycopg.connect(server_url(server_db), autocommit=True) as pg:
        assert pg.execute("SELECT max(version) FROM schema_migration").fetchone() == (LATEST,)
        indexes = dict(pg.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'patient_identity'"
        ).fetchall())
        for name, column in (("patient_identity_name", "name"),
                             ("patient_identity_initials", "initials")):
            assert f"lower({column}) text_pattern_ops" in indexes[name]
    # The list's search can reach both through their indexes (a tiny table is read whole
    # otherwise, so sequential scans are turned off for the plan).
    db = open_database(ServerLocation(server_url(server_db)))
    try:
        from gisttracker.services.patient_list import _where

        where, params = _where(replace(PatientFilter(), text="zha"), server=True)
        db.execute_sql("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in db.execute_sql(
            f"EXPLAIN SELECT count(*) FROM patient p {where}", params).fetchall())
    finally:
        db.close()
    assert "patient_identity_name" in plan and "patient_identity_initials" in plan, plan


def test_the_worklist_counts_read_the_index_alone(session: Session) -> None:
    from gisttracker.services.visits import VisitService

    query = VisitService(session).worklist_query(date(2026, 3, 9), date(2026, 3, 15),
                                                 today=TODAY)
    db = session.db
    # The two long sections (the visits done out of window in one week are few, and are
    # checked against their window in the table).
    for reason in ("overdue", "due"):
        sql, params = query.count(reason)
        if is_server_db(db):
            # A tiny table is read whole otherwise: the plan is asked without that choice.
            db.execute_sql("SET enable_seqscan = off")
            db.execute_sql("SET enable_bitmapscan = off")
            plan = "\n".join(r[0] for r in db.execute_sql("EXPLAIN " + sql, params))
            assert "Index Only Scan" in plan, plan
        else:
            plan = " ".join(str(r[-1]) for r in db.execute_sql(
                "EXPLAIN QUERY PLAN " + sql, params))
            assert "COVERING INDEX" in plan, plan
    if is_server_db(db):
        db.execute_sql("RESET enable_seqscan")
        db.execute_sql("RESET enable_bitmapscan")
        # Never compiled on the fly: JIT pays only for queries running for seconds.
        assert db.execute_sql("SHOW jit").fetchone()[0] == "off"
