"""The cheaper registration on a server (issue 16 throughput), on both engines where the rule
is the engines' common one:

* the study identifier comes from the site code setting as it stands when the registration
  commits (on a server read under the chain lock, in the round trip of the chain's head), and
  a provisional value a server's row holds until then is never stored;
* the server's append-only trigger (schema 11: a static query per audit table instead of
  dynamic SQL) still refuses an id that is not above the last one, on every audit table, and
  the upgrade from schema 10 replaces the function in place.
"""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from gisttracker.services.audit import verify
from gisttracker.services.patients import Identity, PatientService
from gisttracker.services.settings import SettingsService
from gisttracker.session import Session, open_session
from gisttracker.store.db import open_database
from gisttracker.store.migrations import LATEST, migrate, schema_version
from gisttracker.store.models_patients import Patient
from gisttracker.store.server import ServerDatabase
from gisttracker.store.urls import ServerLocation
from tests.core.patients_helpers import TODAY
from tests.helpers import server_url

STUDY = "RECTAL-LE"
AUDIT_TABLES = ("audit_entry", "audit_txn", "audit_record", "audit_shape")


def _register(service: PatientService, name: str) -> Patient:
    return service.register(STUDY, sex="female", today=TODAY, identity=Identity(
        record_number=None, name=name, initials=None, date_of_birth=date(1960, 1, 1)))


def test_study_identifiers_follow_the_site_code_at_the_commit(session: Session) -> None:
    service = PatientService(session)
    settings = SettingsService(session.tracker)
    # No site code set yet: the setting's default.
    assert _register(service, "First").study_id == "SITE-0001"
    settings.set("site_code", "ZJU", reason="site code assigned")
    assert [_register(service, n).study_id for n in ("Second", "Third")] == [
        "ZJU-0001", "ZJU-0002"]
    settings.set("site_code", "HZ2", reason="second clinic")
    assert _register(service, "Fourth").study_id == "HZ2-0001"
    settings.set("site_code", "ZJU", reason="back to the main clinic")
    assert _register(service, "Fifth").study_id == "ZJU-0003"  # numbering goes on
    rows = session.db.execute_sql(
        "SELECT site_code, seq, study_id FROM patient ORDER BY id").fetchall()
    assert rows == [("SITE", 1, "SITE-0001"), ("ZJU", 1, "ZJU-0001"), ("ZJU", 2, "ZJU-0002"),
                    ("HZ2", 1, "HZ2-0001"), ("ZJU", 3, "ZJU-0003")]
    # The trail holds the final values only (on a server the row held provisional ones
    # until its commit), and it verifies.
    inserted = session.db.execute_sql(
        "SELECT new_value FROM audit_log WHERE table_name = 'patient' AND action = 'insert' "
        "ORDER BY id").fetchall()
    assert len(inserted) == 5
    for (text,), (site, seq, study_id) in zip(inserted, rows, strict=True):
        assert f'"site_code":"{site}"' in text and f'"seq":{seq}' in text
        assert f'"study_id":"{study_id}"' in text
    assert verify(session.db).ok


def _owner(name: str) -> psycopg.Connection:
    return psycopg.connect(server_url(name), autocommit=True)


def _refuses_old_ids(name: str) -> None:
    """Every audit table refuses (as the database's owner) a row whose id is not above the
    last one, and one without an id, with the append-only message."""
    with _owner(name) as pg:
        for table in AUDIT_TABLES:
            assert pg.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0, table
            for sql in (f"INSERT INTO {table} SELECT * FROM {table} WHERE id = "
                        f"(SELECT max(id) FROM {table})",
                        f"INSERT INTO {table} SELECT * FROM {table} WHERE id = "
                        f"(SELECT min(id) FROM {table})"):
                with pytest.raises(psycopg.errors.IntegrityConstraintViolation,
                                   match="append-only"):
                    pg.execute(sql)  # type: ignore[arg-type]


def _fill(name: str) -> None:
    s = open_session(ServerLocation(server_url(name)), user="nurse")
    try:
        SettingsService(s.tracker).set("site_code", "ZJU")
        service = PatientService(s)
        for n in range(3):
            _register(service, f"Patient {n}")
        assert verify(s.db).ok
    finally:
        s.close()


def test_the_server_refuses_old_audit_ids_with_the_static_trigger(server_db: str) -> None:
    _fill(server_db)
    with _owner(server_db) as pg:
        source = pg.execute("SELECT prosrc FROM pg_proc WHERE proname = 'gist_append_only'"
                            ).fetchone()[0]
    for table in AUDIT_TABLES:
        assert f"INTO last FROM {table};" in source  # a static query: its plan is kept
    _refuses_old_ids(server_db)


def test_a_server_at_schema_10_gets_the_static_trigger(server_db: str) -> None:
    db = ServerDatabase(server_url(server_db))  # not open_database: that migrates to the end
    db.connect()
    try:
        assert migrate(db, target=10) == 10
    finally:
        db.close()
    with _owner(server_db) as pg:
        assert "EXECUTE format" in pg.execute(
            "SELECT prosrc FROM pg_proc WHERE proname = 'gist_append_only'").fetchone()[0]
    _fill(server_db)  # opening it upgrades it
    with _owner(server_db) as pg:
        assert pg.execute("SELECT max(version) FROM schema_migration").fetchone() == (LATEST,)
        source = pg.execute("SELECT prosrc FROM pg_proc WHERE proname = 'gist_append_only'"
                            ).fetchone()[0]
    assert "INTO last FROM audit_entry;" in source
    _refuses_old_ids(server_db)
    db = open_database(ServerLocation(server_url(server_db)))
    try:
        assert schema_version(db) == LATEST
    finally:
        db.close()


def _statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement the server connections send from now on (through the program's
    psycopg cursor, which every statement of a transaction goes through)."""
    from gisttracker.store.server import _cursor_class

    sent: list[str] = []
    cursor = _cursor_class()
    original = cursor.execute

    def execute(self: object, query: object, params: object = None, **kwargs: object) -> object:
        sent.append(str(query))
        return original(self, query, params, **kwargs)

    monkeypatch.setattr(cursor, "execute", execute)
    return sent


def test_a_server_registration_writes_its_rows_once_with_the_commit(
        server_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The patient and identity rows go with the commit under the chain lock, with ids
    taken at BEGIN and the final study identifier: no provisional row, no UPDATE."""
    _fill(server_db)  # ZJU-0001 … ZJU-0003
    s = open_session(ServerLocation(server_url(server_db)), user="nurse")
    try:
        service = PatientService(s)
        _register(service, "Warm")  # this session's first transaction reads the shapes
        sent = _statements(monkeypatch)
        patient = _register(service, "Deferred")
        assert patient.study_id == "ZJU-0005" and patient.seq == 5
        statements = [q.split()[0].upper() for q in sent]
        assert "UPDATE" not in statements, sent
        # BEGIN with the signature mark and the two ids; the lock; the head with the next
        # number; the rows and the trail in one statement; COMMIT.
        assert len(sent) == 6, sent
        assert sum(1 for q in sent if '"patient"' in q and "INSERT" in q) == 1
        assert statements[-1] == "COMMIT"
        # psycopg keeps its conversion of the commit's statement (about 55 parameters; it
        # keeps only those of up to 50 unless store.server raises the limit).
        from psycopg import _queries

        assert _queries.MAX_CACHED_STATEMENT_PARAMS >= 60
        monkeypatch.undo()
        row = s.db.execute_sql(
            "SELECT p.id, p.study_id, p.site_code, p.seq, i.name, i.patient_id "
            "FROM patient p JOIN patient_identity i ON i.patient_id = p.id "
            "WHERE p.uid = ?", (patient.uid,)).fetchone()
        assert row == (patient.id, "ZJU-0005", "ZJU", 5, "Deferred", patient.id)
        assert service.get("ZJU-0005").uid == patient.uid
        assert verify(s.db).ok
    finally:
        s.close()


def test_a_registration_inside_a_larger_server_transaction_is_written_at_once(
        server_db: str) -> None:
    """Nested in someone's transaction nothing is reserved: the rows are inserted when
    registered (what comes next in that transaction may refer to them), numbered at the
    commit, and a rolled-back savepoint takes its registration with it."""
    _fill(server_db)
    s = open_session(ServerLocation(server_url(server_db)), user="nurse")
    try:
        service = PatientService(s)
        with s.tracker.transaction("a batch") as w:
            first = _register(service, "Batch one")
            # The row is there already, inside the transaction (provisional number).
            assert s.db.execute_sql("SELECT count(*) FROM patient_identity WHERE "
                                    "patient_id = ?", (first.id,)).fetchone() == (1,)
            with pytest.raises(RuntimeError), s.tracker.transaction("inner"):
                _register(service, "Rolled back")
                raise RuntimeError("undo the inner registration")
            second = _register(service, "Batch two")
            assert w.late  # not settled before the commit
        # Both take the next number at the commit, under the chain lock. (A transaction
        # settles its waiting records in order.)
        rows = s.db.execute_sql(
            "SELECT p.study_id, i.name FROM patient p JOIN patient_identity i "
            "ON i.patient_id = p.id WHERE p.seq > 3 ORDER BY p.seq").fetchall()
        assert rows == [("ZJU-0004", "Batch one"), ("ZJU-0005", "Batch two")]
        assert (first.study_id, second.study_id) == ("ZJU-0004", "ZJU-0005")
        assert s.db.execute_sql("SELECT count(*) FROM patient").fetchone() == (5,)
        assert verify(s.db).ok
    finally:
        s.close()
