"""An open site: the database, the studies it knows, and the audited service facade.

The window, the command line and the tests all start from :func:`open_session`, so they
see the same database path rules and the same protocol loading.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gisttracker.i18n import _
from gisttracker.protocols import LoadResult, ProtocolError, Study, load_studies
from gisttracker.protocols.loader import SEEDS_DIR

if TYPE_CHECKING:
    # The ORM is imported by open_session, so that a caller that only loads the protocols
    # (``gisttracker studies`` on a current database) does not pay for it.
    import peewee

    from gisttracker.services.base import Tracker


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


def load_protocols(db_path: Path) -> LoadResult:
    """The shipped protocols, replaced by the site's own copies where it has them."""
    return load_studies(SEEDS_DIR, site_protocol_dir(db_path))


def open_session(path: Path, *, user: str | None = None,
                 clock: Callable[[], datetime] | None = None) -> Session:
    """Open the database at ``path`` (created and migrated if needed) and load the studies."""
    from gisttracker.services.base import Tracker
    from gisttracker.store.db import open_database

    db = open_database(path)
    protocols = load_protocols(path)
    tracker = Tracker(db, user=user, clock=clock)
    return Session(path=path, db=db, tracker=tracker,
                   studies={s.key: s for s in protocols.studies},
                   protocol_errors=protocols.errors)
