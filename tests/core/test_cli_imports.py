"""Every call of ``gisttracker`` builds the whole parser, so registering the subcommands must
import next to nothing, and a subcommand must load only what it needs (see the docstring of
``gisttracker.cli``). Checked in fresh interpreters, where ``sys.modules`` tells the truth.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gisttracker.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]

# The gisttracker modules building the parser may load: the command line's own light
# modules, the translation hook (and where its catalogues are), the user-error base class,
# and the table of report kinds (no reportlab behind it).
PARSER_MAY_LOAD = {"gisttracker", "gisttracker.i18n", "gisttracker.resources",
                   "gisttracker.errors", "gisttracker.reports", "gisttracker.cli",
                   "gisttracker.cli.common", "gisttracker.cli.auth",  # --user, --password-fd
                   *(f"gisttracker.cli.{name}" for name in COMMANDS)}
# What running any command may add: the log (and platformdirs, which says where it goes),
# and reading the site's language before any text is built, from the database file with
# sqlite3 alone.
RUN_MAY_LOAD = {"gisttracker.logs", "platformdirs", "gisttracker.store",
                "gisttracker.store.paths",
                "gisttracker.store.urls",  # is --db a server's URL (standard library only)
                "gisttracker.files"}  # the log is created readable by its owner only

# What `gisttracker studies` must not load: other subcommands' heavy dependencies.
STUDIES_MUST_NOT_LOAD = ("reportlab", "icalendar", "PySide6", "shiboken6", "ui",
                         "gisttracker.reports.base", "gisttracker.ical", "gisttracker.demo",
                         "gisttracker.services.visits", "gisttracker.services.patients",
                         "gisttracker.services.forms", "gisttracker.domain.schedule",
                         "peewee")


def _loaded_after(code: str, *args: str) -> list[str]:
    """Modules that are not the standard library's, loaded by ``code`` in a new interpreter
    (beyond what the interpreter loaded before it)."""
    script = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        f"{code}\n"
        "new = sorted(m for m in set(sys.modules) - before\n"
        "             if m.split('.')[0] not in sys.stdlib_module_names)\n"
        "sys.__stdout__.write('\\n' + json.dumps(new))\n")
    result = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=True)
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


def test_building_the_parser_loads_no_handler_dependencies() -> None:
    loaded = _loaded_after("from gisttracker.cli import build_parser\nbuild_parser()")
    extra = [m for m in loaded if m not in PARSER_MAY_LOAD]
    assert not extra, (
        "registering the subcommands imported " + ", ".join(extra) + ": move those imports "
        "into the subcommand's run() (see the gisttracker.cli docstring)")
    assert {f"gisttracker.cli.{name}" for name in COMMANDS} <= set(loaded)


def test_help_in_the_sites_language_loads_no_orm(tmp_path: Path) -> None:
    db = tmp_path / "site.db"
    code = ("import io, contextlib\n"
            "from gisttracker.cli import main\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    try:\n"
            "        main(['--db', sys.argv[1], '--help'])\n"
            "    except SystemExit:\n"
            "        pass\n"
            "assert '--language' in out.getvalue()\n")
    subprocess.run([sys.executable, "-m", "gisttracker", "--db", str(db), "studies"], cwd=ROOT,
                   capture_output=True, timeout=120, check=True)  # a real site file to read
    loaded = _loaded_after(code, str(db))
    extra = [m for m in loaded if m not in PARSER_MAY_LOAD | RUN_MAY_LOAD
             and m.split(".")[0] not in RUN_MAY_LOAD]
    assert not extra, "gisttracker --help loaded " + ", ".join(extra)


def test_studies_loads_none_of_the_other_subcommands_dependencies(tmp_path: Path) -> None:
    db = tmp_path / "site.db"
    code = ("import io, contextlib\n"
            "from gisttracker.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['--db', sys.argv[1], 'studies']) == 0\n")
    # The first call creates and migrates the file (that needs the ORM); the second is the
    # everyday call on a current file.
    _loaded_after(code, str(db))
    loaded = _loaded_after(code, str(db))
    # It really listed the studies (from the cache of validated protocol files, which the
    # first call filled: the loader's checks are not needed again).
    assert "gisttracker.protocols.files" in loaded and "gisttracker.protocols.model" in loaded
    heavy = [m for m in loaded
             if any(m == h or m.startswith(h + ".") for h in STUDIES_MUST_NOT_LOAD)]
    assert not heavy, "gisttracker studies loaded " + ", ".join(heavy)


def test_a_bad_status_is_refused_and_the_choices_are_listed(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gisttracker", "--db", str(tmp_path / "s.db"), "patients",
         "--status", "asleep"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "invalid choice: 'asleep'" in result.stderr and "'enrolled'" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_command_line_builds_the_parser_of_the_subcommand_it_names_only() -> None:
    from gisttracker.cli import _needed

    assert _needed(["--db", "x.db", "import", "odm", "data.xml"]) == ["import_"]
    assert _needed(["--language", "zh_CN", "--db=x.db", "studies", "--json"]) == ["studies"]
    assert _needed(["--db", "x.db", "--startup-check"]) == []  # the window: none
    assert _needed(["--help"]) == COMMANDS and _needed(["stuides"]) == COMMANDS
    assert _needed(["--db"]) == COMMANDS  # the whole parser says what is missing
