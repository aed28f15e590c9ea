"""The store: migrations from every earlier version, refusal of newer or foreign files."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import peewee
import pytest

from gisttracker.store.db import (
    NewerSchemaError,
    StoreError,
    connect,
    open_database,
    read_only_uri,
)
from gisttracker.store.migrations import LATEST, MIGRATIONS, migrate, schema_version
from tests.core.migration_fixtures import CHECK, FILL


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.sqlite_only("a new file's WAL and pragmas")
def test_new_file_is_created_at_latest_version_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    db = open_database(tmp_path / "new" / "site.db")
    assert schema_version(db) == LATEST
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 5000
    applied = db.execute_sql("SELECT version FROM schema_migration ORDER BY version").fetchall()
    assert [v for (v,) in applied] == list(range(1, LATEST + 1))
    db.close()


def test_every_version_has_upgrade_fixtures() -> None:
    assert sorted(FILL) == sorted(CHECK) == [m.VERSION for m in MIGRATIONS]


@pytest.mark.parametrize("start", range(1, LATEST + 1))
@pytest.mark.sqlite_only(
    "the upgrade of files of every earlier schema; a server database is made at the latest")
def test_upgrade_from_every_earlier_version_keeps_data(tmp_path: Path, start: int) -> None:
    path = tmp_path / f"v{start}.db"
    db = connect(path)
    assert migrate(db, target=start) == start
    for version in range(1, start + 1):
        FILL[version](db)
    db.close()

    db = open_database(path)
    assert schema_version(db) == LATEST
    for version in range(1, start + 1):
        CHECK[version](db)
    db.close()


@pytest.mark.sqlite_only("a file from a newer release (PRAGMA user_version)")
def test_newer_schema_is_refused_and_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    db = open_database(path)
    db.execute_sql(f"PRAGMA user_version = {LATEST + 1}")
    db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    before = _digest(path)
    with pytest.raises(NewerSchemaError, match="newer version"):
        open_database(path)
    assert _digest(path) == before


@pytest.mark.sqlite_only("a foreign SQLite file")
def test_foreign_sqlite_file_is_refused_without_changes(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    con.execute("INSERT INTO invoices (total) VALUES (12.5)")
    con.commit()
    con.close()
    before = _digest(path)
    with pytest.raises(StoreError, match="not a GIST Study Tracker database"):
        open_database(path)
    assert _digest(path) == before


@pytest.mark.expect_log(r"database problem")
@pytest.mark.sqlite_only("a file that is not SQLite")
def test_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError, match="not a readable database"):
        open_database(path)
    assert path.read_text().startswith("these are my notes")


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="folder"):
        open_database(tmp_path)


@pytest.mark.sqlite_only(
    "the SQLite migrations (the server's schema is compared with them in test_server)")
def test_every_model_matches_the_migrated_schema(tmp_path: Path) -> None:
    import importlib
    import pkgutil

    import gisttracker.store as store_pkg
    from gisttracker.store.models import BaseModel

    db = open_database(tmp_path / "site.db")
    models = set()
    for info in pkgutil.iter_modules(store_pkg.__path__):
        if info.name.startswith("models"):
            module = importlib.import_module(f"gisttracker.store.{info.name}")
            models |= {m for m in vars(module).values()
                       if isinstance(m, type) and issubclass(m, BaseModel)
                       and m.__name__ not in ("BaseModel", "Record")
                       and m.__module__ == module.__name__}
    assert len(models) >= 15
    for model in models:
        columns = {row[1] for row in db.execute_sql(
            f"PRAGMA table_info({model._meta.table_name})").fetchall()}
        fields = {f.column_name for f in model._meta.sorted_fields}
        assert fields <= columns, (model.__name__, fields - columns)
    db.close()


def test_visits_carry_their_patients_study_whoever_inserts_them(db_path: Path) -> None:
    db = open_database(db_path)  # a file, or a server database on the server run
    db.execute_sql(
        "INSERT INTO patient (uid, study_key, study_id, site_code, seq, created_on) "
        "VALUES ('p1', 'NCT04933669', 'ZJU-0001', 'ZJU', 1, '2026-01-01')")
    db.execute_sql("INSERT INTO visit (uid, patient_id, name) VALUES ('v1', 1, 'Baseline')")
    assert db.execute_sql("SELECT study_key FROM visit").fetchone() == ("NCT04933669",)
    db.close()


@pytest.mark.sqlite_only("the upgrade of a file from schema 5")
def test_randomization_numbers_are_unique_per_site_after_schema_6(tmp_path: Path) -> None:
    path = tmp_path / "centre.db"
    db = connect(path)
    migrate(db, target=5)
    for seq, (uid, site) in enumerate((("p1", "ZJU"), ("p2", "PUMCH"), ("p3", "ZJU")), 1):
        db.execute_sql(
            "INSERT INTO patient (uid, study_key, study_id, site_code, seq, created_on) "
            "VALUES (?, 'NCT03862768', ?, ?, ?, '2026-01-01')",
            (uid, f"{site}-{uid}", site, seq))
    insert = ("INSERT INTO randomization (uid, patient_id, study_key, stratum, position, "
              "number, arm_code, randomized_at, randomized_by) VALUES (?, (SELECT id FROM "
              "patient WHERE uid = ?), 'NCT03862768', ?, 0, 'R-0001', 'A', 't', 'nurse')")
    db.execute_sql(insert, ("r1", "p1", "site=ZJU"))
    db.close()

    db = open_database(path)
    assert db.execute_sql("SELECT uid, number FROM randomization").fetchall() == [
        ("r1", "R-0001")]
    db.execute_sql(insert, ("r2", "p2", "site=PUMCH"))  # another site's R-0001: fine
    with pytest.raises(peewee.IntegrityError, match="already used at this site"):
        db.execute_sql(insert, ("r3", "p3", "site=ZJU x"))
    with pytest.raises(peewee.IntegrityError, match="cannot be changed"):
        db.execute_sql("UPDATE randomization SET arm_code = 'B'")
    with pytest.raises(peewee.IntegrityError, match="cannot be undone"):
        db.execute_sql("DELETE FROM randomization")
    db.close()


def test_read_only_uri_opens_a_folder_name_sqlite_would_misread(tmp_path: Path) -> None:
    """Backups, packages and exports read a site file through a read-only URI; a folder
    named with "#", "?", "%" or a space must still name that file, and writing through it
    must be refused."""
    folder = tmp_path / "site #2? 100%20"
    folder.mkdir()
    path = folder / "study file.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    reader = sqlite3.connect(read_only_uri(path), uri=True)
    try:
        assert reader.execute("SELECT name FROM sqlite_master").fetchall() == [("t",)]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.execute("INSERT INTO t VALUES (1)")
    finally:
        reader.close()
