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
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import peewee
from platformdirs import user_data_dir

from gisttracker.errors import UserError
from gisttracker.i18n import _

APP_NAME = "gisttracker"
# PRAGMA application_id marks our files, so a foreign SQLite file is not migrated by mistake.
APPLICATION_ID = 0x47495354  # "GIST"
ENV_VAR = "GISTTRACKER_DB"

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


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, what it wraps and what it happened during, each once."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        # peewee re-raises a driver error as its own type with the original as args[0].
        todo += [a for a in current.args[:1] if isinstance(a, BaseException)]
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]


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


def default_path() -> Path:
    """The platform's per-user data directory, e.g. ``~/.local/share/gisttracker/site.db``."""
    return Path(user_data_dir(APP_NAME, appauthor=False)) / "site.db"


def resolve_path(cli_path: str | os.PathLike[str] | None) -> Path:
    """``--db PATH``, else ``$GISTTRACKER_DB``, else :func:`default_path`."""
    if cli_path:
        return Path(cli_path).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return default_path()


def connect(path: Path) -> peewee.SqliteDatabase:
    """Open ``path`` with the pragmas every connection needs, without changing the schema."""
    if path.exists() and path.is_dir():
        raise StoreError(_("{path} is a folder, not a database file").format(path=path))
    if path.exists() and not path.is_file():
        # A device, a pipe, a socket: opening one would block or read nonsense.
        raise StoreError(_("{path} is not a database file").format(path=path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(_("cannot create the folder for {path}: {error}").format(
            path=path, error=exc.strerror or exc)) from exc
    if not writable(path):
        raise ReadOnlyDatabaseError(_(
            "{path} cannot be written (the file or its folder is read-only), and GIST Study "
            "Tracker must write to it even to show it. Ask for permission to write the file "
            "and its folder, or copy the database to a folder you can write.").format(
                path=path))
    db = peewee.SqliteDatabase(
        str(path),
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
        },
        check_same_thread=False,
    )
    try:
        db.connect(reuse_if_open=True)
        db.execute_sql("SELECT count(*) FROM sqlite_master").fetchone()
    except (peewee.DatabaseError, sqlite3.DatabaseError) as exc:
        db.close()
        known = environment_error(exc, path)
        if known is not None and type(known) is not StoreError:
            raise known from exc  # full, locked, read-only, failing disk: say which
        raise StoreError(_("{path} is not a readable database: {error}").format(
            path=path, error=exc)) from exc
    return db


def open_database(path: Path) -> peewee.SqliteDatabase:
    """Open (creating if needed) and migrate the site database at ``path``; bind the models.

    Raises :class:`NewerSchemaError` for a file from a newer release and :class:`StoreError`
    for a file that is not ours or cannot be read; in both cases nothing is written.
    """
    from gisttracker.store.migrations import check_compatible, migrate

    db = connect(path)
    try:
        # Check before anything that writes: WAL mode itself changes the file header.
        found = check_compatible(db)
        # WAL: readers (the window's background queries) never block the writer. The mode is
        # stored in the file, so every later connection, in any thread, uses it too.
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
    log.info("database %s opened (schema %d)", path, version)
    database.initialize(db)
    return db
