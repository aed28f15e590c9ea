"""Helpers shared by the subcommands: opening the session, parsing dates, printing JSON."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from gisttracker.errors import InputError
from gisttracker.i18n import _
from gisttracker.protocols import Study
from gisttracker.session import Session, open_session
from gisttracker.store.db import resolve_path
from gisttracker.validation import check_date


def session(args: argparse.Namespace) -> Session:
    """The session for ``--db`` (or the environment / default path).

    Every command says first, on stderr, which protocol files were refused and which
    studies are therefore not available: a refused site file is never silently replaced by
    the shipped one, and a command on such a study then fails with the reason.
    """
    opened = open_session(resolve_path(getattr(args, "db", None)))
    blocked = set(opened.blocked)
    for error in opened.protocol_errors:
        if error.study not in blocked:
            print(_("warning: protocol file not loaded: {error}").format(error=error),
                  file=sys.stderr)
    for unavailable in opened.unavailable():
        print(_("warning: {error}").format(error=unavailable), file=sys.stderr)
    return opened


def study(session: Session, key: str) -> Study:
    from gisttracker.cli import fail

    try:
        return session.study(key)
    except KeyError as exc:
        fail(str(exc.args[0]))


def parse_date(text: str, what: str) -> date:
    """An ISO date (YYYY-MM-DD) within the years the program accepts, or a one-line error
    naming ``what``."""
    from gisttracker.cli import fail

    try:
        day = date.fromisoformat(text)
    except ValueError:
        fail(_("{what}: {text!r} is not a date (use YYYY-MM-DD)").format(what=what, text=text))
    try:
        return check_date(day, what)
    except InputError as exc:
        fail(str(exc))


def output_file(text: str, what: str) -> Path:
    """Where a command may write a file: in an existing folder, and not a folder, device or
    pipe itself (writing "into" ``/dev/stdout`` or a FIFO would hang or replace it)."""
    from gisttracker.cli import fail

    path = Path(text)
    if not text.strip() or path.is_dir():
        fail(_("{what}: {path} is a folder; give a file name").format(what=what, path=text))
    if path.exists() and not path.is_file():
        fail(_("{what}: {path} is not an ordinary file").format(what=what, path=text))
    if not path.parent.is_dir():
        fail(_("cannot write {path}: the folder does not exist").format(path=path))
    return path


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help=_("print JSON instead of a table"))


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """A plain aligned text table for the terminal."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    for line in [headers, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
