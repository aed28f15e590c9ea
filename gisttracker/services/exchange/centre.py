"""The coordinating centre: sites' keys, their packages merged in, conflicts resolved.

Importing a package (:func:`import_package`) happens in one transaction — all of it or
nothing — after the package has been checked whole (signature, digest; see
:mod:`gisttracker.exchange.package`):

1. Records the site deleted are deleted here (for a full package: every record this centre
   had from the site that the package no longer holds).
2. Table by table, parents first: new records are added (uids kept; references translated
   from uids to this file's ids); for a record already here, each field is compared three
   ways — the site's value now, the centre's value now, and the value the site sent last
   time (``exchange_base``). Changed only at the site: the site's value is taken. Changed
   only at the centre: the centre's value stays. Changed on both sides to different
   values: a **conflict** — the centre's value stays, both values are listed
   (``exchange_conflict``) and a user resolves it with a reason (:func:`resolve_conflict`).
3. The site's audit rows (those this centre has not yet got) are appended to the centre's
   audit trail as the site's: same time, same reason, the user named ``user@SITE``. For
   every conflict the centre adds one row of its own putting its kept value back, so the
   audit trail still replays to what the table holds.
4. The package is recorded (site, number, digest): the same package again changes nothing;
   a package that continues one not yet imported is refused.
"""

from __future__ import annotations

import gc
import json
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import peewee

from gisttracker.atomic import private_umask
from gisttracker.exchange.keys import PublicKey, read_public_key
from gisttracker.exchange.package import (
    Manifest,
    OpenedPackage,
    PackageError,
    open_package,
)
from gisttracker.exchange.tables import (
    NATURAL_KEYS,
    NOT_EXCHANGED,
    TableInfo,
    natural_key,
    record_tables,
)
from gisttracker.i18n import _
from gisttracker.services.base import ServiceError, Writer
from gisttracker.services.claims import claim
from gisttracker.services.exchange.common import (
    field_of_column,
    json_value,
    models_by_table,
    same,
)
from gisttracker.services.policy import Permission
from gisttracker.services.settings import SettingsService
from gisttracker.session import Session
from gisttracker.store.chain import key_uid, uid_key
from gisttracker.store.introspect import Schema, table_names
from gisttracker.store.migrations import LATEST
from gisttracker.store.models_exchange import (
    ExchangeBase,
    ExchangeConflict,
    ExchangePackage,
    ExchangeSite,
)
from gisttracker.store.models_patients import Patient
from gisttracker.store.server import is_server_db

Progress = Callable[[str, float | None], None]
# Loads of fewer rows than this keep their indexes (rebuilding would cost more).
BULK_MIN = 10_000
CONFLICT_REASON = "conflict with site package {site} #{seq}: the centre's value is kept until " \
    "someone resolves it"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Place:
    """Where the merge's SQL finds the centre's tables and the package's.

    On a SQLite file the payload is attached (``pkg.visit`` beside ``main.visit``). On a
    PostgreSQL server (issue 16) nothing can be attached: the package's record tables and
    its ``ids`` are copied (COPY) into temporary tables of the import's transaction
    (``pkg_visit``, dropped at its end), with the centre's column types and references kept
    as uid text, so the same comparisons and ``INSERT … SELECT`` run on the server. What is
    only read in order (the audit rows, the deleted records, the list of tables) is read
    from the payload file itself (:attr:`src`) on both engines.
    """

    def __init__(self, db: peewee.Database, payload: Path | None = None) -> None:
        self.db = db
        self.server = is_server_db(db)
        self.conn: sqlite3.Connection | None = None if self.server else db.connection()
        self.src: sqlite3.Connection | None = None
        if payload is not None:
            self.src = sqlite3.connect(payload)
        self._tables: dict[str, TableInfo] | None = None

    def close(self) -> None:
        if self.src is not None:
            self.src.close()

    def pkg(self, table: str) -> str:
        return _q(f"pkg_{table}") if self.server else f"pkg.{_q(table)}"

    def main(self, table: str) -> str:
        return _q(table) if self.server else f"main.{_q(table)}"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.conn is not None:
            return self.conn.execute(sql, params)
        return self.db.execute_sql(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self.conn is not None:
            self.conn.executemany(sql, rows)
        else:
            self.db.cursor().executemany(sql, rows)

    def read(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Rows of the payload file (its tables unprefixed)."""
        assert self.src is not None
        return self.src.execute(sql, params)

    def local_tables(self) -> dict[str, TableInfo]:
        """The centre's record tables, parents first."""
        if self._tables is None:
            if self.conn is not None:
                infos = record_tables(self.conn, schema="main")
            else:
                infos = _server_record_tables(self.db)
            self._tables = {t.name: t for t in infos}
        return self._tables

    def json_object(self, info: TableInfo, columns: tuple[str, ...], alias: str) -> str:
        """SQL for a JSON object (text) of ``columns`` of a package row, in identity space."""
        # Functions take at most 100 arguments: groups of 40 columns joined.
        make, join = (("jsonb_build_object", "{a} || {b}") if self.server
                      else ("json_object", "json_patch({a}, {b})"))
        parts = []
        for start in range(0, len(columns), 40):
            pairs = ", ".join(f"'{c}', {_site_expr(self, info, c, alias)}"
                              for c in columns[start:start + 40])
            parts.append(f"{make}({pairs})")
        expr = parts[0]
        for part in parts[1:]:
            expr = join.format(a=expr, b=part)
        return f"({expr})::text" if self.server else expr

    def load(self, tables: list[tuple[TableInfo, tuple[str, ...]]]) -> None:
        """On a server: the package's record tables and ids as temporary tables."""
        if not self.server:
            return
        raw = self.db.connection()
        for info, columns in tables:
            shape = ", ".join(f"CAST(NULL AS text) AS {_q(c)}" if c in info.refs else _q(c)
                              for c in columns)
            self._copy(raw, info.name, columns,
                       f"CREATE TEMP TABLE {self.pkg(info.name)} ON COMMIT DROP AS "
                       f"SELECT {shape} FROM {_q(info.name)} WITH NO DATA")
        self._copy(raw, "ids", ("table_name", "id", "uid"),
                   f"CREATE TEMP TABLE {self.pkg('ids')} (table_name text, id bigint, "
                   "uid text) ON COMMIT DROP")
        self.execute(f"CREATE INDEX ON {self.pkg('ids')} (table_name, uid)")
        for info, _columns in tables:
            # (Not unique: a package repeating a uid is refused by the INSERT, as on a file.)
            self.execute(f"CREATE INDEX ON {self.pkg(info.name)} (uid)")
            self.execute(f"ANALYZE {self.pkg(info.name)}")
        self.execute(f"ANALYZE {self.pkg('ids')}")

    def _copy(self, raw: Any, table: str, columns: tuple[str, ...], create: str) -> None:
        import psycopg

        self.execute(create)
        names = ", ".join(_q(c) for c in columns)
        try:
            with raw.cursor() as cursor, cursor.copy(
                    f"COPY {self.pkg(table)} ({names}) FROM STDIN") as copy:
                for row in self.read(f"SELECT {names} FROM {_q(table)}"):
                    copy.write_row(row)
        except psycopg.errors.DataError as exc:
            # A value the server's column cannot hold though the site's file did (SQLite
            # keeps any value in any column): a text in a number column, a fraction in an
            # integer one, a NUL character in a text.
            where = re.search(r"\bcolumn (\w+)", exc.diag.context or "")
            error = exc.diag.message_primary or str(exc)
            if where is None:
                raise PackageError(_(
                    "a value of the package's {table} records does not fit this centre's "
                    "columns ({error}). Nothing was imported.").format(
                        table=table, error=error)) from exc
            raise PackageError(_(
                "a value of the package's {table} records does not fit this centre's column "
                "{column} ({error}). Nothing was imported.").format(
                    table=table, column=where.group(1), error=error)) from exc
        except sqlite3.OperationalError as exc:
            # Python reads the payload's texts as UTF-8 to send them (a file centre never
            # decodes them): one that is not is refused here, not a crash.
            where = re.search(r"\bcolumn '([^']*)'", str(exc))
            if "UTF-8" not in str(exc):
                raise
            raise PackageError(_(
                "a text in the package's {table} records is not valid UTF-8 (column "
                "{column}). Nothing was imported.").format(
                    table=table, column=where.group(1) if where else "?")) from exc
        except psycopg.errors.IntegrityError as exc:
            raise PackageError(_(
                "the package's {table} records do not fit this centre's data ({error}): a "
                "record refers to one this centre does not have, or repeats one it has under "
                "another identity. Nothing was imported.").format(table=table, error=exc)
            ) from exc


def _server_record_tables(db: peewee.Database) -> list[TableInfo]:
    """:func:`~gisttracker.exchange.tables.record_tables` of a server database (the same
    tables, columns and references: the two engines' schemas are the same), parents first."""
    schema = Schema(db)
    infos: dict[str, TableInfo] = {}
    for name in table_names(db):
        if name in NOT_EXCHANGED:
            continue
        columns = [c for c, _a in schema.columns(name)]
        if "uid" not in columns:
            continue
        infos[name] = TableInfo(name, tuple(c for c in columns if c != "id"),
                                {fk.column: fk.parent for fk in schema.foreign_keys(name)})
    ordered: list[TableInfo] = []

    def visit(name: str) -> None:
        if name in ordered_names:
            return
        ordered_names.add(name)
        info = infos[name]
        refs = {c: t for c, t in info.refs.items() if t in infos}
        for parent in sorted(set(refs.values())):
            if parent != name:
                visit(parent)
        ordered.append(TableInfo(name, info.columns, refs))

    ordered_names: set[str] = set()
    for name in sorted(infos):
        visit(name)
    return ordered


# ----- sites ---------------------------------------------------------------------------------

def trust_site(session: Session, site_code: str, key_text: str, *,
               replace: bool = False, reason: str | None = None) -> tuple[PublicKey, bool]:
    """Register the public key of site ``site_code``; returns the key and whether anything
    changed. One key per site code and one site code per key; ``replace`` (with a reason)
    exchanges a site's key, e.g. after its computer was replaced."""
    code = site_code.strip().upper()
    key = read_public_key(key_text)
    if key.site_code != code:
        raise ServiceError(_("this key file belongs to site {found}, not {site}").format(
            found=key.site_code, site=code))
    own = SettingsService(session.tracker).get("site_code")
    if own == code and Patient.select().where(Patient.site_code == code).exists():
        raise ServiceError(_("site code {site} is this centre's own; its patients already use "
                             "it, so another site cannot").format(site=code))
    with session.tracker.transaction(reason or _("site registered")) as w:
        # Read inside the transaction, under the site's claim: two administrators
        # registering the same site at once would otherwise both insert it, and the second
        # meet the unique index instead of this message.
        claim(w, "site_packages", code)
        other = ExchangeSite.get_or_none(ExchangeSite.public_key == key.hex)
        if other is not None and other.site_code != code:
            raise ServiceError(_("this key is already registered for site {site}").format(
                site=other.site_code))
        existing = ExchangeSite.get_or_none(ExchangeSite.site_code == code)
        if existing is None:
            w.insert(ExchangeSite, site_code=code, public_key=key.hex,
                     trusted_on=session.tracker.now().date().isoformat())
            return key, True
        if existing.public_key == key.hex:
            return key, False
        if not replace:
            old = PublicKey(code, bytes.fromhex(existing.public_key))
            raise ServiceError(_(
                "site {site} is already registered with another key (fingerprint {old}); "
                "two sites cannot share a code. If the site really has a new key, replace it "
                "with a reason (--replace --reason …)").format(site=code, old=old.fingerprint))
        if not (reason and reason.strip()):
            raise ServiceError(_("replacing a site's key needs a reason"))
        w.update(existing, {"public_key": key.hex})
        return key, True


def trusted_sites() -> list[ExchangeSite]:
    return list(ExchangeSite.select().order_by(ExchangeSite.site_code))


# ----- import --------------------------------------------------------------------------------

@dataclass
class ImportResult:
    site_code: str
    seq: int
    already: bool = False
    superseded_by: int | None = None  # a later package, already imported, covers this one
    added: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    deleted: int = 0
    audit_rows: int = 0
    conflicts: int = 0

    @property
    def changed(self) -> bool:
        return bool(sum(self.added.values()) or sum(self.updated.values()) or self.deleted
                    or self.audit_rows or self.conflicts)


def _received(site: str, seq: int) -> ExchangePackage | None:
    return ExchangePackage.get_or_none(
        (ExchangePackage.direction == "received") & (ExchangePackage.site_code == site)
        & (ExchangePackage.seq == seq))


def check_package(session: Session, opened: OpenedPackage) -> ImportResult | None:
    """Refuse a package this centre cannot take; an :class:`ImportResult` with ``already``
    set when this very package was imported before (nothing to do)."""
    m = opened.manifest
    prior = _received(m.site_code, m.seq)
    if prior is not None:
        if prior.digest == opened.digest:
            return ImportResult(m.site_code, m.seq, already=True)
        raise PackageError(_("a different package {site} #{seq} was imported on {day}; this "
                             "one is refused").format(site=m.site_code, seq=m.seq,
                                                      day=prior.made_at[:10]))
    if m.schema > LATEST:
        raise PackageError(_("the package comes from a newer version (schema {found}); update "
                             "this centre first").format(found=m.schema))
    site = ExchangeSite.get(ExchangeSite.site_code == m.site_code)
    latest = (ExchangePackage.select(peewee.fn.MAX(ExchangePackage.seq))
              .where((ExchangePackage.direction == "received")
                     & (ExchangePackage.site_code == m.site_code)).scalar())
    if latest is not None and m.seq < latest and m.audit_to <= site.audit_mark:
        # Older news: everything in it arrived with a later package. Taking its values now
        # would put back what the site has changed since.
        return ImportResult(m.site_code, m.seq, already=True, superseded_by=int(latest))
    if m.base_seq is not None and _received(m.site_code, m.base_seq) is None:
        raise PackageError(_(
            "package {site} #{seq} continues package #{base}, which this centre has not "
            "imported: import #{base} first, or ask the site for a full package"
        ).format(site=m.site_code, seq=m.seq, base=m.base_seq))
    if m.audit_from > site.audit_mark:
        raise PackageError(_(
            "package {site} #{seq} starts after audit row {start} of the site, but this "
            "centre has the site's audit trail only up to row {mark}: ask for a full package"
        ).format(site=m.site_code, seq=m.seq, start=m.audit_from, mark=site.audit_mark))
    own = (Patient.select(Patient.study_id)
           .join(ExchangeBase, peewee.JOIN.LEFT_OUTER, on=(ExchangeBase.record_uid == Patient.uid))
           .where((Patient.site_code == m.site_code) & ExchangeBase.record_uid.is_null())
           .first())
    if own is not None:
        raise PackageError(_("site code {site} is already used by patients entered at this "
                             "centre ({example}); the package is refused").format(
                                 site=m.site_code, example=own.study_id))
    return None


def import_package(session: Session, path: Path, *, now: datetime | None = None,
                   progress: Progress | None = None) -> ImportResult:
    """Import a site's package (all of it or nothing); see the module's description.
    Merging a site's records is the administrator's (:attr:`Permission.MANAGE_SETTINGS`)."""
    session.tracker.require(Permission.MANAGE_SETTINGS)
    report = progress or (lambda _phase, _fraction: None)
    if session.tracker.read_only:
        raise ServiceError(session.tracker.read_only)
    keys = {s.site_code: bytes.fromhex(s.public_key) for s in ExchangeSite.select()}
    report("check", 0.0)
    # The payload is unpacked beside a database file (the same disk, as private); for a
    # database on a server, into the system's temporary folder.
    beside = None if is_server_db(session.db) else Path(session.path).parent
    with private_umask(), tempfile.TemporaryDirectory(prefix=".package-",
                                                      dir=beside) as work:
        opened = open_package(Path(path), keys.get, Path(work))
        done = check_package(session, opened)
        if done is not None:
            return done
        report("merge", 0.3)
        place = _Place(session.db, opened.payload)
        conn = place.conn
        cache = 0
        if conn is not None:
            conn.execute("ATTACH DATABASE ? AS pkg", (str(opened.payload),))
            cache = int(conn.execute("PRAGMA main.cache_size").fetchone()[0])
            # 256 MiB of page cache while merging: the indexes of a large package stay in
            # memory.
            conn.execute("PRAGMA main.cache_size = -262144")
        try:
            m = opened.manifest
            when = (now or session.tracker.now()).astimezone(UTC)
            with session.tracker.transaction(
                    _("site package {site} #{seq} imported").format(site=m.site_code,
                                                                    seq=m.seq)) as w:
                # Checked again under the site's claim: the same package (or another of the
                # site) imported at once by a second administrator is seen as imported
                # here, not merged twice into a unique index's raw error.
                claim(w, "site_packages", m.site_code)
                again = check_package(session, opened)
                if again is not None:
                    return again
                result = _merge_without_gc(place, w, m, when)
                site = ExchangeSite.get(ExchangeSite.site_code == m.site_code)
                w.update(site, {"audit_mark": max(site.audit_mark, m.audit_to),
                                "site_name": m.site_name or site.site_name})
                w.insert(ExchangePackage, direction="received", site_code=m.site_code,
                         seq=m.seq, base_seq=m.base_seq, audit_from=m.audit_from,
                         audit_to=m.audit_to, digest=opened.digest, made_at=m.made_at,
                         summary=json.dumps({"added": result.added, "updated": result.updated,
                                             "deleted": result.deleted,
                                             "audit_rows": result.audit_rows,
                                             "conflicts": result.conflicts}))
        finally:
            place.close()
            if conn is not None:
                conn.execute(f"PRAGMA main.cache_size = {cache}")
                conn.execute("DETACH DATABASE pkg")
    report("done", 1.0)
    return result


def _package_tables(place: _Place, local: dict[str, TableInfo],
                    m: Manifest) -> list[tuple[TableInfo, tuple[str, ...]]]:
    """The package's tables (in this file's parent-first order) with their columns."""
    present = {r[0] for r in place.read(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    unknown = present - set(local) - {"deleted", "audit", "ids"}
    if unknown:
        raise PackageError(_("the package holds tables this centre does not know ({names}); "
                             "update this centre first").format(names=", ".join(sorted(unknown))))
    out = []
    for info in local.values():
        if info.name not in present:
            continue
        columns = tuple(r[1] for r in place.read(f"PRAGMA table_info({_q(info.name)})"))
        missing = set(columns) - set(info.columns)
        if missing or "uid" not in columns:
            raise PackageError(_("the package's table {table} has columns this centre does not "
                                 "know ({names})").format(table=info.name,
                                                          names=", ".join(sorted(missing))))
        out.append((info, columns))
    if set(m.tables) != {i.name for i, _c in out}:
        raise PackageError(_("the package's tables do not match its manifest"))
    return out


# Values are compared in one *identity space*: a plain value as it is, a reference as the
# referenced record's uid, a reference to a shared reference record (a protocol or form
# version) as its natural key — the same at the site and here, whatever the ids and uids.

def _site_expr(place: _Place, info: TableInfo, column: str, alias: str = "p") -> str:
    """A package row's value in identity space."""
    parent = info.refs.get(column)
    if parent in NATURAL_KEYS:
        return (f"(SELECT {natural_key(parent, 'q')} FROM {place.pkg(parent)} q "
                f"WHERE q.uid = {alias}.{_q(column)})")
    return f"{alias}.{_q(column)}"


def _centre_expr(place: _Place, info: TableInfo, column: str, alias: str) -> str:
    """This file's value in identity space."""
    parent = info.refs.get(column)
    if parent is None:
        return f"{alias}.{_q(column)}"
    if parent in NATURAL_KEYS:
        return (f"(SELECT {natural_key(parent, 'q')} FROM {place.main(parent)} q "
                f"WHERE q.id = {alias}.{_q(column)})")
    return f"(SELECT uid FROM {place.main(parent)} WHERE id = {alias}.{_q(column)})"


def _to_local(place: _Place, info: TableInfo, column: str, value: str) -> str:
    """SQL turning ``value`` (identity space) into what this file stores."""
    parent = info.refs.get(column)
    if parent is None:
        return value
    if parent in NATURAL_KEYS:
        return (f"(SELECT q.id FROM {place.main(parent)} q "
                f"WHERE {natural_key(parent, 'q')} = {value})")
    return f"(SELECT id FROM {place.main(parent)} WHERE uid = {value})"


def _local_expr(place: _Place, info: TableInfo, column: str, alias: str) -> str:
    return _to_local(place, info, column, _site_expr(place, info, column, alias))


@contextmanager
def _bulk(place: _Place, table: str, incoming: int,
          before: Callable[[], None] | None = None) -> Iterator[None]:
    """Around a load of ``incoming`` rows into ``table``: when that is more than the table
    holds, its plain (non-unique) indexes are dropped first and built again afterwards —
    SQLite builds an index from sorted keys many times faster than it updates one row by
    row. Inside the caller's transaction, so a failure restores them untouched. ``before``
    is called just before they are dropped (to read what needs them first). SQLite's
    only: a server keeps its indexes."""
    conn = place.conn
    if conn is None:
        yield
        return
    size = conn.execute(f"SELECT coalesce(max(rowid), 0) FROM main.{_q(table)}").fetchone()[0]
    indexes = []
    if incoming > max(size, BULK_MIN):
        indexes = [(name, sql) for name, sql in conn.execute(
            "SELECT name, sql FROM main.sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'", (table,))]
        if indexes and before is not None:
            before()
        for name, _sql in indexes:
            conn.execute(f"DROP INDEX main.{_q(name)}")
    yield
    for _name, sql in indexes:
        conn.execute(sql)


def _merge_without_gc(place: _Place, w: Writer, m: Manifest, when: datetime) -> ImportResult:
    """:func:`_merge` with Python's cyclic garbage collector paused. A large package makes
    millions of short-lived tuples and strings (no cycles among them) while the import keeps
    hundreds of thousands of objects alive (record ids, versions, pending rows); every full
    collection walks all of those again — about 1.2 s of CPU in a 10,000-patient site's
    first package (16.3 s → 15.1 s). Reference counting still frees everything at once;
    the collector runs again afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        return _merge(place, w, m, when)
    finally:
        if was:
            gc.enable()


def _merge(place: _Place, w: Writer, m: Manifest, when: datetime) -> ImportResult:
    site = m.site_code
    result = ImportResult(site, m.seq)
    local = place.local_tables()
    tables = _package_tables(place, local, m)
    place.load(tables)
    _delete(place, w, m, tables, result)
    conflicts: list[dict[str, Any]] = []
    for info, columns in tables:
        with _bulk(place, info.name, m.tables.get(info.name, 0)):
            _upsert(place, w, info, columns, m, result, conflicts)
    # The site's audit trail, as the site's rows (only what this centre does not have yet),
    # chained into this file's trail (each run of the site's entries its own transaction).
    mark = int(ExchangeSite.get(ExchangeSite.site_code == site).audit_mark)
    refs = {t.name: t.reference_fields() for t in local.values()}
    ids = _id_maps(place, sorted({p for fields in refs.values() for p in fields.values()}))
    # A shared reference record this file already had under its own uid: the site's entries
    # about its copy describe a record that is not here (this file's trail has its own).
    # (Left out by the query that reads the trail: the rows of such a table whose record is
    # not among this file's.)
    here = {t: sorted(str(u) for (u,) in place.execute(f"SELECT uid FROM {place.main(t)}"))
            for t in NATURAL_KEYS if t in local}
    others = "".join(" AND NOT (a.table_name IS ? AND a.record_uid NOT IN "
                     "(SELECT value FROM json_each(?)))" for _t in here)
    # The site's ids in the trail's references, as this file's (Writer.append_foreign).
    translate = {table: {name: ids[parent] for name, parent in fields.items()}
                 for table, fields in refs.items() if fields}
    # A large trail goes in as a bulk load too: the plain indexes of the audit tables set
    # aside meanwhile (the last versions read first, which is all the load looks up by
    # record); their unique indexes, constraints and append-only triggers all stay.
    incoming = m.audit_rows
    with _bulk(place, "audit_entry", incoming, before=w.remember_versions), \
            _bulk(place, "audit_record", incoming):
        rows = place.read(
            "SELECT a.at, a.user || '@' || ?, a.action, a.table_name, a.record_uid, a.field, "
            f"a.old_value, a.new_value, a.reason, a.patient_uid FROM audit a WHERE a.id > ?"
            f"{others} ORDER BY a.id",
            (site, mark, *(v for t, uids in here.items() for v in (t, json.dumps(uids)))))
        result.audit_rows = w.append_foreign(rows, translate)
    # The bases last: written before the trail, their hundred megabytes of scattered
    # pages (keyed by uid) made every audit row's insert after them about half as slow
    # again (measured: 5.6 s against 3.6 s for the 10,000-patient package's trail).
    for info, columns in tables:
        _keep_bases(place, info, columns, m)
    if conflicts:
        _record_conflicts(place, w, m, conflicts, when)
    result.conflicts = len(conflicts)
    return result


def _id_maps(place: _Place, parents: list[str]) -> dict[str, dict[int, int]]:
    """Per referenced table: the site's id → this file's id (through the package's ``ids``
    and the record's uid; a shared reference record through its natural key)."""
    maps: dict[str, dict[int, int]] = {}
    for parent in parents:
        if parent in NATURAL_KEYS:
            same_key = " AND ".join(f"q.{_q(k)} = m.{_q(k)}" for k in NATURAL_KEYS[parent])
            sql = (f"SELECT i.id, m.id FROM {place.pkg('ids')} i JOIN {place.pkg(parent)} q "
                   f"ON q.uid = i.uid JOIN {place.main(parent)} m ON {same_key} "
                   "WHERE i.table_name = ?")
        else:
            sql = (f"SELECT i.id, m.id FROM {place.pkg('ids')} i JOIN {place.main(parent)} m "
                   "ON m.uid = i.uid WHERE i.table_name = ?")
        maps[parent] = {int(a): int(b) for a, b in place.execute(sql, (parent,))}
    return maps


def _delete(place: _Place, w: Writer, m: Manifest,
            tables: list[tuple[TableInfo, tuple[str, ...]]], result: ImportResult) -> None:
    doomed: list[tuple[str, str]] = [
        (str(t), str(u)) for t, u in place.read("SELECT table_name, uid FROM deleted")]
    if m.base_seq is None:
        # A full package holds every record of the site: what it lacks, the site deleted.
        for info, _columns in tables:
            doomed += [(info.name, str(u)) for (u,) in place.execute(
                f"SELECT record_uid FROM {place.main('exchange_base')} b WHERE b.site_code = ? "
                f"AND b.table_name = ? AND NOT EXISTS (SELECT 1 FROM {place.pkg(info.name)} p "
                "WHERE p.uid = b.record_uid)", (m.site_code, info.name)).fetchall()]
    known = {t.name for t, _c in tables} | {str(r[0]) for r in place.read(
        "SELECT DISTINCT table_name FROM deleted")}
    for table, uid in doomed:
        if table not in known:
            continue
        gone = place.execute(f"DELETE FROM {place.main(table)} WHERE uid = ?", (uid,)).rowcount
        if gone:
            result.deleted += gone
            w.changes.tables.add(table)
            w.changes.records.add(uid)
    if doomed:
        # Records removed with their parents (ON DELETE CASCADE) leave no base behind.
        for info, _columns in tables:
            place.execute(
                f"DELETE FROM {place.main('exchange_base')} WHERE site_code = ? AND "
                f"table_name = ? AND NOT EXISTS (SELECT 1 FROM {place.main(info.name)} t "
                "WHERE t.uid = exchange_base.record_uid)", (m.site_code, info.name))


def _upsert(place: _Place, w: Writer, info: TableInfo, columns: tuple[str, ...],
            m: Manifest, result: ImportResult, conflicts: list[dict[str, Any]]) -> None:
    pkg, main = place.pkg(info.name), place.main(info.name)
    base_table = place.main("exchange_base")
    if info.name in NATURAL_KEYS:
        _add_reference_records(place, w, info, columns, result)
        return
    # ``version`` counts the changes this file's audit trail holds of a record: never taken
    # from the site (the merged audit rows set it), never a conflict.
    compare = [c for c in columns if c not in ("uid", "version")]
    site_cols = ", ".join(_site_expr(place, info, c) for c in compare)
    centre_cols = ", ".join(_centre_expr(place, info, c, "t") for c in compare)
    updates: dict[str, list[tuple[Any, str]]] = {}
    changed_uids: set[str] = set()
    n = len(compare)
    values_sql = f"{site_cols}, {centre_cols}, " if compare else ""
    rows = place.execute(
        f"SELECT p.uid, {values_sql}b.data FROM {pkg} p "
        f"JOIN {main} t ON t.uid = p.uid "
        f"LEFT JOIN {base_table} b ON b.record_uid = p.uid")
    for row in rows:
        uid = row[0]
        site_values = row[1:1 + n]
        centre_values = row[1 + n:1 + 2 * n]
        base = json.loads(row[-1]) if row[-1] is not None else None
        for column, s, c in zip(compare, site_values, centre_values, strict=True):
            if same(s, c):
                continue
            b = base.get(column) if base is not None else None
            if base is not None and same(c, b):
                updates.setdefault(column, []).append((s, uid))
                changed_uids.add(uid)
            elif base is not None and same(s, b):
                continue  # changed here only: the centre's value stays
            else:
                conflicts.append({"table": info.name, "uid": uid, "column": column,
                                  "base": b, "site": s, "centre": c})
    for column, values in updates.items():
        place.executemany(f"UPDATE {main} SET {_q(column)} = "
                          f"{_to_local(place, info, column, '?')} WHERE uid = ?", values)
    if changed_uids:
        result.updated[info.name] = len(changed_uids)
    select = ", ".join(_local_expr(place, info, c, "p") for c in columns)
    try:
        added = place.execute(
            f"INSERT INTO {main} ({', '.join(_q(c) for c in columns)}) SELECT {select} "
            f"FROM {pkg} p WHERE NOT EXISTS (SELECT 1 FROM {main} t "
            "WHERE t.uid = p.uid)").rowcount
    except (sqlite3.IntegrityError, peewee.IntegrityError) as exc:
        raise PackageError(_(
            "the package's {table} records do not fit this centre's data ({error}): a record "
            "refers to one this centre does not have, or repeats one it has under another "
            "identity. Nothing was imported.").format(table=info.name, error=exc)) from exc
    if added:
        result.added[info.name] = added
    if added or changed_uids:
        w.changes.tables.add(info.name)


def _keep_bases(place: _Place, info: TableInfo, columns: tuple[str, ...], m: Manifest) -> None:
    """Keep what the site sent of ``info``'s records as their base for the next package."""
    if info.name in NATURAL_KEYS:
        return  # never changed: nothing to compare later
    compare = tuple(c for c in columns if c not in ("uid", "version"))
    # (WHERE true: SQLite's parser needs it before ON CONFLICT in INSERT … SELECT.)
    place.execute(
        f"INSERT INTO {place.main('exchange_base')} (record_uid, site_code, table_name, data) "
        f"SELECT p.uid, ?, ?, {place.json_object(info, compare, 'p')} "
        f"FROM {place.pkg(info.name)} p "
        "WHERE true ON CONFLICT (record_uid) DO UPDATE SET site_code = excluded.site_code, "
        "table_name = excluded.table_name, data = excluded.data",
        (m.site_code, info.name))


def _add_reference_records(place: _Place, w: Writer, info: TableInfo,
                           columns: tuple[str, ...], result: ImportResult) -> None:
    """Protocol and form versions this file does not have yet (by natural key); never
    changed, so nothing to compare or keep a base of."""
    keys = NATURAL_KEYS[info.name]
    same_key = " AND ".join(f"t.{_q(k)} = p.{_q(k)}" for k in keys)
    added = place.execute(
        f"INSERT INTO {place.main(info.name)} ({', '.join(_q(c) for c in columns)}) "
        f"SELECT {', '.join(f'p.{_q(c)}' for c in columns)} FROM {place.pkg(info.name)} p "
        f"WHERE NOT EXISTS (SELECT 1 FROM {place.main(info.name)} t WHERE {same_key})").rowcount
    if added:
        result.added[info.name] = added
        w.changes.tables.add(info.name)


def _record_conflicts(place: _Place, w: Writer, m: Manifest,
                      conflicts: list[dict[str, Any]], when: datetime) -> None:
    """List each conflict and put the centre's kept value back on top of the site's audit
    rows (so replaying the audit trail gives what the table holds)."""
    patients = _patient_uids(place, {c["uid"] for c in conflicts})
    at = when.isoformat(timespec="seconds")
    reason = _(CONFLICT_REASON).format(site=m.site_code, seq=m.seq)
    rows = []
    audit = []
    for c in conflicts:
        rows.append({"site_code": m.site_code, "package_seq": m.seq, "table_name": c["table"],
                     "record_uid": c["uid"], "patient_uid": patients.get(c["uid"]),
                     "field": c["column"], "base_value": json_value(c["base"]),
                     "site_value": json_value(c["site"]),
                     "centre_value": json_value(c["centre"]), "state": "open"})
        audit.append((at, w.user, "update", c["table"], c["uid"], c["column"],
                      json_value(_as_local(place, c["table"], c["column"], c["site"])),
                      json_value(_as_local(place, c["table"], c["column"], c["centre"])),
                      reason, patients.get(c["uid"])))
    w.append_foreign(audit)
    w.insert_many(ExchangeConflict, rows, patient_uids=[r["patient_uid"] for r in rows])


def _as_local(place: _Place, table: str, column: str, value: Any) -> Any:
    """A value in identity space as this file stores it (a reference becomes the local id)."""
    info = place.local_tables().get(table)
    if info is None or column not in info.refs or value is None:
        return value
    found = place.execute(f"SELECT {_to_local(place, info, column, '?')}", (value,)).fetchone()
    return found[0] if found else None


def _patient_uids(place: _Place, uids: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for uid in uids:
        row = place.read("SELECT patient_uid FROM audit WHERE record_uid = ? AND "
                         "patient_uid IS NOT NULL LIMIT 1", (uid,)).fetchone()
        if row is None:
            key = place.execute(
                f"SELECT p.record_key FROM {place.main('audit_record')} r JOIN "
                f"{place.main('audit_record')} p ON p.id = r.patient WHERE r.record_key = ?",
                (uid_key(uid),)).fetchone()
            row = None if key is None else (key_uid(bytes(key[0])),)
        if row is not None:
            out[uid] = row[0]
    return out


# ----- conflicts -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ConflictRow:
    """One open or resolved conflict, as a user sees it."""

    id: int
    uid: str
    site_code: str
    package_seq: int
    patient: str | None  # study identifier
    table_name: str
    record_uid: str
    field: str
    site_value: Any
    centre_value: Any
    state: str
    kept: str | None


def _decode(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def list_conflicts(*, open_only: bool = True) -> list[ConflictRow]:
    query = ExchangeConflict.select().order_by(ExchangeConflict.id)
    if open_only:
        query = query.where(ExchangeConflict.state == "open")
    rows = list(query)
    ids = {r.patient_uid for r in rows if r.patient_uid}
    names: dict[str, str] = {}
    for patient in Patient.select(Patient.uid, Patient.study_id).where(
            Patient.uid.in_(list(ids))):
        names[str(patient.uid)] = str(patient.study_id)
    return [ConflictRow(int(r.id), r.uid, r.site_code, r.package_seq,
                        names.get(r.patient_uid or ""), r.table_name, r.record_uid, r.field,
                        _decode(r.site_value), _decode(r.centre_value), r.state, r.kept)
            for r in rows]


def resolve_conflict(session: Session, conflict: int | str, keep: str, reason: str) -> None:
    """Settle a conflict: ``keep`` is ``"site"`` (the site's value replaces the centre's)
    or ``"centre"``; a reason is required; both the change and the decision are audited."""
    if keep not in ("site", "centre"):
        raise ServiceError(_("keep the site's value or the centre's (site or centre)"))
    if not (reason and reason.strip()):
        raise ServiceError(_("resolving a conflict needs a reason"))
    row = ExchangeConflict.get_or_none(
        (ExchangeConflict.id == conflict) if isinstance(conflict, int)
        else (ExchangeConflict.uid == conflict))
    if row is None:
        raise ServiceError(_("no conflict {ref}").format(ref=conflict))
    if row.state != "open":
        raise ServiceError(_("conflict {ref} was already resolved by {user}").format(
            ref=row.id, user=row.resolved_by))
    model = models_by_table().get(row.table_name)
    with session.tracker.transaction(reason) as w:
        if keep == "site":
            if model is None:
                raise ServiceError(_("records of {table} cannot be changed here").format(
                    table=row.table_name))
            record = model.get_or_none(model.uid == row.record_uid)
            if record is None:
                raise ServiceError(_("the record no longer exists; keep the centre's value"))
            value = _as_local(_Place(session.db), row.table_name, row.field,
                              _decode(row.site_value))
            w.update(record, {field_of_column(model, row.field): value},
                     patient_uid=row.patient_uid)
        w.update(row, {"state": "resolved", "kept": keep, "resolved_by": w.user,
                       "resolved_at": w.at}, patient_uid=row.patient_uid)

