"""Moving a site between engines (issue 16): ``gisttracker migrate-to TARGET``.

A site moves from its SQLite file to a PostgreSQL server (``migrate-to postgresql://…``) or
back (``migrate-to FILE.db``) with every record, audit row, signature and randomization
intact, and **verified** before the command says so:

1. The target must be empty: a file that does not exist yet, or a server database without
   a single row (an empty database, or one a failed move left with its schema only). A
   target holding anything is refused and left untouched.
2. The source is held under its write lock for the whole move (no workstation can write
   meanwhile, and every table is read at one moment); the target gets the latest schema
   from its own engine's migrations (:mod:`gisttracker.store.migrations`), then every
   table's rows with their own ids, parents before children, in one transaction. The
   target's triggers stay on: the audit trail and the randomization are appended to as
   they would be by the program (ids in order), never changed afterwards.
3. Verification, on what was written: the row count of every table, a digest of every
   table's rows in key order compared with the source's (values normalised only where the
   engines' drivers differ: ``memoryview``/``bytes``), and the full audit check of the target
   (:func:`gisttracker.services.audit.verify`: the hash chain and every audited table
   replayed). Any difference is a :class:`TransferError`; the target is then left as it is,
   for inspection, and the source was never written. A new file is written as
   ``FILE.db.incomplete`` and renamed to ``FILE.db`` only once verified; a move cut short
   (the process killed) leaves a server database with its schema only, which the same
   command fills when run again, and never a file by the target's name.

Nothing here knows the tables by name except the two that are the engine's own
bookkeeping (``schema_migration``: each engine records its own history; the audit
checkpoint is a cache of the last check and is rebuilt on the next open).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import peewee

from gisttracker.errors import UserError
from gisttracker.i18n import _
from gisttracker.store.introspect import Schema, table_names
from gisttracker.store.server import is_server_db
from gisttracker.store.urls import ServerLocation

log = logging.getLogger(__name__)

# Not copied: each engine's own migration history, and the cache of the last audit check.
NOT_COPIED = {"schema_migration", "audit_checkpoint"}
BATCH = 2000
#: The suffix of a new file while a site is moved into it (renamed away once verified).
INCOMPLETE = ".incomplete"


class TransferError(UserError):
    """The move was refused (a non-empty target) or its verification failed."""


@dataclass
class TransferReport:
    """What was moved and checked."""

    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows, verified equal
    audit_entries: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _order(db: peewee.Database, tables: list[str]) -> list[str]:
    """``tables`` with every table after the tables it references."""
    schema = Schema(db)
    done: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for fk in schema.foreign_keys(name):
            if fk.parent != name and fk.parent in tables:
                visit(fk.parent)
        done.append(name)

    for name in sorted(tables):
        visit(name)
    return done


def _columns(db: peewee.Database, table: str) -> list[str]:
    return [name for name, _affinity in Schema(db).columns(table)]


def _key(columns: list[str]) -> list[str]:
    """The columns that order a table's rows: ``id``, else all of them."""
    return ["id"] if "id" in columns else columns


def _rows(db: peewee.Database, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    """Every row of ``table`` in key order, read in batches (keyset pagination on ``id``)."""
    names = ", ".join(f'"{c}"' for c in columns)
    if "id" not in columns:
        order = ", ".join(f'"{c}"' for c in columns)
        yield from db.execute_sql(f'SELECT {names} FROM "{table}" ORDER BY {order}').fetchall()
        return
    last: Any = None
    while True:
        if last is None:
            batch = db.execute_sql(
                f'SELECT {names} FROM "{table}" ORDER BY id LIMIT {BATCH}').fetchall()
        else:
            batch = db.execute_sql(
                f'SELECT {names} FROM "{table}" WHERE id > ? ORDER BY id LIMIT {BATCH}',
                (last,)).fetchall()
        if not batch:
            return
        yield from batch
        last = batch[-1][columns.index("id")]


def _plain(value: Any) -> Any:
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    return value


def digest(db: peewee.Database, table: str, columns: list[str]) -> tuple[int, str]:
    """(rows, SHA-256 of every row in key order) of ``table``: equal on both engines when
    the tables hold the same values."""
    h = hashlib.sha256()
    count = 0
    for row in _rows(db, table, columns):
        h.update(repr(tuple(_plain(v) for v in row)).encode("utf-8", "backslashreplace"))
        count += 1
    return count, h.hexdigest()


def _holds_rows(db: peewee.Database) -> list[str]:
    """The tables of ``db`` that hold at least one row (its migration history aside)."""
    return [t for t in table_names(db) if t != "schema_migration" and db.execute_sql(
        f'SELECT EXISTS (SELECT 1 FROM "{t}")').fetchone()[0]]


def check_target_empty(target: Path) -> None:
    """Refuse a target that holds anything (see the module docstring)."""
    if isinstance(target, ServerLocation):
        from gisttracker.store.server import ServerDatabase

        db = ServerDatabase(target.connect_url)
        try:
            db.connect()
        except peewee.OperationalError as exc:
            raise TransferError(_("cannot connect to {url}: {error}").format(
                url=target.url, error=str(exc).strip())) from exc
        try:
            full = _holds_rows(db) if db.get_tables() else []
        finally:
            db.close()
        if full:
            raise TransferError(_(
                "{target} is not empty (it holds rows in {tables}): a site is moved only "
                "into an empty database. Nothing was changed.").format(
                    target=target, tables=", ".join(full[:5])))
        return
    if target.exists():
        raise TransferError(_(
            "{target} already exists: a site is moved only into a new file. Choose a new "
            "file name. Nothing was changed.").format(target=target))


def transfer(source: peewee.Database, target_path: Path, *,
             progress: Callable[[str, int], None] | None = None) -> TransferReport:
    """Copy the open site database ``source`` into the new, empty ``target_path`` and verify
    the copy; see the module docstring. ``progress(table, rows)`` after each table."""
    from gisttracker.services.audit import verify
    from gisttracker.store.db import database, open_database

    started = time.perf_counter()
    check_target_empty(target_path)
    report = TransferReport(source=str(getattr(source, "url", None) or source.database),
                            target=str(target_path))
    created_file = not isinstance(target_path, ServerLocation)
    final_path = target_path
    if created_file:
        # A new file is written under another name and given its own once verified: a move
        # cut short (the process killed, the computer off) leaves no file by the target's
        # name that would open as an empty site, and the same command can be run again.
        target_path = Path(f"{target_path}{INCOMPLETE}")
        for suffix in ("", "-wal", "-shm"):  # what an earlier move cut short left
            Path(f"{target_path}{suffix}").unlink(missing_ok=True)
    target = open_database(target_path)  # the latest schema, on the target's engine
    try:
        with source.atomic(lock_type="IMMEDIATE"):  # no writer meanwhile, one snapshot
            tables = [t for t in _order(source, table_names(source)) if t not in NOT_COPIED]
            _copy_tables(source, target, tables, report, progress)
            _verify_tables(source, target, tables, report)
        database.initialize(target)
        audit = verify(target)
        if not audit.ok:
            raise TransferError(_("the audit trail of the copy does not verify: {problem}")
                                .format(problem=audit.summary()))
        report.audit_entries = audit.entries
    except BaseException:
        target.close()
        if created_file and isinstance(target_path, Path) and report.total == 0:
            # Nothing was copied into the new file: do not leave an empty site behind.
            for suffix in ("", "-wal", "-shm"):
                Path(f"{target_path}{suffix}").unlink(missing_ok=True)
        raise
    # Fresh statistics for the planner (and on a server the visibility map, which a bulk
    # load leaves empty): the moved site is as fast as the old one from its first use.
    target.execute_sql("VACUUM ANALYZE" if is_server_db(target) else "ANALYZE")
    target.close()
    database.initialize(source)
    if created_file:
        if final_path.exists():  # made meanwhile by someone else: never replaced
            raise TransferError(_(
                "{target} appeared while the site was moved: the verified copy is kept as "
                "{copy}. Nothing was changed.").format(target=final_path, copy=target_path))
        target_path.rename(final_path)
    report.seconds = time.perf_counter() - started
    log.info("site moved from %s to %s: %d rows in %d tables, %d audit entries verified",
             report.source, report.target, report.total, len(report.rows),
             report.audit_entries)
    return report


def snapshot(location: ServerLocation, target_path: Path, *,
             progress: Callable[[str, int], None] | None = None,
             check_audit: bool = True, check_digests: bool = True) -> TransferReport:
    """Copy the server database at ``location`` into the new SQLite file ``target_path``
    as one consistent snapshot, without holding up any workstation, and verify the copy.

    What backups, exports and site packages of a server site are made from (the file code
    then reads the copy as it reads a site file). Unlike :func:`transfer` the source is not
    held under the write lock: it is read on a connection of its own inside one
    ``REPEATABLE READ, READ ONLY`` transaction, so every table is read at the same moment
    while nurses keep writing. The copy is verified as a move is (the row count and digest
    of every table against the same snapshot; with ``check_audit`` the full audit check of
    the copy); without ``check_digests``, by the row counts only (a scratch copy an export
    reads and throws away: the digests cost as much as the copy). The models' database
    (:data:`gisttracker.store.db.database`) is left bound to whatever it was: a window can
    make a snapshot of the site it has open on a worker.
    """
    from gisttracker.services.audit import verify
    from gisttracker.store.db import connect
    from gisttracker.store.migrations import LATEST, migrate, schema_version
    from gisttracker.store.server import ServerDatabase

    started = time.perf_counter()
    target_path = Path(target_path)
    if target_path.exists() and target_path.stat().st_size > 0:  # an empty one is a new file
        check_target_empty(target_path)
    report = TransferReport(source=location.url, target=str(target_path))
    source: peewee.Database = ServerDatabase(location.connect_url)
    try:
        source.connect()
    except peewee.OperationalError as exc:
        raise TransferError(_("cannot connect to {url}: {error}").format(
            url=location.url, error=str(exc).strip())) from exc
    target: peewee.Database | None = None
    try:
        found = schema_version(source)
        if found != LATEST:
            raise TransferError(_(
                "{url} is at schema {found}, this version writes {latest}: open it with "
                "this version first (it is upgraded then)").format(
                    url=location.url, found=found, latest=LATEST))
        target = connect(target_path)
        migrate(target)  # the latest schema on SQLite, in rollback-journal mode: one file
        with source.atomic():
            # Before the first query of the transaction: every later read sees one moment.
            source.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            tables = [t for t in _order(source, table_names(source)) if t not in NOT_COPIED]
            _copy_tables(source, target, tables, report, progress)
            if check_digests:
                _verify_tables(source, target, tables, report)
            else:
                _verify_counts(target, report)
        if check_audit:
            audit = verify(target)
            if not audit.ok:
                raise TransferError(_("the audit trail of the copy does not verify: "
                                      "{problem}").format(problem=audit.summary()))
            report.audit_entries = audit.entries
        target.execute_sql("ANALYZE")
    except BaseException:
        if target is not None:
            target.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{target_path}{suffix}").unlink(missing_ok=True)
        raise
    finally:
        source.close()
    target.close()
    report.seconds = time.perf_counter() - started
    log.info("snapshot of %s written to %s: %d rows in %d tables", report.source,
             report.target, report.total, len(report.rows))
    return report


@contextlib.contextmanager
def as_file(path: Path, *, check_audit: bool = False) -> Iterator[Path]:
    """The site database ``path`` as a SQLite file to read: a file is itself; a server
    database is a :func:`snapshot` of it in a private temporary folder on this workstation
    (beside the server's other local files, never on a shared temporary folder: it holds
    the whole site), removed afterwards."""
    if not isinstance(path, ServerLocation):
        yield Path(path)
        return
    from gisttracker.files import make_private_dir

    folder = Path(tempfile.mkdtemp(prefix="snapshot-",
                                   dir=make_private_dir(path.parent / "snapshots")))
    try:
        target = folder / "site.db"
        snapshot(path, target, check_audit=check_audit, check_digests=check_audit)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _verify_counts(target: peewee.Database, report: TransferReport) -> None:
    for table, copied in report.rows.items():
        found = int(target.execute_sql(f'SELECT count(*) FROM "{table}"').fetchone()[0])
        if found != copied:
            raise TransferError(_(
                "the copy of table {table} differs from the source ({source} rows, copy "
                "{target} rows): the move is not verified; the source is unchanged").format(
                    table=table, source=copied, target=found))


def _copy_tables(source: peewee.Database, target: peewee.Database, tables: list[str],
                 report: TransferReport,
                 progress: Callable[[str, int], None] | None) -> None:
    missing = sorted(set(tables) - set(table_names(target)))
    if missing:
        raise TransferError(_("the target has no table {tables}: its schema is not "
                              "the source's").format(tables=", ".join(missing)))
    with target.atomic():
        for table in tables:
            columns = _columns(source, table)
            report.rows[table] = _copy(source, target, table, columns)
            if progress is not None:
                progress(table, report.rows[table])
        if is_server_db(target):
            _restart_identities(target, tables)


def _copy(source: peewee.Database, target: peewee.Database, table: str,
          columns: list[str]) -> int:
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _c in columns)
    sql = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'
    count = 0
    batch: list[tuple[Any, ...]] = []
    cursor = target.cursor()
    # The rows go as they were read: both drivers bind bytes, memoryview and bytearray
    # alike, so nothing is converted value by value (13 million values at 10,000 patients).
    for row in _rows(source, table, columns):
        batch.append(row)
        if len(batch) >= BATCH:
            cursor.executemany(sql, batch)
            count += len(batch)
            batch = []
    if batch:
        cursor.executemany(sql, batch)
        count += len(batch)
    return count


def _restart_identities(db: peewee.Database, tables: list[str]) -> None:
    """Rows came with their ids: each identity continues after the largest."""
    for table in tables:
        if "id" in _columns(db, table):
            db.execute_sql(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                f'coalesce((SELECT max(id) FROM "{table}"), 0) + 1, false)')


def _verify_tables(source: peewee.Database, target: peewee.Database, tables: list[str],
                   report: TransferReport) -> None:
    for table in tables:
        columns = _columns(source, table)
        ours = digest(source, table, columns)
        theirs = digest(target, table, columns)
        if ours != theirs:
            raise TransferError(_(
                "the copy of table {table} differs from the source ({source} rows, copy "
                "{target} rows): the move is not verified; the source is unchanged").format(
                    table=table, source=ours[0], target=theirs[0]))
        report.rows[table] = ours[0]
