"""``gisttracker server grant ROLE``: give the application's database role its least
privileges on a server database (run by the database's owner after each upgrade; see the
README's server section and :func:`gisttracker.store.server.grant_statements`)."""

from __future__ import annotations

import argparse
from typing import Any

from gisttracker.i18n import _


def register(sub: Any) -> None:
    parser = sub.add_parser("server", help=_("tasks of a site database on a PostgreSQL server"))
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True,
                                  parser_class=type(parser))
    grant = tasks.add_parser("grant", help=_(
        "give the application's role what it needs and nothing more (run as the owner)"))
    grant.add_argument("role", metavar="ROLE", help=_("the application's database role"))
    grant.add_argument("--print", action="store_true", help=_(
        "print the statements instead of running them"))
    grant.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gisttracker.cli import fail
    from gisttracker.store.db import open_database, resolve_path
    from gisttracker.store.server import grant, grant_statements
    from gisttracker.store.urls import ServerLocation

    location = resolve_path(getattr(args, "db", None))
    if not isinstance(location, ServerLocation):
        fail(_("--db must name a server database (postgresql://…) for this command"))
    db = open_database(location)  # as the owner: brings the schema up to date first
    try:
        statements = grant_statements(db, args.role) if args.print else grant(db, args.role)
    finally:
        db.close()
    for statement in statements:
        print(statement + ";")
    return 0
