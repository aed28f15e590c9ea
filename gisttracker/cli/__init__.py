"""The ``gisttracker`` command: the window with no arguments, headless subcommands otherwise.

Every subcommand lives in its own module here with ``register(subparsers)``; each handler
gets the parsed arguments and returns an exit code. User errors print one line on stderr
and exit non-zero — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from gisttracker import __version__
from gisttracker.i18n import _
from gisttracker.protocols import ProtocolError
from gisttracker.services.base import ServiceError
from gisttracker.store.db import StoreError

# Subcommand modules, in the order `--help` lists them.
COMMANDS = ["studies", "schedule", "worklist", "ical", "patients", "demo", "report", "settings"]


class CliError(Exception):
    """A user error on the command line; the message is printed as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One clear line instead of argparse's usage block.
        self.exit(2, f"{self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gisttracker", description=_(
        "GIST Study Tracker: screening, enrollment, visits and reports for GIST studies."))
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--db", metavar="PATH", help=_(
        "site database file (default: $GISTTRACKER_DB, else the user data folder)"))
    parser.add_argument("--startup-check", action="store_true", help=_(
        "open the database and the main window, print the seconds until the first screen "
        "has its data, and exit"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"gisttracker.cli.{name}").register(sub)
    return parser


def fail(message: str) -> NoReturn:
    raise CliError(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return _window(args)
        return int(args.handler(args))
    except CliError as exc:
        print(f"gisttracker: {exc}", file=sys.stderr)
        return 2
    except (StoreError, ServiceError, ProtocolError) as exc:
        print(f"gisttracker: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`gisttracker patients | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _window(args: argparse.Namespace) -> int:
    if args.startup_check and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM")
    ):
        # No screen: a check must still run (CI), so draw offscreen instead of aborting.
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    # The front end is loaded only when a window is asked for; the core never needs it.
    app = importlib.import_module("ui.app")
    return int(app.run(db=args.db, startup_check=args.startup_check))


if __name__ == "__main__":
    sys.exit(main())
