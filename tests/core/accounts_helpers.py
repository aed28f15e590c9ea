"""A site with one account per role, for the accounts, policy and signature tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from gisttracker.services.accounts import AccountService
from gisttracker.services.policy import Actor, Role
from gisttracker.session import Session, open_session
from tests.helpers import FIXED_NOW

PASSWORD = "correct horse battery"
# user name -> role; the administrator is created first, as on a new site.
PEOPLE = {"ada": Role.ADMINISTRATOR, "ines": Role.INVESTIGATOR, "nora": Role.NURSE,
          "mona": Role.MONITOR, "rita": Role.READ_ONLY}
TODAY = date(2026, 3, 14)


def open_site(path: Path) -> Session:
    """The site at ``path`` opened as the window and the command line do: nobody signed in."""
    return open_session(path, clock=lambda: FIXED_NOW)


def make_people(session: Session) -> None:
    """The administrator ``ada`` and one account per other role, all with PASSWORD."""
    service = AccountService(session.tracker)
    service.create_first_administrator("ada", "Ada Admin", PASSWORD)
    for name, role in PEOPLE.items():
        if role != Role.ADMINISTRATOR:
            service.create(name, name.title() + " Test", role, PASSWORD)
    session.tracker.sign_out()


def sign_in(session: Session, name: str) -> Actor:
    return AccountService(session.tracker).sign_in(name, PASSWORD)


@pytest.fixture
def site(db_path: Path) -> Iterator[Session]:
    """A new site with one account per role; nobody signed in (a file, or on the server run
    a server database)."""
    s = open_site(db_path)
    make_people(s)
    yield s
    s.close()
