"""``gisttracker verify``: check a database and say in plain words what is wrong with it."""

from __future__ import annotations

import argparse
from typing import Any

from gisttracker.cli.common import add_json_flag
from gisttracker.i18n import _


def register(sub: Any) -> None:
    parser = sub.add_parser("verify", help=_(
        "check the database: damaged pages, broken references, the audit trail"))
    parser.add_argument("file", nargs="?", metavar="FILE", help=_(
        "the database or backup to check (default: the site database)"))
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gisttracker.backup import verify
    from gisttracker.cli.common import print_json
    from gisttracker.store.db import resolve_path

    path = Path(args.file).expanduser() if args.file else resolve_path(
        getattr(args, "db", None))
    report = verify(path)
    if args.json:
        print_json({"path": str(path), "ok": report.ok, "problems": report.problems,
                    "notes": report.notes})
    else:
        print(_("Checked {path}").format(path=path))
        for line in report.problems:
            print(_("PROBLEM: {text}").format(text=line))
        for line in report.notes:
            print(_("ok: {text}").format(text=line))
        if report.ok:
            print(_("No problems found."))
    return 0 if report.ok else 1
