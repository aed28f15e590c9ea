"""Backups that are whole, restores that keep what they replace, and a plain-words check.

Copying the database file while the window is open is not a backup: committed transactions
may still be in the ``-wal`` file, and a copy taken mid-write is torn (one such copy missed
3 of 40 committed registrations). :func:`backup` uses SQLite's online backup API from a
read-only connection inside one read transaction, so the copy is one consistent snapshot
that includes everything committed before it started, however busy other writers are. The
copy is written under a temporary name, converted to a single self-contained file
(rollback-journal mode), checked (``PRAGMA integrity_check`` and the row count of every
table against the same snapshot), synced, and only then renamed to the requested name.

:func:`restore` refuses a backup that fails the same checks, keeps a verified copy of the
current database before replacing anything, and copies the backup in with the same API, so
a window that has the file open sees the restored data (SQLite handles the locking).

:func:`verify` checks a database and says in plain words what is wrong: damaged pages,
rows pointing at missing rows, records the audit trail does not know.

Scheduled backups (:func:`run_scheduled_backup`) go into a folder the site chooses and keep
the newest N.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import peewee

from gisttracker.atomic import atomic_path, make_private_dir
from gisttracker.i18n import _, ngettext
from gisttracker.store.db import APPLICATION_ID, StoreError, read_only_uri

Progress = Callable[[str, float | None], None]

BACKUP_SUFFIX = ".backup.db"
SCHEDULED = re.compile(r"^(?P<stem>.+)-(?P<at>\d{8}-\d{6})" + re.escape(BACKUP_SUFFIX) + "$")


class BackupError(StoreError):
    """A backup or restore that could not be done; nothing already saved was changed."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    tables: dict[str, int]
    seconds: float
    size: int

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


@dataclass
class VerifyReport:
    """What :func:`verify` found: ``problems`` in plain words (empty when all is well)."""

    path: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _uri(path: Path, *, read_only: bool = True) -> str:
    return read_only_uri(path) if read_only else Path(path).resolve().as_uri()


def read_only_connection(path: Path) -> sqlite3.Connection:
    """A connection that can only read ``path`` (immutable when SQLite cannot create its
    ``-shm`` index, e.g. on a DVD)."""
    from gisttracker.store.urls import refuse_server

    refuse_server(path)
    try:
        conn = sqlite3.connect(_uri(path), uri=True, isolation_level=None,
                               check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn = sqlite3.connect(_uri(path) + "&immutable=1", uri=True, isolation_level=None,
                               check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows per table (SQLite's own tables left out), in name order; ``conn`` may also be a
    server database's connection (psycopg)."""
    if isinstance(conn, sqlite3.Connection):
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name")]
    else:
        names = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "ORDER BY tablename")]
    return {n: int(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}


def _check_copy(conn: sqlite3.Connection, expected: dict[str, int] | None) -> list[str]:
    """Problems of a copy: integrity, our application id, and row counts if given."""
    problems = []
    rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(20)")]
    if rows != ["ok"]:
        problems.append(_("damaged pages: {detail}").format(detail="; ".join(rows[:3])))
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    if app_id != APPLICATION_ID:
        problems.append(_("it is not a GIST Study Tracker database"))
    if expected is not None and not problems:
        found = table_counts(conn)
        for name, count in expected.items():
            if found.get(name) != count:
                problems.append(_("table {table} has {found} rows instead of {count}").format(
                    table=name, found=found.get(name, 0), count=count))
    return problems


def backup(source: Path, target: Path, *, progress: Progress | None = None) -> BackupResult:
    """Write a verified, self-contained copy of the database ``source`` to ``target``.

    Safe while other connections (the window, another process) read and write ``source``.
    ``target`` appears only once the copy is complete and checked; it is private (0600).
    ``progress(phase, fraction)`` is called with ``"copy"``, ``"verify"`` and ``"done"``.
    """
    from gisttracker.store.urls import ServerLocation

    if isinstance(source, ServerLocation):
        return _backup_server(source, Path(target), progress)
    started = time.perf_counter()
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise BackupError(_("{path} does not exist").format(path=source))
    if target.resolve() == source.resolve():
        raise BackupError(_("a backup cannot replace the database it copies"))
    if not target.parent.is_dir():
        raise BackupError(_("the folder {folder} does not exist").format(folder=target.parent))
    report = progress or (lambda _phase, _fraction: None)
    try:
        src = read_only_connection(source)
    except sqlite3.DatabaseError as exc:
        raise BackupError(_("{path} cannot be read: {error}").format(
            path=source, error=exc)) from exc
    try:
        report("copy", 0.0)
        # One read transaction: the counts and the copied pages are the same snapshot, and a
        # busy writer cannot make the copy restart (it would with a step-by-step backup).
        src.execute("BEGIN")
        counts = table_counts(src)
        with atomic_path(target) as tmp:
            dst = sqlite3.connect(tmp, isolation_level=None)
            try:
                src.backup(dst)
                # One self-contained file: a backup must not depend on a -wal beside it.
                dst.execute("PRAGMA journal_mode = DELETE")
                report("verify", 0.5)
                problems = _check_copy(dst, counts)
            finally:
                dst.close()
            if problems:
                raise BackupError(_("the backup did not verify ({problems}); it was not "
                                    "kept").format(problems="; ".join(problems)))
        src.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise BackupError(_("the backup of {path} failed: {error}").format(
            path=source, error=exc)) from exc
    except OSError as exc:
        raise BackupError(_("the backup could not be written to {path}: {error}").format(
            path=target, error=exc.strerror or exc)) from exc
    finally:
        src.close()
    report("done", 1.0)
    return BackupResult(target, counts, time.perf_counter() - started, target.stat().st_size)


def _backup_server(source: Any, target: Path, progress: Progress | None) -> BackupResult:
    """:func:`backup` of a server database: a SQLite file holding a snapshot of it (one
    ``REPEATABLE READ`` transaction; :func:`gisttracker.store.transfer.snapshot`), checked
    table by table against the server and by the full audit check, then as any backup file
    is (integrity check and row counts). ``restore`` or ``migrate-to`` bring it back into an
    empty server database, or it opens as a site file."""
    from gisttracker.store.transfer import TransferError, snapshot

    started = time.perf_counter()
    if not target.parent.is_dir():
        raise BackupError(_("the folder {folder} does not exist").format(folder=target.parent))
    report = progress or (lambda _phase, _fraction: None)
    report("copy", 0.0)
    try:
        with atomic_path(target) as tmp:
            copied = snapshot(source, tmp, progress=lambda _table, _rows: report("copy", None))
            report("verify", 0.9)
            dst = sqlite3.connect(tmp, isolation_level=None)
            try:
                problems = _check_copy(dst, copied.rows)
            finally:
                dst.close()
            if problems:
                raise BackupError(_("the backup did not verify ({problems}); it was not "
                                    "kept").format(problems="; ".join(problems)))
    except TransferError as exc:
        raise BackupError(_("the backup of {path} failed: {error}").format(
            path=source, error=exc)) from exc
    except OSError as exc:
        raise BackupError(_("the backup could not be written to {path}: {error}").format(
            path=target, error=exc.strerror or exc)) from exc
    report("done", 1.0)
    return BackupResult(target, copied.rows, time.perf_counter() - started,
                        target.stat().st_size)


def check_backup(path: Path) -> dict[str, int]:
    """The row counts of backup ``path``; :class:`BackupError` if it is damaged or not ours."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(_("{path} does not exist").format(path=path))
    if path.stat().st_size == 0:
        raise BackupError(_("{path} is empty (0 bytes); it is not a backup").format(path=path))
    try:
        conn = read_only_connection(path)
    except sqlite3.DatabaseError as exc:
        raise BackupError(_("{path} is not a readable backup ({error}); nothing was "
                            "restored").format(path=path, error=exc)) from exc
    try:
        problems = _check_copy(conn, None)
        if problems:
            raise BackupError(_("{path} is not a usable backup ({problems}); nothing was "
                                "restored").format(path=path, problems="; ".join(problems)))
        from gisttracker.store.migrations import LATEST

        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > LATEST:
            raise BackupError(_("{path} was written by a newer version of GIST Study Tracker "
                                "(schema {found}); nothing was restored").format(
                                    path=path, found=version))
        return table_counts(conn)
    except sqlite3.DatabaseError as exc:
        raise BackupError(_("{path} is damaged ({error}); nothing was restored").format(
            path=path, error=exc)) from exc
    finally:
        conn.close()


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    kept: Path | None  # the copy of the database as it was before the restore
    tables: dict[str, int]


def _stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone().strftime("%Y%m%d-%H%M%S")


def restore(backup_file: Path, database: Path, *, now: datetime | None = None,
            progress: Progress | None = None) -> RestoreResult:
    """Replace the contents of ``database`` with the backup ``backup_file``.

    The backup is checked first and refused if damaged. The current database, if any, is
    first copied to ``<name>.before-restore-<time>.db`` beside it (a verified backup; a
    damaged file is copied byte for byte instead), so nothing is ever lost by a restore.
    """
    from gisttracker.store.urls import ServerLocation

    if isinstance(database, ServerLocation):
        return _restore_server(Path(backup_file), database, progress)
    report = progress or (lambda _phase, _fraction: None)
    backup_file, database = Path(backup_file), Path(database)
    if backup_file.resolve() == database.resolve():
        raise BackupError(_("choose a backup file, not the database itself"))
    report("check", 0.0)
    expected = check_backup(backup_file)
    kept: Path | None = None
    if database.exists() and database.stat().st_size > 0:
        kept = database.with_name(f"{database.stem}.before-restore-{_stamp(now)}.db")
        report("keep", 0.25)
        try:
            backup(database, kept)
        except BackupError:
            # The current file is damaged (why one restores): keep its bytes as they are.
            kept.mkdir()
            for suffix in ("", "-wal"):
                part = Path(f"{database}{suffix}")
                if part.exists():
                    shutil.copy2(part, kept / part.name)
    report("restore", 0.5)
    src = read_only_connection(backup_file)
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(database, isolation_level=None, timeout=30)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = wal")
            report("verify", 0.75)
            problems = _check_copy(dst, expected)
        finally:
            dst.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(_("the restore into {path} failed ({error}); the database as it "
                            "was is kept in {kept}").format(path=database, error=exc,
                                                            kept=kept)) from exc
    finally:
        src.close()
    if problems:
        raise BackupError(_("the restored database did not verify ({problems}); the database "
                            "as it was is kept in {kept}").format(
                                problems="; ".join(problems), kept=kept))
    # The user replaced the file on purpose: their witness of its audit trail (what they
    # last saw of it) follows, so the restored trail is not taken for a rewritten one.
    from gisttracker.services.audit import Witness

    Witness(database).forget()
    report("done", 1.0)
    return RestoreResult(database, kept, expected)


def _restore_server(backup_file: Path, database: Any,
                    progress: Progress | None) -> RestoreResult:
    """:func:`restore` into a server database: only into an empty one (a new database, or
    one whose data were removed on purpose), since a server keeps no file to set aside as
    the copy of what it held. The backup is checked, then moved in as ``migrate-to`` moves
    a site (:func:`gisttracker.store.transfer.transfer`: every table's digest and the full
    audit check of the result). The backup file itself is never changed: a private copy of
    it is read."""
    from gisttracker.store.db import connect
    from gisttracker.store.migrations import LATEST, migrate
    from gisttracker.store.transfer import check_target_empty, transfer

    report = progress or (lambda _phase, _fraction: None)
    report("check", 0.0)
    check_backup(backup_file)
    check_target_empty(database)  # refuses a database holding anything, before any work
    folder = make_private_dir(database.parent / "snapshots")
    work = Path(tempfile.mkdtemp(prefix="restore-", dir=folder))
    try:
        copy = work / "site.db"
        shutil.copyfile(backup_file, copy)
        source = connect(copy)
        try:
            if migrate(source) != LATEST:  # an older backup is upgraded (in the copy)
                raise BackupError(_("{path} could not be brought to schema {latest}").format(
                    path=backup_file, latest=LATEST))
            report("restore", 0.25)
            moved = transfer(source, database,
                             progress=lambda _table, _rows: report("restore", None))
        finally:
            source.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report("done", 1.0)
    return RestoreResult(database, None, dict(moved.rows))


def backup_before_migration(path: Path, version: int, *, now: datetime | None = None) -> Path:
    """The backup every schema migration writes first: ``backups/<name>.schema-N-<time>``
    beside the database. Returns its path; :class:`BackupError` if it cannot be written."""
    folder = make_private_dir(Path(path).parent / "backups")
    target = folder / f"{Path(path).stem}.schema-{version}-{_stamp(now)}{BACKUP_SUFFIX}"
    return backup(path, target).path


# ----- scheduled backups ------------------------------------------------------------------

@dataclass(frozen=True)
class BackupPlan:
    """The site's schedule: where, how often, how many to keep (settings ``backup_*``)."""

    folder: Path | None
    every_hours: int
    keep: int


def backup_plan(tracker: Any) -> BackupPlan:
    """The schedule the site set (a :class:`gisttracker.services.base.Tracker`'s settings)."""
    from gisttracker.services.settings import SettingsService

    settings = SettingsService(tracker)
    folder = settings.get("backup_folder").strip()
    return BackupPlan(Path(folder).expanduser() if folder else None,
                      int(settings.get("backup_every_hours")), int(settings.get("backup_keep")))


def backup_stem(database: Path) -> str:
    """The name scheduled backups of ``database`` start with: the file's name without its
    suffix, or a server database's name."""
    from urllib.parse import urlsplit

    from gisttracker.store.urls import ServerLocation

    if isinstance(database, ServerLocation):
        return urlsplit(database.url).path.strip("/") or "server"
    return Path(database).stem


def scheduled_backups(folder: Path, stem: str) -> list[tuple[datetime, Path]]:
    """Backups of database ``stem`` made by the schedule in ``folder``, newest first."""
    found = []
    if not folder.is_dir():
        return []
    for path in folder.iterdir():
        match = SCHEDULED.match(path.name)
        if match and match["stem"] == stem:
            at = datetime.strptime(match["at"], "%Y%m%d-%H%M%S")
            found.append((at, path))
    return sorted(found, reverse=True)


def backup_due(database: Path, folder: Path, every_hours: float, now: datetime) -> bool:
    """True when the newest scheduled backup of ``database`` is older than ``every_hours``
    (``now`` is local time, naive, as the file names are)."""
    existing = scheduled_backups(folder, backup_stem(database))
    if not existing:
        return True
    return (now - existing[0][0]).total_seconds() >= every_hours * 3600 - 60


def run_scheduled_backup(database: Path, folder: Path, *, keep: int, now: datetime,
                         progress: Progress | None = None) -> tuple[BackupResult, list[Path]]:
    """Back ``database`` up into ``folder`` as ``<name>-<time>.backup.db`` and remove the
    oldest scheduled backups beyond ``keep``; returns the backup and the files removed.

    Only files this schedule wrote (matching the name pattern) are ever removed.
    """
    if keep < 1:
        raise BackupError(_("at least one backup must be kept"))
    folder = make_private_dir(Path(folder))
    name = f"{backup_stem(database)}-{now.strftime('%Y%m%d-%H%M%S')}{BACKUP_SUFFIX}"
    result = backup(database, folder / name, progress=progress)
    removed = []
    for _at, old in scheduled_backups(folder, backup_stem(database))[keep:]:
        old.unlink(missing_ok=True)
        removed.append(old)
    return result, removed


# ----- verify -------------------------------------------------------------------------------

def verify(path: Path) -> VerifyReport:
    """Check the database ``path`` and describe, in plain words, anything wrong with it.

    Looks at: the file itself (SQLite's full integrity check), rows that refer to rows that
    do not exist (foreign keys), the schema version, and the audit trail (every record the
    application owns must have been written through the audited service layer).
    """
    from gisttracker.store.migrations import LATEST
    from gisttracker.store.urls import ServerLocation

    if isinstance(path, ServerLocation):
        return _verify_server(path)
    path = Path(path)
    report = VerifyReport(path)
    if not path.is_file():
        report.problems.append(_("{path} does not exist").format(path=path))
        return report
    if path.stat().st_size == 0:
        report.problems.append(_("the file is empty (0 bytes): restore the latest backup"))
        return report
    try:
        conn = read_only_connection(path)
    except sqlite3.DatabaseError as exc:
        report.problems.append(_("SQLite cannot read it ({error}): restore the latest "
                                 "backup").format(error=exc))
        return report
    try:
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        if app_id != APPLICATION_ID:
            report.problems.append(_("it is not a GIST Study Tracker database"))
            return report
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > LATEST:
            report.problems.append(_("it was written by a newer version (schema {found}); "
                                     "this version cannot check it").format(found=version))
            return report
        if version < LATEST:
            report.notes.append(_("schema {found}: it will be upgraded to {latest} when next "
                                  "opened for writing").format(found=version, latest=LATEST))
        damage = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(50)")]
        if damage != ["ok"]:
            report.problems.append(ngettext(
                "{n} damaged place in the file, e.g. {example}: restore the latest backup",
                "{n} damaged places in the file, e.g. {example}: restore the latest backup",
                len(damage)).format(n=len(damage), example=damage[0]))
            return report
        report.notes.append(_("the file's pages are intact"))
        _check_references(conn, report)
        _check_audit(conn, report)
        if version == LATEST:
            _check_trail(conn, report)
        counts = table_counts(conn)
        report.notes.append(ngettext("{n} patient", "{n} patients",
                                     counts.get("patient", 0)).format(
                                         n=counts.get("patient", 0)))
    except sqlite3.DatabaseError as exc:
        report.problems.append(_("SQLite stopped reading it ({error}): restore the latest "
                                 "backup").format(error=exc))
    finally:
        conn.close()
    return report


def _verify_server(location: Any) -> VerifyReport:
    """:func:`verify` of a server database, with what makes sense there, read in one
    ``REPEATABLE READ`` snapshot: the schema version; every reference between rows (by a
    query per foreign key: the server enforces them, unless someone turned its triggers
    off); the audit trail's protection (its append-only triggers, enabled); the full audit
    check (the hash chain and every audited table replayed); the row counts. The server's
    pages are the server's own to check (data checksums, ``pg_amcheck``): said in the notes.
    """
    import peewee

    from gisttracker.services.audit import verify as verify_audit
    from gisttracker.store.introspect import Schema, table_names
    from gisttracker.store.migrations import LATEST, schema_version
    from gisttracker.store.server import APPEND_ONLY, ServerDatabase

    report = VerifyReport(location)
    db: peewee.Database = ServerDatabase(location.connect_url)
    try:
        db.connect()
    except peewee.OperationalError as exc:
        report.problems.append(_("cannot connect to {url}: {error}").format(
            url=location.url, error=str(exc).strip()))
        return report
    try:
        with db.atomic():
            db.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            version = schema_version(db)
            if version == 0:
                report.problems.append(_("it is not a GIST Study Tracker database (it holds "
                                         "no schema)"))
                return report
            if version > LATEST:
                report.problems.append(_("it was written by a newer version (schema {found}); "
                                         "this version cannot check it").format(found=version))
                return report
            if version < LATEST:
                report.notes.append(_("schema {found}: it will be upgraded to {latest} when "
                                      "next opened").format(found=version, latest=LATEST))
            else:
                report.notes.append(_("schema {version}, the latest").format(version=version))
            _check_server_references(db, Schema(db), table_names(db), report)
            _check_server_triggers(db, APPEND_ONLY, report)
            _report_trail(verify_audit(db), report)
            total = patients = 0
            for table in table_names(db):
                count = int(db.execute_sql(f'SELECT count(*) FROM "{table}"').fetchone()[0])
                total += count
                patients = count if table == "patient" else patients
            report.notes.append(ngettext("{n} patient", "{n} patients", patients).format(
                n=patients))
            report.notes.append(ngettext("{n} row in all", "{n} rows in all", total).format(
                n=total))
            report.notes.append(_(
                "the server's own files are not read from here: their damage is the "
                "server's to find (data checksums, pg_amcheck) and its backups (pg_dump) "
                "to repair"))
    except peewee.DatabaseError as exc:
        report.problems.append(_("the server stopped the check ({error})").format(
            error=str(exc).strip()))
    finally:
        db.close()
    return report


def _check_server_references(db: Any, schema: Any, tables: list[str],
                             report: VerifyReport) -> None:
    found = False
    for table in tables:
        for fk in schema.foreign_keys(table):
            rows = [int(r[0]) for r in db.execute_sql(
                f'SELECT c.id FROM "{table}" c WHERE c."{fk.column}" IS NOT NULL AND NOT '
                f'EXISTS (SELECT 1 FROM "{fk.parent}" p WHERE p.id = c."{fk.column}") '
                "ORDER BY c.id LIMIT 6").fetchall()]
            if rows:
                found = True
                shown = ", ".join(str(r) for r in rows[:5]) + ("…" if len(rows) > 5 else "")
                report.problems.append(ngettext(
                    "{n} row of {table} refers to a {parent} that does not exist (row id "
                    "{ids})",
                    "{n} rows of {table} refer to a {parent} that does not exist (row ids "
                    "{ids})", len(rows)).format(n=len(rows), table=table, parent=fk.parent,
                                                ids=shown))
    if not found:
        report.notes.append(_("every reference between records points at a record that "
                              "exists"))


def _check_server_triggers(db: Any, tables: tuple[str, ...], report: VerifyReport) -> None:
    """Each append-only table must keep its enabled UPDATE and DELETE guards."""
    rows = db.execute_sql(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' "
        "AND c.relnamespace = current_schema()::regnamespace").fetchall()
    present = {(str(r[0]), str(r[1])) for r in rows}
    missing = [t for t in tables
               if not {(t, f"{t}_no_update"), (t, f"{t}_no_delete")} <= present]
    if missing:
        report.problems.append(_("the protection against changes of {tables} was removed or "
                                 "disabled (their triggers)").format(tables=", ".join(missing)))
    else:
        report.notes.append(_("the audit trail and the randomization are protected against "
                              "changes (their triggers are in place)"))


def _check_references(conn: sqlite3.Connection, report: VerifyReport) -> None:
    broken: dict[tuple[str, str], list[int]] = {}
    for table, rowid, parent, _fk in conn.execute("PRAGMA foreign_key_check"):
        broken.setdefault((table, parent), []).append(int(rowid))
    for (table, parent), rows in sorted(broken.items()):
        report.problems.append(ngettext(
            "{n} row of {table} refers to a {parent} that does not exist (row id {ids})",
            "{n} rows of {table} refer to a {parent} that does not exist (row ids {ids})",
            len(rows)).format(n=len(rows), table=table, parent=parent,
                              ids=", ".join(str(r) for r in rows[:5])
                              + ("…" if len(rows) > 5 else "")))
    if not broken:
        report.notes.append(_("every reference between records points at a record that "
                              "exists"))


def _audited_tables(conn: sqlite3.Connection) -> list[str]:
    """Tables of records the application owns (they carry a ``uid``): all audited."""
    tables = []
    for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"):
        columns = {r[1] for r in conn.execute(f'PRAGMA table_info("{name}")')}
        if "uid" in columns:
            tables.append(name)
    return tables


class _Borrowed(peewee.SqliteDatabase):
    """A peewee database over a connection already open (the read-only one of
    :func:`verify`), for the audit check, which reads through peewee."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(":borrowed:")
        self._borrowed = conn

    def _connect(self) -> sqlite3.Connection:
        return self._borrowed

    def _close(self, conn: sqlite3.Connection) -> None:
        pass  # the connection stays the caller's


def _check_trail(conn: sqlite3.Connection, report: VerifyReport) -> None:
    """The full audit check, as ``gisttracker audit verify`` makes it: the hash chain, and
    every audited table replayed against the trail (a value changed around the program is
    named with its record and the entry that last wrote it)."""
    from gisttracker.services.audit import verify as verify_audit

    db = _Borrowed(conn)
    db.connect()
    try:
        _report_trail(verify_audit(db), report)
    finally:
        db.close()


def _report_trail(audit: Any, report: VerifyReport) -> None:
    if audit.ok:
        report.notes.append(audit.summary())
        return
    for finding in audit.findings[:10]:
        report.problems.append(finding.message)
    if len(audit.findings) > 10:
        report.problems.append(_("(and {n} more findings in the audit trail)")
                               .format(n=len(audit.findings) - 10))


def _check_audit(conn: sqlite3.Connection, report: VerifyReport) -> None:
    """Every record must appear in the audit trail (it was written through the service
    layer); the audit trail's own protection (append-only) must be in place."""
    has_audit = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'audit_log'").fetchone() is not None
    if not has_audit:
        report.problems.append(_("the audit trail is missing"))
        return
    triggers = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'")}
    kind = conn.execute("SELECT type FROM sqlite_master WHERE name = 'audit_log'").fetchone()[0]
    if kind == "table":
        needed = {"audit_log_no_update", "audit_log_no_delete"}
        records = ("SELECT a.record_uid FROM audit_log a WHERE a.table_name = ? "
                   "AND a.record_uid IS NOT NULL")
    else:
        # Schema 8: the view over the chained trail; its tables carry the protection.
        from gisttracker.store.chain import uid_sql

        triggers |= {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
            "('audit_entry', 'audit_txn', 'audit_record')")}
        needed = {f"{t}_{w}" for t in ("audit_entry", "audit_txn", "audit_record")
                  for w in ("no_update", "no_delete")}
        records = (f"SELECT {uid_sql('r.record_key')} FROM audit_record r "
                   "WHERE r.table_name = ?")
    if not needed <= triggers:
        report.problems.append(_("the audit trail's protection against changes was removed "
                                 "(its triggers are missing)"))
    unaudited = 0
    for table in _audited_tables(conn):
        # NOT IN over the trail's uids of one table: a list built once.
        missing = int(conn.execute(
            f'SELECT count(*) FROM "{table}" t WHERE t.uid NOT IN ({records})',
            (table,)).fetchone()[0])
        if missing:
            unaudited += missing
            report.problems.append(ngettext(
                "{n} record of {table} is not in the audit trail (written around the "
                "application)",
                "{n} records of {table} are not in the audit trail (written around the "
                "application)", missing).format(n=missing, table=table))
    if not unaudited:
        report.notes.append(_("every record is in the audit trail"))
