"""Where the site database is, and a read-only look at it that needs no ORM.

Light on purpose (standard library only, :mod:`platformdirs` when the default is asked
for): a command that only needs to know the file is there and current — ``gisttracker
studies`` — does not pay for importing peewee and the models.
"""

from __future__ import annotations

import importlib.util
import os
import pkgutil
import sqlite3
from pathlib import Path

APP_NAME = "gisttracker"
# PRAGMA application_id marks our files, so a foreign SQLite file is not migrated by mistake.
APPLICATION_ID = 0x47495354  # "GIST"
ENV_VAR = "GISTTRACKER_DB"


def default_path() -> Path:
    """The platform's per-user data directory, e.g. ``~/.local/share/gisttracker/site.db``."""
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False)) / "site.db"


def resolve_path(cli_path: str | os.PathLike[str] | None) -> Path:
    """``--db PATH``, else ``$GISTTRACKER_DB``, else :func:`default_path`."""
    if cli_path:
        return Path(cli_path).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return default_path()


def latest_version() -> int:
    """The newest schema version this release knows: its highest numbered migration module,
    found without importing the migrations package (which needs the ORM)."""
    spec = importlib.util.find_spec("gisttracker.store.migrations")
    places = list(spec.submodule_search_locations or []) if spec else []
    numbers = [int(m.name[1:5]) for m in pkgutil.iter_modules(places)
               if m.name.startswith("m") and m.name[1:5].isdigit()]
    return max(numbers, default=0)


def is_current(path: Path) -> bool:
    """Whether ``path`` is one of our databases at the latest schema, looked at read-only.

    False means "open it the full way" (:func:`gisttracker.store.db.open_database`), which
    creates, migrates, or refuses the file with a clear message; nothing is written here.
    """
    if not path.is_file():
        return False
    # A read-only URI (nothing created, nothing written); only these three characters
    # need escaping in an SQLite file URI path.
    name = str(path.resolve()).replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    try:
        con = sqlite3.connect(f"file:{name}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error:
        return False
    finally:
        con.close()
    return bool(app_id == APPLICATION_ID and version == latest_version() and version > 0)
