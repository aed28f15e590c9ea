"""The ``gisttracker`` command: the window with no arguments, headless subcommands otherwise.

Adding a subcommand
-------------------

Every call of the command builds an argument parser — ``--help`` or a typo all of the
subcommands' — so registering a subcommand must cost next to nothing; only the subcommand
that runs may load what it needs. One module per subcommand, ``gisttracker/cli/<name>.py``,
listed in :data:`COMMANDS`, shaped like this::

    \"\"\"``gisttracker export …``: what it does.\"\"\"

    from __future__ import annotations

    import argparse
    from typing import TYPE_CHECKING, Any

    from gisttracker.cli.common import add_json_flag   # light helpers only
    from gisttracker.i18n import _

    if TYPE_CHECKING:                                   # types for annotations: free
        from gisttracker.services.export import Package

    def register(sub: Any) -> None:                     # argument definitions only
        parser = sub.add_parser("export", help=_("…"))
        parser.add_argument(...)
        parser.set_defaults(handler=run)

    def run(args: argparse.Namespace) -> int:           # runs only for this subcommand
        from gisttracker.cli.common import session      # the heavy imports live here
        from gisttracker.services.export import write_package
        ...
        return 0

At module level a subcommand imports only the standard library, :mod:`gisttracker.i18n`,
:mod:`gisttracker.cli.common` and other ``gisttracker.cli`` modules (which follow the same
rule); everything else — the session, services, reports, reportlab, icalendar, dateutil,
Qt — is imported inside ``run`` (or a helper it calls). ``tests/core/test_cli_imports.py``
fails, naming the module, when building the parser loads anything more, and checks that
``gisttracker studies`` loads none of the other subcommands' heavy dependencies.

Handlers get the parsed arguments and return an exit code: raise :class:`CliError` (via
:func:`fail`) for a bad argument, or let a user error (:class:`gisttracker.errors.UserError`:
``StoreError``, ``ServiceError``, ``ProtocolError``, …) propagate. Exit codes: 0 done; 1 an
expected error (a ``UserError``: unknown patient, full disk, locked database…); 2 a usage
error (bad arguments, :class:`CliError`); 70 a bug (``EX_SOFTWARE``), for which a crash
report is saved and its path printed; 130 interrupted. Every error is one line on stderr —
never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from gisttracker import __version__, i18n
from gisttracker.errors import UserError
from gisttracker.i18n import _, join_list

#: Exit code of a bug (BSD sysexits ``EX_SOFTWARE``: internal software error).
EXIT_BUG = 70

LANGUAGE_CHOICES = ("system", *i18n.LANGUAGES)
# Subcommand modules, in the order `--help` lists them.
COMMANDS = ["studies", "schedule", "worklist", "ical", "patients", "demo", "report", "outcomes",
            "users", "audit", "queries", "allocation", "export", "import_", "centre", "backup",
            "restore", "verify", "settings", "migrate_to", "server"]


class CliError(Exception):
    """A user error on the command line; the message is printed as one line."""


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's layout with our translation of its one heading word, and the terminal's
    width worked out as :func:`shutil.get_terminal_size` does, without importing shutil
    (with its compression modules, 1.5 ms): argparse makes a formatter for every argument
    added, so every call of the command paid for it."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         _terminal_columns() if width is None else width)

    def add_usage(self, usage: str | None, actions: Iterable[argparse.Action],
                  groups: Iterable[argparse._MutuallyExclusiveGroup],
                  prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, prefix if prefix is not None else _("usage: "))


def _terminal_columns() -> int:
    """$COLUMNS, else the width of the terminal standard output goes to, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Parser(argparse.ArgumentParser):
    """A parser whose help is in the installed language and whose errors are one line.

    argparse's own words (``usage:``, the section titles, ``-h``) go through our catalogue;
    its error messages through the argparse catalogue that :func:`i18n.install` gives it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = _("positional arguments")
        self._optionals.title = _("options")
        self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS,
                          help=_("show this help and exit"))

    def error(self, message: str) -> NoReturn:
        # One clear line instead of argparse's usage block.
        self.exit(2, f"{self.prog}: {message}\n")


def build_parser(*, commands: Sequence[str] = COMMANDS) -> argparse.ArgumentParser:
    """The parser with the subcommands ``commands`` (all by default): their arguments,
    none of their handlers' imports."""
    parser = _Parser(prog="gisttracker", description=_(
        "GIST Study Tracker: screening, enrollment, visits and reports for GIST studies."))
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help=_("show the version and exit"))
    parser.add_argument("--db", metavar="PATH", help=_(
        "site database file (default: $GISTTRACKER_DB, else the user data folder)"))
    parser.add_argument("--language", metavar="LANG", choices=LANGUAGE_CHOICES, help=_(
        "language of messages and reports: {choices} (default: the site's language, else "
        "the system's)").format(choices=join_list(LANGUAGE_CHOICES)))
    parser.add_argument("--startup-check", action="store_true", help=_(
        "open the database and the main window, print the seconds from the start of the "
        "process until the first screen shows its data, and exit"))
    importlib.import_module("gisttracker.cli.auth").add_global_options(parser)
    if commands:
        sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
        for name in commands:
            importlib.import_module(f"gisttracker.cli.{name}").register(sub)
    return parser


def _needed(argv: Sequence[str]) -> Sequence[str]:
    """The subcommands whose parsers ``argv`` needs: none for the window (``--db PATH``,
    ``--language LANG``, ``--startup-check`` only), the one it names, else all of them (for
    ``--help``, a typo, anything unusual). Each parser not built saves a module import and
    its set-up."""
    # A module is named after its subcommand, with "_" after a Python keyword ("import_").
    modules = {name.rstrip("_"): name for name in COMMANDS}
    tokens = iter(argv)
    for token in tokens:
        if token in ("--db", "--language", "--user", "--password-fd"):
            if next(tokens, None) is None:
                return COMMANDS  # let the whole parser say what is missing
        elif token == "--startup-check" or token.startswith(
                ("--db=", "--language=", "--user=", "--password-fd=")):
            continue
        elif token in modules:
            return [modules[token]]
        else:
            return COMMANDS
    return []


def fail(message: str) -> NoReturn:
    raise CliError(message)


def start_language(argv: Sequence[str]) -> str:
    """Install the language of this run, before any text (``--help`` included) is built:
    ``--language``, else the site's default language (``--db``), else the system's.

    The site's language is read with :mod:`gisttracker.store.paths` (sqlite3 alone, read
    only): every call of the command pays for this, so it must not load the ORM. The same
    look reads what ``gisttracker studies`` needs and hands it over
    (:func:`gisttracker.store.paths.take_look`): one connection per command."""
    from gisttracker.store.paths import look, resolve_path

    early = argparse.ArgumentParser(add_help=False, formatter_class=_HelpFormatter)
    early.add_argument("--language")
    early.add_argument("--db")
    known, _rest = early.parse_known_args(argv)
    site = look(resolve_path(known.db), hand_over=True).language if known.language is None \
        else None
    return i18n.install(i18n.choose_language(known.language, site, i18n.system_language()))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    given = sys.argv[1:] if argv is None else list(argv)
    if argv is None:
        # This process is the program itself (not Python code calling it, such as a test):
        # start cheaply (gisttracker/startup.py).
        from gisttracker import startup

        startup.begin()
    # Imported here, not at the top: building the parser (tests/core/test_cli_imports.py)
    # stays light.
    from gisttracker.logs import finish_logging, log, start_logging, write_crash_report

    start_logging()  # the file is opened when the command is over (gisttracker/logs.py)
    command = "window"
    succeeded = False  # a read-only command that ends well may skip the log file
    try:
        start_language(given)
        parser = build_parser(commands=_needed(given))
        args = parser.parse_args(given)
        # (No subcommand parser is built for the window, so args may have no `command`.)
        command = getattr(args, "command", None) or "window"
        log.info("command %s", command)
        _check_text_arguments(args)
        if getattr(args, "command", None) is None:
            return _window(args)
        if argv is None:
            from gisttracker.startup import resume_collection

            resume_collection()
        code = int(args.handler(args))
        succeeded = code == 0
        return code
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
    finally:
        finish_logging(succeeded=succeeded)


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
    return int(app.run(db=args.db, startup_check=args.startup_check, args=args))


if __name__ == "__main__":
    sys.exit(main())
