"""Signing in on the command line: who (``--user NAME`` or ``$GISTTRACKER_USER``) and the
password, from the terminal (``getpass``) or a file descriptor (``--password-fd N``) —
never from an argument, which other local users could read in the process list.

A site with no accounts yet acts as its bootstrap administrator, ``(site setup)`` in the
audit trail, until ``gisttracker users init`` creates the administrator; from then on every
command signs in.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import IO, TYPE_CHECKING

from gisttracker.i18n import _

if TYPE_CHECKING:
    # Loaded when someone signs in, not when the parser is built (every run builds it).
    from gisttracker.services.policy import Actor
    from gisttracker.session import Session

USER_ENV = "GISTTRACKER_USER"


def add_global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", metavar="NAME", help=_(
        "sign in as NAME (default: $GISTTRACKER_USER); the password is asked for"))
    parser.add_argument("--password-fd", type=int, metavar="N", help=_(
        "read the password from file descriptor N (one line) instead of the terminal"))


def user_name(args: argparse.Namespace) -> str | None:
    return getattr(args, "user", None) or os.environ.get(USER_ENV) or None


def read_password(args: argparse.Namespace, prompt: str, *, fd_option: str = "password_fd",
                  ) -> str:
    """A password from ``--password-fd`` (or the option named ``fd_option``), else typed
    at the terminal."""
    from gisttracker.cli import fail

    fd = getattr(args, fd_option, None)
    if fd is not None:
        # One reader per descriptor and command, so two passwords can come from one pipe,
        # a line each.
        readers: dict[int, IO[str]] = args.__dict__.setdefault("_password_readers", {})
        reader = readers.get(fd)
        if reader is None:
            try:
                reader = readers[fd] = os.fdopen(fd, "r", encoding="utf-8", closefd=False)
            except OSError:
                fail(_("--{option} {fd}: not an open file descriptor").format(
                    option=fd_option.replace("_", "-"), fd=fd))
        try:
            line = reader.readline()
        except OSError as exc:
            fail(_("cannot read the password from descriptor {fd}: {error}").format(
                fd=fd, error=exc.strerror or exc))
        if not line:
            fail(_("no password on descriptor {fd}").format(fd=fd))
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        fail(_("the password is read at a terminal; without one, give --password-fd N"))
    import getpass  # (termios) only when a terminal is asked

    return getpass.getpass(prompt)


def sign_in(session: Session, args: argparse.Namespace) -> Actor:
    """Sign ``session`` in as the command's user (or the bootstrap administrator of a site
    without accounts)."""
    from gisttracker.cli import fail
    from gisttracker.services.accounts import AccountService
    from gisttracker.services.policy import bootstrap_actor

    if not session.has_accounts():
        if getattr(args, "user", None):
            fail(_("this site has no accounts yet: create the administrator with "
                   "`gisttracker users init`"))
        actor = bootstrap_actor()
        session.tracker.sign_in(actor)
        return actor
    name = user_name(args)
    if not name:
        fail(_("this site has accounts: sign in with --user NAME (or set {env})").format(
            env=USER_ENV))
    password = read_password(args, _("Password for {name}: ").format(name=name))
    actor = AccountService(session.tracker).sign_in(name, password)
    args.signed_in_password = password  # for `users passwd`, so it is not asked twice
    return actor
