"""The one door for every write: a transaction, one audit row per changed field, a result.

Feature services (patients, visits, …) never call ``save()`` themselves; they open
:meth:`Tracker.transaction` and use the :class:`Writer` it yields. When the transaction
commits, listeners (the window) are told which tables changed, once, with a
:class:`Changes` value — so the window refreshes what changed instead of everything.
"""

from __future__ import annotations

import getpass
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import peewee

from gisttracker.errors import UserError
from gisttracker.i18n import _

# The guard of every facade method lives in its own light module (the patient list uses it
# before the ORM is loaded); found here too, where the facades have always imported it.
from gisttracker.services.guard import service as service
from gisttracker.store.db import environment_error
from gisttracker.store.models import AuditLog, Record, new_uid

M = TypeVar("M", bound=Record)
_DB_ERRORS = (peewee.DatabaseError, sqlite3.DatabaseError)
log = logging.getLogger(__name__)


class ServiceError(UserError):
    """A request the rules refuse (bad input, an ineligible patient…). Message is for users."""


class ReasonRequired(ServiceError):
    """The change touches data that may only change with a stated reason."""


class WrongThreadError(RuntimeError):
    """A transaction opened on a thread that must not write (the window's GUI thread).

    A bug, not a user error: the window does every write on its background worker.
    """


def current_user() -> str:
    """Until accounts exist, the operating-system user."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def audit_value(value: object) -> str | None:
    """The JSON text the audit trail stores for ``value`` (None stays NULL)."""
    if value is None:
        return None
    if isinstance(value, date | datetime):
        return json.dumps(value.isoformat())
    if isinstance(value, Decimal):
        return json.dumps(str(value))
    if isinstance(value, Record):
        return json.dumps(value.uid)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@dataclass
class Changes:
    """What one committed transaction changed: table names and record uids."""

    tables: set[str] = field(default_factory=set)
    records: set[str] = field(default_factory=set)

    def touched(self, *tables: str) -> bool:
        return any(t in self.tables for t in tables)


class Writer:
    """Writes inside one transaction, auditing every field it changes."""

    def __init__(self, user: str, at: str, reason: str | None, changes: Changes) -> None:
        self.user = user
        self.at = at
        self.reason = reason
        self.changes = changes

    def _audit(self, action: str, record: Record, name: str, old: object, new: object,
               reason: str | None, patient_uid: str | None) -> None:
        AuditLog.insert(
            at=self.at, user=self.user, action=action,
            table_name=record._meta.table_name, record_uid=record.uid, field=name,
            old_value=audit_value(old), new_value=audit_value(new),
            reason=reason if reason is not None else self.reason, patient_uid=patient_uid,
        ).execute()

    def _note(self, record: Record) -> None:
        self.changes.tables.add(record._meta.table_name)
        self.changes.records.add(record.uid)

    def insert(self, model: type[M], *, patient_uid: str | None = None,
               reason: str | None = None, **values: Any) -> M:
        """Create a record; one audit row per field given a value."""
        record = model(**values)
        record.save(force_insert=True)
        for name in record._meta.sorted_field_names:
            if name in model.audit_exclude:
                continue
            value = getattr(record, f"{name}_id" if _is_fk(model, name) else name)
            if value is not None:
                self._audit("insert", record, name, None, value, reason, patient_uid)
        self._note(record)
        return record

    def insert_many(self, model: type[Record], rows: list[dict[str, Any]], *,
                    patient_uids: list[str | None] | None = None,
                    reason: str | None = None) -> list[str]:
        """Create many records at once (bulk loads, the demo generator); returns their uids.

        Foreign keys are given as ids. Audited exactly like :meth:`insert`: one row per field
        given a value. ``patient_uids[i]`` tags the audit rows of ``rows[i]``.
        """
        table = model._meta.table_name
        why = reason if reason is not None else self.reason
        uids = []
        audit_rows = []
        defaults = {name: f.default for name, f in model._meta.fields.items()
                    if f.default is not None and name != "uid"}
        for i, row in enumerate(rows):
            row.setdefault("uid", new_uid())
            for name, default in defaults.items():
                if name not in row:
                    row[name] = default() if callable(default) else default
            uids.append(row["uid"])
            patient_uid = patient_uids[i] if patient_uids else None
            for name, value in row.items():
                if name in model.audit_exclude or value is None:
                    continue
                audit_rows.append((self.at, self.user, "insert", table, row["uid"], name, None,
                                   audit_value(value), why, patient_uid))
        # Bulk path: one prepared statement per table run with executemany. peewee's own
        # insert_many spends most of its time building SQL text row by row.
        db = model._meta.database
        if rows:
            names = sorted({name for row in rows for name in row})
            fields = [model._meta.fields[name] for name in names]
            sql = "INSERT INTO {} ({}) VALUES ({})".format(
                table, ", ".join(f'"{f.column_name}"' for f in fields),
                ", ".join("?" for _f in fields))
            params = [[f.db_value(row.get(f.name)) for f in fields] for row in rows]
            db.cursor().executemany(sql, params)
        if audit_rows:
            db.cursor().executemany(
                "INSERT INTO audit_log (at, user, action, table_name, record_uid, field, "
                "old_value, new_value, reason, patient_uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                audit_rows)
        if rows:
            self.changes.tables.add(table)
            self.changes.records.update(uids)
        return uids

    def update_many(self, model: type[Record],
                    updates: list[tuple[int, str, str | None, dict[str, tuple[Any, Any]]]], *,
                    reason: str | None = None) -> None:
        """Change many records at once; each update is ``(id, uid, patient_uid, changes)``
        with ``changes`` mapping a field to ``(old, new)``. Audited like :meth:`update`."""
        table = model._meta.table_name
        why = reason if reason is not None else self.reason
        db = model._meta.database
        by_fields: dict[tuple[str, ...], list[list[Any]]] = {}
        audit_rows = []
        for record_id, uid, patient_uid, changes in updates:
            names = tuple(sorted(changes))
            fields = [model._meta.fields[name] for name in names]
            by_fields.setdefault(names, []).append(
                [f.db_value(changes[f.name][1]) for f in fields] + [record_id])
            for name in names:
                old, new = changes[name]
                audit_rows.append((self.at, self.user, "update", table, uid, name,
                                   audit_value(old), audit_value(new), why, patient_uid))
        for names, params in by_fields.items():
            columns = ", ".join(f'"{model._meta.fields[n].column_name}" = ?' for n in names)
            db.cursor().executemany(f"UPDATE {table} SET {columns} WHERE id = ?", params)
        if audit_rows:
            db.cursor().executemany(
                "INSERT INTO audit_log (at, user, action, table_name, record_uid, field, "
                "old_value, new_value, reason, patient_uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                audit_rows)
            self.changes.tables.add(table)
            self.changes.records.update(uid for _i, uid, _p, _c in updates)

    def update(self, record: M, changes: dict[str, Any], *, patient_uid: str | None = None,
               reason: str | None = None, require_reason: bool = False) -> list[str]:
        """Change fields of ``record``; returns the names that really changed.

        With ``require_reason`` a change without a reason is refused (:class:`ReasonRequired`)
        before anything is written.
        """
        model = type(record)
        changed: list[tuple[str, object, object]] = []
        for name, new in changes.items():
            if name not in model._meta.fields or name in model.audit_exclude:
                raise ServiceError(_("{field} cannot be changed").format(field=name))
            attr = f"{name}_id" if _is_fk(model, name) else name
            old = getattr(record, attr)
            new_value = (getattr(new, "id", new) if isinstance(new, Record)
                         and attr.endswith("_id") else new)
            if old != new_value:
                changed.append((name, old, new_value))
        if not changed:
            return []
        why = reason if reason is not None else self.reason
        if require_reason and not (why and why.strip()):
            raise ReasonRequired(_("a reason is required to change data already completed"))
        for name, old, new_value in changed:
            attr = f"{name}_id" if _is_fk(model, name) else name
            setattr(record, attr, new_value)
            self._audit("update", record, name, old, new_value, reason, patient_uid)
        record.save(only=[model._meta.fields[name] for name, _o, _n in changed])
        self._note(record)
        return [name for name, _o, _n in changed]

    def delete(self, record: Record, *, patient_uid: str | None = None,
               reason: str | None = None) -> None:
        """Remove a record; its last values stay in the audit trail."""
        model = type(record)
        for name in record._meta.sorted_field_names:
            if name in model.audit_exclude:
                continue
            value = getattr(record, f"{name}_id" if _is_fk(model, name) else name)
            if value is not None:
                self._audit("delete", record, name, value, None, reason, patient_uid)
        record.delete_instance()
        self._note(record)


def _is_fk(model: type[Record], name: str) -> bool:
    return isinstance(model._meta.fields.get(name), peewee.ForeignKeyField)


Listener = Callable[[Changes], None]


class Tracker:
    """The facade over one open site database: services hang off it, writes go through it.

    ``clock`` gives the audit timestamps (UTC); tests pass a fixed one.
    """

    def __init__(self, db: peewee.SqliteDatabase, *, user: str | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self.user = user or current_user()
        self._clock = clock or (lambda: datetime.now(UTC))
        # Why this database may not be written (read-only copy, network share), else None.
        self.read_only: str | None = None
        self._listeners: list[Listener] = []
        self._refused_thread: threading.Thread | None = None
        # The open transaction of each thread: the window's worker and a command's main
        # thread must never share a Writer (its reason, time and changes are per unit of work).
        self._local = threading.local()

    @property
    def _open(self) -> tuple[Writer, int] | None:
        value: tuple[Writer, int] | None = getattr(self._local, "open", None)
        return value

    @_open.setter
    def _open(self, value: tuple[Writer, int] | None) -> None:
        self._local.open = value

    def now(self) -> datetime:
        return self._clock()

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with a :class:`Changes` after every committed transaction."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Stop calling ``listener`` (a window that closes its site)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def refuse_writes_on(self, thread: threading.Thread | None) -> None:
        """Refuse (:class:`WrongThreadError`) every transaction opened on ``thread``: the
        window's GUI thread, whose writes belong on its background worker. None lifts it."""
        self._refused_thread = thread

    @contextmanager
    def transaction(self, reason: str | None = None) -> Iterator[Writer]:
        """One unit of work: everything inside commits together or not at all."""
        if self._refused_thread is not None \
                and threading.current_thread() is self._refused_thread:
            raise WrongThreadError(
                "a transaction was opened on the window's GUI thread; database writes run "
                "on the background worker (ui.tasks.TaskManager)")
        if self.read_only:
            from gisttracker.store.db import ReadOnlyError

            raise ReadOnlyError(self.read_only)
        if self._open is not None:
            # Nested: a savepoint inside the caller's transaction; the outermost one reports.
            writer, depth = self._open
            self._open = (writer, depth + 1)
            try:
                with self.db.atomic():
                    yield writer
            finally:
                self._open = (writer, depth)
            return
        changes = Changes()
        at = self.now().astimezone(UTC).isoformat(timespec="seconds")
        writer = Writer(self.user, at, reason, changes)
        self._open = (writer, 1)
        try:
            with self.db.atomic():
                yield writer
        except _DB_ERRORS as exc:
            # A full disk, a lock held elsewhere, a read-only file: the user's message, not
            # SQLite's (nor the "cannot rollback" that follows a failed COMMIT).
            known = environment_error(exc, self.db.database)
            if known is None:
                raise
            raise known from exc
        finally:
            self._open = None
        if changes.tables:
            # What changed, never the values or the reason typed (they may name a patient).
            log.info("saved %d records in %s", len(changes.records),
                     ", ".join(sorted(changes.tables)))
            for listener in list(self._listeners):
                listener(changes)
