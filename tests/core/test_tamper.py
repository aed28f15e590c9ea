"""Tampering with the file: each attempt is refused by the database or found by
``audit verify`` (and the check at open), which names the entry or record.

Attacks go through a plain ``sqlite3`` connection, as someone with the file and a SQLite
tool would make them: no ``recursive_triggers``, no help from the program.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gisttracker.cli import main
from gisttracker.demo import generate
from gisttracker.services.audit import check_at_open, verify
from gisttracker.services.concealment import reveal
from gisttracker.services.patients import PatientService
from gisttracker.session import Session, open_session
from gisttracker.store.introspect import audited_models
from tests.core.patients_helpers import TODAY, eligible_patient, set_site
from tests.helpers import FIXED_NOW

RANDOMIZED = "NCT03862768"


@pytest.fixture
def randomized(tmp_path: Path) -> Iterator[Session]:
    """A site with two randomized patients, ZJU-0001 and ZJU-0002 (trusted test user)."""
    s = open_session(tmp_path / "site.db", user="nurse", clock=lambda: FIXED_NOW)
    set_site(s)
    service = PatientService(s)
    rng = random.Random(13)
    for n in (1, 2):
        patient = eligible_patient(service, RANDOMIZED, number=f"MRN-{n}")
        service.enroll(patient.uid, today=TODAY, rng=rng)
    assert verify(s.db).ok
    yield s
    s.close()


def attacker(session: Session) -> sqlite3.Connection:
    """A connection of someone editing the file with a SQLite tool."""
    con = sqlite3.connect(session.path, isolation_level=None)
    assert con.execute("PRAGMA recursive_triggers").fetchone() == (0,)
    return con


def _triggers(con: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    return con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND "
                       "tbl_name = ?", (table,)).fetchall()


@pytest.mark.sqlite_only("tampering with the file through raw sqlite3")
def test_insert_or_replace_over_an_audit_entry_is_refused(randomized: Session) -> None:
    con = attacker(randomized)
    row = con.execute("SELECT id, txn, record, action, field, shape, old_value, new_value, "
                      "reason, version, tag FROM audit_entry WHERE action = 'u' "
                      "LIMIT 1").fetchone()
    forged = (*row[:7], json.dumps("forged"), *row[8:])
    for connection in (con, randomized.db.connection()):  # with and without recursive triggers
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("INSERT OR REPLACE INTO audit_entry (id, txn, record, action, "
                               "field, shape, old_value, new_value, reason, version, tag) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", forged)
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("REPLACE INTO audit_txn (id, at, user, reason, last_entry, "
                               "hash) SELECT id, at, 'someone', reason, last_entry, hash "
                               "FROM audit_txn LIMIT 1")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("UPDATE audit_txn SET user = 'Prof_Principal_Investigator'")
    con.close()
    assert verify(randomized.db).ok


@pytest.mark.sqlite_only("tampering with the file through raw sqlite3")
def test_moving_a_randomization_to_the_other_arm_is_refused(randomized: Session) -> None:
    con = attacker(randomized)
    number, arm = con.execute("SELECT number, arm_code FROM randomization WHERE "
                              "number = 'R-0002'").fetchone()
    other = "A" if arm == "B" else "B"
    with pytest.raises(sqlite3.IntegrityError, match="cannot be replaced"):
        con.execute("INSERT OR REPLACE INTO randomization (id, uid, version, patient_id, "
                    "study_key, stratum, position, number, arm_code, randomized_at, "
                    "randomized_by) SELECT id, uid, version, patient_id, study_key, stratum, "
                    "position, number, ?, randomized_at, randomized_by FROM randomization "
                    "WHERE number = ?", (other, number))
    with pytest.raises(sqlite3.IntegrityError, match="cannot be changed"):
        con.execute("UPDATE randomization SET arm_code = ? WHERE number = ?", (other, number))
    with pytest.raises(sqlite3.IntegrityError, match="cannot be undone"):
        con.execute("DELETE FROM randomization WHERE number = ?", (number,))
    with pytest.raises(sqlite3.IntegrityError, match="seed cannot be"):
        con.execute("UPDATE randomization_seed SET sealed = 'v1:AAAA'")
    con.close()
    assert con is not None and verify(randomized.db).ok


@pytest.mark.sqlite_only("tampering with the file through raw sqlite3")
def test_drop_trigger_edit_recreate_is_found_by_verify(randomized: Session,
                                                       capsys: Any) -> None:
    con = attacker(randomized)
    # Move R-0002 to the other arm with the triggers out of the way, then put them back.
    arm = con.execute("SELECT arm_code FROM randomization WHERE number = 'R-0002'").fetchone()
    other = "A" if arm[0] == "B" else "B"
    saved = _triggers(con, "randomization")
    for name, _sql in saved:
        con.execute(f"DROP TRIGGER {name}")
    con.execute("UPDATE randomization SET arm_code = ? WHERE number = 'R-0002'", (other,))
    con.execute("UPDATE patient SET arm_code = ? WHERE randomization_number = 'R-0002'",
                (other,))
    for _name, sql in saved:
        con.execute(sql)
    con.close()
    report = verify(randomized.db)
    messages = [f.message for f in report.findings]
    assert any(m.startswith("randomization record") and f"arm_code is '{other}' in the database"
               in m for m in messages), messages
    assert any(m.startswith("patient record") and "arm_code" in m for m in messages)
    # The administrator's re-derived list shows it too.
    found = reveal(randomized, RANDOMIZED)
    assert [s.number for s in found.mismatches] == ["R-0002"]
    # And the command line says so, exit 1.
    assert main(["--db", str(randomized.path), "audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "the audit trail does not match" in out and "randomization record" in out


@pytest.mark.sqlite_only("tampering with the file through raw sqlite3")
def test_an_edited_audit_entry_is_named_by_its_number(randomized: Session) -> None:
    con = attacker(randomized)
    for name, _sql in _triggers(con, "audit_entry"):
        con.execute(f"DROP TRIGGER {name}")
    target = con.execute("SELECT id FROM audit_entry WHERE action = 'u' ORDER BY id "
                         "LIMIT 1 OFFSET 2").fetchone()[0]
    con.execute("UPDATE audit_entry SET new_value = '\"someone else\"' WHERE id = ?", (target,))
    con.close()
    report = verify(randomized.db)
    assert report.findings[0].entry_id == target
    assert report.findings[0].message.startswith(f"entry #{target} ")
    # The quick check at open sees it as well (the chain from the start, no checkpoint).
    randomized.db.execute_sql("DELETE FROM audit_checkpoint")
    assert not check_at_open(randomized.db).ok


@pytest.mark.sqlite_only("tampering with the file through raw sqlite3")
def test_a_value_changed_directly_in_the_file_is_found(randomized: Session) -> None:
    con = attacker(randomized)
    screening = con.execute("SELECT uid, ecog FROM screening ORDER BY id LIMIT 1").fetchone()
    con.execute("UPDATE screening SET ecog = 3 WHERE uid = ?", (screening[0],))
    con.close()
    report = verify(randomized.db)
    assert [f.message for f in report.findings] == [
        f"screening record {screening[0]}: ecog is 3 in the database, but the audit trail says "
        f"{screening[1]} (entry #{report.findings[0].entry_id})"]


@pytest.mark.sqlite_only("tampering with the file through raw sqlite3")
def test_rows_added_or_removed_around_the_program_are_found(randomized: Session) -> None:
    con = attacker(randomized)
    con.execute("INSERT INTO setting (uid, key, value) VALUES ('forged-setting', 'site_name', "
                "'Elsewhere')")
    con.execute("DELETE FROM lab_result WHERE id = (SELECT max(id) FROM lab_result)")
    con.close()
    messages = [f.message for f in verify(randomized.db).findings]
    assert any("forged-setting has no audit trail" in m for m in messages)
    assert any(m.startswith("lab_result record") and "is missing from the database" in m
               for m in messages)


@pytest.mark.sqlite_only("tampering with the file through raw sqlite3")
def test_a_rewritten_and_rechained_history_is_found_by_the_witness(
        randomized: Session, tmp_path: Path) -> None:
    path = randomized.path
    # The user has opened the file: their witness remembers the head.
    assert check_at_open(randomized.db, path).ok
    head = randomized.db.execute_sql("SELECT max(id) FROM audit_entry").fetchone()[0]
    randomized.close()
    # Someone rebuilds the file without the last transaction (a consistent, shorter chain).
    con = sqlite3.connect(path, isolation_level=None)
    for table in ("audit_entry", "audit_txn"):
        for name, _sql in _triggers(con, table):
            con.execute(f"DROP TRIGGER {name}")
    last = con.execute("SELECT max(id) FROM audit_txn").fetchone()[0]
    con.execute("DELETE FROM audit_entry WHERE txn = ?", (last,))
    con.execute("DELETE FROM audit_txn WHERE id = ?", (last,))
    con.close()
    reopened = open_session(path, user="nurse")
    try:
        assert reopened.audit is not None and not reopened.audit.ok
        assert f"up to entry #{head}" in reopened.audit.summary()
    finally:
        reopened.close()


@pytest.mark.sqlite_only("tampering with the file through raw sqlite3")
def test_restoring_an_older_backup_is_not_taken_for_a_rewritten_trail(
        randomized: Session, tmp_path: Path) -> None:
    """A restore replaces the file on purpose: the user's witness follows it, so the restored
    file opens without a warning (and is checked from its checkpoint on, not whole at every
    open), while the witness still catches the next rewrite behind the user's back."""
    from gisttracker.backup import backup, restore

    path = randomized.path
    saved = backup(path, tmp_path / "older.db").path
    eligible_patient(PatientService(randomized), RANDOMIZED, number="MRN-3")
    assert check_at_open(randomized.db, path).ok  # the witness now remembers the later head
    randomized.close()
    restore(saved, path)
    reopened = open_session(path, user="nurse")
    try:
        assert reopened.audit is not None and reopened.audit.ok, reopened.audit.summary()
        assert verify(reopened.db).ok
    finally:
        reopened.close()
    again = open_session(path, user="nurse")  # from the checkpoint the first open wrote
    try:
        assert again.audit is not None and again.audit.ok and again.audit.entries == 0
    finally:
        again.close()


def test_the_audit_chain_verifies_after_a_demo(db_path: Path, capsys: Any) -> None:
    s = open_session(db_path, user="nurse", clock=lambda: FIXED_NOW)
    try:
        generate(s, patients=150, seed=9, today=TODAY)
        report = verify(s.db)
        assert report.ok, report.findings[:3]
        assert report.entries > 150 * 5 and report.tables >= 20
        # Every row of every audited table is a record the trail explains.
        assert report.records == sum(
            s.db.execute_sql(f'SELECT count(*) FROM "{t}"').fetchone()[0]
            for t in audited_models())
    finally:
        s.close()
    assert main(["--db", str(db_path), "audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("audit trail verified:") and f"head #{report.head_id}" in out


@pytest.mark.sqlite_only("a site file deleted and made again at the same path")
def test_a_new_file_where_an_old_one_was_deleted_is_not_taken_for_a_rewritten_trail(
        randomized: Session) -> None:
    """The user deletes a site file and makes a new one at the same path (a practice site,
    a demo): the program made the new file itself, so what the witness remembers of the old
    one is forgotten rather than reported at every open."""
    path = randomized.path
    assert check_at_open(randomized.db, path).ok  # the witness remembers the old head
    randomized.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    fresh = open_session(path, user="nurse", clock=lambda: FIXED_NOW)
    try:
        set_site(fresh)
        eligible_patient(PatientService(fresh), RANDOMIZED, number="MRN-9")
        assert fresh.audit is not None and fresh.audit.ok, fresh.audit.summary()
    finally:
        fresh.close()
    again = open_session(path, user="nurse")
    try:
        assert again.audit is not None and again.audit.ok, again.audit.summary()
    finally:
        again.close()


@pytest.mark.sqlite_only("a site file swapped for another")
def test_a_swapped_file_is_reported_at_every_open_without_rereading_the_whole_trail(
        randomized: Session, tmp_path: Path) -> None:
    """A file swapped behind the user's back (a consistent chain the witness does not know)
    is reported at every open; the chain itself was checked, so each open after the first
    reads only what is new since then."""
    path = randomized.path
    assert check_at_open(randomized.db, path).ok
    randomized.close()
    other = tmp_path / "other" / "site.db"
    other.parent.mkdir()
    forged = open_session(other, user="nurse", clock=lambda: FIXED_NOW)
    set_site(forged)
    eligible_patient(PatientService(forged), RANDOMIZED, number="MRN-7")
    forged.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    sqlite3.connect(other).backup(dst := sqlite3.connect(path))
    dst.close()
    for attempt in (1, 2):
        reopened = open_session(path, user="nurse")
        try:
            report = reopened.audit
            assert report is not None and not report.ok
            assert "rewritten or cut short" in report.summary()
            if attempt == 2:
                assert report.entries == 0  # from the checkpoint the first open wrote
        finally:
            reopened.close()


@pytest.mark.sqlite_only("tampering with the file through raw sqlite3")
def test_the_database_check_names_a_value_changed_around_the_program(
        randomized: Session, capsys: Any) -> None:
    """``gisttracker verify`` (File > Verify) replays the audit trail as ``audit verify``
    does: a value edited with a SQLite tool is named, with the entry that last wrote it."""
    path = randomized.path
    randomized.close()
    con = sqlite3.connect(path, isolation_level=None)
    uid = con.execute("SELECT uid FROM screening ORDER BY id LIMIT 1").fetchone()[0]
    con.execute("UPDATE screening SET ecog = 3 WHERE uid = ?", (uid,))
    con.close()
    assert main(["--db", str(path), "verify"]) == 1
    out = capsys.readouterr().out
    assert f"PROBLEM: screening record {uid}: ecog is 3 in the database" in out


@pytest.mark.sqlite_only("tampering with the file through raw sqlite3")
def test_text_that_is_not_utf8_is_a_finding_not_a_crash(randomized: Session,
                                                        capsys: Any) -> None:
    """Bytes that are not UTF-8, written with a SQLite tool, are reported where they are;
    the rest of the table is still compared (no record is taken for missing)."""
    path = randomized.path
    count = randomized.db.execute_sql("SELECT count(*) FROM visit").fetchone()[0]
    randomized.close()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("UPDATE visit SET name = CAST(x'ff41' AS TEXT) WHERE id = "
                "(SELECT min(id) FROM visit)")
    con.close()
    assert count > 2
    for argv in (["audit", "verify", "--all"], ["verify"]):
        assert main(["--db", str(path), *argv]) == 1
        out = capsys.readouterr().out
        assert "visit holds text that is not valid UTF-8" in out
        assert "name is '\\udcffA' in the database" in out
        assert "missing from the database" not in out
