"""Opening the site database: path resolution, pragmas, schema version checks, and what the
environment can do to it (a full disk, a lock held by another program, a read-only file).

One SQLite file per site. The models bind to :data:`database` (a proxy) so the same model
classes serve whichever file is open. The schema version lives in the file
(``PRAGMA user_version``) and every change of it is a numbered migration in
:mod:`gisttracker.store.migrations`; a file written by a newer release is refused before
anything is written to it.

:func:`environment_error` is the one place where SQLite's own errors become messages: the
service transaction (:meth:`gisttracker.services.base.Tracker.transaction`), the service
boundary and :func:`open_database` all ask it. It reads SQLite's result code, not the
message text, and looks through the whole chain of exceptions: when a COMMIT fails on a
full disk SQLite has already rolled back, and the driver's ROLLBACK then fails with "cannot
rollback - no transaction is active", which must never be what the user reads.

Files that are not what they seem (:func:`inspect_file`, checked before anything is
written): an empty (zero-byte) file is refused rather than silently becoming a new, empty
site; damaged pages are looked for at open (``PRAGMA quick_check`` within a small time
budget — the window finishes the check in the background for large files); a read-only copy
(an archive on a DVD, a file without write permission) and a file on a network share open
read-only, for viewing and printing.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import peewee

from gisttracker.errors import UserError
from gisttracker.files import make_private_dir, private_umask, restrict
from gisttracker.i18n import _
from gisttracker.store.paths import (  # re-exported: where the file is lives in .paths
    APP_NAME,
    APPLICATION_ID,
    ENV_VAR,
    default_path,
    resolve_path,
)

__all__ = ["APPLICATION_ID", "APP_NAME", "BUSY_TIMEOUT_MS", "ENV_VAR", "QUICK_CHECK_BUDGET",
           "DamagedFileError", "DatabaseLockedError", "DatabaseUnavailableError",
           "DiskFullError", "EmptyFileError", "FileState", "NewerSchemaError",
           "ReadOnlyDatabaseError", "ReadOnlyError", "StoreError", "connect", "database",
           "default_path", "environment_error", "inspect_file", "open_database",
           "quick_check", "resolve_path", "writable"]

database = peewee.DatabaseProxy()
log = logging.getLogger(__name__)

# How long a write waits for another program's lock before giving up (PRAGMA busy_timeout).
BUSY_TIMEOUT_MS = 5000


class StoreError(UserError):
    """The database cannot be used (an environment problem, not a bug). Message is for users."""


class NewerSchemaError(StoreError):
    """The file was written by a newer release; it is left untouched."""


class DiskFullError(StoreError):
    """The disk (or SQLite's size limit) is full; the change was not saved."""


class DatabaseLockedError(StoreError):
    """Another program or window held the database longer than the busy timeout."""


class ReadOnlyDatabaseError(StoreError):
    """The file, its folder or its disk cannot be written."""


class DatabaseUnavailableError(StoreError):
    """The disk or share holding the file failed or went away (I/O error, file gone)."""


# SQLite's primary result codes (https://sqlite.org/rescode.html).
_SQLITE_PERM = 3
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26


# A PostgreSQL server's SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html)
# as the SQLite result code whose message fits it.
_SERVER_STATES = {"55P03": _SQLITE_BUSY,  # lock_not_available: the write lock did not clear
                  "57014": _SQLITE_BUSY,  # query_canceled (statement or lock timeout)
                  "53100": _SQLITE_FULL,  # disk_full
                  "25006": _SQLITE_READONLY,  # read_only_sql_transaction (a standby)
                  "42501": _SQLITE_PERM}  # insufficient_privilege
_SERVER_CLASSES = {"08": _SQLITE_IOERR,  # connection exception: the server went away
                   "57": _SQLITE_IOERR,  # operator intervention (shutdown)
                   "58": _SQLITE_IOERR}  # system error (I/O)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, what it wraps and what it happened during, each once."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        # peewee re-raises a driver error as its own type with the original as args[0].
        pending += [a for a in current.args[:1] if isinstance(a, BaseException)]
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]


def _result_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    # Without a code (an older driver, or peewee's wrapper alone), the message decides.
    text = str(exc).lower()
    for fragment, fallback in (("database or disk is full", _SQLITE_FULL),
                               ("database is locked", _SQLITE_BUSY),
                               ("database table is locked", _SQLITE_LOCKED),
                               ("readonly database", _SQLITE_READONLY),
                               ("disk i/o error", _SQLITE_IOERR),
                               ("unable to open database file", _SQLITE_CANTOPEN)):
        if fragment in text and isinstance(exc, sqlite3.Error | peewee.DatabaseError):
            return fallback
    return None


def environment_error(exc: BaseException, path: str | os.PathLike[str] | None
                      ) -> StoreError | None:
    """The :class:`StoreError` a SQLite failure in ``exc``'s chain means, or None for a bug.

    ``path`` names the database in the message. A full disk, a lock held too long, a file
    that cannot be written and a failing disk each get their own plain message; anything
    else (a syntax error, a constraint our code should have prevented) is not the user's
    doing and stays a bug.
    """
    where = str(path) if path else _("the database")
    for link in _chain(exc):
        code = _result_code(link)
        state = getattr(link, "sqlstate", None)  # a PostgreSQL server's error (psycopg)
        if isinstance(state, str):
            code = _SERVER_STATES.get(state, _SERVER_CLASSES.get(state[:2]))
        elif type(link).__name__ == "OperationalError" and \
                type(link).__module__.startswith("psycopg"):
            code = _SQLITE_IOERR  # libpq's own: the connection failed, or was lost
        if code == _SQLITE_FULL:
            error: StoreError = DiskFullError(_(
                "The disk holding {path} is full, so nothing of this change was saved. Free "
                "some space on that disk (or move the database to a larger one) and try "
                "again.").format(path=where))
        elif code in (_SQLITE_BUSY, _SQLITE_LOCKED):
            error = DatabaseLockedError(_(
                "{path} is in use by another program or window that kept it locked for "
                "more than {seconds} seconds, so nothing of this change was saved. Close the "
                "other program (or wait for it to finish) and try again.").format(
                    path=where, seconds=BUSY_TIMEOUT_MS // 1000))
        elif code in (_SQLITE_READONLY, _SQLITE_PERM):
            error = ReadOnlyDatabaseError(_(
                "{path} is read-only, so nothing of this change was saved. Ask for "
                "permission to write the file and its folder, or copy the database to a "
                "folder you can write.").format(path=where))
        elif code in (_SQLITE_IOERR, _SQLITE_CANTOPEN) and \
                where.startswith(("postgresql://", "postgres://")):
            error = DatabaseUnavailableError(_(
                "The server holding {path} could not be reached (it may be stopped, or the "
                "network cut), so nothing of this change was saved. Try again in a moment; "
                "if it goes on, ask the server's administrator.").format(path=where))
        elif code in (_SQLITE_IOERR, _SQLITE_CANTOPEN):
            error = DatabaseUnavailableError(_(
                "{path} could not be read or written (the disk or network share holding it "
                "may have failed or gone away), so nothing of this change was saved. Check "
                "the disk and start the program again.").format(path=where))
        elif code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            error = StoreError(_(
                "{path} is damaged and cannot be used as it is. Keep a copy of the file "
                "and restore the last backup.").format(path=where))
        else:
            continue
        log.warning("database problem (%s): %s", type(error).__name__, link)
        return error
    return None


def writable(path: Path) -> bool:
    """Whether the program can write ``path`` and the journal files SQLite keeps beside it
    (a database in WAL mode cannot even be read without writing its ``-shm`` file)."""
    folder = path.parent
    return os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


class EmptyFileError(StoreError):
    """The file exists but holds nothing (zero bytes); it is not made into a new site."""


class DamagedFileError(StoreError):
    """SQLite found damaged pages; the user should restore a backup. Nothing was written."""


class ReadOnlyError(ReadOnlyDatabaseError):
    """A write was asked of a database opened read-only (archive copy, network share)."""


# Seconds the open may spend looking for damaged pages; a larger file is checked in full
# later (the window does it in the background, ``gisttracker verify`` on demand).
QUICK_CHECK_BUDGET = 0.3


@dataclass(frozen=True)
class FileState:
    """What :func:`inspect_file` found: may the file be written, and if not, why."""

    read_only: bool = False
    reason: str | None = None  # a message for the user when read_only


def _damaged_message(path: Path, detail: str) -> str:
    return _("{path} is damaged ({detail}). Nothing was changed. Restore the latest backup "
             "(File > Restore, or: gisttracker restore BACKUP-FILE); "
             "'gisttracker verify' describes what is wrong.").format(path=path, detail=detail)


def inspect_file(path: Path, *, mounts_text: str | None = None) -> FileState:
    """Look at ``path`` before opening it; raise for a file that must not be opened.

    Raises :class:`EmptyFileError` for a zero-byte file and :class:`StoreError` for a new
    file asked for on a network share. Returns read-only for a file on a network share
    (SQLite's locking and WAL index do not work there) or on a read-only medium / without
    write permission. ``mounts_text`` replaces ``/proc/mounts`` (tests).
    """
    from gisttracker.store.medium import file_read_only, network_filesystem, read_only_medium
    from gisttracker.store.urls import is_server

    if is_server(path):
        return FileState()  # the server decides what may be written (its roles)
    path = Path(path)
    if path.is_dir():
        raise StoreError(_("{path} is a folder, not a database file").format(path=path))
    network = network_filesystem(path, mounts_text)
    if not path.exists():
        if network:
            raise StoreError(_(
                "{path} is on a network share ({fs}). A site database must be on this "
                "computer's own disk: SQLite cannot lock a file on a network share safely, "
                "and two workstations writing one file damage it. Choose a local folder; "
                "several workstations need the server mode, not a shared file."
            ).format(path=path, fs=network))
        return FileState()
    wal = Path(f"{path}-wal")
    if path.stat().st_size == 0 and not (wal.exists() and wal.stat().st_size > 0):
        raise EmptyFileError(_(
            "{path} is empty (0 bytes): it is not a GIST Study Tracker database, and it was "
            "not turned into a new, empty site. If it should hold your site's data, restore "
            "the latest backup (gisttracker restore BACKUP-FILE --db {path}); to start a new "
            "site, choose a new file name.").format(path=path))
    if network:
        return FileState(True, _(
            "This database is on a network share ({fs}), so it is open for viewing and "
            "printing only: SQLite cannot lock a file on a network share safely, and writing "
            "it from there would damage it. Copy it to this computer's disk to work on it; "
            "several workstations need the server mode, not a shared file.").format(fs=network))
    if read_only_medium(path, mounts_text) or file_read_only(path):
        return FileState(True, _(
            "This database is a read-only copy (an archive, or a file without write "
            "permission): it is open for viewing and printing only."))
    return FileState()


def read_only_uri(path: Path, *, immutable: bool = False) -> str:
    """The SQLite URI that opens ``path`` read-only (``immutable``: also without locks, for
    a medium nobody can write). ``Path.as_uri`` percent-encodes what SQLite's URI parser
    would misread ("?", "#", "%") and spells Windows drive letters as ``file:///C:/…``."""
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    return uri + "&immutable=1" if immutable else uri


def connect(path: Path, *, read_only: bool = False) -> peewee.SqliteDatabase:
    """Open ``path`` with the pragmas every connection needs, without changing the schema.

    ``read_only`` opens it so that SQLite itself refuses every write; a WAL file on a medium
    where SQLite cannot create its ``-shm`` index (a DVD) is opened as immutable.
    """
    if path.exists() and path.is_dir():
        raise StoreError(_("{path} is a folder, not a database file").format(path=path))
    if path.exists() and not path.is_file():
        # A device, a pipe, a socket: opening one would block or read nonsense.
        raise StoreError(_("{path} is not a database file").format(path=path))
    if read_only:
        last: Exception | None = None
        for immutable in (False, True):
            try:
                return _connect(read_only_uri(path, immutable=immutable), path, uri=True)
            except StoreError as exc:
                last = exc
        assert last is not None
        raise last
    try:
        make_private_dir(path.parent)
    except OSError as exc:
        raise StoreError(_("cannot create the folder for {path}: {error}").format(
            path=path, error=exc.strerror or exc)) from exc
    if not writable(path):
        raise ReadOnlyDatabaseError(_(
            "{path} cannot be written (the file or its folder is read-only), and GIST Study "
            "Tracker must write to it even to show it. Ask for permission to write the file "
            "and its folder, or copy the database to a folder you can write.").format(
                path=path))
    return _connect(str(path), path)


def _connect(name: str, path: Path, *, uri: bool = False) -> peewee.SqliteDatabase:
    extra: dict[str, Any] = {"uri": True} if uri else {}
    db = peewee.SqliteDatabase(
        name,
        pragmas={
            # SQLite leaves foreign keys off unless asked, per connection.
            "foreign_keys": 1,
            # Wait for a lock held by another process/thread instead of failing at once.
            "busy_timeout": BUSY_TIMEOUT_MS,
            # NORMAL is durable in WAL mode across application crashes; a power cut may lose
            # only the last transactions, never consistency.
            "synchronous": 1,
            # 64 MiB page cache: bulk loads and large worklists touch many index pages.
            "cache_size": -65536,
            # INSERT OR REPLACE then fires the DELETE triggers of the row it replaces, so the
            # append-only audit trail and randomization refuse it (they also refuse it
            # without this, for connections that do not set it: see migration 8).
            "recursive_triggers": 1,
        },
        check_same_thread=False,
        **extra,
    )
    try:
        # Patient data: the file (and the -wal/-shm files SQLite creates with its mode)
        # readable by its owner only; a file from an older release is narrowed too.
        with private_umask():
            db.connect(reuse_if_open=True)
        for part in (path, path.with_name(path.name + "-wal"),
                     path.with_name(path.name + "-shm")):
            restrict(part)
        db.execute_sql("SELECT count(*) FROM sqlite_master").fetchone()
    except (peewee.DatabaseError, sqlite3.DatabaseError) as exc:
        db.close()
        if "malformed" in str(exc) or "corrupt" in str(exc):
            raise DamagedFileError(_damaged_message(path, str(exc))) from exc
        known = environment_error(exc, path)
        if known is not None and type(known) is not StoreError:
            raise known from exc  # full, locked, read-only, failing disk: say which
        raise StoreError(_(
            "{path} is not a readable database ({error}). If it should hold your site's "
            "data, restore the latest backup (gisttracker restore BACKUP-FILE)."
        ).format(path=path, error=exc)) from exc
    return db


def quick_check(db: peewee.SqliteDatabase, budget: float | None = None) -> list[str] | None:
    """SQLite's ``PRAGMA quick_check``: the problems found (``[]`` for none), or None when
    ``budget`` seconds ran out before the whole file was read.

    The budget is kept by interrupting the check from a timer thread: SQLite runs the whole
    check inside one step of its program, so a progress handler (called between steps) is
    first asked only when the check is over — at 100,000 patients that let every command
    read the whole 1.6 GB file before it did anything else (4 s)."""
    conn = db.connection()
    timer: threading.Timer | None = None
    lock = threading.Lock()
    running = True
    if budget is not None:

        def stop() -> None:
            with lock:
                if running:  # never the statement after it
                    conn.interrupt()

        timer = threading.Timer(budget, stop)
        timer.daemon = True
        timer.start()
    try:
        rows = conn.execute("PRAGMA quick_check(20)").fetchall()
    except sqlite3.OperationalError as exc:
        if "interrupt" in str(exc):
            return None
        return [str(exc)]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    finally:
        with lock:
            running = False
        if timer is not None:
            timer.cancel()
    found = [str(r[0]) for r in rows]
    return [] if found == ["ok"] else found


def open_database(path: Path, *, read_only: bool = False,
                  check_budget: float | Literal["default"] | None = "default",
                  ) -> peewee.SqliteDatabase:
    """Open (creating if needed) and migrate the site database at ``path``; bind the models.

    Raises :class:`NewerSchemaError` for a file from a newer release, :class:`EmptyFileError`
    for a zero-byte file, :class:`DamagedFileError` when damaged pages are found within
    ``check_budget`` seconds (None: check the whole file; 0: do not look; by default
    :data:`QUICK_CHECK_BUDGET`) and :class:`StoreError` for a file
    that is not ours or cannot be read; in every case nothing is written. ``read_only``
    opens without migrating (the file must already be at the latest schema).
    """
    from gisttracker.store.migrations import LATEST, check_compatible, migrate
    from gisttracker.store.server import open_server
    from gisttracker.store.urls import ServerLocation

    if isinstance(path, ServerLocation):
        # Typed as the SQLite database the rest of the code is annotated with: a
        # ServerDatabase answers every call the code makes of it (SQL in the dialect both
        # engines read; see gisttracker.store.server), and the few places that must differ
        # ask is_server_db().
        return cast(peewee.SqliteDatabase, open_server(path))
    path = Path(path)
    if path.exists() and not path.is_dir() and path.stat().st_size == 0:
        inspect_file(path)  # raises EmptyFileError with the full explanation
    db = connect(path, read_only=read_only)
    try:
        # Check before anything that writes: WAL mode itself changes the file header.
        found = version = check_compatible(db)
        budget = QUICK_CHECK_BUDGET if check_budget == "default" else check_budget
        if version and budget != 0:
            problems = quick_check(db, budget)
            if problems:
                raise DamagedFileError(_damaged_message(path, "; ".join(problems[:3])))
        if read_only:
            if version < LATEST:
                raise StoreError(_(
                    "{path} is a read-only copy written by an older version (schema {found}; "
                    "this version needs {latest}). Copy it to a folder on this computer to "
                    "open it: it is upgraded there, keeping a backup of the copy."
                ).format(path=path, found=version, latest=LATEST))
        else:
            # WAL: readers (the window's background queries) never block the writer. The
            # mode is stored in the file, so every later connection, in any thread, uses it.
            db.execute_sql("PRAGMA journal_mode = wal")
            version = migrate(db)
    except (peewee.DatabaseError, sqlite3.DatabaseError) as exc:
        db.close()
        known = environment_error(exc, path)
        if known is None:
            raise
        raise known from exc
    except BaseException:
        db.close()
        raise
    if version != found:
        log.info("database %s migrated from schema %d to %d", path, found, version)
    log.info("database %s opened (schema %d%s)", path, version,
             ", read-only" if read_only else "")
    database.initialize(db)
    return db
