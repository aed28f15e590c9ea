"""Verifying the audit trail: the hash chain, and every table against what the trail says.

:func:`verify` (``gisttracker audit verify``) is the full check. It recomputes every entry's
hash (:mod:`gisttracker.store.chain`) and replays the trail — inserts, changed fields,
deletes — into the value every audited field must have now, then compares each audited
table row by row, field by field, version included. It names the first entry whose hash
does not match and every record whose stored values the trail does not explain: an entry
edited or removed with the triggers dropped, a value changed directly in the file, a row
inserted or deleted around the service layer.

:func:`check_at_open` is the quick check run when a session opens: the chain from the last
checkpoint on (the whole chain the first time), and that the entry the user's own
*witness* file (outside the database, see :class:`Witness`) remembers still has the hash it
had. Rewriting history and re-chaining it consistently is possible for someone who can
write the file — there is no secret in a hash — but not without the witness of every
account that opened the file noticing, nor without the head printed by ``audit verify`` and
on signed casebooks changing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import peewee
from platformdirs import user_state_dir

from gisttracker.files import make_private_dir, write_private
from gisttracker.i18n import _
from gisttracker.store.chain import (
    _ENCODE,
    ACTIONS,
    TAG_BYTES,
    ZERO_HASH,
    key_uid,
    step,
    tag,
    uid_key,
)
from gisttracker.store.introspect import (
    DERIVED_COLUMNS,
    Schema,
    audited_models,
    stored,
    table_names,
)

STATE_ENV = "GISTTRACKER_STATE_DIR"


@dataclass(frozen=True)
class Finding:
    """One thing the trail does not explain. ``entry_id`` names the audit entry (chain
    breaks, and the entry that last set a mismatching field); ``table`` and ``record_uid``
    the record."""

    message: str
    entry_id: int | None = None
    table: str | None = None
    record_uid: str | None = None


@dataclass
class AuditReport:
    entries: int = 0
    records: int = 0
    tables: int = 0
    head_id: int = 0
    head_hash: str = ""
    seconds: float = 0.0
    full: bool = True
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        if self.ok:
            if self.full:
                return _("audit trail verified: {entries} entries, {records} records in "
                         "{tables} tables match; head #{head} {digest}; {s:.1f} s").format(
                    entries=self.entries, records=self.records, tables=self.tables,
                    head=self.head_id, digest=self.head_hash[:16], s=self.seconds)
            return _("audit chain checked up to entry #{head}").format(head=self.head_id)
        first = self.findings[0]
        more = len(self.findings) - 1
        text = _("the audit trail does not match: {first}").format(first=first.message)
        if more:
            text += " " + _("(and {n} more findings)").format(n=more)
        return text


class _Chain:
    """Walks entries in order, recomputing the chain, checking each entry's tag and each
    transaction's full hash where it ends."""

    def __init__(self, report: AuditReport, previous: bytes,
                 txn_hashes: dict[int, bytes]) -> None:
        self.report = report
        self.value = previous
        self.txn_hashes = txn_hashes
        self.txn: int | None = None
        self.txn_first: int | None = None
        self.broken = False

    def _break(self, message: str, entry_id: int | None, table: str | None = None,
               uid: str | None = None) -> None:
        if not self.broken:
            self.broken = True
            self.report.findings.append(Finding(message, entry_id=entry_id, table=table,
                                                record_uid=uid))

    def _end_txn(self) -> None:
        if self.txn is None:
            return
        stored = self.txn_hashes.get(self.txn)
        if stored is None:
            self._break(_("transaction {txn} (entries from #{first}) has no record of who "
                          "made it").format(txn=self.txn, first=self.txn_first),
                        self.txn_first)
        elif stored != self.value:
            self._break(_("transaction {txn} (entries from #{first}) is not what was "
                          "written: its hash does not follow from its entries").format(
                              txn=self.txn, first=self.txn_first), self.txn_first)
            self.value = stored  # go on from what is stored, to find later breaks too

    def entry(self, txn: int, values: list[Any], stored_tag: bytes) -> None:
        if txn != self.txn:
            self._end_txn()
            self.txn, self.txn_first = txn, int(values[0])
        self.value = step(self.value, values)
        self.report.entries += 1
        self.report.head_id = int(values[0])
        if tag(self.value) != stored_tag:
            entry_id, at, user, action, table, uid = values[:6]
            self._break(_("entry #{id} ({action} of {table} {uid} by {user} at {at}) is not "
                          "the entry that was written: its hash does not follow from the "
                          "entries before it").format(id=entry_id, action=action, table=table,
                                                      uid=uid, user=user, at=at),
                        int(entry_id), table, uid)

    def close(self) -> bytes:
        self._end_txn()
        self.report.head_hash = self.value.hex()
        return self.value


_ENTRIES = ("SELECT e.id, e.txn, e.record, e.action, e.field, e.shape, e.old_value, "
            "e.new_value, e.reason, e.version, e.tag FROM audit_entry e")


def _lookups(db: peewee.Database, since_txn: int = 0) -> tuple[
        dict[int, tuple[str, str, str | None, bytes]], dict[int, str]]:
    txns = {int(r[0]): (r[1], r[2], r[3], bytes(r[4])) for r in db.execute_sql(
        'SELECT id, at, "user", reason, hash FROM audit_txn WHERE id > ?',
        (since_txn,)).fetchall()}
    shapes = {int(r[0]): str(r[1]) for r in db.execute_sql(
        "SELECT id, columns FROM audit_shape").fetchall()}
    return txns, shapes


def verify(db: peewee.Database) -> AuditReport:
    """The full check: the chain and every audited table. Read-only."""
    started = time.perf_counter()
    report = AuditReport(full=True)
    txns, shapes = _lookups(db)
    raw = db.execute_sql("SELECT id, table_name, record_key, patient FROM audit_record"
                         ).fetchall()
    uids = {int(r[0]): key_uid(r[2]) for r in raw}
    # id -> (table, uid, the patient's uid)
    records: dict[int, tuple[str, str, str | None]] = {
        int(r[0]): (r[1], uids[int(r[0])], uids.get(r[3]) if r[3] is not None else None)
        for r in raw}
    chain = _Chain(report, ZERO_HASH, {k: v[3] for k, v in txns.items()})
    names_of = {k: json.loads(v) for k, v in shapes.items()}
    loads = json.loads
    # A changed field's value is mostly one of few (a state, a date): decode each text once.
    decoded: dict[str, Any] = {}
    # uid -> [table, values, version, deleted, last entry id by column]
    state: dict[str, list[Any]] = {}
    # The chain, inlined (this loop runs once per entry of the whole trail: at 10,000 demo
    # patients 600,000 times, so every attribute look-up here shows in the total).
    value, current_txn, first_of_txn = ZERO_HASH, None, 0
    at, user, txn_reason = "?", "?", None
    encode, sha256 = _ENCODE, hashlib.sha256
    count, last_id = 0, 0
    for (entry_id, txn_id, ref, code, field_name, shape, old, new, reason, version,
         stored_tag) in db.execute_sql(_ENTRIES + " ORDER BY e.id"):
        rec = records.get(ref)
        if rec is None:
            report.findings.append(Finding(_("entry #{id} names a record the trail does not "
                                             "hold").format(id=entry_id), entry_id=entry_id))
            continue
        if txn_id != current_txn:
            if current_txn is not None:
                chain.value = value
                chain.txn, chain.txn_first = current_txn, first_of_txn
                chain._end_txn()
                value = chain.value
            current_txn, first_of_txn = txn_id, entry_id
            txn = txns.get(txn_id)
            at, user, txn_reason = (txn[0], txn[1], txn[2]) if txn else ("?", "?", None)
        table, uid, patient = rec
        action = ACTIONS[code]
        value = sha256(value + encode(
            [entry_id, at, user, action, table, uid, field_name,
             shapes[shape] if shape is not None else None, old, new,
             reason if reason is not None else txn_reason, patient, version]
        ).encode("utf-8")).digest()
        if value[:TAG_BYTES] != stored_tag and not chain.broken:
            chain._break(_("entry #{id} ({action} of {table} {uid} by {user} at {at}) is not "
                           "the entry that was written: its hash does not follow from the "
                           "entries before it").format(id=entry_id, action=action, table=table,
                                                       uid=uid, user=user, at=at),
                         int(entry_id), table, uid)
        count += 1
        last_id = entry_id
        if code == "i":
            state[uid] = [table, dict(zip(names_of[shape], loads(new), strict=False)),
                          version, False, {"*": entry_id}]
        elif code == "u":
            slot = state.get(uid)
            if slot is None:  # a change of a record the trail never saw inserted
                slot = state[uid] = [table, {}, version, False, {}]
            if new is None:
                slot[1][field_name] = None
            else:
                known = decoded.get(new, decoded)
                if known is decoded:
                    known = loads(new)
                    if len(new) < 64 and len(decoded) < 100_000:
                        decoded[new] = known
                slot[1][field_name] = known
            slot[2] = version
            slot[4][field_name] = entry_id
        else:
            slot = state.get(uid)
            if slot is None:
                slot = state[uid] = [table, {}, version, True, {}]
            slot[3] = True
            slot[4]["*"] = entry_id
    report.entries += count
    report.head_id = last_id or report.head_id
    chain.value = value
    chain.txn, chain.txn_first = current_txn, first_of_txn
    chain.close()
    for txn_id in txns:
        if txn_id > (chain.txn or 0):
            report.findings.append(Finding(_("transaction {txn} has no entries: entries were "
                                             "removed").format(txn=txn_id)))
            break
    _compare_tables(db, state, report)
    report.records = sum(1 for s in state.values() if not s[3])
    report.seconds = time.perf_counter() - started
    return report


def _readable_rows(db: peewee.Database, select: str, table: str,
                   report: AuditReport) -> Iterator[tuple[Any, ...]]:
    """The rows of ``select``. Text that is not valid UTF-8 (which the program never writes)
    is a finding; the table is then read again with such text kept as it is (undecodable
    bytes escaped), so its rows are still compared and none is taken for missing."""
    cursor = db.execute_sql(select)
    done = 0
    while True:
        try:
            row = cursor.fetchone()
        except sqlite3.OperationalError as exc:
            if "decode" not in str(exc):
                raise
            report.findings.append(Finding(_(
                "{table} holds text that is not valid UTF-8 ({error}): it was written around "
                "the program").format(table=table, error=exc), table=table))
            break
        if row is None:
            return
        done += 1
        yield row
    conn = db.connection()
    conn.text_factory = lambda data: data.decode("utf-8", "surrogateescape")
    try:
        for n, row in enumerate(conn.execute(select)):
            if n >= done:
                yield tuple(row)
    finally:
        conn.text_factory = str


def _compare_tables(db: peewee.Database, state: dict[str, list[Any]],
                    report: AuditReport) -> None:
    from gisttracker.services.base import secret_digest

    schema = Schema(db)
    present: set[str] = set()
    models = audited_models()
    existing = set(table_names(db))
    for table, model in sorted(models.items()):
        if table not in existing:
            continue
        report.tables += 1
        excluded = {model._meta.fields[n].column_name for n in model.audit_exclude
                    if n in model._meta.fields} | {"id", "uid", "version"}
        excluded |= DERIVED_COLUMNS.get(table, frozenset())
        secret = {model._meta.fields[n].column_name for n in model.audit_secret}
        columns = [(c, a) for c, a in schema.columns(table) if c not in excluded]
        checks = [(i + 2, c, a, c in secret) for i, (c, a) in enumerate(columns)]
        names = ", ".join(f'"{c}"' for c, _a in columns)
        select = f'SELECT uid, version{", " + names if names else ""} FROM "{table}"'
        for row in _readable_rows(db, select, table, report):
            uid, version = row[0], row[1]
            present.add(uid)
            slot = state.get(uid)
            if slot is None or slot[0] != table:
                report.findings.append(Finding(_(
                    "{table} record {uid} has no audit trail: it was written around the "
                    "program").format(table=table, uid=uid), table=table, record_uid=uid))
                continue
            if slot[3]:
                report.findings.append(Finding(_(
                    "{table} record {uid} was deleted (entry #{id}) but is in the database "
                    "again").format(table=table, uid=uid, id=slot[4].get("*")),
                    entry_id=slot[4].get("*"), table=table, record_uid=uid))
                continue
            values = slot[1]
            for index, column, col_affinity, is_secret in checks:
                found = row[index]
                expected = values.get(column)
                if found == expected and not is_secret:
                    continue  # the usual case, without converting anything
                if is_secret:
                    same = (found is None and expected is None) or (
                        found is not None and expected == secret_digest(found))
                else:
                    same = stored(found, col_affinity) == stored(expected, col_affinity)
                if not same:
                    entry = slot[4].get(column, slot[4].get("*"))
                    report.findings.append(Finding(_(
                        "{table} record {uid}: {column} is {found} in the database, but the "
                        "audit trail says {expected} (entry #{entry})").format(
                            table=table, uid=uid, column=column, found=_show(found),
                            expected=_show(expected), entry=entry),
                        entry_id=entry, table=table, record_uid=uid))
            if int(version) != int(slot[2]):
                report.findings.append(Finding(_(
                    "{table} record {uid} is at version {found} in the database, but the "
                    "audit trail says {expected}").format(table=table, uid=uid, found=version,
                                                    expected=slot[2]),
                    table=table, record_uid=uid))
    for uid, slot in state.items():
        if not slot[3] and uid not in present and slot[0] in existing:
            report.findings.append(Finding(_(
                "{table} record {uid} is missing from the database: it was removed around "
                "the program (inserted at entry #{id})").format(table=slot[0], uid=uid,
                                                           id=slot[4].get("*")),
                entry_id=slot[4].get("*"), table=slot[0], record_uid=uid))


def _show(value: Any) -> str:
    if value is None:
        return _("(empty)")
    return repr(value) if isinstance(value, str) else str(value)


# ----- the quick check at open -----------------------------------------------------------


class Witness:
    """What this user last saw of one database's audit trail (entry id and hash), kept in
    the user's own state folder (``$GISTTRACKER_STATE_DIR`` or the platform's), outside
    the file, readable by the user only."""

    def __init__(self, db_path: Path) -> None:
        folder = Path(os.environ.get(STATE_ENV) or user_state_dir("gisttracker",
                                                                 appauthor=False))
        name = hashlib.sha256(str(db_path.resolve()).encode()).hexdigest()[:32]
        self.path = folder / "witness" / f"{name}.json"

    def load(self) -> tuple[int, str] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return int(data["entry_id"]), str(data["hash"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def forget(self) -> None:
        """Forget this file's head: the user replaced the file on purpose (a restore), so
        the next open remembers the new file's head instead of calling it rewritten."""
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)

    def save(self, entry_id: int, digest: str) -> None:
        try:
            make_private_dir(self.path.parent)
            write_private(self.path, json.dumps({"entry_id": entry_id, "hash": digest}))
        except OSError:
            pass  # a witness is a help, not a condition of opening the file


def check_at_open(db: peewee.Database, db_path: Path | None = None) -> AuditReport:
    """The chain from the last checkpoint (all of it the first time) and the user's
    witness. Records a new checkpoint when all is well.

    Damaged pages under the trail do not stop the file from opening (what can be read stays
    readable; the full check of the file names the damage): they are a finding."""
    try:
        return _check_at_open(db, db_path)
    except (peewee.DatabaseError, sqlite3.DatabaseError) as exc:
        if not any(word in str(exc) for word in ("malformed", "corrupt")):
            raise
        report = AuditReport(full=False)
        report.findings.append(Finding(_("the audit trail could not be read ({error}): the "
                                         "file is damaged").format(error=exc)))
        return report


def _check_at_open(db: peewee.Database, db_path: Path | None) -> AuditReport:
    started = time.perf_counter()
    report = AuditReport(full=False)
    row = db.execute_sql("SELECT entry_id, hash FROM audit_checkpoint WHERE id = 1").fetchone()
    start, previous, since_txn = 0, ZERO_HASH, 0
    if row is not None:
        # The checkpoint is a transaction boundary: its entry is the last of a transaction
        # whose full hash it keeps.
        at = db.execute_sql("SELECT t.id, t.hash FROM audit_entry e JOIN audit_txn t "
                            "ON t.id = e.txn WHERE e.id = ?", (row[0],)).fetchone()
        if at is not None and bytes(at[1]) == bytes(row[1]):
            start, previous, since_txn = int(row[0]), bytes(row[1]), int(at[0])
        # else: the checkpoint does not hold: check the whole chain
    txns, shapes = _lookups(db, since_txn)
    chain = _Chain(report, previous, {k: v[3] for k, v in txns.items()})
    rows = db.execute_sql(
        "SELECT e.id, e.txn, r.table_name, r.record_key, e.action, e.field, e.shape, "
        "e.old_value, e.new_value, e.reason, p.record_key, e.version, e.tag "
        "FROM audit_entry e JOIN audit_record r ON r.id = e.record "
        "LEFT JOIN audit_record p ON p.id = r.patient WHERE e.id > ? ORDER BY e.id", (start,))
    for (entry_id, txn_id, table, uid, code, field_name, shape, old, new, reason, patient,
         version, stored_tag) in rows:
        txn = txns.get(txn_id)
        at, user, txn_reason = (txn[0], txn[1], txn[2]) if txn else ("?", "?", None)
        chain.entry(txn_id, [entry_id, at, user, ACTIONS.get(code, code), table,
                             key_uid(uid), field_name,
                             shapes.get(shape) if shape is not None else None, old, new,
                             reason if reason is not None else txn_reason,
                             None if patient is None else key_uid(patient), version],
                    bytes(stored_tag))
    head_value = chain.close()
    report.head_id = report.head_id or start
    # The chain as the file holds it is sound up to here: a checkpoint may say so even when
    # the witness below disagrees (it keeps saying so at every open; the checkpoint only
    # spares each open from re-reading the whole trail).
    chain_ok = report.ok
    witness = Witness(db_path) if db_path is not None else None
    seen = witness.load() if witness is not None else None
    if seen is not None:
        found = db.execute_sql("SELECT t.hash FROM audit_entry e JOIN audit_txn t "
                               "ON t.id = e.txn WHERE e.id = ?", (seen[0],)).fetchone()
        if found is None or bytes(found[0]).hex() != seen[1]:
            report.findings.append(Finding(_(
                "the audit trail up to entry #{id} is not what it was when you last opened "
                "this file: it was rewritten or cut short").format(id=seen[0]),
                entry_id=seen[0]))
    if chain_ok and report.head_id and report.head_id != start:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        # Busy or read-only: no checkpoint, and the next open checks a little more.
        with contextlib.suppress(peewee.OperationalError):
            db.execute_sql(
                "INSERT INTO audit_checkpoint (id, entry_id, hash, checked_at) VALUES "
                "(1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET entry_id = excluded.entry_id, "
                "hash = excluded.hash, checked_at = excluded.checked_at",
                (report.head_id, head_value, now))
    if report.ok and report.head_id and witness is not None and (
            seen is None or seen[0] != report.head_id):
        witness.save(report.head_id, head_value.hex())
    report.seconds = time.perf_counter() - started
    return report


def head(db: peewee.Database) -> tuple[int, str]:
    """The last committed entry's id and its transaction's full chain hash (hex): what a
    signature or a printed report cites, and ``audit verify`` prints."""
    row = db.execute_sql("SELECT last_entry, hash FROM audit_txn WHERE id = "
                         "(SELECT max(id) FROM audit_txn)").fetchone()
    return (0, ZERO_HASH.hex()) if row is None else (int(row[0]), bytes(row[1]).hex())


# ----- reading the trail -----------------------------------------------------------------

IDENTITY_TABLE = "patient_identity"
MASK = "•••"


@dataclass(frozen=True)
class AuditRow:
    """One entry of the trail as a person reads it; an insert or delete keeps its values
    as one JSON object (see :func:`expand` for one line per field)."""

    entry_id: int
    at: str
    user: str
    action: str
    table: str
    record_uid: str
    field: str | None
    old: str | None
    new: str | None
    reason: str | None
    patient_uid: str | None
    version: int


def expand(row: AuditRow) -> list[tuple[str, str | None, str | None]]:
    """(field, old, new) lines of an entry: one per value of an insert or delete, the one
    changed field of an update. Values stay JSON text."""
    if row.action == "update":
        return [(row.field or "", row.old, row.new)]
    text = row.new if row.action == "insert" else row.old
    try:
        values = json.loads(text) if text else {}
    except ValueError:
        return [("", row.old, row.new)]
    out: list[tuple[str, str | None, str | None]] = []
    for name, value in sorted(values.items()):
        encoded = json.dumps(value, ensure_ascii=False)
        out.append((name, None, encoded) if row.action == "insert" else (name, encoded, None))
    return out


def patient_entries(db: peewee.Database, *, patient_uid: str | None = None,
                    record_uid: str | None = None, limit: int | None = None,
                    ) -> list[AuditRow]:
    """The entries of a patient's records (or of one record), oldest first — the last
    ``limit`` of them. Reads the audit tables directly (by the indexed record key), not
    through the view."""
    if patient_uid is not None:
        where = ("e.record IN (SELECT id FROM audit_record WHERE patient = "
                 "(SELECT id FROM audit_record WHERE record_key = ?))")
        key = uid_key(patient_uid)
    else:
        where = "e.record = (SELECT id FROM audit_record WHERE record_key = ?)"
        key = uid_key(str(record_uid))
    query = (f"SELECT l.id, l.at, l.\"user\", l.action, l.table_name, l.record_uid, l.field, "
             f"l.old_value, l.new_value, l.reason, l.patient_uid, l.version FROM audit_log l "
             f"WHERE l.id IN (SELECT e.id FROM audit_entry e WHERE {where} ORDER BY e.id DESC"
             f"{' LIMIT ?' if limit is not None else ''}) ORDER BY l.id")
    params: list[Any] = [key] + ([int(limit)] if limit is not None else [])
    return [AuditRow(*r) for r in db.execute_sql(query, params).fetchall()]


def entry_rows(session: Any, *, patient_ref: str | None = None, record_uid: str | None = None,
               limit: int | None = None) -> list[AuditRow]:
    """The entries of a patient (by study identifier or uid) or of one record, oldest
    first (the last ``limit`` of them). Needs permission to see the audit trail; personal
    identifiers are masked for an account that may not see them."""
    from gisttracker.services.common import find_patient
    from gisttracker.services.policy import Permission

    tracker = session.tracker
    tracker.require(Permission.VIEW_AUDIT)
    patient_uid = str(find_patient(patient_ref).uid) if patient_ref is not None else None
    rows = patient_entries(session.db, patient_uid=patient_uid, record_uid=record_uid,
                           limit=limit)
    if tracker.can(Permission.VIEW_IDENTIFIERS):
        return rows
    return [AuditRow(r.entry_id, r.at, r.user, r.action, r.table, r.record_uid, r.field,
                     MASK if r.old is not None else None, MASK if r.new is not None else None,
                     r.reason, r.patient_uid, r.version)
            if r.table == IDENTITY_TABLE else r for r in rows]
