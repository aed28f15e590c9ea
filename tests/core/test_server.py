"""The server mode on a real PostgreSQL server (issue 16): the schema equal to SQLite's, the
audit trail and randomization append-only even for the database's owner, an application
role that cannot alter them, two workstations racing for one randomization stratum, the
write lock's timeout, TLS asked for in the URL, and passwords never shown.

These run on the server run of ``scripts/test`` (``GISTTRACKER_TEST_DB``); on the SQLite run
they are skipped, saying so. The SQLite side of each is tested elsewhere (test_audit.py,
test_concurrency.py, test_store_environment.py).
"""

from __future__ import annotations

import logging
import multiprocessing
import random
import sqlite3
from pathlib import Path

import psycopg
import pytest

from gisttracker.cli import main
from gisttracker.services.audit import verify
from gisttracker.services.patients import PatientService
from gisttracker.services.settings import SettingsService
from gisttracker.session import open_session
from gisttracker.store.db import DatabaseLockedError, StoreError, open_database, resolve_path
from gisttracker.store.migrations import LATEST
from gisttracker.store.models_patients import Patient, Randomization
from gisttracker.store.server import APPEND_ONLY, WRITE_LOCK
from gisttracker.store.urls import ServerLocation, ServerUrlError, display_url
from tests.core.patients_helpers import TODAY, eligible_patient, set_site
from tests.helpers import admin_sql, server_url

STUDY = "NCT03862768"  # randomized, stratified by site


def _pg(name: str, user: str | None = None) -> psycopg.Connection:
    return psycopg.connect(server_url(name, user), autocommit=True)


def test_the_server_schema_is_the_sqlite_schema(server_db: str, tmp_path: Path) -> None:
    db = open_database(ServerLocation(server_url(server_db)))
    lite = sqlite3.connect(open_database(tmp_path / "site.db").database)
    with _pg(server_db) as pg:
        assert pg.execute("SELECT max(version) FROM schema_migration").fetchone() == (LATEST,)
        tables = {r[0] for r in pg.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert tables == {r[0] for r in lite.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in sorted(tables):
            server_columns = [r[0] for r in pg.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "ORDER BY ordinal_position", (table,))]
            file_columns = [r[1] for r in lite.execute(f'PRAGMA table_info("{table}")')]
            # The same columns (the order may differ where SQLite added one at the end).
            assert sorted(server_columns) == sorted(file_columns), table
        server_indexes = {r[0] for r in pg.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' "
            "AND indexname NOT LIKE '%%_pkey' AND indexname NOT LIKE '%%_key'")}
        file_indexes = {r[0] for r in lite.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
        assert server_indexes == file_indexes
    db.close()


def test_audit_trail_and_randomization_refuse_change_even_for_the_owner(
        server_db: str) -> None:
    s = open_session(ServerLocation(server_url(server_db)), user="nurse")
    set_site(s)
    service = PatientService(s)
    service.enroll(eligible_patient(service, STUDY).uid, today=TODAY, rng=random.Random(3))
    s.close()
    with _pg(server_db) as pg:  # the superuser, owner of everything
        for table in APPEND_ONLY:
            statements = [f'TRUNCATE "{table}" CASCADE']  # a statement trigger: always
            if pg.execute(f'SELECT count(*) FROM "{table}"').fetchone() != (0,):
                # Row triggers fire on rows: on every table that has some.
                statements += [f'UPDATE "{table}" SET id = id', f'DELETE FROM "{table}"']
            for statement in statements:
                with pytest.raises(psycopg.errors.IntegrityConstraintViolation,
                                   match=r"cannot be|append-only"):
                    pg.execute(statement)
        assert pg.execute("SELECT count(*) FROM randomization").fetchone() == (1,)
    # Nothing was lost: the chain and the tables still verify.
    s = open_session(ServerLocation(server_url(server_db)), user="nurse")
    try:
        assert verify(s.db).ok
    finally:
        s.close()


def test_the_application_role_cannot_alter_the_audit_trail(server_db: str) -> None:
    owner, app = f"{server_db}_owner", f"{server_db}_app"
    admin_sql(f"CREATE ROLE {owner} LOGIN", f"CREATE ROLE {app} LOGIN",
              f"ALTER DATABASE {server_db} OWNER TO {owner}",
              f"REVOKE ALL ON DATABASE {server_db} FROM PUBLIC")
    admin_sql(f"ALTER SCHEMA public OWNER TO {owner}", database=server_db)
    try:
        # The owner creates the schema (the first open migrates) and grants the app role.
        assert main(["--db", server_url(server_db, owner), "server", "grant", app]) == 0
        # The application, as its role, does its daily work...
        s = open_session(ServerLocation(server_url(server_db, app)), user="nurse")
        set_site(s)
        service = PatientService(s)
        service.enroll(eligible_patient(service, STUDY).uid, today=TODAY, rng=random.Random(3))
        SettingsService(s.tracker).set("site_name", "Hangzhou")
        SettingsService(s.tracker).set("site_name", "Zhejiang", reason="the hospital's name")
        s.close()
        # ...but cannot touch the trail or the randomization, nor change the schema.
        with _pg(server_db, app) as pg:
            for table in APPEND_ONLY:
                for statement in (f'UPDATE "{table}" SET id = id', f'DELETE FROM "{table}"',
                                  f'TRUNCATE "{table}"'):
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        pg.execute(statement)
            for statement in ("CREATE TABLE mine (x int)",
                              "ALTER TABLE audit_entry DISABLE TRIGGER ALL",
                              "DROP TRIGGER audit_entry_no_update ON audit_entry",
                              "DROP VIEW audit_log", "INSERT INTO schema_migration VALUES "
                              "(99, 'x', 'now')"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    pg.execute(statement)
            assert pg.execute("SELECT count(*) FROM randomization").fetchone() == (1,)
        s = open_session(ServerLocation(server_url(server_db, app)), user="nurse")
        try:
            assert verify(s.db).ok
        finally:
            s.close()
    finally:
        admin_sql(f"DROP DATABASE IF EXISTS {server_db} WITH (FORCE)",
                  f"DROP ROLE IF EXISTS {app}", f"DROP ROLE IF EXISTS {owner}")


def _enroll_many(args: tuple[str, str, list[str], int]) -> list[tuple[str, str, str]]:
    url, who, uids, seed = args
    s = open_session(resolve_path(url), user=who)
    try:
        service = PatientService(s)
        rng = random.Random(seed)
        done = []
        for uid in uids:
            result = service.enroll(uid, today=TODAY, rng=rng)
            done.append((uid, str(result.randomization_number), str(result.stratum)))
        return done
    finally:
        s.close()


def test_two_workstations_racing_for_one_stratum_never_share_a_position(
        db_path: Path) -> None:
    if not isinstance(db_path, ServerLocation):
        pytest.skip("needs the test server (the SQLite race: test_concurrency.py)")
    s = open_session(db_path, user="setup")
    set_site(s)
    service = PatientService(s)
    uids = [eligible_patient(service, STUDY).uid for _n in range(24)]
    s.close()
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        results = pool.map(_enroll_many, [(db_path.connect_url, "nora", uids[0::2], 1),
                                          (db_path.connect_url, "li.wei", uids[1::2], 2)])
    assert sum(len(r) for r in results) == 24
    s = open_session(db_path, user="setup")
    try:
        rows = list(Randomization.select().order_by(Randomization.position))
        # One stratum, 24 positions taken once each, 24 numbers, each patient once.
        assert {r.stratum for r in rows} == {"site=ZJU"}
        assert [r.position for r in rows] == list(range(24))
        assert len({r.number for r in rows}) == 24
        assert len({r.patient_id for r in rows}) == 24
        assert {r.randomized_by for r in rows} == {"nora", "li.wei"}
        assert Patient.select().where(Patient.status == "enrolled").count() == 24
        report = verify(s.db)
        assert report.ok, report.findings[:3]
    finally:
        s.close()


@pytest.mark.expect_log(r"database problem \(DatabaseLockedError\)")
def test_a_write_lock_that_does_not_clear_is_a_clear_message_then_a_retry_works(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not isinstance(db_path, ServerLocation):
        pytest.skip("needs the test server (SQLite's lock: test_concurrency.py)")
    monkeypatch.setattr("gisttracker.store.db.BUSY_TIMEOUT_MS", 300)
    s = open_session(db_path, user="nurse")
    try:
        other = psycopg.connect(db_path.connect_url)  # another workstation, mid-transaction
        other.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        with pytest.raises(DatabaseLockedError, match="kept it locked"):
            SettingsService(s.tracker).set("site_name", "Hangzhou")
        other.rollback()
        other.close()
        SettingsService(s.tracker).set("site_name", "Hangzhou")  # the retry
        assert SettingsService(s.tracker).get("site_name") == "Hangzhou"
    finally:
        s.close()


def test_sslmode_in_the_url_is_honoured(server_db: str) -> None:
    # The throw-away cluster has no TLS: asking for it must fail, never fall back to clear.
    url = server_url(server_db) + "?sslmode=require"
    with pytest.raises(StoreError, match="SSL"):
        open_database(ServerLocation(url))


def test_a_password_in_the_url_is_never_shown_nor_logged(
        server_db: str, caplog: pytest.LogCaptureFixture) -> None:
    url = server_url(server_db).replace("postgres@", "postgres:s3cret-Pw@")
    caplog.set_level(logging.DEBUG)
    location = resolve_path(url)
    assert "s3cret" not in str(location) and "s3cret" not in repr(location)
    assert display_url(url) == server_url(server_db)
    s = open_session(location, user="nurse")
    try:
        SettingsService(s.tracker).set("site_name", "Hangzhou")
        assert "s3cret" not in str(s.db.database)
    finally:
        s.close()
    assert "s3cret" not in caplog.text
    with pytest.raises(StoreError) as refused:
        open_database(ServerLocation(url.replace(server_db, "no_such_db")))
    assert "s3cret" not in str(refused.value)


def test_an_unknown_server_or_database_is_a_plain_message(server_db: str) -> None:
    with pytest.raises(StoreError, match=r"cannot connect to .*no_such_db"):
        open_database(ServerLocation(server_url("no_such_db")))
    with pytest.raises(ServerUrlError, match="names no database"):
        resolve_path(server_url(server_db).rsplit("/", 1)[0] + "/")
