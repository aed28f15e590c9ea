"""Numbered schema migrations. Never edit one that has been released: add the next.

Each module ``mNNNN_name.py`` holds ``VERSION = NNNN`` and ``STATEMENTS``, the frozen SQL it
runs (frozen SQL rather than today's models, so a migration means the same thing forever).
A migration that must convert data defines ``upgrade(db)`` instead (frozen code, never
today's models), and may ask for ``VACUUM_AFTER`` to give back the space it freed.
:func:`migrate` applies the missing ones in order, each in its own transaction together with
the new ``user_version``, so a crash leaves the file at a whole version. Before the first
of them changes a file that holds data, a verified backup of it is written beside it
(``backups/<name>.schema-N-<time>.backup.db``); if that backup cannot be written, nothing is
migrated.
"""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import peewee

from gisttracker.i18n import _
from gisttracker.store.db import APPLICATION_ID, NewerSchemaError, StoreError
from gisttracker.store.server import is_server_db


def _names() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(__path__)
                  if info.name.startswith("m") and info.name[1:5].isdigit())


def _modules() -> list[ModuleType]:
    found = [importlib.import_module(f"{__name__}.{name}") for name in _NAMES]
    found.sort(key=lambda m: m.VERSION)
    versions = [m.VERSION for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations are not numbered 1..n: {versions}")
    return found


# The migrations themselves are imported only when a file needs one (or a test asks for
# MIGRATIONS): opening a file that is up to date reads their names alone, which spares every
# start of the program their imports (the accounts migration loads the AES cipher).
_NAMES = _names()
LATEST = len(_NAMES)
_loaded: list[ModuleType] | None = None


def _migrations() -> list[ModuleType]:
    global _loaded
    if _loaded is None:
        _loaded = _modules()
        if len(_loaded) != LATEST:  # pragma: no cover - guarded by _modules' numbering check
            raise RuntimeError("migrations changed while the program ran")
    return _loaded


def __getattr__(name: str) -> list[ModuleType]:
    if name == "MIGRATIONS":
        return _migrations()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def schema_version(db: peewee.Database) -> int:
    """The version recorded in the file (0 for a new, empty file); on a server, the last
    migration recorded in ``schema_migration`` (0 for an empty database)."""
    if is_server_db(db):
        if not db.table_exists("schema_migration"):
            return 0
        return int(db.execute_sql(
            "SELECT coalesce(max(version), 0) FROM schema_migration").fetchone()[0])
    return int(db.execute_sql("PRAGMA user_version").fetchone()[0])


def check_compatible(db: peewee.Database) -> int:
    """Refuse files that are not ours or are newer; return the file's version."""
    version = schema_version(db)
    if is_server_db(db):
        if version == 0 and db.get_tables():
            raise StoreError(_("the database {name} on the server holds tables but is not a "
                               "GIST Study Tracker database").format(name=db))
        _check_newer(version)
        return version
    app_id = int(db.execute_sql("PRAGMA application_id").fetchone()[0])
    tables = db.execute_sql(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    if app_id not in (0, APPLICATION_ID) or (version == 0 and tables):
        raise StoreError(_("this file is not a GIST Study Tracker database"))
    _check_newer(version)
    return version


def _check_newer(version: int) -> None:
    if version > LATEST:
        raise NewerSchemaError(_(
            "this database was written by a newer version of GIST Study Tracker "
            "(schema {found}, this version reads up to {latest}); it has not been changed"
        ).format(found=version, latest=LATEST))


def backup_first(db: peewee.Database, version: int) -> Path | None:
    """Write a backup of the file behind ``db`` before it is migrated from ``version``.

    Only for a file on disk that holds data (something in its audit trail: every write is
    audited). Returns the backup's path, None when there was nothing to keep.
    """
    name = str(db.database or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    path = Path(name)
    if not path.is_file():
        return None
    if not db.execute_sql("SELECT EXISTS (SELECT 1 FROM audit_log)").fetchone()[0]:
        return None
    from gisttracker.backup import BackupError, backup_before_migration

    try:
        return backup_before_migration(path, version)
    except (BackupError, OSError) as exc:
        raise StoreError(_(
            "{path} needs an upgrade from schema {found} to {latest}, but the backup that "
            "must be written first failed ({error}). Nothing was changed; free some disk "
            "space or make the folder writable and open it again."
        ).format(path=path, found=version, latest=LATEST, error=exc)) from exc


def migrate(db: peewee.Database, *, target: int | None = None) -> int:
    """Bring the file up to ``target`` (default: the latest); return the new version."""
    target = LATEST if target is None else target
    version = check_compatible(db)
    if is_server_db(db):
        return _migrate_server(db, version, target)
    if 0 < version < target:
        backup_first(db, version)
    vacuum = False
    # A file that is up to date loads no migration module (see _NAMES).
    pending = _migrations()[version:target] if version < target else []
    for module in pending:
        with db.atomic():
            if module.VERSION == 1:
                db.execute_sql(f"PRAGMA application_id = {APPLICATION_ID}")
            upgrade = getattr(module, "upgrade", None)
            if upgrade is not None:
                upgrade(db)
            else:
                for statement in module.STATEMENTS:
                    db.execute_sql(statement)
            db.execute_sql(
                "INSERT INTO schema_migration (version, name, applied_at) VALUES (?, ?, ?)",
                (module.VERSION, module.__name__.rsplit(".", 1)[-1],
                 datetime.now(UTC).isoformat(timespec="seconds")),
            )
            db.execute_sql(f"PRAGMA user_version = {module.VERSION}")
        vacuum = vacuum or (bool(getattr(module, "VACUUM_AFTER", False)) and version > 0)
    if vacuum:
        # Outside any transaction (SQLite requires it); the file keeps its version if this
        # fails, it is only bigger than it needs to be.
        db.execute_sql("VACUUM")
        # The write-ahead log still holds page images from before; start it afresh.
        db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return schema_version(db)


def _migrate_server(db: peewee.Database, version: int, target: int) -> int:
    """The server's way to ``target``: an empty database gets the PostgreSQL baseline
    (:mod:`gisttracker.store.postgres_schema`, the schema at its ``VERSION``) in one
    transaction; each later migration then runs its ``POSTGRES_STATEMENTS``. A migration
    after the baseline without them cannot be run on a server, and says so (a test keeps
    every migration after the baseline serving both engines). No backup is written first:
    a server's backups are the server's (``pg_dump``), and each step is one transaction, so a
    failure leaves the database at a whole version."""
    from gisttracker.store import postgres_schema

    now = datetime.now(UTC).isoformat(timespec="seconds")
    if version == 0 and target >= postgres_schema.VERSION:
        with db.atomic():
            for statement in postgres_schema.STATEMENTS:
                db.execute_sql(statement)
            for module in _migrations()[:postgres_schema.VERSION]:
                db.execute_sql(
                    "INSERT INTO schema_migration (version, name, applied_at) VALUES (?, ?, ?)",
                    (module.VERSION, module.__name__.rsplit(".", 1)[-1] + " (postgres baseline)",
                     now))
        version = postgres_schema.VERSION
    for module in _migrations()[version:target]:
        statements = getattr(module, "POSTGRES_STATEMENTS", None)
        if statements is None:
            raise StoreError(_("schema {version} cannot be made on a PostgreSQL server by this "
                               "release").format(version=module.VERSION))
        with db.atomic():
            for statement in statements:
                db.execute_sql(statement)
            db.execute_sql(
                "INSERT INTO schema_migration (version, name, applied_at) VALUES (?, ?, ?)",
                (module.VERSION, module.__name__.rsplit(".", 1)[-1], now))
    return schema_version(db)
