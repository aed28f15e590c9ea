"""Schema 8: accounts, signatures, source verification, queries; record versions; a compact,
hash-chained audit trail; the randomization seed sealed.

Frozen: this module never imports today's models or services. It carries its own copies of
the few functions it needs (the row hash, the seed sealing), as they were at schema 9.

What the upgrade does to data already in the file:

* **Audit trail, compacted.** Schema 1–6 wrote one audit row per field, insert included.
  Now the who / when / why of a transaction is one ``audit_txn`` row, each audited record
  is one ``audit_record`` row (table, uid, patient), an insert is one ``audit_entry`` row
  carrying all its values (a JSON object keyed by column), and a change stays one row per
  changed field with old value, new value and reason. The old rows are converted run by
  run (the rows of one insert, or of one change of one record, are consecutive), keeping
  time, user, reason, values and order. Nothing an old row said is dropped, except the
  clear-text randomization seed (below).
* **Chain.** Every entry gets ``hash`` = SHA-256(previous hash ‖ the entry as shown by the
  ``audit_log`` view), so a changed, removed or reordered row breaks the chain from there.
* **Versions.** Every audited table gets ``version`` (1 at insert, +1 per audited change);
  the upgrade sets it from the audit trail, so a form loaded before the upgrade is not
  mistaken for a stale one and the table replays to its versions.
* **What the audit trail did not explain.** A record with no audit row at all, or whose
  audit rows do not replay to the value now in the table (possible before schema 9: nothing
  protected the file), gets an entry by ``(upgrade to schema 9)`` recording what was found,
  with that reason. From here on any difference between a table and its audit trail is
  new, and ``gisttracker audit verify`` reports it.
* **Seed sealed.** The seed of each randomized study is encrypted (AES-256-GCM) with a new
  random allocation key. The migration knows no password, so that key is stored in an
  *open* wrap (readable by anyone with the file, as the seed was until now) until the site
  creates its administrator (``gisttracker users init`` or the first start of the window),
  which wraps it for that account and removes the open wrap. The audit trail keeps a
  commitment (a SHA-256 digest) of each seed instead of the seed. ``secure_delete`` is on
  while the old rows are removed and the file is vacuumed afterwards, so the clear seed is
  not left in free pages.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import peewee
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 9
# Run VACUUM once this migration has committed: the old audit rows (and the clear seed)
# leave free pages behind.
VACUUM_AFTER = True

UPGRADE_USER = "(upgrade to schema 9)"

# Tables of schema 8 whose rows the service layer audits (they carry a uid).
AUDITED_V7 = [
    "setting", "patient", "patient_identity", "screening", "screening_judgement",
    "lab_result", "randomization", "anchor_date", "visit", "form", "form_value",
    "adverse_event", "tumour_assessment", "lesion_measurement", "treatment_exposure",
    "treatment_interruption", "surgery", "pathology", "course_event", "protocol_version",
    "study_protocol", "form_version",
    # schema 7 (exchange): the demo's runs, a centre's sites, packages and conflicts
    "demo_run", "exchange_site", "exchange_package", "exchange_conflict",
]
# Columns not audited: filled by the database itself (a trigger), or kept once in the
# table and recorded in the trail by their digest (a protocol file's text, a form's
# definition: schema 6 audited the digest column and left these out).
DERIVED = {"visit": {"study_key"}, "protocol_version": {"text"},
           "form_version": {"definition"}}
# Tables whose rows triggers keep from ever changing: their version stays 1.
IMMUTABLE = {"randomization", "protocol_version", "form_version"}
NOT_AUDITED = {"id", "uid", "version"}

STATEMENTS: list[str] = []  # this migration runs upgrade() instead

BEFORE = [
    # ---- accounts -------------------------------------------------------------------
    """CREATE TABLE account (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL DEFAULT 1,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        full_name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('administrator', 'investigator', 'nurse',
            'monitor', 'read_only')),
        password_hash TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        failed_sign_ins INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT,
        password_changed_at TEXT,
        created_at TEXT NOT NULL
    )""",
    # A data key wrapped (AES-256-GCM) with a key derived from one account's password
    # (Argon2id), or, for a site without accounts yet, stored open (account_id NULL).
    """CREATE TABLE key_wrap (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL DEFAULT 1,
        account_id INTEGER REFERENCES account (id) ON DELETE CASCADE,
        purpose TEXT NOT NULL CHECK (purpose IN ('allocation')),
        kdf TEXT,
        wrapped TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    "CREATE UNIQUE INDEX key_wrap_account ON key_wrap (purpose, coalesce(account_id, 0))",
    "CREATE INDEX key_wrap_account_id ON key_wrap (account_id)",  # the cascade's look-up
    # An investigator's electronic signature of a visit, a form or a casebook. While it
    # exists the data under it is locked; unlocking deletes it (audited, with a reason).
    """CREATE TABLE signature (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL DEFAULT 1,
        scope TEXT NOT NULL CHECK (scope IN ('casebook', 'visit', 'form')),
        target_uid TEXT NOT NULL,
        patient_ref TEXT NOT NULL,
        account_uid TEXT NOT NULL,
        signer TEXT NOT NULL,
        signer_name TEXT NOT NULL,
        meaning TEXT NOT NULL,
        signed_at TEXT NOT NULL,
        audit_head INTEGER,
        audit_hash TEXT,
        UNIQUE (scope, target_uid)
    )""",
    "CREATE INDEX signature_patient ON signature (patient_ref)",
    # A monitor's source data verification of a visit, a form or a casebook.
    """CREATE TABLE source_verification (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL DEFAULT 1,
        scope TEXT NOT NULL CHECK (scope IN ('casebook', 'visit', 'form')),
        target_uid TEXT NOT NULL,
        patient_ref TEXT NOT NULL,
        verified_by TEXT NOT NULL,
        verified_at TEXT NOT NULL,
        audit_head INTEGER,
        UNIQUE (scope, target_uid)
    )""",
    "CREATE INDEX source_verification_patient ON source_verification (patient_ref)",
    # A monitor's question about one value; the site answers; the monitor closes it.
    """CREATE TABLE data_query (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL DEFAULT 1,
        number INTEGER NOT NULL UNIQUE,
        patient_ref TEXT NOT NULL,
        study_key TEXT NOT NULL,
        table_name TEXT NOT NULL,
        record_uid TEXT NOT NULL,
        field TEXT,
        value_seen TEXT,
        question TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'answered', 'closed')),
        raised_by TEXT NOT NULL,
        raised_at TEXT NOT NULL,
        answer TEXT,
        answered_by TEXT,
        answered_at TEXT,
        closed_by TEXT,
        closed_at TEXT,
        close_note TEXT
    )""",
    "CREATE INDEX data_query_state ON data_query (study_key, state, number)",
    "CREATE INDEX data_query_patient ON data_query (patient_ref, state)",
    "CREATE INDEX data_query_record ON data_query (record_uid)",
    # Security events that change no data but must be on record (an allocation revealed).
    """CREATE TABLE security_event (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL DEFAULT 1,
        kind TEXT NOT NULL,
        detail TEXT,
        at TEXT NOT NULL,
        account TEXT NOT NULL
    )""",
    # Where the last check of the audit chain stopped (a cache for the check at open;
    # `audit verify` never trusts it).
    """CREATE TABLE audit_checkpoint (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        entry_id INTEGER NOT NULL,
        hash BLOB NOT NULL,
        checked_at TEXT NOT NULL
    )""",
    # ---- the seed, sealed -----------------------------------------------------------------
    """CREATE TABLE randomization_seed_v6 (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL DEFAULT 1,
        study_key TEXT NOT NULL UNIQUE,
        sealed TEXT NOT NULL,
        commitment TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL
    )""",
    # ---- the compact audit trail ------------------------------------------------------------
    "ALTER TABLE audit_log RENAME TO audit_log_v6",
    # Who, when and why, once per transaction, with the full chain hash after its last
    # entry (see gisttracker/store/chain.py).
    """CREATE TABLE audit_txn (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user TEXT NOT NULL,
        reason TEXT,
        last_entry INTEGER NOT NULL,
        hash BLOB NOT NULL
    )""",
    # Each audited record once: its table, its uid and its patient (an audit_record id).
    # The uid is kept as 16 bytes (a zero byte and the text for a uid that is not 32 hex
    # digits): half the size of the text in the table and in its index.
    """CREATE TABLE audit_record (
        id INTEGER PRIMARY KEY,
        table_name TEXT NOT NULL,
        record_key BLOB NOT NULL UNIQUE,
        patient INTEGER REFERENCES audit_record (id)
    )""",
    "CREATE INDEX audit_record_patient ON audit_record (patient)",
    # The column names of an insert's (or delete's) values, once per table and set of
    # columns: the entry then holds its values as a JSON array in that order.
    """CREATE TABLE audit_shape (
        id INTEGER PRIMARY KEY,
        table_name TEXT NOT NULL,
        columns TEXT NOT NULL,
        UNIQUE (table_name, columns)
    )""",
    # One insert ('i': all values), one changed field ('u': old and new), or one delete
    # ('d': all last values). `reason` only where it differs from the transaction's; `tag`
    # the first bytes of the chain value after this entry. The transaction row is written
    # when the transaction ends (it carries the chain's hash), hence the deferred key.
    """CREATE TABLE audit_entry (
        id INTEGER PRIMARY KEY,
        txn INTEGER NOT NULL REFERENCES audit_txn (id) DEFERRABLE INITIALLY DEFERRED,
        record INTEGER NOT NULL REFERENCES audit_record (id),
        action TEXT NOT NULL CHECK (action IN ('i', 'u', 'd')),
        field TEXT,
        shape INTEGER REFERENCES audit_shape (id),
        old_value TEXT,
        new_value TEXT,
        reason TEXT,
        version INTEGER NOT NULL,
        tag BLOB NOT NULL
    )""",
    "CREATE INDEX audit_entry_record ON audit_entry (record)",
]

# The uid text of a record_key (see uid_key below).
_UID = ("CASE WHEN length({k}) = 16 THEN lower(hex({k})) "
        "ELSE CAST(substr({k}, 2) AS TEXT) END")
# An insert's (delete's) values as a JSON object, from its shape's columns and its array.
_OBJECT = ("(SELECT json_group_object(c.value, CASE WHEN v.type IN ('true', 'false') "
           "THEN json(v.type) ELSE v.value END) FROM json_each(s.columns) c "
           "JOIN json_each({values}) v ON v.key = c.key)")

AFTER = [
    "DROP TABLE audit_log_v6",
    "DROP TABLE randomization_seed",
    "ALTER TABLE randomization_seed_v6 RENAME TO randomization_seed",
    # The audit trail as people read it: one row per entry with who, when, table, record,
    # patient and the effective reason. Read-only.
    f"""CREATE VIEW audit_log AS
       SELECT e.id AS id, t.at AS at, t.user AS user,
              CASE e.action WHEN 'i' THEN 'insert' WHEN 'u' THEN 'update'
                            ELSE 'delete' END AS action,
              r.table_name AS table_name, {_UID.format(k="r.record_key")} AS record_uid,
              e.field AS field,
              CASE WHEN e.action = 'd' THEN {_OBJECT.format(values="e.old_value")}
                   ELSE e.old_value END AS old_value,
              CASE WHEN e.action = 'i' THEN {_OBJECT.format(values="e.new_value")}
                   ELSE e.new_value END AS new_value,
              coalesce(e.reason, t.reason) AS reason,
              {_UID.format(k="p.record_key")} AS patient_uid,
              e.version AS version, e.txn AS txn
       FROM audit_entry e
       JOIN audit_txn t ON t.id = e.txn
       JOIN audit_record r ON r.id = e.record
       LEFT JOIN audit_record p ON p.id = r.patient
       LEFT JOIN audit_shape s ON s.id = e.shape""",
    # ---- append-only, with no way around it ---------------------------------------------
    # UPDATE and DELETE are refused; so is an INSERT that reuses an id (INSERT OR REPLACE
    # would otherwise delete the old row without firing a DELETE trigger unless
    # recursive_triggers is on, which a foreign connection will not set).
    *[stmt for table in ("audit_entry", "audit_txn", "audit_record", "audit_shape")
      for stmt in (
        f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
            BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
        f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
        f"""CREATE TRIGGER {table}_append_only BEFORE INSERT ON {table}
            WHEN NEW.id IS NULL OR NEW.id <= (SELECT coalesce(max(id), 0) FROM {table})
            BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""")],
    """CREATE TRIGGER audit_record_no_replace BEFORE INSERT ON audit_record
       WHEN EXISTS (SELECT 1 FROM audit_record WHERE record_key = NEW.record_key)
       BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
    """CREATE TRIGGER audit_log_no_insert INSTEAD OF INSERT ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
    """CREATE TRIGGER audit_log_no_update INSTEAD OF UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete INSTEAD OF DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
    # A randomization can be neither changed, undone nor replaced by another row.
    """CREATE TRIGGER randomization_no_replace BEFORE INSERT ON randomization
       WHEN EXISTS (SELECT 1 FROM randomization WHERE id = NEW.id OR uid = NEW.uid
                    OR patient_id = NEW.patient_id
                    OR (study_key = NEW.study_key AND stratum = NEW.stratum
                        AND position = NEW.position))
       BEGIN SELECT RAISE(ABORT, 'a randomization cannot be replaced'); END""",
    """CREATE TRIGGER randomization_seed_no_update BEFORE UPDATE ON randomization_seed
       BEGIN SELECT RAISE(ABORT, 'a randomization seed cannot be changed'); END""",
    """CREATE TRIGGER randomization_seed_no_delete BEFORE DELETE ON randomization_seed
       BEGIN SELECT RAISE(ABORT, 'a randomization seed cannot be removed'); END""",
    """CREATE TRIGGER randomization_seed_no_replace BEFORE INSERT ON randomization_seed
       WHEN EXISTS (SELECT 1 FROM randomization_seed WHERE id = NEW.id OR uid = NEW.uid
                    OR study_key = NEW.study_key)
       BEGIN SELECT RAISE(ABORT, 'a randomization seed cannot be replaced'); END""",
]


# ---- frozen helpers (schema 9) ---------------------------------------------------------------

ZERO_HASH = bytes(32)
TAG_BYTES = 8
ACTION_CODES = {"insert": "i", "update": "u", "delete": "d"}


def chain_step(previous: bytes, entry: Sequence[Any]) -> bytes:
    """SHA-256 of the previous chain value followed by the entry: [id, at, user, action,
    table_name, record_uid, field, columns, old_value, new_value, reason, patient_uid,
    version] as compact JSON (UTF-8). The same as gisttracker/store/chain.py at schema 9."""
    text = json.dumps(list(entry), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(previous + text.encode("utf-8")).digest()


def uid_key(uid: str) -> bytes:
    """16 bytes for a 32-hex-digit uid, else a zero byte and the UTF-8 text."""
    if len(uid) == 32:
        try:
            raw = bytes.fromhex(uid)
        except ValueError:
            raw = b""
        if raw and raw.hex() == uid:
            return raw
    return b"\x00" + uid.encode("utf-8")


def seed_commitment(study_key: str, seed: str) -> str:
    return hashlib.sha256(
        f"gisttracker seed commitment v1:{study_key}:{seed}".encode()).hexdigest()


def seal_seed(key: bytes, study_key: str, seed: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, seed.encode("utf-8"),
                                 f"gisttracker seed v1:{study_key}".encode())
    return "v1:" + base64.b64encode(nonce + sealed).decode("ascii")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _same(a: Any, b: Any) -> bool:
    """Equal as SQLite would store them (1 = 1.0 = true; '2026-01-02' = '2026-01-02')."""
    if isinstance(a, bool):
        a = int(a)
    if isinstance(b, bool):
        b = int(b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if (isinstance(a, int | float) and isinstance(b, str)) or (isinstance(a, str) and isinstance(
            b, int | float)):
        try:
            return float(a) == float(b)
        except ValueError:
            return False
    return bool(a == b)


def _columns(db: peewee.SqliteDatabase, table: str) -> list[str]:
    return [row[1] for row in db.execute_sql(f"PRAGMA table_info({table})").fetchall()]


class _Writer:
    """Appends converted entries with their chain, in order. A transaction is a run of
    consecutive entries with the same time, user and reason. An entry converted from old
    rows takes the id of the last of them (so an audit id recorded before the upgrade —
    the range of a site package, a centre's mark of a site's trail — still falls between
    the same entries); later entries continue from the largest id."""

    def __init__(self, db: peewee.SqliteDatabase) -> None:
        self.db = db
        self.chain = ZERO_HASH
        self.entry_id = 0
        self.txn_id = 0
        self.txn_key: tuple[str, str, str | None] | None = None
        self.records: dict[str, tuple[int, str | None]] = {}  # uid -> (id, patient uid)
        self.shapes: dict[tuple[str, str], int] = {}
        self.entries: list[tuple[Any, ...]] = []
        self.txn_rows: list[tuple[Any, ...]] = []
        self.record_rows: list[tuple[Any, ...]] = []
        self.shape_rows: list[tuple[Any, ...]] = []

    def _close_txn(self) -> None:
        if self.txn_key is not None:
            at, user, reason = self.txn_key
            self.txn_rows.append((self.txn_id, at, user, reason, self.entry_id, self.chain))
            self.txn_key = None

    def record(self, table: str, uid: str, patient_uid: str | None) -> tuple[int, str | None]:
        found = self.records.get(uid)
        if found is not None:
            return found
        ref = len(self.records) + 1
        if patient_uid is not None and patient_uid != uid:
            patient_ref = self.record("patient", patient_uid, patient_uid)[0]
            ref = len(self.records) + 1
        elif patient_uid == uid:
            patient_ref = ref
        else:
            patient_ref = None
        self.records[uid] = (ref, patient_uid if patient_ref is not None else None)
        self.record_rows.append((ref, table, uid_key(uid), patient_ref))
        return self.records[uid]

    def shape(self, table: str, columns: str) -> int:
        key = (table, columns)
        found = self.shapes.get(key)
        if found is None:
            found = self.shapes[key] = len(self.shapes) + 1
            self.shape_rows.append((found, table, columns))
        return found

    def add(self, at: str, user: str, reason: str | None, action: str, table: str, uid: str,
            patient_uid: str | None, field: str | None, old: Any, new: Any,
            version: int, entry_id: int | None = None) -> None:
        """One entry. An insert's ``new`` (a delete's ``old``) is a dict of values; an
        update's ``old``/``new`` are JSON texts. ``entry_id``: the old row's id, else the
        next one."""
        key = (at, user, reason)
        if key != self.txn_key:
            self._close_txn()
            self.txn_id += 1
            self.txn_key = key
        ref, patient = self.record(table, uid, patient_uid)
        columns = shape = None
        if action != "update":
            values = new if action == "insert" else old
            names = sorted(k for k, v in values.items() if v is not None)
            columns = json.dumps(names, separators=(",", ":"))
            shape = self.shape(table, columns)
            array = json.dumps([values[k] for k in names], ensure_ascii=False,
                               separators=(",", ":"))
            old, new = (None, array) if action == "insert" else (array, None)
        self.entry_id = max(self.entry_id + 1, entry_id or 0)
        self.chain = chain_step(self.chain, [self.entry_id, at, user, action, table, uid,
                                             field, columns, old, new, reason, patient,
                                             version])
        self.entries.append((self.entry_id, self.txn_id, ref, ACTION_CODES[action], field,
                             shape, old, new, None, version, self.chain[:TAG_BYTES]))

    def flush(self, final: bool = False) -> None:
        if final:
            self._close_txn()
        cursor = self.db.cursor()
        cursor.executemany("INSERT INTO audit_shape (id, table_name, columns) VALUES (?, ?, ?)",
                           self.shape_rows)
        cursor.executemany("INSERT INTO audit_record (id, table_name, record_key, patient) "
                           "VALUES (?, ?, ?, ?)", self.record_rows)
        cursor.executemany(
            "INSERT INTO audit_entry (id, txn, record, action, field, shape, old_value, "
            "new_value, reason, version, tag) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self.entries)
        cursor.executemany("INSERT INTO audit_txn (id, at, user, reason, last_entry, hash) "
                           "VALUES (?, ?, ?, ?, ?, ?)", self.txn_rows)
        self.txn_rows, self.record_rows, self.entries, self.shape_rows = [], [], [], []


def _runs(rows: Iterable[tuple[Any, ...]]) -> Iterable[list[tuple[Any, ...]]]:
    """Consecutive old rows of one insert, one delete, or one change of one record."""
    run: list[tuple[Any, ...]] = []
    key: tuple[Any, ...] | None = None
    for row in rows:
        _id, at, user, action, table, uid, _field, _old, _new, reason, _patient = row
        this = (at, user, action, table, uid, reason)
        if run and this != key:
            yield run
            run = []
        key = this
        run.append(row)
    if run:
        yield run


def upgrade(db: peewee.SqliteDatabase) -> None:
    db.execute_sql("PRAGMA secure_delete = 1")
    for statement in BEFORE:
        db.execute_sql(statement)
    for table in AUDITED_V7:
        db.execute_sql(f"ALTER TABLE {table} ADD COLUMN version INTEGER NOT NULL DEFAULT 1")
    now = datetime.now(UTC).isoformat(timespec="seconds")

    # Seeds: a fresh allocation key, kept open until the administrator exists.
    seeds = db.execute_sql(
        "SELECT id, uid, study_key, seed, created_at, created_by FROM randomization_seed "
        "ORDER BY id").fetchall()
    commitments = {}
    open_wrap: tuple[str, str] | None = None
    if seeds:
        key = AESGCM.generate_key(bit_length=256)
        open_wrap = (os.urandom(16).hex(), "open:" + base64.b64encode(key).decode("ascii"))
        db.execute_sql(
            "INSERT INTO key_wrap (uid, purpose, kdf, wrapped, created_at) "
            "VALUES (?, 'allocation', NULL, ?, ?)", (*open_wrap, now))
        for rid, uid, study_key, seed, created_at, created_by in seeds:
            commitments[uid] = seed_commitment(study_key, seed)
            db.execute_sql(
                "INSERT INTO randomization_seed_v6 (id, uid, study_key, sealed, commitment, "
                "created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rid, uid, study_key, seal_seed(key, study_key, seed), commitments[uid],
                 created_at, created_by))

    columns = {t: _columns(db, t) for t in [*AUDITED_V7, "randomization_seed_v6"]}

    def column_of(table: str, name: str) -> str:
        cols = columns.get(table, [])
        if name not in cols and f"{name}_id" in cols:
            return f"{name}_id"  # schema 1-5 audited a foreign key by its field name
        return name

    # Replay the old trail while converting it, to find what it does not explain.
    state: dict[str, dict[str, Any]] = {}
    versions: dict[str, int] = {}
    tables_of: dict[str, tuple[str, str | None]] = {}  # uid -> (table, patient uid)
    out = _Writer(db)
    old_rows = db.execute_sql(
        "SELECT id, at, user, action, table_name, record_uid, field, old_value, new_value, "
        "reason, patient_uid FROM audit_log_v6 ORDER BY id")
    for run in _runs(old_rows):
        _id, at, user, action, table, uid, _f, _o, _n, reason, patient = run[0]
        patient = next((r[10] for r in run if r[10] is not None), patient)
        if table == "patient" and patient is None:
            patient = uid
        tables_of[uid] = (table, patient)
        if action == "insert":
            values: dict[str, Any] = {}
            for r in run:
                values[column_of(table, r[6])] = None if r[8] is None else json.loads(r[8])
            if table == "randomization_seed":
                # The clear seed is replaced by its commitment; the sealed copy is added by
                # the upgrade entry below.
                values.pop("seed", None)
                values["commitment"] = commitments.get(uid, "")
            state[uid] = dict(values)
            versions[uid] = 1
            out.add(at, user, reason, "insert", table, uid, patient, None, None, values, 1,
                    run[-1][0])
        elif action == "update":
            versions[uid] = versions.get(uid, 1) + 1
            for r in run:
                col = column_of(table, r[6])
                old, new = r[7], r[8]
                if table == "randomization_seed" and col == "seed":
                    continue
                state.setdefault(uid, {})[col] = None if new is None else json.loads(new)
                out.add(at, user, reason, "update", table, uid, patient, col, old, new,
                        versions[uid], r[0])
        else:
            values = {column_of(table, r[6]): None if r[7] is None else json.loads(r[7])
                      for r in run}
            values.pop("seed", None)
            state.pop(uid, None)
            out.add(at, user, reason, "delete", table, uid, patient, None, values, None,
                    versions.get(uid, 1), run[-1][0])
            versions.pop(uid, None)
        if len(out.entries) > 50_000:
            out.flush()

    # What the table holds that the trail does not explain: recorded now, by the upgrade.
    reason = "recorded at the upgrade to schema 9: not explained by the earlier audit trail"
    seen: set[str] = set()
    for table in [*AUDITED_V7, "randomization_seed_v6"]:
        shown = "randomization_seed" if table == "randomization_seed_v6" else table
        cols = [c for c in columns[table]
                if c not in NOT_AUDITED and c not in DERIVED.get(shown, set())]
        has_patient = "patient_id" in columns[table]
        select = ", ".join(["uid", *cols] + (["(SELECT uid FROM patient WHERE id = patient_id)"]
                                             if has_patient else []))
        for row in db.execute_sql(f"SELECT {select} FROM {table} ORDER BY id").fetchall():
            uid, values = row[0], dict(zip(cols, row[1:1 + len(cols)], strict=True))
            seen.add(uid)
            patient = row[-1] if has_patient else (uid if shown == "patient" else None)
            known = state.get(uid)
            if known is None:
                versions[uid] = 1
                out.add(now, UPGRADE_USER, reason, "insert", shown, uid, patient, None, None,
                        values, 1)
                continue
            changed = [c for c, v in values.items() if not _same(v, known.get(c))]
            # A row triggers keep from changing cannot be updated: its version stays.
            if changed and table not in IMMUTABLE:
                versions[uid] = versions.get(uid, 1) + 1
                for c in changed:
                    old = known.get(c)
                    out.add(now, UPGRADE_USER, reason, "update", shown, uid, patient, c,
                            None if old is None else _dumps(old),
                            None if values[c] is None else _dumps(values[c]), versions[uid])
            if versions.get(uid, 1) != 1:
                db.execute_sql(f"UPDATE {table} SET version = ? WHERE uid = ?",
                               (versions[uid], uid))
        if len(out.entries) > 50_000:
            out.flush()
    if open_wrap is not None:
        # The open key, audited like every key wrap: by a digest, never the key itself.
        digest = "sha256:" + hashlib.sha256(open_wrap[1].encode("utf-8")).hexdigest()
        out.add(now, UPGRADE_USER, "allocation key created for the sealed seeds (open until "
                "the administrator is created)", "insert", "key_wrap", open_wrap[0], None,
                None, None, {"purpose": "allocation", "wrapped": digest, "created_at": now}, 1)
    # Records the trail says exist but no table holds: their removal is recorded too.
    for uid in sorted(set(state) - seen):
        table, patient = tables_of[uid]
        out.add(now, UPGRADE_USER, reason, "delete", table, uid, patient, None,
                state[uid], None, versions.get(uid, 1))
    out.flush(final=True)
    for statement in AFTER:
        db.execute_sql(statement)
    db.execute_sql("PRAGMA secure_delete = 0")
