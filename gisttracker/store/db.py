"""Opening the site database: path resolution, pragmas, schema version checks.

One SQLite file per site. The models bind to :data:`database` (a proxy) so the same model
classes serve whichever file is open. The schema version lives in the file
(``PRAGMA user_version``) and every change of it is a numbered migration in
:mod:`gisttracker.store.migrations`; a file written by a newer release is refused before
anything is written to it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import peewee

from gisttracker.errors import UserError
from gisttracker.i18n import _
from gisttracker.store.paths import (  # re-exported: where the file is lives in .paths
    APP_NAME,
    APPLICATION_ID,
    ENV_VAR,
    default_path,
    resolve_path,
)

__all__ = ["APPLICATION_ID", "APP_NAME", "ENV_VAR", "NewerSchemaError", "StoreError",
           "connect", "database", "default_path", "open_database", "resolve_path"]

database = peewee.DatabaseProxy()


class StoreError(UserError):
    """The database cannot be used (an environment problem, not a bug). Message is for users."""


class NewerSchemaError(StoreError):
    """The file was written by a newer release; it is left untouched."""


def connect(path: Path) -> peewee.SqliteDatabase:
    """Open ``path`` with the pragmas every connection needs, without changing the schema."""
    if path.exists() and path.is_dir():
        raise StoreError(_("{path} is a folder, not a database file").format(path=path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
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
        },
        check_same_thread=False,
    )
    try:
        db.connect(reuse_if_open=True)
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
