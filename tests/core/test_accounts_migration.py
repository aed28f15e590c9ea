"""Upgrading a schema-8 site: the old per-field audit rows compacted without losing what
they said, the chain computed, versions set, what the old trail did not explain recorded,
and the clear-text seed sealed and gone from the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gisttracker.services.accounts import AccountService
from gisttracker.services.audit import verify
from gisttracker.services.concealment import Keyring
from gisttracker.services.policy import trusted_actor
from gisttracker.session import open_session
from gisttracker.store.db import connect
from gisttracker.store.migrations import migrate
from gisttracker.store.models import AuditLog
from gisttracker.store.models_accounts import KeyWrap
from tests.core.accounts_helpers import PASSWORD

SEED = "clear-seed-of-schema-five-0123456789"
AT1, AT2 = "2025-05-01T08:00:00+00:00", "2025-06-02T09:15:00+00:00"

OLD_AUDIT = [
    # (at, user, action, table, uid, field, old, new, reason, patient)
    (AT1, "nurse", "insert", "setting", "u-site", "key", None, '"site_code"', None, None),
    (AT1, "nurse", "insert", "setting", "u-site", "value", None, '"ZJU"', None, None),
    (AT1, "nurse", "insert", "patient", "u-p1", "study_key", None, '"NCT03862768"',
     "patient registered", "u-p1"),
    (AT1, "nurse", "insert", "patient", "u-p1", "study_id", None, '"ZJU-0001"',
     "patient registered", "u-p1"),
    (AT1, "nurse", "insert", "patient", "u-p1", "site_code", None, '"ZJU"',
     "patient registered", "u-p1"),
    (AT1, "nurse", "insert", "patient", "u-p1", "seq", None, "1", "patient registered",
     "u-p1"),
    (AT1, "nurse", "insert", "patient", "u-p1", "sex", None, '"female"', "patient registered",
     "u-p1"),
    (AT1, "nurse", "insert", "patient", "u-p1", "status", None, '"screened"',
     "patient registered", "u-p1"),
    (AT1, "nurse", "insert", "patient", "u-p1", "created_on", None, '"2025-05-01"',
     "patient registered", "u-p1"),
    (AT1, "nurse", "insert", "lab_result", "u-l1", "patient", None, "1", None, "u-p1"),
    (AT1, "nurse", "insert", "lab_result", "u-l1", "analyte", None, '"alt"', None, "u-p1"),
    (AT1, "nurse", "insert", "lab_result", "u-l1", "value", None, "30.0", None, "u-p1"),
    (AT1, "nurse", "insert", "lab_result", "u-l1", "unit", None, '"U/L"', None, "u-p1"),
    (AT2, "li", "insert", "randomization_seed", "u-seed", "study_key", None,
     '"NCT03862768"', "enrollment", None),
    (AT2, "li", "insert", "randomization_seed", "u-seed", "seed", None, json.dumps(SEED),
     "enrollment", None),
    (AT2, "li", "insert", "randomization_seed", "u-seed", "created_at", None, json.dumps(AT2),
     "enrollment", None),
    (AT2, "li", "insert", "randomization_seed", "u-seed", "created_by", None, '"li"',
     "enrollment", None),
    (AT2, "li", "update", "patient", "u-p1", "sex", '"female"', '"male"', "sex mistyped",
     "u-p1"),
    (AT2, "li", "update", "patient", "u-p1", "status", '"screened"', '"enrolled"',
     "sex mistyped", "u-p1"),
    (AT2, "li", "delete", "lab_result", "u-l1", "analyte", '"alt"', None, "duplicate", "u-p1"),
    (AT2, "li", "delete", "lab_result", "u-l1", "value", "30.0", None, "duplicate", "u-p1"),
]


def _old_site(path: Path) -> None:
    db = connect(path)
    assert migrate(db, target=8) == 8
    db.execute_sql("INSERT INTO setting (uid, key, value) VALUES ('u-site', 'site_code', "
                   "'ZJU')")
    # The patient: its sex changed without an audit row (nothing protected the file then).
    db.execute_sql("INSERT INTO patient (id, uid, study_key, study_id, site_code, seq, sex, "
                   "status, created_on) VALUES (1, 'u-p1', 'NCT03862768', 'ZJU-0001', 'ZJU', "
                   "1, 'female', 'enrolled', '2025-05-01')")
    # A record that never had an audit row.
    db.execute_sql("INSERT INTO anchor_date (uid, patient_id, anchor_key, date) VALUES "
                   "('u-a1', 1, 'randomization', '2025-06-02')")
    db.execute_sql("INSERT INTO randomization_seed (uid, study_key, seed, created_at, "
                   f"created_by) VALUES ('u-seed', 'NCT03862768', '{SEED}', '{AT2}', 'li')")
    db.cursor().executemany(
        "INSERT INTO audit_log (at, user, action, table_name, record_uid, field, old_value, "
        "new_value, reason, patient_uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", OLD_AUDIT)
    db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    assert SEED.encode() in path.read_bytes()


@pytest.mark.sqlite_only(
    "upgrades a file from an older schema; a server database is made at the latest")
def test_upgrade_compacts_chains_and_seals(tmp_path: Path) -> None:
    path = tmp_path / "site.db"
    _old_site(path)
    s = open_session(path, user="nurse")
    try:
        report = verify(s.db)
        assert report.ok, report.findings
        # Nothing the old rows said is lost: an insert is one entry with all its values,
        # changes keep their old, new, who, when and why, the delete its last values.
        entries = list(AuditLog.select().where(AuditLog.record_uid == "u-p1").order_by(
            AuditLog.id))
        assert [(e.action, e.field, e.user, e.at) for e in entries] == [
            ("insert", None, "nurse", AT1), ("update", "sex", "li", AT2),
            ("update", "status", "li", AT2), ("update", "sex", "(upgrade to schema 9)",
                                              entries[3].at)]
        assert json.loads(entries[0].new_value) == {
            "study_key": "NCT03862768", "study_id": "ZJU-0001", "site_code": "ZJU", "seq": 1,
            "sex": "female", "status": "screened", "created_on": "2025-05-01"}
        assert (entries[1].old_value, entries[1].new_value, entries[1].reason) == (
            '"female"', '"male"', "sex mistyped")
        # ...and what the old trail did not explain is recorded, saying so.
        assert (entries[3].old_value, entries[3].new_value) == ('"male"', '"female"')
        assert "not explained by the earlier audit trail" in entries[3].reason
        assert s.db.execute_sql("SELECT version FROM patient").fetchone() == (3,)
        lab = list(AuditLog.select().where(AuditLog.record_uid == "u-l1").order_by(AuditLog.id))
        assert [e.action for e in lab] == ["insert", "delete"]
        assert json.loads(lab[1].old_value) == {"analyte": "alt", "value": 30.0}
        # An entry keeps the id of the last old row it holds, so an audit id recorded before
        # the upgrade (a package's range, a centre's mark) falls between the same entries.
        assert [e.id for e in AuditLog.select().order_by(AuditLog.id)][:7] == [
            2, 9, 13, 17, 18, 19, 21]
        anchor = AuditLog.get(AuditLog.record_uid == "u-a1")
        assert (anchor.action, anchor.user) == ("insert", "(upgrade to schema 9)")
        # The seed: sealed, committed to, gone from the file and from the trail.
        seed_rows = list(AuditLog.select().where(AuditLog.record_uid == "u-seed"))
        assert all(SEED not in (e.new_value or "") for e in seed_rows)
        assert json.loads(seed_rows[0].new_value)["commitment"] == s.db.execute_sql(
            "SELECT commitment FROM randomization_seed").fetchone()[0]
        s.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        assert SEED.encode() not in path.read_bytes()
        # The verified backup written before the upgrade is the file as it was (clear seed
        # included: the administrator deletes it once the upgrade is checked), owner-only.
        (backup,) = (path.parent / "backups").iterdir()
        assert backup.name.startswith("site.schema-8-") and backup.stat().st_mode & 0o077 == 0
        assert SEED.encode() in backup.read_bytes()
        # Still reproducible: the open key (no accounts yet) opens it...
        assert KeyWrap.get(KeyWrap.account.is_null()).wrapped.startswith("open:")
        assert Keyring(s.tracker).seed("NCT03862768") == SEED
        # ...until the administrator exists: then only their password does.
        s.tracker.sign_out()
        AccountService(s.tracker).create_first_administrator("ada", "Ada Admin", PASSWORD)
        assert Keyring(s.tracker).seed("NCT03862768") == SEED
        assert not KeyWrap.select().where(KeyWrap.account.is_null()).exists()
        s.tracker.sign_in(trusted_actor("script"))
        assert verify(s.db).ok
    finally:
        s.close()
