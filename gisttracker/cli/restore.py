"""``gisttracker restore FILE``: replace the site database with a backup, after checking the
backup and keeping a copy of the database as it was."""

from __future__ import annotations

import argparse
from typing import Any

from gisttracker.i18n import _


def register(sub: Any) -> None:
    parser = sub.add_parser("restore", help=_(
        "replace the database with a backup (the current one is kept beside it)"))
    parser.add_argument("backup", metavar="FILE", help=_("the backup file"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gisttracker.backup import restore
    from gisttracker.store.db import resolve_path

    database = resolve_path(getattr(args, "db", None))
    result = restore(Path(args.backup).expanduser(), database)
    if result.kept is not None:
        print(_("The database as it was is kept in {kept}").format(kept=result.kept))
    print(_("{path} restored from {backup}: {rows} rows, verified").format(
        path=result.path, backup=args.backup, rows=sum(result.tables.values())))
    return 0
