"""The ``gisttracker`` command: the window with no arguments, headless subcommands otherwise.

Every subcommand lives in its own module here with ``register(subparsers)``; each handler
gets the parsed arguments and returns an exit code. Exit codes: 0 done; 1 an expected error
(a :class:`~gisttracker.errors.UserError`: unknown patient, full disk, locked database…);
2 a usage error (bad arguments, :class:`CliError`); 70 a bug (``EX_SOFTWARE``), for which a
crash report is saved and its path printed; 130 interrupted. Every error is one line on
stderr — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from gisttracker import __version__
from gisttracker.errors import UserError
from gisttracker.i18n import _
from gisttracker.logs import log, setup_logging, write_crash_report

#: Exit code of a bug (BSD sysexits ``EX_SOFTWARE``: internal software error).
EXIT_BUG = 70

# Subcommand modules, in the order `--help` lists them.
COMMANDS = ["studies", "schedule", "worklist", "ical", "patients", "demo", "report"]


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
    setup_logging()
    command = "window"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        command = args.command or "window"
        log.info("command %s", command)
        _check_text_arguments(args)
        if args.command is None:
            return _window(args)
        return int(args.handler(args))
    except CliError as exc:
        _say(str(exc))
        return 2
    except UserError as exc:
        # The message may quote what was typed (a name typed for a patient): not logged.
        log.info("command %s refused (%s)", command, type(exc).__name__)
        _say(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`gisttracker patients | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug: logged with its traceback, reported, never shown raw
        path = write_crash_report(exc, context=f"the command {command!r}")
        if path is None:
            _say(_("something went wrong inside the program; the report could not be saved "
                   "(see the log)"))
        else:
            _say(_("something went wrong inside the program; a report was saved at {path}. "
                   "Please send it to the study's data manager.").format(path=path))
        return EXIT_BUG


def _check_text_arguments(args: argparse.Namespace) -> None:
    """Refuse an argument that is not valid UTF-8 (Python hands such bytes over as lone
    surrogates): it could be neither stored, nor printed, nor written into a report."""
    for name, value in sorted(vars(args).items()):
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    fail(_("the value of {option} is not valid text (it is not UTF-8); type "
                           "it again").format(option="--" + name.replace("_", "-")))


def _say(message: str) -> None:
    """One line on stderr, whatever the message holds (line breaks become spaces)."""
    print(f"gisttracker: {' '.join(message.split())}", file=sys.stderr)


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
