"""Every write goes through the service layer and leaves one audit row per changed field."""

from __future__ import annotations

import ast
import json
import threading
from pathlib import Path

import peewee
import pytest

from gisttracker.services.base import ReasonRequired, ServiceError
from gisttracker.services.settings import SettingsService
from gisttracker.session import Session
from gisttracker.store.models import AuditLog, Setting
from tests.helpers import FIXED_NOW

ROOT = Path(__file__).resolve().parents[2]


def test_change_is_audited_with_who_when_old_new_and_reason(session: Session) -> None:
    settings = SettingsService(session.tracker)
    settings.set("site_code", "ZJU")
    settings.set("site_code", "FJC", reason="site code mistyped at installation")

    rows = list(AuditLog.select().where(AuditLog.table_name == "setting")
                .order_by(AuditLog.id))
    # The insert is one entry with every value; the change one entry for the changed field.
    assert [(r.action, r.field, r.old_value, r.new_value, r.version) for r in rows] == [
        ("insert", None, None, json.dumps({"key": "site_code", "value": "ZJU"},
                                          separators=(",", ":"), sort_keys=True), 1),
        ("update", "value", json.dumps("ZJU"), json.dumps("FJC"), 2),
    ]
    update = rows[1]
    assert update.user == "nurse"
    assert update.at == FIXED_NOW.isoformat(timespec="seconds")
    assert update.reason == "site code mistyped at installation"
    assert update.table_name == "setting"
    assert update.record_uid == Setting.get(Setting.key == "site_code").uid
    assert settings.get("site_code") == "FJC"


def test_unchanged_value_writes_no_audit_row(session: Session) -> None:
    settings = SettingsService(session.tracker)
    settings.set("paper", "letter")
    count = AuditLog.select().count()
    settings.set("paper", "letter")
    assert AuditLog.select().count() == count


def test_invalid_setting_is_refused_and_nothing_changes(session: Session) -> None:
    settings = SettingsService(session.tracker)
    settings.set("site_code", "ZJU")
    count = AuditLog.select().count()
    with pytest.raises(ServiceError, match="Site code"):
        settings.set("site_code", "zju-1")
    assert settings.get("site_code") == "ZJU"
    assert AuditLog.select().count() == count


def test_failed_transaction_leaves_neither_data_nor_audit(session: Session) -> None:
    count = AuditLog.select().count()
    with pytest.raises(RuntimeError), session.tracker.transaction() as w:
        w.insert(Setting, key="site_name", value="Hangzhou")
        raise RuntimeError("power cut in the middle")
    assert Setting.get_or_none(Setting.key == "site_name") is None
    assert AuditLog.select().count() == count


def test_change_requiring_reason_is_refused_without_one(session: Session) -> None:
    with session.tracker.transaction() as w:
        row = w.insert(Setting, key="site_name", value="Hangzhou")
    with pytest.raises(ReasonRequired), session.tracker.transaction() as w:
        w.update(row, {"value": "Fuzhou"}, require_reason=True)
    assert Setting.get(Setting.key == "site_name").value == "Hangzhou"


def test_listeners_hear_once_per_committed_transaction(session: Session) -> None:
    heard = []
    session.tracker.subscribe(heard.append)
    with session.tracker.transaction() as w:
        w.insert(Setting, key="site_name", value="A")
        with session.tracker.transaction() as inner:
            inner.insert(Setting, key="language", value="en")
    assert len(heard) == 1
    assert heard[0].tables == {"setting"}


def test_audit_trail_cannot_be_updated_or_deleted(session: Session) -> None:
    SettingsService(session.tracker).set("site_code", "ZJU")
    with pytest.raises(peewee.IntegrityError, match="append-only"):
        AuditLog.update(user="someone else").execute()
    with pytest.raises(peewee.IntegrityError, match="append-only"):
        AuditLog.delete().execute()
    for table in ("audit_entry", "audit_txn", "audit_record"):
        with pytest.raises(peewee.IntegrityError, match="append-only"):
            session.db.execute_sql(f"UPDATE {table} SET id = id")
        with pytest.raises(peewee.IntegrityError, match="append-only"):
            session.db.execute_sql(f"DELETE FROM {table}")
    assert AuditLog.select().where(AuditLog.user == "nurse").count() > 0


# Writes on a record instance, whatever its name...
INSTANCE_WRITES = {"save", "delete_instance"}
# ...and writes on a model class (capitalised name, e.g. Patient.create). A lower-case
# receiver such as the service Writer `w.insert(...)` is the sanctioned path.
CLASS_WRITES = {"create", "insert", "insert_many", "insert_from", "bulk_create", "bulk_update",
                "get_or_create", "update", "delete", "replace"}
ALLOWED = ("gisttracker/services/", "gisttracker/store/")


def test_nothing_writes_to_the_database_around_the_service_layer() -> None:
    offenders = []
    for folder in ("gisttracker", "ui"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(ALLOWED):
                continue
            source = path.read_text(encoding="utf-8")
            lines = source.splitlines()
            for node in ast.walk(ast.parse(source)):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                if node.func.attr in ("execute_sql", "execute", "executemany") and node.args:
                    first = node.args[0]
                    text = first.value if isinstance(first, ast.Constant) else ""
                    if isinstance(text, str) and text.lstrip().upper().startswith(
                            ("INSERT", "UPDATE", "DELETE", "REPLACE")):
                        offenders.append(f"{rel}:{node.lineno} raw SQL write")
                receiver = node.func.value
                on_class = isinstance(receiver, ast.Name) and receiver.id[:1].isupper()
                if ((node.func.attr in INSTANCE_WRITES
                     or (on_class and node.func.attr in CLASS_WRITES))
                        # A same-named method of something else (a canvas, an image) is
                        # marked on its line; super() calls are never models.
                        and "not a database write" not in lines[node.lineno - 1]
                        and not (isinstance(node.func.value, ast.Call)
                                 and getattr(node.func.value.func, "id", "") == "super")):
                    offenders.append(f"{rel}:{node.lineno} .{node.func.attr}()")
    assert offenders == []


def test_bulk_insert_is_audited_like_single_inserts(session: Session) -> None:
    with session.tracker.transaction("initial load") as w:
        uids = w.insert_many(Setting, [{"key": "site_name", "value": "Hangzhou"},
                                       {"key": "paper", "value": "letter"}],
                             patient_uids=[None, None])
    assert len(set(uids)) == 2
    rows = list(AuditLog.select().where(AuditLog.record_uid.in_(uids)).order_by(AuditLog.id))
    assert [json.loads(r.new_value) for r in rows] == [
        {"key": "site_name", "value": "Hangzhou"}, {"key": "paper", "value": "letter"}]
    assert {r.reason for r in rows} == {"initial load"}
    assert {r.action for r in rows} == {"insert"}


def test_transactions_of_two_threads_never_share_a_writer(session: Session) -> None:
    """The window's worker and another thread each get their own unit of work: a change on
    one thread is never audited with the other's reason or time."""
    started, release = threading.Event(), threading.Event()
    seen: dict[str, str | None] = {}

    def slow() -> None:
        with session.tracker.transaction("reason of the worker") as w:
            seen["worker"] = w.reason
            started.set()
            release.wait(5)

    worker = threading.Thread(target=slow)
    worker.start()
    assert started.wait(5)
    # Meanwhile this thread is outside any transaction: it must not join the worker's.
    assert session.tracker._open is None
    release.set()
    worker.join(5)
    SettingsService(session.tracker).set("site_name", "Hangzhou", reason="own reason")
    rows = list(AuditLog.select().where(AuditLog.table_name == "setting"))
    assert {r.reason for r in rows} == {"own reason"}
    assert seen["worker"] == "reason of the worker"


def test_the_chain_encodes_entries_exactly_as_json_dumps_does() -> None:
    """The fast encoder of the chain must give the documented text, byte for byte."""
    from gisttracker.store.chain import _ENCODE

    samples = [
        [1, "2026-03-14T09:30:00+00:00", "nora", "insert", "visit", "ab" * 16, None,
         '["name","seq"]', None, '["Month 3 · 随访",0.1]', "demo data", None, 1],
        [2**53, "", "(site setup)", "update", "lab_result", "u-l1", "value", None, "30.0",
         "1e-07", 'quote " and \\ backslash', "u-p1", 7],
        [3, "t", "u", "delete", "t", "u", None, None, '{"a":true}', None, "\u2028\n\t", None,
         2, 1.5, -0.0, 123456789.123],
    ]
    for entry in samples:
        assert _ENCODE(entry) == json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


def test_entries_written_elsewhere_join_the_chain_with_their_own_who_when_and_why(
        session: Session) -> None:
    """A centre appends a site's entries between its own: each run is an audit_txn of its
    own, a savepoint rolled back takes its entries (own and foreign) with it, the records'
    versions follow the trail, and the whole still verifies."""
    from gisttracker.services.audit import verify

    settings = SettingsService(session.tracker)
    settings.set("site_code", "ZJU")
    record = Setting.get(Setting.key == "site_code")
    site_at = "2026-01-05T08:00:00+00:00"
    before = session.db.execute_sql("SELECT count(*) FROM audit_txn").fetchone()[0]
    with session.tracker.transaction("site package imported") as w:
        w.update(record, {"value": "CEN"})
        # What a site's package brings: a change of the same record (two fields, one
        # change), by the site's nurse, at the site's time.
        assert w.append_foreign([
            (site_at, "nurse@ZJU", "update", "setting", record.uid, "value", '"CEN"',
             '"ZJU2"', "site correction", None),
            (site_at, "nurse@ZJU", "update", "setting", record.uid, "key", '"site_code"',
             '"site_code"', "site correction", None),
        ]) == 2
        session.db.execute_sql("UPDATE setting SET value = 'ZJU2' WHERE uid = ?",
                               (record.uid,))
        with pytest.raises(RuntimeError), session.tracker.transaction():
            w.append_foreign([(site_at, "li@ZJU", "update", "setting", record.uid, "value",
                               '"ZJU2"', '"lost"', None, None)])
            raise RuntimeError("the savepoint is rolled back")
        w.update(Setting.get(Setting.uid == record.uid), {"value": "CEN2"})
    rows = list(AuditLog.select().where(AuditLog.record_uid == record.uid)
                .order_by(AuditLog.id))
    assert [(r.user, r.field, r.new_value, r.version) for r in rows] == [
        ("nurse", None, rows[0].new_value, 1), ("nurse", "value", '"CEN"', 2),
        ("nurse@ZJU", "value", '"ZJU2"', 3), ("nurse@ZJU", "key", '"site_code"', 3),
        ("nurse", "value", '"CEN2"', 4)]
    assert (rows[2].at, rows[2].reason) == (site_at, "site correction")
    # Own, foreign, own again: three transactions, in the order of their entries.
    txns = session.db.execute_sql("SELECT id, \"user\", last_entry FROM audit_txn WHERE id > ? "
                                  "ORDER BY id", (before,)).fetchall()
    assert [(user, last) for _i, user, last in txns] == [
        ("nurse", rows[1].id), ("nurse@ZJU", rows[3].id), ("nurse", rows[4].id)]
    assert Setting.get(Setting.uid == record.uid).version == 4
    report = verify(session.db)
    assert report.ok, report.findings
