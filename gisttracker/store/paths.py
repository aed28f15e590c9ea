"""Where the site database is, and a read-only look at it that needs no ORM.

Light on purpose (standard library only, :mod:`platformdirs` when the default is asked
for): a command that only needs to know the file is there and current — ``gisttracker
studies`` — does not pay for importing peewee and the models.
"""

from __future__ import annotations

import importlib.util
import os
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
    """``--db PATH``, else ``$GISTTRACKER_DB``, else :func:`default_path`. A
    ``postgresql://`` URL gives a :class:`~gisttracker.store.urls.ServerLocation`."""
    from gisttracker.store.urls import ServerLocation, is_server

    for given in (cli_path, os.environ.get(ENV_VAR)):
        if given and is_server(given):
            return ServerLocation(str(given))
        if given:
            break
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
    numbers = [int(name[1:5]) for name in _module_names(places)
               if name.startswith("m") and name[1:5].isdigit()]
    return max(numbers, default=0)


def _module_names(places: list[str]) -> list[str]:
    """The names of the modules in the package folders ``places``: read from the folders
    (:func:`pkgutil.iter_modules` imports :mod:`inspect` for that, 4 ms of every start), or
    by pkgutil where they are not folders holding modules (a bundle's archive)."""
    from importlib.machinery import all_suffixes

    suffixes = tuple(all_suffixes())
    names = []
    for place in places:
        try:
            entries = os.listdir(place)
        except OSError:
            entries = []
        names += [entry.partition(".")[0] for entry in entries if entry.endswith(suffixes)]
    if not any(name.startswith("m") and name[1:5].isdigit() for name in names):
        import pkgutil

        return [module.name for module in pkgutil.iter_modules(places)]
    return names


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to ``path`` (nothing created, nothing written, a short wait
    for a writer's lock); raises :class:`sqlite3.Error` when it cannot be opened."""
    # Only these three characters need escaping in an SQLite file URI path.
    name = str(path.resolve()).replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    return sqlite3.connect(f"file:{name}?mode=ro", uri=True, timeout=1)


def read_setting(path: Path, key: str) -> str | None:
    """The stored value of site setting ``key`` in the database at ``path``, read before
    anything opens it (the language must be chosen before the first text is built). None
    when the file does not exist, is not a site database, or has no such setting.

    Read-only: this never creates, migrates or locks the file for long. The value is as
    stored; the caller checks it against what the setting allows. A server database is
    asked over a short connection of its own (:func:`gisttracker.store.server.read_setting`).
    """
    from gisttracker.store.urls import ServerLocation

    if isinstance(path, ServerLocation):
        from gisttracker.store.server import read_setting as read_server_setting

        return read_server_setting(path, key)
    if not path.is_file():
        return None
    try:
        con = _open_read_only(path)
    except sqlite3.Error:
        return None
    try:
        row = con.execute("SELECT value FROM setting WHERE key = ?", (key,)).fetchone()
    except sqlite3.Error:
        return None
    finally:
        con.close()
    return str(row[0]) if row and row[0] is not None else None


def read_site_language(path: Path) -> str | None:
    """The site's default language (the ``language`` site setting: ``system`` or a code of
    :data:`gisttracker.i18n.LANGUAGES`) from the database at ``path``, read before anything
    opens it; None when the file does not exist, is not a site database, or holds no
    language this release knows."""
    from gisttracker.i18n import LANGUAGES

    value = read_setting(path, "language")
    return value if value == "system" or value in LANGUAGES else None


# Study key and the SHA-256 of its protocol version in force (schema 6 and later).
IN_FORCE_SQL = ("SELECT sp.study_key, pv.digest FROM study_protocol sp "
                "JOIN protocol_version pv ON pv.id = sp.protocol_version_id")


class Look:
    """What one read-only look at a site file found (:func:`look`).

    ``current``: one of our files at the latest schema (False means "open it the full way",
    :func:`gisttracker.store.db.open_database`, which creates, migrates or refuses the file
    with a clear message); ``language``: the stored ``language`` setting as
    :func:`read_site_language` gives it; ``in_force``: study key -> the SHA-256 of its
    protocol version in force (schema 6 and later; None when it could not be read; a study
    with no version in force is absent). A caller that finds every loaded protocol file
    equal to its version in force knows that opening the session would record nothing and
    refuse nothing (:func:`gisttracker.services.versions.register_protocols`)."""

    __slots__ = ("current", "in_force", "language", "path")

    def __init__(self, path: Path, current: bool = False, language: str | None = None,
                 in_force: dict[str, str] | None = None) -> None:
        self.path = path
        self.current = current
        self.language = language
        self.in_force = in_force


#: The look the command line took before parsing its arguments, for its subcommand.
_handed: Look | None = None


def look(path: Path, *, hand_over: bool = False) -> Look:
    """Everything the command line reads before it opens a file — its schema version, the
    site's language, the protocol versions in force — in one read-only connection (and one
    read transaction, so the three agree). A server database is asked its language only.

    ``hand_over``: keep the look for the next :func:`take_look` of the same path in this
    process (the language is needed before the arguments are parsed, the rest by
    ``gisttracker studies`` just after), so the file is opened once per command."""
    global _handed
    from gisttracker.store.urls import ServerLocation

    if isinstance(path, ServerLocation):
        return Look(path, language=read_site_language(path))
    seen = Look(path)
    if path.is_file():
        try:
            con = _open_read_only(path)
        except sqlite3.Error:
            con = None
        if con is not None:
            try:
                _read_look(con, seen)
            finally:
                con.close()
    _handed = seen if hand_over else None
    return seen


def _read_look(con: sqlite3.Connection, seen: Look) -> None:
    from gisttracker.i18n import LANGUAGES

    try:
        con.execute("BEGIN")
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error:
        return
    seen.current = bool(app_id == APPLICATION_ID and version == latest_version() and version > 0)
    try:
        row = con.execute("SELECT value FROM setting WHERE key = 'language'").fetchone()
    except sqlite3.Error:
        row = None
    value = str(row[0]) if row and row[0] is not None else None
    seen.language = value if value == "system" or value in LANGUAGES else None
    try:
        seen.in_force = {str(key): str(digest) for key, digest in con.execute(IN_FORCE_SQL)}
    except sqlite3.Error:
        seen.in_force = None


def take_look(path: Path) -> Look:
    """The look :func:`look` handed over for ``path`` (used once), else a new one."""
    global _handed
    handed, _handed = _handed, None
    if handed is not None and handed.path == path:
        return handed
    return look(path)
