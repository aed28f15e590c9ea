"""Opening the site database: path resolution, pragmas, schema version checks.

One SQLite file per site. The models bind to :data:`database` (a proxy) so the same model
classes serve whichever file is open. The schema version lives in the file
(``PRAGMA user_version``) and every change of it is a numbered migration in
:mod:`gisttracker.store.migrations`; a file written by a newer release is refused before
anything is written to it.

Files that are not what they seem (:func:`inspect_file`, checked before anything is
written): an empty (zero-byte) file is refused rather than silently becoming a new, empty
site; damaged pages are looked for at open (``PRAGMA quick_check`` within a small time
budget — the window finishes the check in the background for large files); a read-only copy
(an archive on a DVD, a file without write permission) and a file on a network share open
read-only, for viewing and printing.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.request import pathname2url

import peewee
from platformdirs import user_data_dir

from gisttracker.errors import UserError
from gisttracker.i18n import _

APP_NAME = "gisttracker"
# PRAGMA application_id marks our files, so a foreign SQLite file is not migrated by mistake.
APPLICATION_ID = 0x47495354  # "GIST"
ENV_VAR = "GISTTRACKER_DB"

database = peewee.DatabaseProxy()


class StoreError(UserError):
    """The database cannot be used (an environment problem, not a bug). Message is for users."""


class NewerSchemaError(StoreError):
    """The file was written by a newer release; it is left untouched."""


class EmptyFileError(StoreError):
    """The file exists but holds nothing (zero bytes); it is not made into a new site."""


class DamagedFileError(StoreError):
    """SQLite found damaged pages; the user should restore a backup. Nothing was written."""


class ReadOnlyError(StoreError):
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


def _read_only_uri(path: Path, immutable: bool) -> str:
    uri = "file:" + pathname2url(str(Path(path).resolve())) + "?mode=ro"
    return uri + "&immutable=1" if immutable else uri


def connect(path: Path, *, read_only: bool = False) -> peewee.SqliteDatabase:
    """Open ``path`` with the pragmas every connection needs, without changing the schema.

    ``read_only`` opens it so that SQLite itself refuses every write; a WAL file on a medium
    where SQLite cannot create its ``-shm`` index (a DVD) is opened as immutable.
    """
    if path.exists() and path.is_dir():
        raise StoreError(_("{path} is a folder, not a database file").format(path=path))
    if read_only:
        last: Exception | None = None
        for immutable in (False, True):
            try:
                return _connect(_read_only_uri(path, immutable), path, uri=True)
            except StoreError as exc:
                last = exc
        assert last is not None
        raise last
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(_("cannot create the folder for {path}: {error}").format(
            path=path, error=exc.strerror or exc)) from exc
    return _connect(str(path), path)


def _connect(name: str, path: Path, *, uri: bool = False) -> peewee.SqliteDatabase:
    extra: dict[str, Any] = {"uri": True} if uri else {}
    db = peewee.SqliteDatabase(
        name,
        pragmas={
            # SQLite leaves foreign keys off unless asked, per connection.
            "foreign_keys": 1,
            # Wait for a lock held by another process/thread instead of failing at once.
            "busy_timeout": 5000,
            # NORMAL is durable in WAL mode across application crashes; a power cut may lose
            # only the last transactions, never consistency.
            "synchronous": 1,
            # 64 MiB page cache: bulk loads and large worklists touch many index pages.
            "cache_size": -65536,
        },
        check_same_thread=False,
        **extra,
    )
    try:
        db.connect(reuse_if_open=True)
        db.execute_sql("SELECT count(*) FROM sqlite_master").fetchone()
    except (peewee.DatabaseError, sqlite3.DatabaseError) as exc:
        db.close()
        if "malformed" in str(exc) or "corrupt" in str(exc):
            raise DamagedFileError(_damaged_message(path, str(exc))) from exc
        raise StoreError(_(
            "{path} is not a readable database ({error}). If it should hold your site's "
            "data, restore the latest backup (gisttracker restore BACKUP-FILE)."
        ).format(path=path, error=exc)) from exc
    return db


def quick_check(db: peewee.SqliteDatabase, budget: float | None = None) -> list[str] | None:
    """SQLite's ``PRAGMA quick_check``: the problems found (``[]`` for none), or None when
    ``budget`` seconds ran out before the whole file was read."""
    conn = db.connection()
    if budget is not None:
        deadline = time.monotonic() + budget
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 20_000)
    try:
        rows = conn.execute("PRAGMA quick_check(20)").fetchall()
    except sqlite3.OperationalError as exc:
        if "interrupt" in str(exc):
            return None
        return [str(exc)]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    finally:
        if budget is not None:
            conn.set_progress_handler(None, 0)
    found = [str(r[0]) for r in rows]
    return [] if found == ["ok"] else found


def open_database(path: Path, *, read_only: bool = False,
                  check_budget: float | Literal["default"] | None = "default",
                  ) -> peewee.SqliteDatabase:
    """Open (creating if needed) and migrate the site database at ``path``; bind the models.

    Raises :class:`NewerSchemaError` for a file from a newer release, :class:`EmptyFileError`
    for a zero-byte file, :class:`DamagedFileError` when damaged pages are found within
    ``check_budget`` seconds (None: check the whole file; by default
    :data:`QUICK_CHECK_BUDGET`) and :class:`StoreError` for a file
    that is not ours or cannot be read; in every case nothing is written. ``read_only``
    opens without migrating (the file must already be at the latest schema).
    """
    from gisttracker.store.migrations import LATEST, check_compatible, migrate

    path = Path(path)
    if path.exists() and not path.is_dir() and path.stat().st_size == 0:
        inspect_file(path)  # raises EmptyFileError with the full explanation
    db = connect(path, read_only=read_only)
    try:
        # Check before anything that writes: WAL mode itself changes the file header.
        version = check_compatible(db)
        if version:
            budget = QUICK_CHECK_BUDGET if check_budget == "default" else check_budget
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
            migrate(db)
    except BaseException:
        db.close()
        raise
    database.initialize(db)
    return db
