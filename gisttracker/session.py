"""An open site: the database, the studies it knows, and the audited service facade.

The window, the command line and the tests all start from :func:`open_session`, so they
see the same database path rules and the same protocol loading.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import peewee

from gisttracker.i18n import _
from gisttracker.protocols import LoadResult, ProtocolError, Study, load_studies
from gisttracker.protocols.loader import SEEDS_DIR
from gisttracker.services.base import Tracker
from gisttracker.store.db import open_database


def site_protocol_dir(db_path: Path) -> Path:
    """Where a site puts its own protocol files (next to the database, ``protocols/``)."""
    return db_path.parent / "protocols"


@dataclass
class Session:
    path: Path
    db: peewee.SqliteDatabase
    tracker: Tracker
    studies: dict[str, Study]
    protocol_errors: tuple[ProtocolError, ...]

    def study(self, key: str) -> Study:
        """The study with ``key``; :class:`KeyError` with a user message if unknown."""
        try:
            return self.studies[key]
        except KeyError:
            raise KeyError(_("unknown study {key!r} (known: {known})").format(
                key=key, known=", ".join(sorted(self.studies)))) from None

    def close(self) -> None:
        self.db.close()


class NoStudiesError(ProtocolError):
    """Not one study could be loaded: a damaged installation, never a site to open.

    A site with no study is useless and its database would be created for nothing, so the
    command line and the window refuse to go on (the message names the folders searched).
    """

    def __init__(self, folders: tuple[Path, ...], errors: tuple[ProtocolError, ...]) -> None:
        message = _(
            "no study protocol could be loaded, so there is no study to work on. The "
            "installation is incomplete or damaged: reinstall GIST Study Tracker. "
            "Folders searched: {folders}.").format(folders=", ".join(str(f) for f in folders))
        if errors:
            message += " " + _("Files that failed: {errors}").format(
                errors="; ".join(str(e) for e in errors))
        super().__init__(str(folders[0]), "*.toml", message)
        self.args = (message,)

    def __str__(self) -> str:
        return self.message


def load_protocols(db_path: Path) -> LoadResult:
    """The shipped protocols, replaced by the site's own copies where it has them.

    :class:`NoStudiesError` if not a single study loads from either place.
    """
    folders = (SEEDS_DIR, site_protocol_dir(db_path))
    result = load_studies(*folders)
    if not result.studies:
        raise NoStudiesError(folders, result.errors)
    return result


def open_session(path: Path, *, user: str | None = None,
                 clock: Callable[[], datetime] | None = None) -> Session:
    """Open the database at ``path`` (created and migrated if needed) and load the studies.

    The protocols are loaded first, so a broken installation that knows no study creates no
    empty database file (:class:`NoStudiesError`).
    """
    protocols = load_protocols(path)
    db = open_database(path)
    tracker = Tracker(db, user=user, clock=clock)
    return Session(path=path, db=db, tracker=tracker,
                   studies={s.key: s for s in protocols.studies},
                   protocol_errors=protocols.errors)
