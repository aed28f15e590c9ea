"""Server URLs and where a server database stands in for a file (issue 16).

Light on purpose (no ORM, no driver): the window's start-up and the command line's argument
handling ask :func:`is_server` before anything is opened. The engine itself is
:mod:`gisttracker.store.server`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gisttracker.errors import UserError
from gisttracker.i18n import _

SCHEMES = ("postgresql://", "postgres://")


def is_server(ref: object) -> bool:
    """Whether ``ref`` (a ``--db`` value) names a server database rather than a file."""
    return str(ref).startswith(SCHEMES)


# user:password@ in a URL's network location, for one that urlsplit cannot read.
_PASSWORD = re.compile(r"(//[^/?#@:]*):[^/?#]*@")


def display_url(url: str) -> str:
    """``url`` without its password, as the program shows and logs it (also a URL that
    cannot be read as one: a bad port or address still loses its password)."""
    try:
        parts = urlsplit(url)
        password, host, port = parts.password, parts.hostname or "", parts.port
    except ValueError:
        return _PASSWORD.sub(r"\1@", url)
    if password is None:
        return url
    if port is not None:
        host = f"{host}:{port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


class ServerUrlError(UserError):
    """A ``postgresql://`` URL that cannot be used (said to the user)."""


def split_url(url: str) -> tuple[str, str | None]:
    """``(url without password, the password or None)``; the password goes to libpq as a
    connection parameter, never into anything shown, logged or stored."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # urlsplit's own words are English and name no fix
        if "port" not in str(exc).lower():
            raise ServerUrlError(_(
                "{url} is not a server address the program can read: write it as "
                "postgresql://USER@SERVER:PORT/DATABASE, e.g. "
                "postgresql://nurse@db.example.org:5432/gist").format(
                    url=display_url(url))) from None
        port = 0
    if port == 0:
        raise ServerUrlError(_(
            "{url} has no valid port: after the server's name and a colon comes a number "
            "from 1 to 65535, e.g. postgresql://nurse@db.example.org:5432/gist").format(
                url=display_url(url)))
    if not parts.path.strip("/"):
        raise ServerUrlError(_("{url} names no database: add /DATABASE after the server, "
                               "e.g. postgresql://nurse@db.example.org/gist").format(
                                   url=display_url(url)))
    return display_url(url), parts.password


_LocalPath: Any = type(Path())


class ServerLocation(_LocalPath):  # type: ignore[misc]
    """A server database where the program expects a file's path (``--db`` and the session
    carry a :class:`~pathlib.Path`): ``str()`` is the URL without its password, and the
    path itself is a private local folder for what lives "beside the file" for a site on
    this workstation (the site's protocol files, the audit witness, exports), so nothing
    of it lands on the server nor in the working directory.

    Derived paths (``.parent``, ``/``) are plain local paths.
    """

    url: str
    connect_url: str
    local: Path

    def __new__(cls, url: str) -> ServerLocation:
        from platformdirs import user_data_dir

        shown, _password = split_url(url)
        parts = urlsplit(shown)
        folder = re.sub(r"[^A-Za-z0-9._-]+", "_",
                        f"{parts.hostname or 'local'}_{parts.port or 5432}_"
                        f"{parts.path.strip('/')}")
        local = (user_data_dir("gisttracker", appauthor=False), "servers", folder, "site")
        if hasattr(_LocalPath, "with_segments"):  # Python 3.12 and later
            self = super().__new__(cls, *local)
        else:  # 3.11: built the way pathlib builds any path, as this class
            self = _LocalPath._from_parts.__func__(cls, local)
        self.url = shown
        self.connect_url = url
        self.local = _LocalPath(*local)
        os.makedirs(self.parent, mode=0o700, exist_ok=True)
        return self  # type: ignore[no-any-return]

    # Every path derived from this one (.parent, /, resolve()) is a plain local path.
    def with_segments(self, *segments: Any) -> Path:
        return Path(*segments)

    @classmethod
    def _from_parts(cls, args: Any, *rest: Any) -> Path:
        return _LocalPath._from_parts(args, *rest)  # type: ignore[no-any-return]

    @classmethod
    def _from_parsed_parts(cls, drv: Any, root: Any, parts: Any) -> Path:
        return _LocalPath._from_parsed_parts(drv, root, parts)  # type: ignore[no-any-return]

    def resolve(self, strict: bool = False) -> Path:
        return self.local.resolve(strict)

    def __fspath__(self) -> str:
        return str(self.local)  # the file system sees the local folder, never the URL

    def __str__(self) -> str:
        return str(getattr(self, "url", None) or super().__str__())

    def __repr__(self) -> str:
        return f"ServerLocation({str(self)!r})"


class FileOnlyError(UserError):
    """Something that works on a database file only was asked of a server database."""


def refuse_server(path: object) -> None:
    """Raise :class:`FileOnlyError` when ``path`` is a server database, where a step reads
    the database as a file (SQLite's own connection). Every feature has a server path now
    (exports, packages and backups read a snapshot of it, :func:`gisttracker.store.transfer.
    as_file`; the centre's import copies the package into temporary tables): this guard keeps
    a future file-only step from failing obscurely on a server."""
    if isinstance(path, ServerLocation):
        raise FileOnlyError(_(
            "{url} is a database on a server, and this step reads a database file. Copy the "
            "site to a file first with 'gisttracker migrate-to FILE.db'.")
            .format(url=path))
