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

    rows = list(AuditLog.select().where(AuditLog.field == "value").order_by(AuditLog.id))
    assert [(r.action, r.old_value, r.new_value) for r in rows] == [
        ("insert", None, json.dumps("ZJU")),
        ("update", json.dumps("ZJU"), json.dumps("FJC")),
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
    assert {(r.field, r.new_value) for r in rows} == {
        ("key", '"site_name"'), ("value", '"Hangzhou"'), ("key", '"paper"'),
        ("value", '"letter"')}
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
