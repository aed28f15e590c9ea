"""Opening the site database: path resolution, pragmas, schema version checks.

One SQLite file per site. The models bind to :data:`database` (a proxy) so the same model
classes serve whichever file is open. The schema version lives in the file
(``PRAGMA user_version``) and every change of it is a numbered migration in
:mod:`gisttracker.store.migrations`; a file written by a newer release is refused before
anything is written to it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import peewee
from platformdirs import user_data_dir

from gisttracker.errors import UserError
from gisttracker.files import make_private_dir, private_umask, restrict
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
    try:
        make_private_dir(path.parent)
    except OSError as exc:
        raise StoreError(_("cannot create the folder for {path}: {error}").format(
            path=path, error=exc.strerror or exc)) from exc
    db = peewee.SqliteDatabase(
        str(path),
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
            # INSERT OR REPLACE then fires the DELETE triggers of the row it replaces, so the
            # append-only audit trail and randomization refuse it (they also refuse it
            # without this, for connections that do not set it: see migration 7).
            "recursive_triggers": 1,
        },
        check_same_thread=False,
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
        check_compatible(db)
        # WAL: readers (the window's background queries) never block the writer. The mode is
        # stored in the file, so every later connection, in any thread, uses it too.
        db.execute_sql("PRAGMA journal_mode = wal")
        migrate(db)
    except BaseException:
        db.close()
        raise
    database.initialize(db)
    return db
