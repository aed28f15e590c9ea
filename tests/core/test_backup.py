"""Backups, restores and verification: whole, checked, and never losing what they replace."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime
from pathlib import Path

import pytest

from gisttracker.backup import (
    BackupError,
    backup,
    backup_due,
    backup_stem,
    restore,
    run_scheduled_backup,
    scheduled_backups,
    verify,
)
from gisttracker.cli import main
from gisttracker.demo import generate
from gisttracker.services.settings import SettingsService
from gisttracker.session import open_session
from gisttracker.store.db import connect
from gisttracker.store.migrations import LATEST, migrate
from tests.core.migration_fixtures import FILL
from tests.helpers import FIXED_NOW

ROOT = Path(__file__).resolve().parents[2]

# Registers patients one by one through the patient service and prints each study
# identifier once its transaction has committed: an acknowledged record.
WRITER = textwrap.dedent("""
    import sys
    from datetime import date
    from gisttracker.services.patients import Identity, PatientService
    from gisttracker.session import open_session
    from gisttracker.store.db import resolve_path

    session = open_session(resolve_path(sys.argv[1]), user="nurse")  # a file or a server
    service = PatientService(session)
    n = 0
    while True:
        n += 1
        patient = service.register("NCT04933669", sex="female", identity=Identity(
            record_number=f"W{n}", name="Writer Patient"), today=date(2026, 3, 1))
        print(patient.study_id, flush=True)
""")


def _site(path: Path, patients: int = 30) -> None:
    session = open_session(path, user="nurse", clock=lambda: FIXED_NOW)
    try:
        SettingsService(session.tracker).set("site_code", "ZJU")
        if patients:
            generate(session, patients=patients, seed=7, today=date(2026, 3, 1))
    finally:
        session.close()


def _ids(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT study_id FROM patient")}
    finally:
        conn.close()


def test_backup_while_another_process_writes_keeps_every_acknowledged_record(
        db_path: Path, tmp_path: Path) -> None:
    db = db_path
    _site(db, patients=20)
    acknowledged: list[str] = []
    with subprocess.Popen([sys.executable, "-c", WRITER, str(db)], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as writer:
        try:
            assert writer.stdout is not None and writer.stderr is not None
            while len(acknowledged) < 15:
                line = writer.stdout.readline()
                assert line, writer.stderr.read()
                acknowledged.append(line.strip())
            result = backup(db, tmp_path / "during.backup.db")
            # The writer kept going meanwhile.
            for _i in range(5):
                acknowledged.append(writer.stdout.readline().strip())
        finally:
            writer.kill()
    restored = tmp_path / "restored.db"
    restore(result.path, restored)
    present = _ids(restored)
    before_backup = acknowledged[:15]
    assert set(before_backup) <= present
    assert len(present) == result.tables["patient"] >= 20 + 15
    assert verify(restored).ok, verify(restored).problems
    session = open_session(restored, user="nurse")  # opens and works
    session.close()


@pytest.mark.sqlite_only("SQLite's WAL and the backup file's permissions")
def test_backup_is_one_verified_private_file_even_with_uncheckpointed_writes(
        tmp_path: Path) -> None:
    db = tmp_path / "site.db"
    _site(db, patients=10)
    session = open_session(db, user="nurse", clock=lambda: FIXED_NOW)
    try:
        SettingsService(session.tracker).set("site_name", "Hangzhou")  # lives in the -wal
        assert Path(f"{db}-wal").stat().st_size > 0
        result = backup(db, tmp_path / "b.db")
    finally:
        session.close()
    assert result.path.stat().st_mode & 0o077 == 0
    assert not Path(f"{result.path}-wal").exists()
    conn = sqlite3.connect(result.path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert conn.execute("SELECT value FROM setting WHERE key = 'site_name'").fetchone() == (
        "Hangzhou",)
    conn.close()


def test_a_backup_that_fails_half_way_leaves_nothing_under_the_name(
        db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = db_path
    _site(db, patients=3)
    import gisttracker.backup as module

    monkeypatch.setattr(module, "_check_copy", lambda _c, _e: ["table patient has 2 rows"])
    with pytest.raises(BackupError, match="did not verify"):
        backup(db, tmp_path / "out.db")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("site.db")) == []


@pytest.mark.sqlite_only(
    "restoring over a site file (a server restores only into an empty database: test_server_files)")
def test_restore_refuses_a_damaged_backup_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "site.db"
    _site(db, patients=30)
    copy = backup(db, tmp_path / "b.db").path
    data = bytearray(copy.read_bytes())
    middle = len(data) // 2 // 4096 * 4096
    data[middle:middle + 8192] = b"\x5a" * 8192
    copy.write_bytes(bytes(data))
    before = _ids(db)
    with pytest.raises(BackupError, match="nothing was restored"):
        restore(copy, db)
    assert _ids(db) == before
    assert not list(tmp_path.glob("*before-restore*"))
    assert main(["--db", str(db), "restore", str(copy)]) == 1


@pytest.mark.sqlite_only(
    "restoring over a site file (a server restores only into an empty database: test_server_files)")
def test_restore_keeps_the_database_it_replaces(tmp_path: Path) -> None:
    db = tmp_path / "site.db"
    _site(db, patients=5)
    saved = backup(db, tmp_path / "monday.db").path
    session = open_session(db, user="nurse", clock=lambda: FIXED_NOW)
    try:
        generate(session, patients=4, seed=99, today=date(2026, 3, 2))
    finally:
        session.close()
    after = _ids(db)
    assert len(after) == 9
    result = restore(saved, db, now=datetime(2026, 3, 3, 8, 0))
    assert len(_ids(db)) == 5
    assert result.kept is not None and _ids(result.kept) == after
    assert "before-restore-20260303" in result.kept.name


@pytest.mark.sqlite_only("the migration of an older site file")
def test_every_migration_first_writes_a_backup_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "site.db"
    db = connect(path)
    migrate(db, target=2)
    FILL[1](db)
    FILL[2](db)
    db.close()
    session = open_session(path, user="nurse")
    session.close()
    kept = list((tmp_path / "backups").glob("site.schema-2-*.backup.db"))
    assert len(kept) == 1
    conn = sqlite3.connect(kept[0])
    assert conn.execute("PRAGMA user_version").fetchone() == (2,)
    assert conn.execute("SELECT study_id FROM patient").fetchall() == [("ZJU-0001",)]
    conn.close()
    # A new file has nothing to keep; an up-to-date one needs no migration.
    fresh = tmp_path / "fresh" / "site.db"
    open_session(fresh, user="nurse").close()
    open_session(fresh, user="nurse").close()
    assert not (fresh.parent / "backups").exists()
    assert LATEST > 2


@pytest.mark.sqlite_only(
    "damage done to a file with raw sqlite3 (a server's verify: test_server_files)")
def test_verify_says_in_plain_words_what_is_wrong(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "site.db"
    _site(db, patients=5)
    assert verify(db).ok
    assert main(["--db", str(db), "verify"]) == 0
    assert "No problems found." in capsys.readouterr().out
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("INSERT INTO patient (uid, study_key, study_id, site_code, seq, created_on) "
                 "VALUES ('sneaky', 'NCT04933669', 'ZJU-9999', 'ZJU', 9999, '2026-01-01')")
    conn.execute("INSERT INTO visit (uid, patient_id, name) VALUES ('orphan', 123456, 'V')")
    conn.commit()
    conn.close()
    report = verify(db)
    assert not report.ok
    text = "\n".join(report.problems)
    assert "1 record of patient is not in the audit trail" in text
    assert "1 record of visit is not in the audit trail" in text
    assert "1 row of visit refers to a patient that does not exist" in text
    assert main(["--db", str(db), "verify"]) == 1
    assert "PROBLEM:" in capsys.readouterr().out


def test_scheduled_backups_keep_the_newest_n(db_path: Path, tmp_path: Path) -> None:
    db = db_path
    stem = backup_stem(db)  # "site" for site.db; a server database's name
    _site(db, patients=2)
    folder = tmp_path / "nightly"
    for day in range(1, 5):
        now = datetime(2026, 3, day, 18, 0)
        assert backup_due(db, folder, 24, now)
        run_scheduled_backup(db, folder, keep=2, now=now)
        assert not backup_due(db, folder, 24, datetime(2026, 3, day, 23, 0))
    kept = scheduled_backups(folder, stem)
    assert [at.day for at, _p in kept] == [4, 3]
    (folder / "notes.txt").write_text("mine")
    run_scheduled_backup(db, folder, keep=1, now=datetime(2026, 3, 6, 9, 0))
    assert sorted(p.name for p in folder.iterdir()) == sorted([
        "notes.txt", f"{stem}-20260306-090000.backup.db"])


def test_backup_command(db_path: Path, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    db = db_path
    _site(db, patients=2)
    out = tmp_path / "copy.db"
    assert main(["--db", str(db), "backup", "-o", str(out)]) == 0
    assert "verified" in capsys.readouterr().out and out.is_file()
    assert main(["--db", str(db), "backup", "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["--db", str(db), "backup", "--scheduled"]) == 2
    assert "no backup folder" in capsys.readouterr().err
    session = open_session(db, user="nurse")
    SettingsService(session.tracker).set("backup_folder", str(tmp_path / "auto"))
    session.close()
    assert main(["--db", str(db), "backup", "--scheduled"]) == 0
    assert len(list((tmp_path / "auto").iterdir())) == 1
    time.sleep(0)  # a second run the same minute is not due
    assert main(["--db", str(db), "backup", "--scheduled"]) == 0
    assert "No backup due" in capsys.readouterr().out
