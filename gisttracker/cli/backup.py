"""``gisttracker backup -o FILE``: a verified copy of the site database, safe while the window
is open; ``--scheduled`` makes the site's scheduled backup if it is due."""

from __future__ import annotations

import argparse
from typing import Any

from gisttracker.i18n import _


def register(sub: Any) -> None:
    parser = sub.add_parser("backup", help=_(
        "write a verified backup of the database (safe while the window is open)"))
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("-o", "--output", metavar="FILE", help=_("the backup file to write"))
    target.add_argument("--scheduled", action="store_true", help=_(
        "make the site's scheduled backup into its backup folder if one is due, keeping "
        "the newest ones the site set"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from datetime import datetime
    from pathlib import Path

    from gisttracker.backup import backup
    from gisttracker.cli import fail
    from gisttracker.store.db import resolve_path
    from gisttracker.store.urls import ServerLocation

    database = resolve_path(getattr(args, "db", None))
    if not isinstance(database, ServerLocation) and not database.is_file():
        fail(_("{path} does not exist").format(path=database))
    if args.scheduled:
        return _scheduled(database, datetime.now())
    target = Path(args.output).expanduser()
    if target.exists():
        fail(_("{path} already exists; choose a new file name (a backup never replaces "
               "another file)").format(path=target))
    result = backup(database, target)
    print(_("Backup written to {path}: {rows} rows in {tables} tables, verified "
            "(integrity check and row counts), {mb:.1f} MB in {s:.1f} s").format(
        path=result.path, rows=result.rows, tables=len(result.tables),
        mb=result.size / 1e6, s=result.seconds))
    return 0


def _scheduled(database: Any, now: Any) -> int:
    from pathlib import Path

    from gisttracker.backup import backup_due, backup_plan, run_scheduled_backup
    from gisttracker.cli import fail
    from gisttracker.session import open_session

    session = open_session(database)
    try:
        plan = backup_plan(session.tracker)
    finally:
        session.close()
    if plan.folder is None:
        fail(_("this site has no backup folder set (gisttracker settings set backup_folder "
               "PATH)"))
    folder = Path(plan.folder)
    if not backup_due(database, folder, plan.every_hours, now):
        print(_("No backup due: the newest one in {folder} is less than {hours} hours "
                "old").format(folder=folder, hours=plan.every_hours))
        return 0
    result, removed = run_scheduled_backup(database, folder, keep=plan.keep, now=now)
    print(_("Backup written to {path} ({rows} rows, verified); {n} older removed").format(
        path=result.path, rows=result.rows, n=len(removed)))
    return 0
