"""An open site: the database, the studies it knows, and the audited service facade.

The window, the command line and the tests all start from :func:`open_session`, so they
see the same database path rules and the same protocol loading.

Loud site protocols. A study whose site protocol file was refused (it does not load, its key
belongs to another file, two site files claim it) or would orphan data already recorded is
*blocked*: it is not replaced by the shipped file, because data entered under rules the site
did not mean would be worse than no data. Every screen and command that needs the study
raises :class:`StudyUnavailable`, saying which file was refused and why; the window shows
the refusals in its banner at start and the command line prints them before any command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from gisttracker.i18n import _, join_list
from gisttracker.protocols import LoadResult, ProtocolError, Study

# (Defined with the reading of the protocol files, which ``gisttracker studies`` uses without
# this module; imported here for the window and the other commands.)
from gisttracker.protocols.files import NoStudiesError as NoStudiesError
from gisttracker.protocols.files import load_protocols as load_protocols
from gisttracker.protocols.files import site_protocol_dir as site_protocol_dir

if TYPE_CHECKING:
    # The ORM is imported by open_session, so that a caller that only loads the protocols
    # (``gisttracker studies`` on a current database) does not pay for it.
    import peewee

    from gisttracker.services.audit import AuditReport
    from gisttracker.services.base import Tracker
    from gisttracker.services.policy import Actor

log = logging.getLogger(__name__)


class StudyUnavailable(ProtocolError):
    """The study's protocol file was refused at this site: nothing is done on the study."""

    def __init__(self, study: str, errors: tuple[ProtocolError, ...]) -> None:
        first = errors[0]
        self.reasons = "; ".join(f"{e.file}: {e.key}: {e.message}" for e in errors)
        super().__init__(first.file, first.key, self.reasons, study=study)
        # The whole sentence, for the command line (whose messages start in lower case).
        self.args = (_("study {study} is not available: its protocol file was refused "
                       "({reasons}). Nothing is done on this study until the file in the "
                       "site's protocols folder is corrected or removed.").format(
            study=study, reasons=self.reasons),)

    def sentence(self) -> str:
        """The same, as a sentence of its own (the window's banner and message boxes)."""
        return _("Study {study} is not available: its protocol file was refused ({reasons}). "
                 "Nothing is done on this study until the file in the site's protocols folder "
                 "is corrected or removed.").format(study=self.study, reasons=self.reasons)

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class Session:
    path: Path
    db: peewee.SqliteDatabase
    tracker: Tracker
    studies: dict[str, Study]
    protocol_errors: tuple[ProtocolError, ...]
    # The quick check of the audit trail made at open (chain since the last checkpoint and
    # the user's witness); `gisttracker audit verify` makes the full one.
    audit: AuditReport | None = None
    # Why the file is open for viewing and printing only (an archive copy, a network share);
    # None when it may be written.
    read_only_reason: str | None = None
    #: Study key -> the refusals that block it (see the module docstring).
    blocked: Mapping[str, tuple[ProtocolError, ...]] = field(default_factory=dict)

    def has_accounts(self) -> bool:
        """True once the site has an account: from then on people sign in."""
        from gisttracker.store.models_accounts import Account

        return bool(Account.select().exists())

    def study(self, key: str) -> Study:
        """The study with ``key``. :class:`StudyUnavailable` when the site's protocol file
        for it was refused; :class:`KeyError` with a user message if it is unknown."""
        if key in self.blocked:
            raise StudyUnavailable(key, self.blocked[key])
        try:
            return self.studies[key]
        except KeyError:
            raise KeyError(_("unknown study {key!r} (known: {known})").format(
                key=key, known=join_list(sorted(self.studies)))) from None

    def unavailable(self) -> list[StudyUnavailable]:
        """One error per blocked study, for a banner or a warning line."""
        return [StudyUnavailable(key, errors) for key, errors in sorted(self.blocked.items())]

    def close(self) -> None:
        self.db.close()


def open_session(path: Path, *, user: str | Actor | None = None,
                 clock: Callable[[], datetime] | None = None,
                 check_audit: bool = True,
                 protocols: LoadResult | None = None,
                 page_check: float | Literal["default"] | None = "default") -> Session:
    """Open the database at ``path`` (created and migrated if needed) and load the studies.

    The protocols are loaded first, so a broken installation that knows no study creates no
    empty database file (:class:`NoStudiesError`). Each loaded study is then checked against
    the database (a file that would orphan recorded data is refused and its study blocked)
    and its version recorded (:func:`gisttracker.services.versions.register_protocols`; a
    system step, named ``(protocol registration)`` in the audit trail when nobody is signed
    in yet).

    ``user``: who acts. The command line and the window pass nobody and sign a person in
    afterwards (:class:`gisttracker.services.accounts.AccountService`). A plain name is a
    *trusted* actor for Python code that already holds the file (tests, scripts); see
    :mod:`gisttracker.services.policy`. With ``check_audit`` the audit chain is checked
    quickly (:func:`gisttracker.services.audit.check_at_open`); the result is ``audit``.

    A file that must not be written (read-only copy, network share: see
    :func:`gisttracker.store.db.inspect_file`) opens read-only; its tracker then refuses
    every transaction with the reason, its protocol versions are not recorded (it is shown
    as it was recorded) and the audit check at open writes no checkpoint.

    ``protocols``: what :func:`load_protocols` just returned for ``path`` (the window's
    start-up check), so the files are not read twice; loaded here when None.

    ``page_check``: seconds the look for damaged pages may take before the database is used
    (:func:`gisttracker.store.db.open_database`; None: the whole file; 0: none). The window
    passes 0: it checks the whole file on a thread of its own once the first screen shows
    its data, and stops writing if damage is found, instead of making every start wait.
    """
    # The ORM is imported here, not at the top: a caller that only loads the protocols
    # (``gisttracker studies`` on a current database) does not pay for it.
    from gisttracker.services.audit import Witness, check_at_open
    from gisttracker.services.base import Tracker
    from gisttracker.services.policy import REGISTRATION, Permission, system_actor
    from gisttracker.store.db import inspect_file, open_database
    from gisttracker.store.paths import IN_FORCE_SQL
    from gisttracker.store.urls import is_server

    state = inspect_file(path)
    if protocols is None:
        protocols = load_protocols(path)
    created = not is_server(path) and not Path(path).exists()
    db = open_database(path, read_only=state.read_only, check_budget=page_check)
    if created:
        # A file this program has just made has no history: what the user's witness
        # remembers of an earlier file at the same path (deleted since) is not this one's.
        Witness(path).forget()
    for error in protocols.errors:
        log.warning("protocol file refused: %s", error)
    tracker = Tracker(db, user=user, clock=clock)
    tracker.read_only = state.reason if state.read_only else None
    blocked = {key: tuple(errors) for key, errors in protocols.blocked.items()}
    session = Session(path=path, db=db, tracker=tracker,
                      studies={s.key: s for s in protocols.studies},
                      protocol_errors=protocols.errors, blocked=blocked,
                      read_only_reason=tracker.read_only)
    if tracker.read_only:
        try:
            session.audit = check_at_open(db, path) if check_audit else None
        except BaseException:
            db.close()
            raise
        return session
    try:
        in_force = dict(db.execute_sql(IN_FORCE_SQL).fetchall())
        if all(in_force.get(s.key) == s.digest for s in protocols.studies):
            # The usual start: every file is the version in force, so there is nothing to
            # record or refuse (register_protocols would only look that up, study by study,
            # after importing what a changed file needs).
            refused = {}
        else:
            from gisttracker.services.versions import register_protocols

            # Recording which protocol file is in force is the site's bookkeeping, done
            # before anyone signs in: a system actor with the one permission it needs.
            with tracker.acting_as(system_actor(REGISTRATION, Permission.ENTER_DATA)):
                refused = register_protocols(session)
        session.audit = check_at_open(db, path) if check_audit else None
    except BaseException:
        db.close()
        raise
    for key, error in refused.items():
        session.studies.pop(key, None)
        blocked[key] = (*blocked.get(key, ()), error)
    session.protocol_errors = (*protocols.errors, *refused.values())
    return session
