"""The one door for every write: a transaction, an audited change, a result.

Feature services (patients, visits, …) never call ``save()`` themselves; they open
:meth:`Tracker.transaction` and use the :class:`Writer` it yields. When the transaction
commits, listeners (the window) are told which tables changed, once, with a
:class:`Changes` value — so the window refreshes what changed instead of everything.

What every write gets here, whoever wrote the service:

* **Who.** The transaction acts for the tracker's :class:`~gisttracker.services.policy.Actor`
  (a signed-in account; see :mod:`gisttracker.services.policy` for the two kinds that are
  code, not people). Each write is checked against the policy table
  (:func:`~gisttracker.services.policy.write_permissions`) before anything is written.
* **The write lock first.** The outermost transaction starts with ``BEGIN IMMEDIATE``, so
  it waits (up to the busy timeout) for another writer instead of failing half-way when a
  read lock cannot be upgraded; if the lock does not clear,
  :class:`~gisttracker.store.db.DatabaseLockedError` says so and nothing is written. On a
  PostgreSQL server writers overlap instead: the chain's lock is taken at the commit
  (:meth:`Writer._settle`, which says why that is safe).
* **Old values from inside the transaction.** A change reads the row's current values and
  version after taking the lock: the audit trail's old value is what was really there.
* **No lost updates.** Every record has a ``version``. A change or delete of a record whose
  version is no longer the one the caller saw — the instance it loaded, ``expected_version``,
  or what :meth:`Tracker.expect` says a form showed — is refused with
  :class:`StaleRecordError`, which says who changed what meanwhile.
* **Signed data is locked.** A write under a signature (the patient's casebook, a visit or
  a form) is refused with :class:`RecordLocked` until an investigator unlocks it.
* **A compact, chained audit trail** (schema 9, :class:`gisttracker.store.models.AuditLog`):
  one ``audit_txn`` per transaction (who, when, why), one entry per insert carrying all its
  values, one per changed field (old, new, reason), one per delete carrying the last values;
  each entry's hash chains it to the one before (:mod:`gisttracker.store.chain`). A delete
  follows the database's ``ON DELETE CASCADE`` / ``SET NULL`` rules itself first, so rows
  removed or changed by a cascade are audited too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from itertools import chain as chain_values
from json.encoder import encode_basestring
from typing import Any, TypeVar, cast

import peewee

from gisttracker.errors import UserError
from gisttracker.field_labels import field_label, field_unit, table_label
from gisttracker.i18n import _

# The guard of every facade method lives in its own light module (the patient list uses it
# before the ORM is loaded); found here too, where the facades have always imported it.
from gisttracker.services.guard import service as service
from gisttracker.services.policy import (
    Actor,
    Permission,
    describe,
    trusted_actor,
    write_permissions,
)
from gisttracker.store.chain import (
    _ENCODE,
    ACTIONS,
    CODES,
    TAG_BYTES,
    ZERO_HASH,
    key_uid,
    step,
    uid_key,
)
from gisttracker.store.db import environment_error
from gisttracker.store.introspect import Schema, audited_models, sql_value, stored
from gisttracker.store.models import Record, new_uid
from gisttracker.store.server import APPEND_ONLY, WRITE_LOCK, ServerDatabase, is_server_db

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


class PermissionDenied(ServiceError):
    """The signed-in account's role does not allow this."""


class NotSignedIn(PermissionDenied):
    """Nobody is signed in (the window before sign-in, a session opened without a user)."""


class ConcurrentWriteError(ServiceError):
    """Another workstation saved a change that collides with this one at the same moment
    (on a server: the same new record, a signature over this data, a deadlock). Nothing of
    this change was saved; trying again sees the other's change."""


class RecordLocked(ServiceError):
    """The data is under an electronic signature; unlock it (with a reason) to change it."""


@dataclass(frozen=True)
class ChangeNote:
    """One change someone else made: from the audit trail."""

    at: str
    user: str
    action: str
    field: str | None
    old_value: str | None
    new_value: str | None
    reason: str | None


class StaleRecordError(ServiceError):
    """A save based on an older version of a record than the one now stored.

    ``changes`` lists what happened since (who, when, which field, old → new, why); the
    window offers to reload. Nothing was written.
    """

    def __init__(self, message: str, *, table: str, record_uid: str,
                 expected_version: int | None, current_version: int | None,
                 changes: Sequence[ChangeNote] = ()) -> None:
        super().__init__(message)
        self.table = table
        self.record_uid = record_uid
        self.expected_version = expected_version
        self.current_version = current_version
        self.changes = tuple(changes)





def audit_value(value: object) -> str | None:
    """The JSON text the audit trail stores for ``value`` (None stays NULL)."""
    if value is None:
        return None
    return _dumps(_plain(value))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Record):
        return value.uid
    if isinstance(value, bytes):
        return value.hex()
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def secret_digest(value: Any) -> str:
    """How the audit trail records a secret column: a SHA-256 digest of the stored text."""
    text = "" if value is None else str(value)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Changes:
    """What one committed transaction changed: table names and record uids."""

    tables: set[str] = field(default_factory=set)
    records: set[str] = field(default_factory=set)
    # The audit_txn ids it wrote (gisttracker.services.watch tells others' from one's own).
    txns: set[int] = field(default_factory=set)
    # True when another workstation or program made the change (the watch found it).
    elsewhere: bool = False

    def touched(self, *tables: str) -> bool:
        return any(t in self.tables for t in tables)


# Tables a signature never locks: the signatures themselves, the monitor's and the
# administrator's work, and bookkeeping.
LOCK_EXEMPT = frozenset({"signature", "source_verification", "data_query", "account",
                         "key_wrap", "setting", "security_event", "randomization_seed",
                         "demo_run", "exchange_site", "exchange_package",
                         "exchange_conflict"})
# Scopes a signature can lock, and the table whose row is the scope's target.
SCOPE_TABLES = {"casebook": "patient", "visit": "visit", "form": "form"}


@dataclass
class _Segment:
    """One audit_txn being written: who, when, why, and where its entries end so far."""

    txn: int
    at: str
    user: str
    reason: str | None
    own: bool
    last: int | None = None
    hash: bytes | None = None


def _column(columns: set[str], name: str) -> str:
    """The column an audit row's field names (before schema 9 a reference was named by its
    field: ``patient`` for ``patient_id``)."""
    if name not in columns and f"{name}_id" in columns:
        return f"{name}_id"
    return name


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _foreign_runs(rows: Iterable[Sequence[Any]]) -> Iterator[list[Sequence[Any]]]:
    """Consecutive rows of one change of one record (same who, when, why, action, record);
    each insert or delete given as one object row is a run of its own."""
    run: list[Sequence[Any]] = []
    key: tuple[Any, ...] | None = None
    for row in rows:
        if row[5] is None and row[2] != "update":
            # A whole object (most of a site's trail): a run of its own, no key to compare.
            if run:
                yield run
                run, key = [], None
            yield [row]
            continue
        this = (row[0], row[1], row[2], row[3], row[4], row[8])
        if run and this != key:
            yield run
            run = []
        key = this
        run.append(row)
    if run:
        yield run


# audit_entry rows per statement of a bulk append (_flush_bulk): 11 values each, within
# the 999 parameters of SQLite before 3.32.
_BULK_ROWS = 90
_ENTRY_SQL = ("INSERT INTO audit_entry (id, txn, record, action, field, shape, old_value, "
              "new_value, reason, version, tag) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_ENTRIES_SQL = (_ENTRY_SQL.split(" VALUES ")[0] + " VALUES "
                + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * _BULK_ROWS))
# The scanner json.loads uses (CPython's C one where there is one), called directly.
_SCAN: Callable[[str, int], tuple[Any, int]] = cast(Any, json.JSONDecoder()).scan_once
# How the chain's JSON quotes a text (the function its encoder calls: :data:`_ENCODE`).
_QUOTE = encode_basestring


def _decoded(text: Any) -> Any:
    """``json.loads(text)``: the same value, or the same error, without the call's overhead
    (whitespace skipped by regular expression, a decoder's method calls). A centre decodes
    every object of a site's trail, 100,000s of them: the scanner takes a JSON text that
    starts and ends with its value whole; json.loads itself anything else."""
    try:
        value, end = _SCAN(text, 0)
    except (StopIteration, ValueError, TypeError):
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value


def _local_ref(ids: Mapping[int, int], value: Any) -> Any:
    """A reference as another file gives it (its id of the record) as this file's id of the
    same record; None where this file does not have it."""
    if value is None or isinstance(value, bool):
        return value
    try:
        return ids.get(int(value))
    except (TypeError, ValueError):
        return None


def _foreign_row(row: Sequence[Any],
                 refs: Mapping[str, Mapping[str, Mapping[int, int]]]) -> Sequence[Any]:
    """A row of another file's trail with its references as this file's ids (see
    :meth:`Writer.append_foreign`): the value of a reference field, or the reference columns
    inside an insert's (delete's) object — handed on decoded, not encoded again only to be
    decoded by :meth:`Writer._append_run`."""
    fields = refs.get(row[3])
    if not fields:
        return row
    field_name = row[5]
    if field_name is not None:
        ids = fields.get(field_name)
        if ids is None:
            return row
        old, new = (None if v is None else json.dumps(_local_ref(ids, json.loads(v)))
                    for v in (row[6], row[7]))
        return (*row[:6], old, new, *row[8:])
    # An insert carries its values as new_value, a delete as old_value; the other is empty.
    index = 7 if row[7] else 6
    text = row[index]
    values = text if isinstance(text, dict) else json.loads(text) if text else None
    if not isinstance(values, dict):
        return row
    for column, ids in fields.items():
        if column in values:
            values[column] = _local_ref(ids, values[column])
    return (*row[:index], values, *row[index + 1:])


class Writer:
    """Writes inside one transaction, checked against the policy, audited and chained."""

    def __init__(self, tracker: Tracker, actor: Actor, at: str, reason: str | None,
                 changes: Changes) -> None:
        self.tracker = tracker
        self.db = tracker.db
        self.actor = actor
        self.user = actor.name
        self.at = at
        self.reason = reason
        self.changes = changes
        self.schema = tracker.schema
        # Versions of the records this transaction changed, as they were before its first
        # change: a second instance of the same row loaded earlier in this unit of work is
        # not stale because of our own change.
        self.base_versions: dict[str, int] = {}
        self.new_versions: dict[str, int] = {}
        self._begun: tuple[int, int, bytes] | None = None
        self._segments: list[_Segment] = []
        # On a server the chain lock is taken late (see :meth:`_settle`): until then every
        # audit entry waits here, as the arguments of :meth:`_emit`, unchained.
        self.late = is_server_db(self.db)
        self._queue: list[tuple[Any, ...]] = []
        # Values some inserted records take at the commit, under the chain lock (at_settle).
        self._at_settle: list[tuple[Record, str, Sequence[Any],
                                    Callable[[Sequence[Any]], dict[str, Any]]]] = []
        self._late_updates: list[tuple[str, list[Any]]] = []
        # On a server: ids taken for this transaction with its BEGIN (Tracker.transaction's
        # ``reserve``), by table, and the records inserted with them whose INSERT waits for
        # the commit (insert_at_commit).
        self._reserved: dict[str, list[int]] = {}
        self._deferred: list[Record] = []
        self._chain_locked = False
        # What the settle started from (the queue and at_settle): a savepoint that began
        # before it and is rolled back returns the writer to it (rollback_to).
        self._settled: tuple[list[tuple[Any, ...]], list[Any]] = ([], [])
        # The highest signature id the first lock check saw, and where the queue stood then
        # (a signature made elsewhere after it must refuse this transaction; see _settle).
        self._signature_mark: int | None = None
        self._signature_queued = 0
        self._signature_any = False  # whether any signature existed at the mark
        self._lock_targets: set[tuple[str, str]] = set()  # (scope, uid) checked
        self._lock_checked = False  # whether a write here was checked against signatures
        self._reset_cache()

    # ----- audit trail plumbing ----------------------------------------------------------
    def _reset_cache(self) -> None:
        """Forget what was read or cached of the audit tables (a savepoint rolled back).
        What the transaction started from (its id, first entry id and chain value) stays:
        it depends only on what was committed before."""
        self._chain: bytes | None = None  # the full chain value after the last entry
        self._last_entry: int | None = None
        self._next_record: int | None = None
        self._records: dict[str, tuple[int, str | None]] = {}
        self._shapes: dict[tuple[str, str], int] | None = None
        self._shapes_cached = False
        self._replaying = False
        # (table, an object's keys in its order) -> (the sorted names, the shape's
        # columns text, its id, whether the keys were sorted already), for objects
        # without nulls: an import meets the same few hundred shapes 100,000s of times.
        self._shape_of: dict[tuple[str, tuple[str, ...]],
                             tuple[tuple[str, ...], str, int, bool]] = {}
        self._signed: bool | None = None
        self._pending_records: list[tuple[int, str, bytes, int | None]] = []
        self._pending_shapes: list[tuple[int, str, str]] = []
        self._pending_entries: list[tuple[Any, ...]] = []
        self._versions: dict[str, int] = {}  # record uid -> its last audited version
        # audit_record id -> its last version, of every record audited before, when read
        # at once (:meth:`remember_versions`); None: look each up when needed.
        self._ref_versions: dict[int, int] | None = None
        # Every record audited so far is in _records (read at once, see remember_versions):
        # a uid not there is new, with nothing to look up.
        self._records_complete = False

    def _start(self) -> tuple[int, int, bytes]:
        """(first transaction id, first entry id, the chain value before), read once."""
        if self._begun is None:
            last_txn = self.db.execute_sql(
                "SELECT id, hash FROM audit_txn WHERE id = (SELECT max(id) FROM audit_txn)"
            ).fetchone()
            last_entry = self.db.execute_sql("SELECT max(id) FROM audit_entry").fetchone()[0]
            self._begun = (int(last_txn[0]) + 1 if last_txn else 1, int(last_entry or 0) + 1,
                           bytes(last_txn[1]) if last_txn else ZERO_HASH)
        return self._begun

    def _segment(self, at: str, user: str, reason: str | None, own: bool) -> _Segment:
        """The audit_txn the next entry belongs to: the current one if it is the same who,
        when and why (and both are this transaction's own, or both foreign), else a new
        one. Entries of one audit_txn are always consecutive."""
        if self._segments:
            last = self._segments[-1]
            if (last.own, last.at, last.user, last.reason) == (own, at, user, reason):
                return last
            txn = last.txn + 1
        else:
            txn = self._start()[0]
        segment = _Segment(txn, at, user, reason, own)
        self._segments.append(segment)
        return segment

    def _load_chain(self) -> None:
        """The chain value and last entry id to continue from: the chain before this
        transaction, then its own entries written so far (re-read after a savepoint rolled
        some back; the audit_txn groups left without entries are forgotten). On a server
        before the chain lock: take it and chain what waits (:meth:`_settle`)."""
        if self.late:
            self._settle(needed=True)
            return
        _txn, first, chain = self._start()
        last_id = first - 1
        by_txn = {s.txn: s for s in self._segments}
        seen: set[int] = set()
        rows = self.db.execute_sql(
            "SELECT e.id, e.action, r.table_name, r.record_key, e.field, s.columns, "
            "e.old_value, e.new_value, e.reason, p.record_key, e.version, e.txn "
            "FROM audit_entry e JOIN audit_record r ON r.id = e.record LEFT JOIN "
            "audit_record p ON p.id = r.patient LEFT JOIN audit_shape s ON s.id = e.shape "
            "WHERE e.id >= ? ORDER BY e.id", (first,)).fetchall()
        for r in rows:
            segment = by_txn[int(r[11])]
            chain = step(chain, [r[0], segment.at, segment.user, ACTIONS[r[1]], r[2],
                                 key_uid(r[3]), r[4], r[5], r[6], r[7],
                                 r[8] if r[8] is not None else segment.reason,
                                 None if r[9] is None else key_uid(r[9]), r[10]])
            last_id = int(r[0])
            segment.last, segment.hash = last_id, chain
            seen.add(segment.txn)
        self._segments = [s for s in self._segments if s.txn in seen]
        self._chain, self._last_entry = chain, last_id

    def _record_ref(self, table: str, uid: str, patient_uid: str | None,
                    lookup: bool = True) -> tuple[int, str | None]:
        """The audit_record of ``uid`` (created with ``patient_uid`` if new): its id and
        the patient uid the trail shows for it (fixed when the record was first audited)."""
        found = self._records.get(uid)
        if found is not None:
            return found
        if lookup and not self._records_complete:
            row = self.db.execute_sql(
                "SELECT r.id, p.record_key FROM audit_record r "
                "LEFT JOIN audit_record p ON p.id = r.patient WHERE r.record_key = ?",
                (uid_key(uid),)).fetchone()
            if row is not None:
                found = self._records[uid] = (int(row[0]),
                                              None if row[1] is None else key_uid(row[1]))
                return found
        patient_ref: int | None = None
        if patient_uid is not None and patient_uid != uid:
            patient_ref = self._record_ref("patient", patient_uid, patient_uid)[0]
        if self._next_record is None:
            last = self.db.execute_sql("SELECT max(id) FROM audit_record").fetchone()[0]
            self._next_record = int(last or 0) + 1
        ref = self._next_record
        self._next_record += 1
        if patient_uid is not None and patient_uid == uid:
            patient_ref = ref
        found = self._records[uid] = (ref, patient_uid if patient_ref is not None else None)
        self._pending_records.append((ref, table, uid_key(uid), patient_ref))
        return found

    def _prefetch_records(self, uids: Sequence[str]) -> None:
        """Look up many records' audit_record ids at once (bulk changes)."""
        if self._records_complete:
            return
        unknown = [u for u in dict.fromkeys(uids) if u not in self._records]
        for start in range(0, len(unknown), 900):
            chunk = unknown[start:start + 900]
            marks = ", ".join("?" for _u in chunk)
            for ref, key, patient in self.db.execute_sql(
                    "SELECT r.id, r.record_key, p.record_key FROM audit_record r "
                    f"LEFT JOIN audit_record p ON p.id = r.patient WHERE r.record_key IN "
                    f"({marks})", [uid_key(u) for u in chunk]).fetchall():
                self._records[key_uid(key)] = (int(ref),
                                               None if patient is None else key_uid(patient))

    def _load_shapes(self) -> dict[tuple[str, str], int]:
        shapes = {(t, c): int(i) for i, t, c in self.db.execute_sql(
            "SELECT id, table_name, columns FROM audit_shape").fetchall()}
        if self._replaying:
            # Read under the chain lock before this transaction wrote any: all committed,
            # never changed (append-only), so the next transaction may start from them.
            self.tracker._shape_cache = dict(shapes)
        return shapes

    def _shape(self, table: str, columns: str) -> int:
        if self._shapes is None:
            cached = self.tracker._shape_cache if self._replaying else None
            self._shapes_cached = cached is not None
            self._shapes = dict(cached) if cached is not None else self._load_shapes()
        found = self._shapes.get((table, columns))
        if found is None and self._shapes_cached:
            # Another workstation may have added shapes since they were cached (read again
            # before this transaction makes one of its own).
            self._shapes_cached = False
            self._shapes = self._load_shapes()
            found = self._shapes.get((table, columns))
        if found is None:
            found = max(self._shapes.values(), default=0) + 1
            self._shapes[(table, columns)] = found
            self._pending_shapes.append((found, table, columns))
        return found

    def _emit(self, action: str, table: str, uid: str, patient_uid: str | None,
              field_name: str | None, old: Any, new: Any, reason: str | None,
              version: int, segment: _Segment | None = None) -> None:
        """Queue one audit entry (written by :meth:`_flush`), chained to the one before.

        An insert's ``new`` (a delete's ``old``) is a dict of JSON-ready values by column,
        stored as an array in the order of its shape; an update's ``old``/``new`` are JSON
        texts of one field. ``segment``: the who / when / why of an entry written elsewhere
        (:meth:`append_foreign`); by default this transaction's own.

        On a server before the chain lock (:attr:`late`) the entry waits in the queue,
        chained by :meth:`_settle` just before the commit.
        """
        if self.late and segment is None:
            self._queue.append((action, table, uid, patient_uid, field_name, old, new, reason,
                                version))
            self._versions[uid] = version
            return
        ref, patient = self._record_ref(table, uid, patient_uid)
        if self._chain is None or self._last_entry is None:
            self._load_chain()
        if segment is None:
            segment = self._segment(self.at, self.user, self.reason, own=True)
        self._entry(action, table, uid, ref, patient, field_name, old, new, reason, version,
                    segment)

    def _entry(self, action: str, table: str, uid: str, ref: int, patient: str | None,
               field_name: str | None, old: Any, new: Any, reason: str | None,
               version: int, segment: _Segment) -> None:
        """:meth:`_emit` once the record's audit_record (``ref``, ``patient``) and the
        segment are known, the chain loaded. Run once per entry of a site's whole trail at
        the centre, so kept lean: the chain step and the tag are spelled out here (the
        same as :func:`~gisttracker.store.chain.step` and ``tag``)."""
        columns: str | None = None
        shape: int | None = None
        if action != "update":
            values = new if action == "insert" else old
            # The shape of this set of columns, seen before in this key order: most of a
            # site's objects come with their keys sorted and no nulls, the values in order.
            keys = tuple(values)
            clean = None not in values.values()
            seen = self._shape_of.get((table, keys)) if clean else None
            if seen is None:
                names = tuple(sorted(k for k, v in values.items() if v is not None))
                columns = json.dumps(list(names), separators=(",", ":"))
                seen = (names, columns, self._shape(table, columns), names == keys)
                if clean:
                    self._shape_of[(table, keys)] = seen
            names, columns, shape, in_order = seen
            # The same text as json.dumps(..., ensure_ascii=False, separators=(",", ":")),
            # without building an encoder per entry.
            array = _ENCODE(list(values.values()) if in_order else [values[k] for k in names])
            old, new = (None, array) if action == "insert" else (array, None)
        assert self._chain is not None and self._last_entry is not None
        entry_id = self._last_entry + 1
        effective = reason if reason is not None else segment.reason
        # The entry's text as _ENCODE writes it, put together here (faster than the
        # encoder's walk over a list): texts quoted by the encoder's own function, null for
        # None, the two integers as they are. Anything else (a value that is not a text
        # where one is expected) goes the encoder's way.
        q = _QUOTE
        try:
            if type(version) is not int:
                raise TypeError
            text = (f"[{entry_id},{q(segment.at)},{q(segment.user)},{q(action)},{q(table)},"
                    f"{q(uid)},{'null' if field_name is None else q(field_name)},"
                    f"{'null' if columns is None else q(columns)},"
                    f"{'null' if old is None else q(old)},{'null' if new is None else q(new)},"
                    f"{'null' if effective is None else q(effective)},"
                    f"{'null' if patient is None else q(patient)},{version}]")
        except TypeError:
            text = _ENCODE([entry_id, segment.at, segment.user, action, table, uid, field_name,
                            columns, old, new, effective, patient, version])
        chain = self._chain = hashlib.sha256(self._chain + text.encode("utf-8")).digest()
        self._last_entry = entry_id
        segment.last, segment.hash = entry_id, chain
        self._versions[uid] = version
        own_reason = reason if reason is not None and reason != segment.reason else None
        self._pending_entries.append((entry_id, segment.txn, ref, CODES[action], field_name,
                                      shape, old, new, own_reason, version,
                                      chain[:TAG_BYTES]))

    def _flush(self) -> None:
        """Write the audit rows waiting (and the updates decided at a server's settle), in
        order: shapes, records, entries. On SQLite one prepared statement per table run with
        ``executemany``; on a server, whose every statement costs a whole round of parsing
        and executing, multi-row ``INSERT`` statements (:func:`_insert_values`: same rows,
        same order, same trigger checks)."""
        if not (self._late_updates or self._pending_shapes or self._pending_records
                or self._pending_entries):
            return  # (on a server before the settle every insert comes here for nothing)
        cursor = self.db.cursor()
        for sql, params in self._late_updates:
            cursor.execute(sql, params)
        self._late_updates = []
        server = is_server_db(self.db)
        for table, rows in (("audit_shape", self._pending_shapes),
                            ("audit_record", self._pending_records),
                            ("audit_entry", self._pending_entries)):
            if not rows:
                continue
            if server:
                _insert_values(self.db, table, _AUDIT_COLUMN_NAMES[table], rows)
            else:
                cursor.executemany(_AUDIT_INSERT_SQL[table], rows)
        self._pending_shapes, self._pending_records, self._pending_entries = [], [], []

    def _flush_bulk(self) -> None:
        """:meth:`_flush` for a bulk append (:meth:`_append_known`): on SQLite the entries
        go in statements of :data:`_BULK_ROWS` rows each (``INSERT … VALUES (…), (…), …``).

        Why: an ``audit_entry`` insert fires the append-only trigger and checks three
        foreign keys; run once per row (``executemany``), every row also pays for a whole
        statement around them (its start, a statement savepoint, the check of the deferred
        keys at its end). In statements of many rows that is paid once per statement; the
        rows, their order, the triggers and the checks are the same (measured on the
        10,000-patient package's 622,783 entries: 2.7 s → 1.9 s of CPU). A server writes
        them through :meth:`_flush` (multi-row statements there)."""
        entries, records = self._pending_entries, self._pending_records
        if self.late or is_server_db(self.db) or len(entries) < _BULK_ROWS:
            self._flush()
            return
        self._pending_entries = []
        cursor = self.db.cursor()
        if len(records) >= _BULK_ROWS:
            # The records the same way, through a table of this connection's own: in rows
            # of 90 their statements cost more than one by one (measured), in one
            # INSERT … SELECT less (279,229 records: 1.05 s → 0.82 s).
            self._pending_records = []
            self._flush()  # the shapes
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS audit_record_bulk "
                           "(id, table_name, record_key, patient)")
            cursor.executemany("INSERT INTO temp.audit_record_bulk VALUES (?, ?, ?, ?)",
                               records)
            cursor.execute("INSERT INTO audit_record (id, table_name, record_key, patient) "
                           "SELECT id, table_name, record_key, patient "
                           "FROM temp.audit_record_bulk ORDER BY rowid")
            cursor.execute("DELETE FROM temp.audit_record_bulk")
        else:
            self._flush()  # what the entries refer to first: shapes, records
        whole = len(entries) - len(entries) % _BULK_ROWS
        for start in range(0, whole, _BULK_ROWS):
            cursor.execute(_ENTRIES_SQL, tuple(chain_values.from_iterable(
                entries[start:start + _BULK_ROWS])))
        if whole < len(entries):
            cursor.executemany(_ENTRY_SQL, entries[whole:])

    # ----- the chain lock (a server) ----------------------------------------------------
    def serialize(self) -> None:
        """From here to the commit no other writer of this database runs: call it before
        reading what decides something only one transaction may take (the next study
        identifier, a randomization position, a query's number).

        On SQLite the whole transaction holds the file's write lock already (``BEGIN
        IMMEDIATE``): nothing to do. On a server it takes the chain lock now instead of
        just before the commit (:meth:`_settle`)."""
        if self.late and not self._chain_locked:
            self.db.execute_sql("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))
            self._chain_locked = True

    def at_settle(self, record: Record, query: str, params: Sequence[Any],
                  compute: Callable[[Sequence[Any]], dict[str, Any]]) -> None:
        """On a server (:attr:`late` only): give ``record``, inserted by this transaction,
        values decided at the commit, under the chain lock — a number only one writer may
        take (the next study identifier), decided as late as possible so that writers
        working at once overlap everything else. ``query`` (with ``params``) runs under the
        lock, in the same round trip as the chain's head; ``compute`` turns its one row into
        the values (field name → value). The row is updated (its version stays 1) and its
        insert entry in the trail carries the final values only; nobody else ever sees the
        provisional ones (uncommitted)."""
        if not self.late:
            raise RuntimeError("at_settle is for a server's transaction before its commit")
        self._at_settle.append((record, query, params, compute))

    def _apply_at_settle(self, first: Sequence[Any] | None) -> None:
        """Turn :meth:`at_settle`'s rows (read under the chain lock) into values, queue the
        records' updates and put the values into their waiting insert entries. ``first``:
        the first query's row, read with the chain's head. Each later query is sent after
        the values decided before it are written, so that it sees them: two patients
        registered in one transaction take two numbers, not the same one twice."""
        for n, (record, query, params, compute) in enumerate(self._at_settle):
            if n == 0:
                row = first
            else:
                self._write_waiting()
                row = self.db.execute_sql(query, params).fetchone()
            assert row is not None
            model = type(record)
            values = compute(row)
            fields = [model._meta.fields[name] for name in values]
            stored_values = [sql_value(f.db_value(values[f.name])) for f in fields]
            # A deferred record is not written yet: its INSERT at the commit carries the
            # values. One written already is updated.
            if not any(r is record for r in self._deferred):
                self._late_updates.append((
                    'UPDATE "{}" SET {} WHERE id = ?'.format(
                        model._meta.table_name,
                        ", ".join(f'"{f.column_name}" = ?' for f in fields)),
                    [*stored_values, record.__data__["id"]]))
            record.__data__.update(values)
            for item in reversed(self._queue):
                if item[0] == "insert" and item[2] == record.uid:
                    for f, value in zip(fields, stored_values, strict=True):
                        if f.name not in model.audit_exclude:
                            item[6][f.column_name] = _plain(value)
                    break
        self._at_settle = []

    def _write_waiting(self) -> None:
        """On a server before the commit: write the rows waiting for it now (the deferred
        inserts and the updates of :meth:`at_settle`), in their order."""
        cursor = self.db.cursor()
        for record in self._deferred:
            cursor.execute(*_insert_statement(record, with_id=True))
        self._deferred = []
        for sql, params in self._late_updates:
            cursor.execute(sql, params)
        self._late_updates = []

    def mark(self) -> tuple[int, int, int] | None:
        """Where a savepoint starts (:meth:`rollback_to` after it is rolled back)."""
        return ((len(self._queue), len(self._at_settle), len(self._deferred)) if self.late
                else None)

    def rollback_to(self, mark: tuple[int, int, int] | None) -> None:
        """A savepoint begun at ``mark`` was rolled back: forget its audit entries."""
        if mark is not None and not self.late:
            # The chain was settled inside the savepoint, and what it wrote is gone with
            # it: back to waiting, with the entries queued before the savepoint.
            queue, at_settle = self._settled
            self._begun, self._segments, self._late_updates = None, [], []
            self._chain_locked = False  # taken again (it may have gone with the savepoint)
            self._reset_cache()
            self.late = True
            self._queue, self._at_settle = list(queue), list(at_settle)
        if self.late:
            queued, settling, deferred = mark or (0, 0, 0)
            del self._queue[queued:]
            del self._at_settle[settling:]
            del self._deferred[deferred:]
            self._signature_queued = min(self._signature_queued, len(self._queue))
            return
        self._reset_cache()

    def _settle(self, needed: bool = False) -> None:
        """On a server: take the chain lock (unless :meth:`serialize` did), read the chain's
        head, chain the queued entries after it and write them (a few round trips); the
        transaction commits right after, which releases the lock.

        Why this is safe with other writers working at once (issue 16): a transaction's
        entries are chained and written under the lock, and it commits before the lock is
        released, so the chain's order is the order of the commits. Every data change it
        audits was made before, under the row locks PostgreSQL holds until the commit (an
        update reads its row ``FOR UPDATE`` and checks its version), so no other
        transaction changed those rows in between: what the trail says is what the tables
        hold, in the order the verification replays it. A signature made elsewhere while
        this transaction ran is seen here, under the lock, and refuses it.

        ``needed``: the chain is wanted even when nothing waits (:meth:`append_foreign`
        goes on from here, as on SQLite, under the lock).
        """
        if not self._queue and not needed:
            self.late = False
            return
        uids = [u for item in self._queue for u in (item[2], item[3]) if u]
        conn = self.db.connection()
        with conn.pipeline():
            if not self._chain_locked:
                # The lock, then (a statement of its own, so it sees what was committed
                # up to the moment the lock was had) the head: one round trip.
                conn.cursor().execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                self._chain_locked = True
            # Signatures made elsewhere since this transaction's lock checks: over what it
            # checked (when there were none then, lineages were not followed: any).
            signed: list[Any] = [self._signature_mark or 0]
            if self._signature_mark is None or not self._lock_checked:
                over = " AND FALSE"
            elif not self._signature_any:
                over = ""
            elif self._lock_targets:
                over = " AND (" + " OR ".join(
                    "(scope = ? AND target_uid = ?)" for _t in self._lock_targets) + ")"
                signed += [v for target in sorted(self._lock_targets) for v in target]
            else:
                over = " AND FALSE"
            # The chain's head and the audit_record rows of the records waiting, in one
            # statement: one row per record found (the head repeated), or one row of the
            # head alone. The first value decided at the commit (at_settle; a one-row
            # query) comes in the same statement, after them (the others:
            # _apply_at_settle).
            head = conn.cursor()
            keys = list(dict.fromkeys(uid_key(u) for u in uids))
            settling, settling_params = "", []
            if self._at_settle:
                settling = f" CROSS JOIN LATERAL ({self._at_settle[0][1]}) AS s"
                settling_params = list(self._at_settle[0][2])
            head.execute(
                "SELECT h.txn, h.hash, h.last_entry, h.last_record, h.signed, k.ref, k.key, "
                f"k.patient{', s.*' if settling else ''} FROM (SELECT t.id AS txn, "
                "t.hash AS hash, (SELECT max(id) FROM audit_entry) AS last_entry, "
                "(SELECT max(id) FROM audit_record) AS last_record, "
                f"(SELECT count(*) FROM signature WHERE id > ?{over}) AS signed "
                "FROM (SELECT 1) AS one LEFT JOIN audit_txn t "
                f"ON t.id = (SELECT max(id) FROM audit_txn)) AS h{settling} "
                "LEFT JOIN (SELECT r.id AS ref, r.record_key AS key, p.record_key AS patient "
                "FROM audit_record r LEFT JOIN audit_record p ON p.id = r.patient "
                "WHERE r.record_key = ANY(?)) AS k ON TRUE", [*signed, *settling_params, keys])
        found = head.fetchall()
        last_txn, last_hash, last_entry, last_record, signed_since = found[0][:5]
        self._settled = (list(self._queue), list(self._at_settle))
        self._apply_at_settle(found[0][8:] if self._at_settle else None)
        self.late = False
        queue, self._queue = self._queue, []
        if self._signature_mark is not None:
            own = sum(1 for item in queue[self._signature_queued:]
                      if item[0] == "insert" and item[1] == "signature")
            if int(signed_since) > own:
                raise ConcurrentWriteError(_(
                    "Someone else signed this data while you were saving, so nothing of "
                    "this change was saved. Reload to see the signature."))
        for _txn, _hash, _entry, _record, _signed, ref, key, patient, *_settled in found:
            if ref is None:
                continue  # the head's row alone: none of the records was audited before
            self._records[key_uid(key)] = (int(ref),
                                           None if patient is None else key_uid(patient))
        self._begun = (int(last_txn or 0) + 1, int(last_entry or 0) + 1,
                       bytes(last_hash) if last_hash is not None else ZERO_HASH)
        self._chain, self._last_entry = self._begun[2], self._begun[1] - 1
        self._next_record = int(last_record or 0) + 1
        complete, self._records_complete = self._records_complete, True
        self._replaying = True
        try:
            for item in queue:
                self._emit(*item)
        finally:
            self._records_complete, self._replaying = complete, False

    def finish(self) -> None:
        """Close the transaction's audit: an audit_txn row per run of entries with one who,
        when and why (one, unless :meth:`append_foreign` added others' entries), each with
        the chain's hash after its last entry (called by :meth:`Tracker.transaction` just
        before it commits)."""
        if self.late:
            self._settle()
            if self._begun is None:
                return  # nothing was audited
            # The outermost transaction commits in the same round trip (the lock is held
            # until then); inside someone's db.atomic() that block commits, as usual.
            commit = self.db.transaction_depth() == 1
            conn = self.db.connection()
            txns = [(s.txn, s.at, s.user, s.reason, s.last, s.hash)
                    for s in self._segments if s.last is not None]
            audit = (("audit_shape", self._pending_shapes),
                     ("audit_record", self._pending_records),
                     ("audit_entry", self._pending_entries), ("audit_txn", txns))
            with conn.pipeline():
                cursor = conn.cursor()
                for sql, params in self._late_updates:
                    cursor.execute(sql, params)
                self._late_updates = []
                if sum(len(rows) for _t, rows in audit) + len(self._deferred) <= _ONE_INSERT:
                    # A few rows (a registration, a form): the rows waiting for the commit
                    # and the audit trail's in one statement.
                    cursor.execute(*_one_insert(self._deferred, audit))
                else:
                    for record in self._deferred:
                        cursor.execute(*_insert_statement(record, with_id=True))
                    for table, rows in audit:
                        _insert_rows(cursor, table, rows)
                self._deferred = []
                self._pending_shapes, self._pending_records = [], []
                self._pending_entries = []
                if commit:
                    cursor.execute("COMMIT")
            if commit:
                cast(ServerDatabase, self.db).committed_early()
            return
        self._flush()
        if self._begun is None:
            return  # nothing was audited
        if self._chain is None or self._last_entry is None:
            self._load_chain()
        self._write_txns()

    def _write_txns(self) -> None:
        rows = [(s.txn, s.at, s.user, s.reason, s.last, s.hash)
                for s in self._segments if s.last is not None]
        if rows:
            self.db.cursor().executemany(
                'INSERT INTO audit_txn (id, at, "user", reason, last_entry, hash) '
                "VALUES (?, ?, ?, ?, ?, ?)", rows)

    def _last_version(self, uid: str, ref: int) -> int:
        """The version the trail gave ``uid`` last (0 if it never did)."""
        known = self._versions.get(uid)
        if known is None and self._ref_versions is not None:
            known = self._ref_versions.get(ref, 0)
        if known is None:
            found = self.db.execute_sql(
                "SELECT version FROM audit_entry WHERE record = ? ORDER BY id DESC LIMIT 1",
                (ref,)).fetchone()
            known = int(found[0]) if found else 0
        return known

    def remember_versions(self) -> None:
        """Read every audited record and its last version at once, so that
        :meth:`append_foreign` looks nothing up record by record — before a bulk load sets
        the index on ``audit_entry.record`` aside. Reads the whole trail once: for a load at
        least as large as the trail."""
        if self.late:
            self._settle(needed=True)  # on a server: read under the chain lock
        self._flush()
        self._ref_versions = {int(ref): int(version) for ref, version in self.db.execute_sql(
            "SELECT e.record, e.version FROM audit_entry e WHERE e.id IN "
            "(SELECT max(id) FROM audit_entry GROUP BY record)").fetchall()}
        for ref, key, patient in self.db.execute_sql(
                "SELECT r.id, r.record_key, p.record_key FROM audit_record r "
                "LEFT JOIN audit_record p ON p.id = r.patient").fetchall():
            self._records.setdefault(key_uid(key), (int(ref), None if patient is None
                                                    else key_uid(patient)))
        self._records_complete = True

    def _append_run(self, run: list[Sequence[Any]], columns_of: dict[str, set[str]]) -> int:
        """One change of one record written elsewhere (see :meth:`append_foreign`)."""
        at, user, action, table, uid, _f, _o, _n, reason, patient_uid = run[0]
        # Run once per change of a site's whole trail: the common cases spelled out (the
        # same segment as the run before; a record already known), else the general way.
        # (The caller notes the records changed, once, at the end.)
        segments = self._segments
        segment = segments[-1] if segments else None
        if (segment is None or segment.own or segment.at != at or segment.user != user
                or segment.reason != reason):
            segment = self._segment(str(at), str(user), reason, own=False)
        # Prefetched: a uid not among the records now is new to this file.
        found = self._records.get(uid)
        ref, patient = (found if found is not None
                        else self._record_ref(table, uid, patient_uid, lookup=False))
        first = run[0][7] if action == "insert" else run[0][6]
        if len(run) == 1 and _f is None and isinstance(first, dict):
            # One object, already decoded by the caller (and handed over).
            version = 1 if action == "insert" else max(self._last_version(uid, ref), 1)
            if action == "insert":
                self._entry(action, table, uid, ref, patient, None, None, first, None,
                            version, segment)
            else:
                self._entry(action, table, uid, ref, patient, None, first, None, None,
                            version, segment)
            return 1
        columns = columns_of.get(table)
        if columns is None:
            columns = columns_of[table] = {c for c, _a in self.schema.columns(table)}
        if action == "update":
            version = self._last_version(uid, ref) + 1
            for row in run:
                self._entry("update", table, uid, ref, patient, _column(columns, str(row[5])),
                            row[6], row[7], None, version, segment)
            return len(run)
        values: dict[str, Any] = {}
        for row in run:
            text = row[7] if action == "insert" else row[6]
            if row[5] is None:
                if isinstance(text, Mapping):
                    values.update(text)
                elif text:
                    values.update(json.loads(text))
            else:
                values[_column(columns, str(row[5]))] = (
                    None if text is None else json.loads(text))
        version = 1 if action == "insert" else max(self._last_version(uid, ref), 1)
        self._entry(action, table, uid, ref, patient, None,
                    values if action == "delete" else None,
                    values if action == "insert" else None, None, version, segment)
        return 1

    def append_foreign(self, rows: Iterable[Sequence[Any]],
                       ids: Mapping[str, Mapping[str, Mapping[int, int]]] | None = None) -> int:
        """Append entries someone else wrote — a site's audit trail, merged at the
        coordinating centre — chained into this file's trail with their own who, when and
        why (each run of them its own audit_txn). Returns the number of entries.

        ``rows`` are as the ``audit_log`` view shows them: ``(at, user, action, table_name,
        record_uid, field, old_value, new_value, reason, patient_uid)``, references already
        in this file's ids. An insert (delete) is either one row whose ``new_value``
        (``old_value``) is a JSON object of every value, or — from a site before schema 9 —
        one row per field; the rows of one change of one record are one change (one
        version). Such an object may also be given already decoded (a dict, then handed over:
        the caller keeps no use of it), which spares a caller that had to read it (to
        translate references) encoding it again. The records' ``version`` columns are set
        to what the trail now says. The caller has written the records themselves and holds
        the permission to.

        ``ids``: where the rows' references are still the other file's ids — per table, per
        reference field as the trail names it (``patient`` and ``patient_id``), that file's
        id → this file's id of the same record (an id not in it becomes null).
        """
        if self._chain is None or self._last_entry is None:
            self._load_chain()
        touched: dict[str, str] = {}
        count = 0
        columns_of: dict[str, set[str]] = {}
        append = self._append_run
        refs = ids or {}
        if self._records_complete:
            count = self._append_known(rows, refs, touched, columns_of)
        else:
            if refs:
                rows = (_foreign_row(row, refs) for row in rows)
            for batch in _batched(_foreign_runs(rows), 5_000):
                # The batch's records looked up at once; those not found are new to this file.
                self._prefetch_records([u for run in batch for u in (run[0][4], run[0][9])
                                        if u])
                for run in batch:
                    count += append(run, columns_of)
                    touched[str(run[0][4])] = str(run[0][3])
                self._flush()
        # The records changed, noted once (not per run: a site's trail has 100,000s).
        self.changes.tables.update(touched.values())
        self.changes.records.update(touched)
        by_table: dict[str, list[tuple[int, str]]] = {}
        for uid, table in touched.items():
            by_table.setdefault(table, []).append((self._versions[uid], uid))
        for table, pairs in by_table.items():
            # Not in a table whose rows never change (a randomization): they stay at version
            # 1, their triggers refuse any UPDATE, and on a server the application's role
            # may not even issue one.
            if table in APPEND_ONLY:
                continue
            if "version" in {c for c, _a in self.schema.columns(table)}:
                pairs = self._versions_differing(table, pairs)
                # Only where it differs.
                # (Plain "?" placeholders and no "IS NOT": the same SQL on PostgreSQL.)
                self.db.cursor().executemany(
                    f'UPDATE "{table}" SET version = ? WHERE uid = ? '
                    f"AND (version IS NULL OR version <> ?)",
                    [(v, uid, v) for v, uid in pairs])
        return count

    def _versions_differing(self, table: str,
                            pairs: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """Of ``pairs`` (version, uid) of ``table``'s records, those whose stored version
        may differ. On SQLite, when they are at least a quarter of the table, its versions
        are read in one pass (a site's first package: every record of it, whose version the
        package brought already) rather than looked up by uid one by one: 279,228 records,
        0.48 s → 0.11 s. The transaction holds the file's write lock, so nothing changes
        them meanwhile; a server keeps looking each up in its UPDATE."""
        if len(pairs) < 1_000 or is_server_db(self.db):
            return pairs
        size = self.db.execute_sql(
            f'SELECT coalesce(max(rowid), 0) FROM "{table}"').fetchone()[0]
        if len(pairs) * 4 < int(size):
            return pairs
        stored = dict(self.db.execute_sql(f'SELECT uid, version FROM "{table}"').fetchall())
        absent = object()
        return [(v, uid) for v, uid in pairs
                if (now := stored.get(uid, absent)) is not absent and now != v]

    def _append_known(self, rows: Iterable[Sequence[Any]],
                      refs: Mapping[str, Mapping[str, Mapping[int, int]]],
                      touched: dict[str, str], columns_of: dict[str, set[str]]) -> int:
        """:meth:`append_foreign` when every record is known (:meth:`remember_versions`):
        nothing to look up per batch; the changes go one by one, written every 5,000.

        Run once per entry of a site's whole trail at the centre (600,000 for a site of
        10,000 patients), so the two common kinds are chained right here, in one pass, with
        the chain's state in local variables: a whole object (an insert or delete given as
        one JSON object: decoded, its references translated) and a field's change (the rows
        of one change of one record are one version). The chain's step and the stored row
        are spelled out as in :meth:`_entry` and give the same bytes (the tests verify the
        chain after every import). The rest — the rows of an insert or delete from a site
        before schema 9, an object that is not a JSON object text — goes through
        :meth:`_append_run` in runs, as :func:`_foreign_runs` and :func:`_foreign_row`
        would have it."""
        count = waiting = 0
        run: list[Sequence[Any]] = []  # rows of one insert or delete given field by field
        key: tuple[Any, ...] | None = None  # ... and what they share
        change: tuple[Any, ...] | None = None  # the field change being chained: who, what
        records, versions, shape_of = self._records, self._versions, self._shape_of
        q, encode, sha256 = _QUOTE, _ENCODE, hashlib.sha256
        assert self._chain is not None and self._last_entry is not None
        chain, last = self._chain, self._last_entry
        pending = self._pending_entries
        segment = self._segments[-1] if self._segments else None
        ref, patient, version, columns = 0, None, 0, set[str]()
        shape: int | None
        listed: str | None

        def through_runs(rows: list[Sequence[Any]]) -> int:
            """Rows the general way (the chain handed over and taken back)."""
            nonlocal chain, last, pending, segment
            self._chain, self._last_entry = chain, last
            done = self._append_run(rows, columns_of)
            assert self._chain is not None and self._last_entry is not None
            chain, last = self._chain, self._last_entry
            pending = self._pending_entries
            segment = self._segments[-1] if self._segments else None
            touched[str(rows[0][4])] = str(rows[0][3])
            return done

        for row in rows:
            at, user, action, table, uid, field_name, old, new, reason, patient_uid = row
            if waiting >= 5_000:
                # What waits is written (its records and shapes first, as ever).
                self._flush_bulk()
                pending = self._pending_entries
                waiting = 0
            if field_name is None and action != "update":
                # A whole object: its own change.
                change = None
                if run:
                    count += through_runs(run)
                    run, key = [], None
                    waiting += 1
                text, other = (new, old) if action == "insert" else (old, new)
                values = (text if isinstance(text, dict)
                          else _decoded(text) if other is None and type(text) is str and text
                          else None)
                waiting += 1
                if type(values) is not dict:
                    count += through_runs([_foreign_row(row, refs)])
                    continue
                fields = refs.get(table)
                if fields:
                    for column, known in fields.items():
                        if column in values:
                            value = values[column]
                            values[column] = (known.get(value) if type(value) is int
                                              else _local_ref(known, value))
                if (segment is None or segment.own or segment.at != at
                        or segment.user != user or segment.reason != reason):
                    segment = self._segment(str(at), str(user), reason, own=False)
                found = records.get(uid)
                ref, patient = (found if found is not None
                                else self._record_ref(table, uid, patient_uid, lookup=False))
                version = 1 if action == "insert" else max(self._last_version(uid, ref), 1)
                # Its shape (see _entry) and its values as an array in the shape's order.
                names_of = tuple(values)
                clean = None not in values.values()
                seen = shape_of.get((table, names_of)) if clean else None
                if seen is None:
                    names = tuple(sorted(k for k, v in values.items() if v is not None))
                    listed = json.dumps(list(names), separators=(",", ":"))
                    seen = (names, listed, self._shape(table, listed), names == names_of)
                    if clean:
                        shape_of[(table, names_of)] = seen
                names, listed, shape, in_order = seen
                array = encode(list(values.values()) if in_order
                               else [values[k] for k in names])
                old, new = (None, array) if action == "insert" else (array, None)
                touched[str(uid)] = str(table)
            elif action == "update":
                if run:
                    count += through_runs(run)
                    run, key = [], None
                    waiting += 1
                this = (at, user, table, uid, reason)
                if this != change:
                    # The first field of a change of a record: one version for all of them.
                    change = this
                    waiting += 1
                    if (segment is None or segment.own or segment.at != at
                            or segment.user != user or segment.reason != reason):
                        segment = self._segment(str(at), str(user), reason, own=False)
                    found = records.get(uid)
                    ref, patient = (found if found is not None
                                    else self._record_ref(table, uid, patient_uid, lookup=False))
                    version = self._last_version(uid, ref) + 1
                    known_columns = columns_of.get(table)
                    if known_columns is None:
                        known_columns = columns_of[table] = {
                            c for c, _a in self.schema.columns(table)}
                    columns = known_columns
                    touched[str(uid)] = str(table)
                fields = refs.get(table)
                if fields and field_name in fields:
                    _a, _u, _c, _t, _r, _f, old, new, *_rest = _foreign_row(row, refs)
                field_name = (field_name if field_name in columns
                              else _column(columns, str(field_name)))
                shape = listed = None
            else:
                # One field of an insert or delete (a site before schema 9): in runs.
                change = None
                same = (at, user, action, table, uid, reason)
                if run and same != key:
                    count += through_runs(run)
                    run = []
                    waiting += 1
                key = same
                run.append(_foreign_row(row, refs) if refs else row)
                continue
            # The chain's step and the stored row, as in _entry (a site's entry carries its
            # transaction's reason: none of its own).
            assert segment is not None
            entry_id = last + 1
            try:
                text = (f"[{entry_id},{q(segment.at)},{q(segment.user)},{q(action)},"
                        f"{q(table)},{q(uid)},"
                        f"{'null' if field_name is None else q(field_name)},"
                        f"{'null' if listed is None else q(listed)},"
                        f"{'null' if old is None else q(old)},"
                        f"{'null' if new is None else q(new)},"
                        f"{'null' if segment.reason is None else q(segment.reason)},"
                        f"{'null' if patient is None else q(patient)},{version}]")
            except TypeError:
                text = encode([entry_id, segment.at, segment.user, action, table, uid,
                               field_name, listed, old, new, segment.reason, patient, version])
            chain = sha256(chain + text.encode("utf-8")).digest()
            last = entry_id
            segment.last, segment.hash = entry_id, chain
            versions[uid] = version
            pending.append((entry_id, segment.txn, ref, CODES[action], field_name, shape, old,
                            new, None, version, chain[:TAG_BYTES]))
            count += 1
        self._chain, self._last_entry = chain, last
        if run:
            count += through_runs(run)
        self._flush_bulk()
        if not is_server_db(self.db):
            self.db.execute_sql("DROP TABLE IF EXISTS temp.audit_record_bulk")
        return count

    def _note(self, table: str, uid: str) -> None:
        self.changes.tables.add(table)
        self.changes.records.add(uid)

    # ----- policy, locks, versions -------------------------------------------------------
    def _permit(self, table: str, action: str) -> None:
        needed = write_permissions(table, action)
        if not self.actor.can_any(needed):
            first = sorted(needed)[0]
            raise PermissionDenied(_("{user} ({role}) may not {action}").format(
                user=self.actor.name, role=self.actor.role_label,
                action=describe(Permission(first))))

    def signatures_at_begin(self, row: Sequence[Any]) -> None:
        """On a server: the last signature's id when the transaction began (read with its
        BEGIN), which the lock checks and :meth:`_settle` start from — as if the first
        check had read it, only earlier (so a signature made since refuses, as ever)."""
        last = row[0]
        self._signed = last is not None
        self._signature_mark = int(last or 0)
        self._signature_queued = 0
        self._signature_any = last is not None

    def _any_signature(self) -> bool:
        self._lock_checked = True
        if self._signed is None:
            last = self.db.execute_sql("SELECT max(id) FROM signature").fetchone()[0]
            self._signed = last is not None
            if self._signature_mark is None and self.late:
                self._signature_mark = int(last or 0)
                self._signature_queued = len(self._queue)
                self._signature_any = last is not None
        return self._signed

    def lineage(self, table: str, values: Mapping[str, Any],
                own_id: int | None = None) -> dict[str, int]:
        """The patient, visit and form (ids) a row of ``table`` belongs to, following its
        foreign keys upwards. ``values`` maps columns to stored values."""
        found: dict[str, int] = {}
        targets = {"patient", "visit", "form"}
        if table in targets and own_id is not None:
            found[table] = own_id
        pending: list[tuple[str, Mapping[str, Any]]] = [(table, values)]
        seen = 0
        while pending and seen < 8:
            seen += 1
            name, row = pending.pop()
            for fk in self.schema.foreign_keys(name):
                ref = row.get(fk.column)
                if ref is None or fk.parent in found:
                    continue
                if fk.parent in targets:
                    found[fk.parent] = int(ref)
                cols = [c for c, _a in self.schema.columns(fk.parent)]
                parent = self.db.execute_sql(
                    f'SELECT * FROM "{fk.parent}" WHERE id = ?', (ref,)).fetchone()
                if parent is not None:
                    pending.append((fk.parent, dict(zip(cols, parent, strict=True))))
        return found

    def _check_lock(self, table: str, values: Mapping[str, Any],
                    own_id: int | None = None) -> None:
        if table in LOCK_EXEMPT or not self._any_signature():
            return
        ids = self.lineage(table, values, own_id)
        if not ids:
            return
        clauses, params = [], []
        for scope, target_table in SCOPE_TABLES.items():
            if target_table in ids:
                uid = self.db.execute_sql(f'SELECT uid FROM "{target_table}" WHERE id = ?',
                                          (ids[target_table],)).fetchone()
                if uid is not None:
                    clauses.append("(scope = ? AND target_uid = ?)")
                    params += [scope, uid[0]]
                    self._lock_targets.add((scope, str(uid[0])))
        if not clauses:
            return
        row = self.db.execute_sql(
            "SELECT scope, signer_name, signed_at, meaning FROM signature WHERE "
            + " OR ".join(clauses) + " ORDER BY id LIMIT 1", params).fetchone()
        if row is not None:
            scope, signer, signed_at, meaning = row
            what = {"casebook": _("the casebook"), "visit": _("the visit"),
                    "form": _("the form")}.get(scope, scope)
            raise RecordLocked(_(
                "{what} was signed by {signer} on {when} ({meaning}) and is locked; an "
                "investigator must unlock it, with a reason, before it can change").format(
                    what=what, signer=signer, when=signed_at[:16].replace("T", " "),
                    meaning=_(meaning)))

    def _check_version(self, table: str, uid: str, current: int, seen: int | None) -> None:
        """Refuse a change based on version ``seen`` of a record now at ``current``."""
        if seen is None or seen == current:
            return
        base = self.base_versions.get(uid)
        if base is not None and base <= seen <= current:
            return  # only this transaction changed it since
        raise self.tracker.stale_error(table, uid, seen, current)

    def _expected(self, uid: str, instance_version: int | None,
                  explicit: int | None) -> int | None:
        if explicit is not None:
            return explicit
        expected = self.tracker.expected_versions().get(uid)
        return expected if expected is not None else instance_version

    def _bumped(self, uid: str, before: int, after: int) -> None:
        self.base_versions.setdefault(uid, before)
        self.new_versions[uid] = after

    # ----- rows -----------------------------------------------------------------------
    def _read(self, table: str, record_id: int) -> dict[str, Any] | None:
        cols = [c for c, _a in self.schema.columns(table)]
        # On a server other writers work at once: lock the row until the commit, so the
        # version checked and the old values audited stay what is stored.
        lock = " FOR UPDATE" if is_server_db(self.db) else ""
        row = self.db.execute_sql(f'SELECT * FROM "{table}" WHERE id = ?{lock}',
                                  (record_id,)).fetchone()
        return None if row is None else dict(zip(cols, row, strict=True))

    @staticmethod
    def _audited_fields(model: type[Record]) -> list[peewee.Field]:
        return _audited_fields(model)

    @staticmethod
    def _audit_json(model: type[Record], f: peewee.Field, value: Any) -> str | None:
        """The audit text of python value ``value`` of field ``f``."""
        if value is None:
            return None
        if f.name in model.audit_secret:
            return _dumps(secret_digest(sql_value(f.db_value(value))))
        return _dumps(_plain(f.db_value(value)))

    def _snapshot(self, model: type[Record], row: Mapping[str, Any]) -> dict[str, Any]:
        """A stored row's audited values (by column) in the form the trail keeps them."""
        out: dict[str, Any] = {}
        for f in self._audited_fields(model):
            raw = row.get(f.column_name)
            if raw is None:
                continue
            if f.name in model.audit_secret:
                out[f.column_name] = secret_digest(raw)
            else:
                out[f.column_name] = _plain(f.python_value(raw))
        return out

    # ----- the writes -----------------------------------------------------------------
    def insert(self, model: type[M], *, patient_uid: str | None = None,
               reason: str | None = None, **values: Any) -> M:
        """Create a record; one audit entry with all the values it was given."""
        return self._insert(model, patient_uid, reason, False, values)

    def insert_at_commit(self, model: type[M], *, patient_uid: str | None = None,
                         reason: str | None = None, **values: Any) -> M:
        """:meth:`insert`, except on a server when the transaction reserved an id of the
        table with its BEGIN (``Tracker.transaction(reserve=…)``): the row takes that id
        and its INSERT is sent with the commit, under the chain lock, in the round trip of
        the audit trail's rows — one round trip fewer, and a value :meth:`at_settle`
        decides goes straight into the INSERT instead of an UPDATE after it. Only for a
        row nothing in the transaction reads back from the database (a new patient and its
        identity). Without a reserved id (SQLite, a nested transaction) the row is
        inserted at once, as :meth:`insert` does."""
        return self._insert(model, patient_uid, reason, True, values)

    def _insert(self, model: type[M], patient_uid: str | None, reason: str | None,
                defer: bool, values: dict[str, Any]) -> M:
        table = model._meta.table_name
        self._permit(table, "insert")
        record = model(**values)
        record.version = 1
        data = record.__data__
        audited = _audited_fields(model)
        # Each value as the column stores it, converted once (the lock check, the
        # statement and the trail all start from it).
        db_values = {f.name: f.db_value(data.get(f.name)) for f in audited}
        stored_values = {f.column_name: sql_value(db_values[f.name]) for f in audited}
        self._check_lock(table, stored_values)
        reserved = self._reserved.get(table) if defer else None
        if reserved:
            # Every audited model's key is ``id`` (an AutoField): the reserved one.
            data["id"] = reserved.pop(0)
            self._deferred.append(record)
        else:
            # On this transaction's own connection (not the models' shared proxy, which
            # points at whichever database was opened last in this process).
            server = self.late or is_server_db(self.db)
            sql, params = _insert_statement(record, returning=server)
            cursor = self.db.execute_sql(sql, params)
            # The new row's id is the key (psycopg has no lastrowid; the server returns it).
            data["id"] = cursor.fetchone()[0] if server else cursor.lastrowid
        audit: dict[str, Any] = {}
        secret = model.audit_secret
        for f in audited:
            if data.get(f.name) is None:
                continue
            value = db_values[f.name]
            if f.name in secret:
                audit[f.column_name] = secret_digest(sql_value(value))
            else:
                audit[f.column_name] = _plain(value)
        if patient_uid is None:
            patient_uid = self._patient_of(table, record.uid, stored_values)
        self._emit("insert", table, record.uid, patient_uid, None, None, audit,
                   reason, 1)
        self._flush()
        self._note(table, record.uid)
        if table == "signature":
            self._signed = True
        return record

    def reserved_ids(self, tables: Sequence[str], ids: Sequence[Any]) -> None:
        """The ids taken for ``tables`` with the transaction's BEGIN (see :meth:`insert`)."""
        for table, value in zip(tables, ids, strict=True):
            self._reserved.setdefault(table, []).append(int(value))

    def _patient_of(self, table: str, uid: str, values: Mapping[str, Any]) -> str | None:
        if table == "patient":
            return uid
        patient_id = self.lineage(table, values).get("patient")
        if patient_id is None:
            return None
        row = self.db.execute_sql("SELECT uid FROM patient WHERE id = ?",
                                  (patient_id,)).fetchone()
        return None if row is None else str(row[0])

    def insert_many(self, model: type[Record], rows: list[dict[str, Any]], *,
                    patient_uids: list[str | None] | None = None,
                    reason: str | None = None) -> list[str]:
        """Create many records at once (bulk loads, the demo generator); returns their uids.

        Foreign keys are given as ids. Audited like :meth:`insert`: one entry per record
        with all its values. ``patient_uids[i]`` is the patient of ``rows[i]``.
        """
        table = model._meta.table_name
        if not rows:
            return []
        self._permit(table, "insert")
        if self.late:
            self._settle(needed=True)  # a bulk load: one writer at a time, as on SQLite
        defaults = {name: f.default for name, f in model._meta.fields.items()
                    if f.default is not None and name != "uid"}
        audited = {f.name: f for f in self._audited_fields(model)}
        uids: list[str] = []
        for row in rows:
            row.setdefault("uid", new_uid())
            for name, default in defaults.items():
                if name not in row:
                    row[name] = default() if callable(default) else default
            row["version"] = 1
            uids.append(row["uid"])
        check_locks = table not in LOCK_EXEMPT and self._any_signature()
        names = sorted({name for row in rows for name in row})
        fields = [model._meta.fields[name] for name in names]
        params = []
        for row in rows:
            values = [sql_value(f.db_value(row.get(f.name))) for f in fields]
            params.append(values)
            if check_locks:
                self._check_lock(table, {f.column_name: v for f, v in
                                         zip(fields, values, strict=True)})
        # Bulk path: one prepared statement per table run with executemany. peewee's own
        # insert_many spends most of its time building SQL text row by row.
        if is_server_db(self.db):
            # A server: statements of many rows (one per row costs the server a whole
            # statement each, and the demo's 10,000 patients are half a million rows).
            _insert_values(self.db, table, [f.column_name for f in fields], params)
        else:
            sql = "INSERT INTO {} ({}) VALUES ({})".format(
                table, ", ".join(f'"{f.column_name}"' for f in fields),
                ", ".join("?" for _f in fields))
            self.db.cursor().executemany(sql, params)
        known = self._known_records(uids)
        for i, row in enumerate(rows):
            audit: dict[str, Any] = {}
            for name, value in row.items():
                f = audited.get(name)
                if f is None or value is None:
                    continue
                if name in model.audit_secret:
                    audit[f.column_name] = secret_digest(sql_value(f.db_value(value)))
                else:
                    audit[f.column_name] = _plain(f.db_value(value))
            uid = row["uid"]
            patient = patient_uids[i] if patient_uids else (uid if table == "patient" else None)
            if uid not in known:
                self._record_ref(table, uid, patient, lookup=False)
            self._emit("insert", table, uid, patient, None, None, audit, reason, 1)
        self._flush()
        self.changes.tables.add(table)
        self.changes.records.update(uids)
        return uids

    def _known_records(self, uids: Sequence[str]) -> set[str]:
        """Those of ``uids`` the audit trail already knows (a re-inserted record)."""
        known: set[str] = set()
        for start in range(0, len(uids), 900):
            chunk = list(uids[start:start + 900])
            marks = ", ".join("?" for _u in chunk)
            known.update(key_uid(r[0]) for r in self.db.execute_sql(
                f"SELECT record_key FROM audit_record WHERE record_key IN ({marks})",
                [uid_key(u) for u in chunk]).fetchall())
        return known

    def update_many(self, model: type[Record],
                    updates: list[tuple[int, str, str | None, dict[str, tuple[Any, Any]]]], *,
                    reason: str | None = None) -> None:
        """Change many records at once; each update is ``(id, uid, patient_uid, changes)``
        with ``changes`` mapping a field to ``(old, new)``. Audited like :meth:`update`; the
        old values audited are the ones read from the database inside this transaction."""
        table = model._meta.table_name
        if not updates:
            return
        self._permit(table, "update")
        if self.late:
            self._settle(needed=True)  # a bulk change: one writer at a time, as on SQLite
        current: dict[int, dict[str, Any]] = {}
        cols = [c for c, _a in self.schema.columns(table)]
        ids = [u[0] for u in updates]
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            marks = ", ".join("?" for _i in chunk)
            lock = " FOR UPDATE" if is_server_db(self.db) else ""
            for row in self.db.execute_sql(
                    f'SELECT * FROM "{table}" WHERE id IN ({marks}){lock}', chunk).fetchall():
                values = dict(zip(cols, row, strict=True))
                current[int(values["id"])] = values
        check_locks = table not in LOCK_EXEMPT and self._any_signature()
        self._prefetch_records([u[1] for u in updates])
        by_fields: dict[tuple[str, ...], list[list[Any]]] = {}
        for record_id, uid, patient_uid, changes in updates:
            row = current.get(record_id)
            if row is None:
                raise self.tracker.stale_error(table, uid, None, None)
            if check_locks:
                self._check_lock(table, row, record_id)
            names = tuple(sorted(changes))
            fields = [model._meta.fields[name] for name in names]
            version = int(row["version"]) + 1
            by_fields.setdefault(names, []).append(
                [sql_value(f.db_value(changes[f.name][1])) for f in fields]
                + [version, record_id])
            self._bumped(uid, version - 1, version)
            for f in fields:
                old = row.get(f.column_name)
                self._emit("update", table, uid, patient_uid, f.column_name,
                           None if old is None else self._audit_json(
                               model, f, f.python_value(old)),
                           self._audit_json(model, f, changes[f.name][1]), reason, version)
        server = is_server_db(self.db)
        for names, params in by_fields.items():
            column_names = [model._meta.fields[n].column_name for n in names]
            if server and len({p[-1] for p in params}) == len(params):
                _update_values(self.db, table, column_names, params)
                continue
            columns = ", ".join(f'"{c}" = ?' for c in column_names)
            self.db.cursor().executemany(
                f'UPDATE "{table}" SET {columns}, version = ? WHERE id = ?', params)
        self._flush()
        self.changes.tables.add(table)
        self.changes.records.update(uid for _i, uid, _p, _c in updates)

    def update(self, record: M, changes: dict[str, Any], *, patient_uid: str | None = None,
               reason: str | None = None, require_reason: bool = False,
               expected_version: int | None = None) -> list[str]:
        """Change fields of ``record``; returns the names that really changed.

        The current values are read from the database inside this transaction; a record
        changed by someone else since ``expected_version`` (by default the version the
        instance was loaded with, or what :meth:`Tracker.expect` says) is refused with
        :class:`StaleRecordError`. With ``require_reason`` a change without a reason is
        refused (:class:`ReasonRequired`) before anything is written.
        """
        model = type(record)
        table = model._meta.table_name
        for name in changes:
            if name not in model._meta.fields or name in model.audit_exclude:
                raise ServiceError(_("{field} cannot be changed").format(field=name))
        self._permit(table, "update")
        record_id = int(record.__data__["id"])
        row = self._read(table, record_id)
        if row is None:
            raise self.tracker.stale_error(table, record.uid, None, None)
        current = int(row["version"])
        seen = self._expected(record.uid, record.__data__.get("version"), expected_version)
        self._check_version(table, record.uid, current, seen)
        affinity = dict(self.schema.columns(table))
        changed: list[tuple[peewee.Field, Any, Any]] = []
        for name, new in changes.items():
            f = model._meta.fields[name]
            new_value = (getattr(new, "id", new) if isinstance(new, Record)
                         and isinstance(f, peewee.ForeignKeyField) else new)
            old_raw = row.get(f.column_name)
            new_stored = sql_value(f.db_value(new_value))
            col_affinity = affinity.get(f.column_name, "BLOB")
            if stored(old_raw, col_affinity) != stored(new_stored, col_affinity):
                changed.append((f, old_raw, new_value))
        if not changed:
            record.__data__["version"] = current
            return []
        why = reason if reason is not None else self.reason
        if require_reason and not (why and why.strip()):
            raise ReasonRequired(_("a reason is required to change data already completed"))
        self._check_lock(table, row, record_id)
        version = current + 1
        assignments = ", ".join(f'"{f.column_name}" = ?' for f, _o, _n in changed)
        cursor = self.db.execute_sql(
            f'UPDATE "{table}" SET {assignments}, version = ? WHERE id = ? AND version = ?',
            [sql_value(f.db_value(new)) for f, _o, new in changed] + [version, record_id,
                                                                       current])
        if cursor.rowcount != 1:  # cannot happen under the write lock; never write blind
            raise self.tracker.stale_error(table, record.uid, current, None)
        for f, old_raw, new_value in changed:
            old_text = None if old_raw is None else self._audit_json(
                model, f, f.python_value(old_raw))
            self._emit("update", table, record.uid, patient_uid, f.column_name, old_text,
                       self._audit_json(model, f, new_value), reason, version)
            record.__data__[f.name] = new_value
        record.__data__["version"] = version
        self._bumped(record.uid, current, version)
        self._flush()
        self._note(table, record.uid)
        return [f.name for f, _o, _n in changed]

    def delete(self, record: Record, *, patient_uid: str | None = None,
               reason: str | None = None, expected_version: int | None = None) -> None:
        """Remove a record; its last values stay in the audit trail. Rows that reference it
        are removed (or have the reference cleared) as the schema says, audited too."""
        model = type(record)
        table = model._meta.table_name
        record_id = int(record.__data__["id"])
        row = self._read(table, record_id)
        if row is None:
            raise self.tracker.stale_error(table, record.uid, None, None)
        seen = self._expected(record.uid, record.__data__.get("version"), expected_version)
        self._check_version(table, record.uid, int(row["version"]), seen)
        self._delete_row(model, row, patient_uid, reason)
        self._flush()

    def _delete_row(self, model: type[Record], row: dict[str, Any], patient_uid: str | None,
                    reason: str | None) -> None:
        table = model._meta.table_name
        self._permit(table, "delete")
        record_id = int(row["id"])
        self._check_lock(table, row, record_id)
        models = audited_models()
        for fk in self.schema.referencing(table):
            child_model = models.get(fk.table)
            if child_model is None or fk.on_delete not in ("CASCADE", "SET NULL"):
                continue
            cols = [c for c, _a in self.schema.columns(fk.table)]
            # On a server: locked, so a child another workstation is adding now is either
            # committed first (and seen here, audited) or refused after this delete —
            # never removed by the database's cascade without an audit entry.
            lock = " FOR UPDATE" if is_server_db(self.db) else ""
            children = [dict(zip(cols, r, strict=True)) for r in self.db.execute_sql(
                f'SELECT * FROM "{fk.table}" WHERE "{fk.column}" = ?{lock}',
                (record_id,)).fetchall()]
            for child in children:
                if fk.on_delete == "CASCADE":
                    self._delete_row(child_model, child, None, reason)
                else:
                    self._clear_reference(child_model, child, fk.column, reason)
        self.db.execute_sql(f'DELETE FROM "{table}" WHERE id = ?', (record_id,))
        self._emit("delete", table, str(row["uid"]), patient_uid, None,
                   self._snapshot(model, row), None, reason, int(row["version"]))
        self._note(table, str(row["uid"]))
        if table == "signature":
            self._signed = None

    def _clear_reference(self, model: type[Record], row: dict[str, Any], column: str,
                         reason: str | None) -> None:
        table = model._meta.table_name
        self._permit(table, "update")
        version = int(row["version"]) + 1
        self.db.execute_sql(f'UPDATE "{table}" SET "{column}" = NULL, version = ? '
                            "WHERE id = ?", (version, row["id"]))
        f = next(f for f in model._meta.sorted_fields if f.column_name == column)
        self._emit("update", table, str(row["uid"]), None, column,
                   self._audit_json(model, f, f.python_value(row[column])), None, reason,
                   version)
        self._bumped(str(row["uid"]), version - 1, version)
        self._note(table, str(row["uid"]))


Listener = Callable[[Changes], None]


class Tracker:
    """The facade over one open site database: services hang off it, writes go through it.

    ``user`` is who acts: an :class:`~gisttracker.services.policy.Actor`, or for Python code
    that already holds the file a plain name (a *trusted* actor, see
    :mod:`gisttracker.services.policy`), or None until someone signs in (reads only).
    ``clock`` gives the audit timestamps (UTC); tests pass a fixed one.
    """

    def __init__(self, db: peewee.SqliteDatabase, *, user: str | Actor | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self.schema = Schema(db)
        self._actor: Actor | None = trusted_actor(user) if isinstance(user, str) else user
        self._clock = clock or (lambda: datetime.now(UTC))
        # Why this database may not be written (read-only copy, network share), else None.
        self.read_only: str | None = None
        self._listeners: list[Listener] = []
        self._refused_thread: threading.Thread | None = None
        # The open transaction of each thread: the window's worker and a command's main
        # thread must never share a Writer (its reason, time and changes are per unit of work).
        self._local = threading.local()
        # The audit trail's shapes (append-only) as last read on a server, for the next
        # transaction (Writer._shape).
        self._shape_cache: dict[tuple[str, str], int] | None = None

    # ----- who ------------------------------------------------------------------------
    @property
    def actor(self) -> Actor | None:
        return self._actor

    @property
    def user(self) -> str:
        """The acting name, as the audit trail records it."""
        return self._actor.name if self._actor is not None else _("(not signed in)")

    def sign_in(self, actor: Actor) -> None:
        self._actor = actor

    def sign_out(self) -> None:
        self._actor = None

    def can(self, permission: Permission) -> bool:
        return self._actor is not None and self._actor.can(permission)

    @contextmanager
    def acting_as(self, actor: Actor) -> Iterator[None]:
        """Inside this block, ``actor`` acts when nobody is signed in (a signed-in or
        trusted actor stays who acts): for the program's own bookkeeping at open."""
        if self._actor is not None:
            yield
            return
        self._actor = actor
        try:
            yield
        finally:
            if self._actor is actor:
                self._actor = None

    def require(self, permission: Permission) -> Actor:
        """The actor, if allowed ``permission``; :class:`PermissionDenied` otherwise."""
        actor = self._actor
        if actor is None:
            raise NotSignedIn(_("nobody is signed in: sign in first"))
        if not actor.can(permission):
            raise PermissionDenied(_("{user} ({role}) may not {action}").format(
                user=actor.name, role=actor.role_label, action=describe(permission)))
        return actor

    # ----- the open transaction ----------------------------------------------------------
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

    def expected_versions(self) -> dict[str, int]:
        value: dict[str, int] | None = getattr(self._local, "expected", None)
        return value if value is not None else {}

    @contextmanager
    def expect(self, versions: Mapping[str, int]) -> Iterator[None]:
        """Inside this block (on this thread) every transaction first checks that the
        records ``versions`` names (uid → version a form showed) still have those versions,
        and refuses with :class:`StaleRecordError` otherwise. What a transaction inside the
        block changes itself counts as seen for the next one."""
        previous = getattr(self._local, "expected", None)
        self._local.expected = {**(previous or {}), **versions}
        try:
            yield
        finally:
            self._local.expected = previous

    @contextmanager
    def transaction(self, reason: str | None = None, *, actor: Actor | None = None,
                    reserve: Sequence[str] = ()) -> Iterator[Writer]:
        """One unit of work: everything inside commits together or not at all.

        ``actor`` overrides the signed-in actor for this transaction only; the accounts
        service uses it for the bookkeeping of a sign-in. ``reserve``: on a server, for a
        transaction that is not inside another one, one id of each of these tables is
        taken from its sequence in the round trip of the BEGIN, for rows inserted with
        ``Writer.insert_at_commit`` (ignored elsewhere). Raises :class:`NotSignedIn` when
        nobody acts and :class:`~gisttracker.store.db.DatabaseLockedError` when the write
        lock cannot be had.
        """
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
            mark = writer.mark()
            try:
                with self.db.atomic():
                    yield writer
            except BaseException:
                writer.rollback_to(mark)  # the savepoint's audit rows are gone
                raise
            finally:
                self._open = (writer, depth)
            return
        who = actor or self._actor
        if who is None:
            raise NotSignedIn(_("nobody is signed in: sign in first"))
        changes = Changes()
        at = self.now().astimezone(UTC).isoformat(timespec="seconds")
        writer = Writer(self, who, at, reason, changes)
        self._open = (writer, 1)
        try:
            # BEGIN IMMEDIATE: take the write lock now, waiting up to the busy timeout,
            # instead of failing on the first write when another connection holds it. On a
            # server other writers work at once; the chain lock is taken at the end
            # (Writer._settle) or where the transaction asks for it (Writer.serialize).
            # The ids reserved are read with the BEGIN: only when this BEGIN is sent (not a
            # savepoint inside someone's db.atomic()).
            reserving = tuple(reserve) if writer.late and \
                self.db.transaction_depth() == 0 else ()
            begin: dict[str, Any] = (
                {"first": _begin_query(reserving)} if writer.late
                else {"lock_type": "IMMEDIATE"})
            with self.db.atomic(**begin):
                if writer.late:
                    row = cast(ServerDatabase, self.db).first_row()
                    writer.signatures_at_begin(row)
                    if reserving:
                        writer.reserved_ids(reserving, row[1:])
                self._check_expected(writer)
                yield writer
                writer.finish()
        except Exception as exc:
            # psycopg's own errors too: the chain's step talks to the connection directly.
            if not isinstance(exc, _DB_ERRORS) and \
                    not type(exc).__module__.startswith("psycopg"):
                raise
            # A full disk, a lock held elsewhere, a read-only file: the user's message, not
            # SQLite's (nor the "cannot rollback" that follows a failed COMMIT).
            known = environment_error(exc, self.db.database)
            if known is None:
                if is_server_db(self.db) and _collision(exc):
                    # Kept with its traceback: were it a bug rather than a collision, the
                    # log would show which statement.
                    log.info("writers collided on the server", exc_info=True)
                    raise ConcurrentWriteError(_(
                        "Another workstation saved a change to the same data at the same "
                        "moment, so nothing of this change was saved. Try again.")) from exc
                raise
            raise known from exc
        finally:
            self._open = None
        expected = getattr(self._local, "expected", None)
        if expected is not None:
            for uid, version in writer.new_versions.items():
                if uid in expected:
                    expected[uid] = version
        changes.txns = {s.txn for s in writer._segments if s.last is not None}
        if changes.tables:
            # What changed, never the values or the reason typed (they may name a patient).
            log.info("saved %d records in %s", len(changes.records),
                     ", ".join(sorted(changes.tables)))
            for listener in list(self._listeners):
                listener(changes)

    def _check_expected(self, writer: Writer) -> None:
        expected = self.expected_versions()
        if not expected:
            return
        uids = list(expected)
        tables: dict[str, str] = {}
        for start in range(0, len(uids), 900):
            chunk = uids[start:start + 900]
            marks = ", ".join("?" for _u in chunk)
            tables.update((key_uid(k), t) for k, t in self.db.execute_sql(
                f"SELECT record_key, table_name FROM audit_record WHERE record_key IN ({marks})",
                [uid_key(u) for u in chunk]).fetchall())
        for uid, version in expected.items():
            table = tables.get(uid)
            if table is None:
                continue  # never audited: nothing to compare with
            row = self.db.execute_sql(f'SELECT version FROM "{table}" WHERE uid = ?',
                                      (uid,)).fetchone()
            current = None if row is None else int(row[0])
            if current != version:
                raise self.stale_error(table, uid, version, current)

    def stale_error(self, table: str, uid: str, seen: int | None,
                    current: int | None) -> StaleRecordError:
        """The refusal of a change based on version ``seen`` of a record now at ``current``
        (None: deleted), saying from the audit trail who changed what since."""
        query = ("SELECT t.at, t.\"user\", CASE e.action WHEN 'i' THEN 'insert' WHEN 'u' THEN "
                 "'update' ELSE 'delete' END, e.field, e.old_value, e.new_value, "
                 "coalesce(e.reason, t.reason) FROM audit_entry e "
                 "JOIN audit_txn t ON t.id = e.txn WHERE e.record = "
                 "(SELECT id FROM audit_record WHERE record_key = ?)")
        params: list[Any] = [uid_key(uid)]
        if seen is not None:
            query += " AND (e.version > ? OR e.action = 'd')"
            params.append(seen)
        query += " ORDER BY e.id DESC LIMIT 12"
        notes = [ChangeNote(*r) for r in reversed(
            self.db.execute_sql(query, params).fetchall())]
        lines = []
        added = seen is None and current is not None
        for n in notes[-6:]:
            when = n.at[:16].replace("T", " ")
            if n.action == "delete":
                lines.append(_("{user} deleted it at {when}").format(user=n.user, when=when))
            elif n.action == "insert" and added:
                lines.append(_("{user} added it at {when}").format(user=n.user, when=when)
                             + (f" ({n.reason})" if n.reason else ""))
            elif n.action == "update":
                unit = field_unit(n.field) if n.field else None
                lines.append(_("{user} changed {field} from {old} to {new} at {when}").format(
                    user=n.user, field=(field_label(n.field) if n.field else None) or n.field,
                    old=_shown(n.old_value, unit), new=_shown(n.new_value, unit), when=when)
                    + (f" ({n.reason})" if n.reason else ""))
        if added:
            # A record the form never showed (scopes.refuse_unseen): added meanwhile.
            head = _("{table}: a record was added by someone else after you opened this; "
                     "nothing was saved. Reload to see the current values.").format(
                         table=table_label(table))
        elif current is None:
            head = _("{table}: this record was deleted by someone else after you opened it; "
                     "nothing was saved.").format(table=table_label(table))
        else:
            head = _("{table}: this record was changed by someone else after you opened it; "
                     "nothing was saved. Reload to see the current values.").format(
                         table=table_label(table))
        message = head + ("\n" + "\n".join(lines) if lines else "")
        return StaleRecordError(message, table=table, record_uid=uid, expected_version=seen,
                                current_version=current, changes=notes)


# Sent with a server transaction's BEGIN, in the same round trip (Writer.signatures_at_begin).
_SIGNATURES_AT_BEGIN = "SELECT max(id) FROM signature"
_BEGIN_QUERIES: dict[tuple[str, ...], str] = {(): _SIGNATURES_AT_BEGIN}


def _begin_query(reserve: tuple[str, ...]) -> str:
    """:data:`_SIGNATURES_AT_BEGIN`, and the next id of each table of ``reserve`` taken from
    the sequence of its ``id`` column (as the INSERT's default would take it; gone with a
    rollback, as that one is) — one statement, one row."""
    found = _BEGIN_QUERIES.get(reserve)
    if found is None:
        found = _BEGIN_QUERIES[reserve] = (
            "SELECT (SELECT max(id) FROM signature)" + "".join(
                f", nextval(pg_get_serial_sequence('\"{table}\"', 'id'))"
                for table in reserve))
    return found

# PostgreSQL's errors of two writers colliding (nothing is wrong with either change alone):
# unique_violation (both created the same record), foreign_key_violation (one removed what
# the other refers to), serialization_failure, deadlock_detected.
_COLLISIONS = frozenset({"23505", "23503", "40001", "40P01"})


# The audit tables' columns in the order their rows are queued (Writer._flush's order).
_AUDIT_COLUMNS = {
    "audit_shape": "id, table_name, columns",
    "audit_record": "id, table_name, record_key, patient",
    "audit_entry": "id, txn, record, action, field, shape, old_value, new_value, reason, "
                   "version, tag",
    "audit_txn": 'id, at, "user", reason, last_entry, hash',
}
_AUDIT_COLUMN_NAMES = {table: [c.strip().strip('"') for c in columns.split(",")]
                      for table, columns in _AUDIT_COLUMNS.items()}
# One row's INSERT of each audit table, in SQLite's placeholder style (Writer._flush).
_AUDIT_INSERT_SQL = {table: "INSERT INTO {} ({}) VALUES ({})".format(
    table, columns, ", ".join("?" * len(_AUDIT_COLUMN_NAMES[table])))
    for table, columns in _AUDIT_COLUMNS.items()}


_AUDITED: dict[type[Record], list[peewee.Field]] = {}


def _audited_fields(model: type[Record]) -> list[peewee.Field]:
    """The fields of ``model`` the audit trail records (all but ``audit_exclude``), in the
    model's order; worked out once per model."""
    found = _AUDITED.get(model)
    if found is None:
        found = _AUDITED[model] = [f for f in model._meta.sorted_fields
                                   if f.name not in model.audit_exclude]
    return found


_INSERT_SQL: dict[tuple[str, tuple[str, ...], bool], str] = {}


def _insert_statement(record: Record, returning: bool = False,
                      with_id: bool = False) -> tuple[str, list[Any]]:
    """The INSERT of ``record``'s non-null values and its parameters: ``with_id``, its id
    too (a reserved one), else the database gives it; ``returning``: the new row's id
    comes back (a server). The statement's text is built once per table and set of
    columns."""
    meta = record._meta
    data = record.__data__
    fields = [f for f in meta.sorted_fields if data.get(f.name) is not None
              and (with_id or not isinstance(f, peewee.AutoField))]
    key = (meta.table_name, tuple(f.column_name for f in fields), returning)
    sql = _INSERT_SQL.get(key)
    if sql is None:
        sql = _INSERT_SQL[key] = 'INSERT INTO "{}" ({}) VALUES ({}){}'.format(
            meta.table_name, ", ".join(f'"{c}"' for c in key[1]),
            ", ".join("?" for _c in key[1]), " RETURNING id" if returning else "")
    return sql, [sql_value(f.db_value(data[f.name])) for f in fields]


# Up to this many rows (the records inserted at the commit and the audit rows together), a
# server's commit sends them as one statement (Writer.finish).
_ONE_INSERT = 60
_ONE_INSERT_SQL: dict[tuple[Any, ...], str] = {}


def _one_insert(records: Sequence[Record],
                audit: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> tuple[str, list[Any]]:
    """One statement inserting ``records`` (with their reserved ids, in order) and the
    audit tables' ``audit`` rows (table, rows), each table's rows in their order: the
    INSERTs but the last in ``WITH`` clauses. PostgreSQL runs every one of them once, to
    completion, as parts of one command: each row's triggers (the append-only check sees
    the table's rows before it, those of this command too) and each foreign key checked at
    the end of the command, as for the same INSERTs sent one after another. One statement
    instead of up to six: a server's CPU per statement, and psycopg's, is most of what a
    small transaction costs. The text is built once per shape and prepared by psycopg like
    any repeated statement."""
    parts: list[tuple[str, int, int]] = []  # (INSERT … VALUES, values per row, rows)
    params: list[Any] = []
    for record in records:
        sql, values = _insert_statement(record, with_id=True)
        parts.append((sql, len(values), 1))
        params += values
    for table, rows in audit:
        if rows:
            parts.append((table, len(rows[0]), len(rows)))
            params += [v for row in rows for v in row]
    key = tuple(parts)
    text = _ONE_INSERT_SQL.get(key)
    if text is None:
        statements = [
            (sql.split(" VALUES ", 1)[0] if sql.startswith("INSERT")
             else f"INSERT INTO {sql} ({_AUDIT_COLUMNS[sql]})") + " VALUES "
            + ", ".join(["(" + ", ".join(["%s"] * width) + ")"] * count)
            for sql, width, count in parts]
        text = statements[-1]
        if len(statements) > 1:
            text = "WITH " + ", ".join(
                f"w{n} AS ({statement})" for n, statement in enumerate(statements[:-1])
            ) + " " + text
        if len(_ONE_INSERT_SQL) < 512:
            _ONE_INSERT_SQL[key] = text
    return text, params


def _insert_rows(cursor: Any, table: str, rows: Sequence[Sequence[Any]],
                 batch: int = 500) -> None:
    """Insert ``rows`` into the audit table ``table`` with one multi-row ``INSERT`` per
    ``batch`` rows, in psycopg's placeholder style (a server's settled trail: one statement
    per table instead of one per row; the rows keep their order, so the append-only
    trigger sees rising ids as before)."""
    if not rows:
        return
    marks = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    for chunk in _batched(rows, batch):
        cursor.execute(
            f"INSERT INTO {table} ({_AUDIT_COLUMNS[table]}) VALUES "
            + ", ".join([marks] * len(chunk)), [v for row in chunk for v in row])


@lru_cache(maxsize=32)
def _value_rows(rows: int, marks: tuple[str, ...]) -> str:
    """``(…), (…), …``: ``rows`` rows of numbered parameters (``$1`` …), each written as
    ``marks`` says (``{}`` is the parameter: ``{}`` or ``{}::integer``)."""
    width = len(marks)
    return ", ".join(
        "(" + ", ".join(mark.format(f"${n * width + i + 1}") for i, mark in enumerate(marks))
        + ")" for n in range(rows))


def _raw_execute(db: Any, sql: str, params: list[Any]) -> None:
    """Run ``sql`` with numbered parameters (``$1`` …) on the server connection of ``db``:
    psycopg's ``RawCursor`` sends it as it is, where the usual cursor would scan a statement
    of thousands of ``%s`` for its placeholders every time (it caches only short ones)."""
    import psycopg

    with psycopg.RawCursor(db.connection()) as cursor:
        cursor.execute(sql, params)


def _insert_values(db: Any, table: str, columns: Sequence[str],
                   rows: Sequence[Sequence[Any]], most: int = 1000) -> None:
    """Insert ``rows`` (values for ``columns``, in order) into ``table`` on a server with one
    multi-row ``INSERT`` per batch (at most ``most`` rows and 30,000 values), where
    ``executemany`` runs one statement per row. The values are sent as parameters, typed
    as for ``executemany``, so the server converts them the same way; the rows keep their
    order (the append-only trigger of the audit tables sees rising ids as before)."""
    if not rows:
        return
    names = ", ".join(f'"{c}"' for c in columns)
    size = max(1, min(most, 30_000 // max(1, len(columns))))
    marks = ("{}",) * len(columns)
    for chunk in _batched(rows, size):
        _raw_execute(db, f'INSERT INTO "{table}" ({names}) VALUES '
                     + _value_rows(len(chunk), marks), [v for row in chunk for v in row])


def _update_values(db: Any, table: str, columns: Sequence[str],
                   rows: Sequence[Sequence[Any]], most: int = 1000) -> None:
    """``UPDATE table SET columns…, version = … WHERE id = …`` for every row of ``rows``
    (the new values, the version, the id: the parameters of one row's statement) on a
    server, in one statement per batch (``UPDATE … FROM (VALUES …)``). Each value is cast to
    its column's type, as the server does for one row's parameters; the ids must differ."""
    types = dict(db.execute_sql(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = ?::regclass AND attnum > 0 AND NOT attisdropped",
        (f'"{table}"',)).fetchall())
    every = [*columns, "version", "id"]
    marks = tuple(f"{{}}::{types[c]}" for c in every)
    aliases = ", ".join(f"c{i}" for i in range(len(every)))
    sets = ", ".join(f'"{c}" = v.c{i}' for i, c in enumerate(every[:-1]))
    size = max(1, min(most, 30_000 // len(every)))
    for chunk in _batched(rows, size):
        _raw_execute(db, f'UPDATE "{table}" AS t SET {sets} FROM (VALUES '
                     + _value_rows(len(chunk), marks)
                     + f") AS v({aliases}) WHERE t.id = v.c{len(every) - 1}",
                     [v for row in chunk for v in row])


def _collision(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, "sqlstate", None) in _COLLISIONS:
            return True
        wrapped = seen.args[0] if seen.args else None  # peewee's error wraps psycopg's
        if isinstance(wrapped, BaseException) and \
                getattr(wrapped, "sqlstate", None) in _COLLISIONS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _shown(value: str | None, unit: str | None = None) -> str:
    """An audited value (JSON text) as a person reads it, with its unit when it has one
    ("62.0 mm"); an empty value is "(empty)" in any unit."""
    if value is None:
        return _("(empty)")
    try:
        decoded = json.loads(value)
    except ValueError:
        decoded = value
    if decoded is None:
        return _("(empty)")
    return f"{decoded} {unit}" if unit else str(decoded)
