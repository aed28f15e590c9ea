"""Helpers shared by the subcommands: opening the session, parsing dates, printing JSON.

Every subcommand module imports this one at its top, so it stays light: the session, the
store and the protocols are imported inside the functions that need them (see the
``gisttracker.cli`` docstring).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gisttracker.errors import InputError
from gisttracker.i18n import _

if TYPE_CHECKING:
    from gisttracker.protocols import ProtocolError, Study
    from gisttracker.session import Session


def session(args: argparse.Namespace, *, sign_in: bool = True) -> Session:
    """The session for ``--db`` (or the environment / default path), signed in as
    ``--user`` (see :mod:`gisttracker.cli.auth`) once the site has accounts.

    Every command says first, on stderr, which protocol files were refused and which
    studies are therefore not available: a refused site file is never silently replaced by
    the shipped one, and a command on such a study then fails with the reason. A quick
    check of the audit trail runs at open; if it finds a problem, a warning line goes to
    stderr too (the command still runs: ``gisttracker audit verify`` says more).
    """
    from gisttracker.cli import auth
    from gisttracker.session import open_session
    from gisttracker.store.db import resolve_path

    opened = open_session(resolve_path(getattr(args, "db", None)))
    try:
        warn_protocols(opened.protocol_errors, opened.blocked)
        if opened.audit is not None and not opened.audit.ok:
            print(_("gisttracker: warning: {problem}").format(
                problem=opened.audit.summary()), file=sys.stderr)
        if sign_in:
            auth.sign_in(opened, args)
    except BaseException:
        opened.close()
        raise
    return opened


def warn_protocols(errors: Iterable[ProtocolError],
                   blocked: Mapping[str, tuple[ProtocolError, ...]]) -> None:
    """Say on stderr which protocol files were not loaded and which studies they make
    unavailable (``blocked``: study key -> the refusals that block it)."""
    from gisttracker.session import StudyUnavailable

    for error in errors:
        if error.study not in blocked:
            print(_("warning: protocol file not loaded: {error}").format(error=error),
                  file=sys.stderr)
    for key, refusals in sorted(blocked.items()):
        print(_("warning: {error}").format(error=StudyUnavailable(key, refusals)),
              file=sys.stderr)


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
    from gisttracker.validation import check_date

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
    import json

    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def stream_json(items: Iterable[Any], chunk: int = 1000) -> int:
    """Print ``items`` as a JSON array (the text :func:`print_json` prints), written
    ``chunk`` items at a time as they are read: a listing of 100,000 rows never sits in
    memory whole. Returns how many items were written."""
    import itertools
    import json

    write = sys.stdout.write
    count = 0
    source = iter(items)
    while batch := list(itertools.islice(source, chunk)):
        # A list dumped with indent 2 holds its items at the indent an item of the whole
        # array has: write it without its brackets.
        text = json.dumps(batch, ensure_ascii=False, indent=2, default=str)
        write(("[\n" if count == 0 else ",\n") + text[2:-2])
        count += len(batch)
    write("\n]\n" if count else "[]\n")
    return count


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help=_("print JSON instead of a table"))


class LazyChoices:
    """``choices=`` for an argument whose values live in a heavy module: the module is
    imported only when the value is checked or the help is printed, not when the parser is
    built. Give the argument a ``metavar`` (argparse lists the choices there otherwise)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def _values(self) -> list[str]:
        return sorted(getattr(importlib.import_module(self.module), self.name))

    def __contains__(self, value: object) -> bool:
        return value in self._values()

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())


def stream_table(headers: list[str], rows: Callable[[], Iterable[list[str]]]) -> None:
    """:func:`print_table` for a listing too long to hold: ``rows()`` is read twice, once for
    the column widths and once to print, each row written as it is read."""
    widths = [len(h) for h in headers]
    for row in rows():
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    write = sys.stdout.write
    for line in ([headers, ["-" * w for w in widths]], rows()):
        for row in line:
            write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                  + "\n")


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """A plain aligned text table for the terminal."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    for line in [headers, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
