"""``gisttracker migrate-to TARGET``: move the site database (``--db``) to a PostgreSQL server
(``postgresql://…``) or back to a new file, every row copied and the copy verified
(:mod:`gisttracker.store.transfer`)."""

from __future__ import annotations

import argparse
from typing import Any

from gisttracker.cli.common import add_json_flag
from gisttracker.i18n import _


def register(sub: Any) -> None:
    parser = sub.add_parser("migrate-to", help=_(
        "move the site database to a PostgreSQL server or to a new file, verified"))
    parser.add_argument("target", metavar="TARGET", help=_(
        "postgresql://USER@HOST:PORT/DATABASE (an empty database) or a new FILE.db"))
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from gisttracker.cli.common import print_json, session
    from gisttracker.services.policy import Permission
    from gisttracker.store.db import resolve_path
    from gisttracker.store.transfer import transfer

    target = resolve_path(args.target)
    s = session(args)
    try:
        s.tracker.require(Permission.MANAGE_SETTINGS)
        if str(target) == str(s.path):
            raise SystemExit(_("gisttracker: the target is the site database itself"))

        def progress(table: str, rows: int) -> None:
            if not args.json:
                print(_("copied {table}: {rows}").format(table=table, rows=rows),
                      file=sys.stderr)

        report = transfer(s.db, target, progress=progress)
    finally:
        s.close()
    if args.json:
        print_json({"source": report.source, "target": report.target, "rows": report.rows,
                    "total": report.total, "audit_entries": report.audit_entries,
                    "seconds": round(report.seconds, 2), "verified": True})
    else:
        print(_("Moved {source} to {target}: {rows} rows in {tables} tables, each table "
                "compared row by row, and the audit trail's {entries} entries verified "
                "({seconds:.1f} s).").format(
                    source=report.source, target=report.target, rows=report.total,
                    tables=len(report.rows), entries=report.audit_entries,
                    seconds=report.seconds))
        print(_("Open the site from now on with: --db {target}").format(target=report.target))
    return 0
