"""What a start of the program loads, and the tricks that keep it cheap (issue 17).

Checked in fresh interpreters, where ``sys.modules`` tells the truth: the window's start and
``gisttracker studies`` load none of the heavy libraries a later screen or another command
needs, so a future import at a module's top fails here, naming the module; peewee imported
without the server driver ends up exactly as a plain import leaves it once the driver is
attached; the log written after the start holds every record of the start.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gisttracker.logs import LOG_FILE, finish_logging, log, start_logging

ROOT = Path(__file__).resolve().parents[2]

# Libraries no first screen and no `studies` needs: analysis, PDFs, XML, calendars, crypto
# (accounts, packages), the server driver, the analysis stack.
HEAVY = ("scipy", "statsmodels", "numpy", "pandas", "reportlab", "lxml", "xmlschema",
         "icalendar", "cryptography", "argon2", "psycopg", "gisttracker.reports.base",
         "gisttracker.analysis", "gisttracker.exchange",
         "gisttracker.services.accounts", "gisttracker.store.migrations.m0009_accounts_audit")
# …and `studies` on a current file does not even need the ORM.
STUDIES_HEAVY = (*HEAVY, "peewee", "gisttracker.services", "gisttracker.backup", "PySide6",
                 "ui")


def _run(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run ``code`` in a new interpreter; it sets ``out`` (a dict), printed back as JSON."""
    script = (f"import json, sys\nout = {{}}\n{code}\n"
              "sys.__stdout__.write('\\n' + json.dumps(out))\n")
    result = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _heavy(loaded: list[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in names))


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               GISTTRACKER_LOG_DIR=str(tmp_path / "logs"),
               GISTTRACKER_CACHE_DIR=str(tmp_path / "cache"))
    return env


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site file at the latest schema, with a patient (created by the command line)."""
    db = tmp_path_factory.mktemp("site") / "site.db"
    subprocess.run([sys.executable, "-m", "gisttracker", "--db", str(db), "demo", "--patients",
                    "3", "--seed", "1", "--today", "2026-03-14"], cwd=ROOT, check=True,
                   capture_output=True, timeout=300)
    return db


def test_the_window_start_loads_nothing_heavy(site: Path, tmp_path: Path) -> None:
    # The real entry point (argv None, as the console script calls it), to the first rows.
    # The check prints its figure once the first rows are painted: what is loaded then is
    # what the nurse waited for.
    code = ("sys.argv = ['gisttracker', '--db', sys.argv[1], '--startup-check']\n"
            "import builtins\n"
            "say = builtins.print\n"
            "def printing(*args, **kwargs):\n"
            "    out.setdefault('at_first_rows', sorted(sys.modules))\n"
            "    say(*args, **kwargs)\n"
            "builtins.print = printing\n"
            "from gisttracker.cli import main\n"
            "out['code'] = main()\n"
            "out['loaded'] = sorted(sys.modules)\n")
    out = _run(code, str(site), env=_env(tmp_path))
    assert out["code"] == 0
    loaded = list(out["loaded"])  # type: ignore[call-overload]
    assert "ui.patients" in loaded and "peewee" in loaded  # it really showed the list
    heavy = _heavy(loaded, HEAVY)
    assert not heavy, "the window's start loaded " + ", ".join(heavy)
    # Paid after the first rows, not before: the log file (its rotating handler); and the
    # protocols were read by tomli, not tomllib.
    first = list(out["at_first_rows"])  # type: ignore[call-overload]
    assert "ui.patients" in first and "tomli" in first
    early = _heavy(first, ("logging.handlers", "tomllib"))
    assert not early, "loaded before the first rows: " + ", ".join(early)
    # Only the first screen's area was built (the others are built when first shown), and
    # no menu's dialogs: Help's texts, the File menu's data dialogs, New patient.
    assert not _heavy(loaded, ("ui.calendar", "ui.reports", "ui.queries", "ui.outcomes",
                               "ui.study_summary", "ui.accounts", "ui.lock", "ui.help",
                               "ui.exchange", "ui.new_patient", "ui.widgets.date_field"))


# The command line's run of a subcommand in a fresh interpreter, counting the SQLite
# connections it opens: sys.argv[1] the site, the rest the subcommand and its arguments.
_COMMAND = ("import contextlib, io, sqlite3\n"
            "connect, opened = sqlite3.connect, []\n"
            "def counting(*args, **kwargs):\n"
            "    opened.append(str(args[0]))\n"
            "    return connect(*args, **kwargs)\n"
            "sqlite3.connect = counting\n"
            "sys.argv = ['gisttracker', '--db', sys.argv[1], *sys.argv[2:]]\n"
            "from gisttracker.cli import main\n"
            "text = io.StringIO()\n"
            "with contextlib.redirect_stdout(text):\n"
            "    out['code'] = main()\n"
            "out['text'] = text.getvalue()\n"
            "out['connections'] = len(opened)\n"
            "out['loaded'] = sorted(sys.modules)\n")


def test_studies_loads_neither_the_orm_nor_anything_heavy(site: Path, tmp_path: Path) -> None:
    env = _env(tmp_path)
    # The first listing with this code checks the five protocol files (and caches them)…
    first = _run(_COMMAND, str(site), "studies", "--json", env=env)
    assert first["code"] == 0
    loaded = list(first["loaded"])  # type: ignore[call-overload]
    assert not _heavy(loaded, STUDIES_HEAVY), "gisttracker studies loaded " + ", ".join(
        _heavy(loaded, STUDIES_HEAVY))
    # …with tomli's compiled parser (the package, not its pure-Python fallback), not the
    # standard library's slower one.
    assert "gisttracker.protocols.loader" in loaded
    assert "tomli" in loaded and "tomllib" not in loaded
    import tomli

    assert not str(tomli.__file__).endswith(".py"), "tomli is installed without its compiled parser"
    # Every later one reads them from the cache of validated files: no parser, no checks.
    out = _run(_COMMAND, str(site), "studies", "--json", env=env)
    assert out["code"] == 0 and out["text"] == first["text"]
    assert "NCT04933669" in [s["key"] for s in json.loads(str(out["text"]))]
    loaded = list(out["loaded"])  # type: ignore[call-overload]
    heavy = _heavy(loaded, (*STUDIES_HEAVY, "gisttracker.protocols.loader",
                            "gisttracker.protocols.catalogue", "tomli", "tomllib",
                            "dateutil"))
    assert not heavy, "gisttracker studies loaded " + ", ".join(heavy)
    # Nor what the cuts of issue 17 took off its way (each a millisecond or more): the
    # session module, dataclasses and inspect (the model is made of light records), shutil
    # (argparse's terminal width), hashlib (OpenSSL: Python's own SHA-256 is used).
    light = _heavy(loaded, ("gisttracker.session", "dataclasses", "inspect", "shutil",
                            "hashlib", "_hashlib"))
    assert not light, "gisttracker studies loaded " + ", ".join(light)
    # The site's language, its schema version and the protocol versions in force: read in
    # one read-only connection, before the arguments were parsed.
    assert out["connections"] == 1
    # A listing that read only and ended well opened no log file, nor loaded what writing
    # it needs (the rotating handler, the private-file helpers, the platform's description).
    assert not (tmp_path / "logs" / LOG_FILE).exists()
    assert not _heavy(loaded, ("logging.handlers", "gisttracker.files", "platform"))


def test_studies_that_refuses_a_file_still_logs(site: Path, tmp_path: Path) -> None:
    # A file that is not current takes the full way (the session: create, migrate or
    # refuse), whose records are kept; here a newer file, refused with a clear message.
    import shutil
    import sqlite3

    old = tmp_path / "old.db"
    shutil.copy(site, old)
    con = sqlite3.connect(old)
    version = con.execute("PRAGMA user_version").fetchone()[0]
    con.execute(f"PRAGMA user_version = {version + 1}")  # a version this release does not know
    con.commit()
    con.close()
    out = _run(_COMMAND, str(old), "studies", env=_env(tmp_path))
    assert out["code"] == 1  # refused: a newer file (a clear message on stderr)
    text = (tmp_path / "logs" / LOG_FILE).read_text(encoding="utf-8")
    assert "start: GIST Study Tracker" in text and "command studies" in text


def test_a_command_that_fails_still_writes_its_log(site: Path, tmp_path: Path) -> None:
    out = _run(_COMMAND, str(site), "schedule", "--study", "NO-SUCH-STUDY", env=_env(tmp_path))
    assert out["code"] == 2  # an unknown study: a usage error
    text = (tmp_path / "logs" / LOG_FILE).read_text(encoding="utf-8")
    assert "start: GIST Study Tracker" in text and "command schedule" in text


_PEEWEE_STATE = """
import peewee
import psycopg
adapter = peewee.Psycopg3Adapter
out['module'] = {name: repr(getattr(peewee, name, None))
                 for name in ('psycopg', 'TransactionStatus', 'Json_pg3', 'Jsonb_pg3')}
out['adapter'] = sorted((k, repr(v)) for k, v in vars(adapter).items()
                        if not callable(v) and not k.startswith('__'))
out['chosen'] = type(peewee.PostgresqlDatabase('x', prefer_psycopg3=True)._adapter).__name__
"""


def test_peewee_without_the_server_driver_is_whole_once_it_is_attached() -> None:
    plain = _run(_PEEWEE_STATE)
    deferred = _run(
        "from gisttracker.startup import attach_server_driver, defer_server_driver\n"
        "defer_server_driver()\n"
        "import peewee\n"
        "out['without'] = 'psycopg' in sys.modules or peewee.psycopg is not None\n"
        "attach_server_driver()\n" + _PEEWEE_STATE)
    assert deferred.pop("without") is False  # the start did not load the driver
    # Whatever peewee's own import sets when the driver is there is set, and the same: a
    # peewee upgrade that binds more names when it finds psycopg fails here.
    assert deferred == plain
    assert plain["chosen"] == "Psycopg3Adapter"


def test_the_start_collects_no_cycles_and_the_command_does() -> None:
    out = _run("import gc\n"
               "from gisttracker import startup\n"
               "startup.begin()\n"
               "out['starting'] = gc.isenabled()\n"
               "startup.resume_collection()\n"
               "out['working'] = gc.isenabled()\n"
               "out['frozen'] = gc.get_freeze_count() > 0\n")
    assert out == {"starting": False, "working": True, "frozen": True}


@pytest.fixture
def no_log() -> Iterator[None]:
    """The logger as a new process has it (an earlier test's command line left its file)."""
    kept = list(log.handlers)
    for handler in kept:
        log.removeHandler(handler)
    try:
        yield
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
        for handler in kept:
            log.addHandler(handler)


@pytest.mark.usefixtures("no_log")
def test_records_kept_during_the_start_reach_the_log_in_order(tmp_path: Path) -> None:
    try:
        start_logging(directory=tmp_path)
        log.info("first screen shown")
        assert not (tmp_path / LOG_FILE).exists()  # nothing opened yet: the start is cheap
        finish_logging()
        log.info("after the start")
        for handler in log.handlers:
            handler.flush()
        lines = (tmp_path / LOG_FILE).read_text(encoding="utf-8").splitlines()
        assert "start: GIST Study Tracker" in lines[0]
        assert [line.split("] ", 1)[1] for line in lines[1:]] == ["first screen shown",
                                                                   "after the start"]
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


@pytest.mark.expect_log(r"^the disk is full")
@pytest.mark.usefixtures("no_log")
def test_a_warning_during_the_start_is_written_at_once(tmp_path: Path) -> None:
    try:
        start_logging(directory=tmp_path, level=logging.INFO)
        log.warning("the disk is full")
        for handler in log.handlers:
            handler.flush()
        text = (tmp_path / LOG_FILE).read_text(encoding="utf-8")
        assert "the disk is full" in text and text.count("start: GIST Study Tracker") == 1
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


def test_no_module_selects_a_pyside_feature() -> None:
    # ui.app.skip_feature_scan relies on it: a module that selected `snake_case` or
    # `true_property` would need PySide6's per-module bookkeeping.
    selects = re.compile(r"^\s*(from|import)\s+__feature__\b", re.MULTILINE)
    users = [str(p.relative_to(ROOT)) for folder in ("ui", "gisttracker")
             for p in (ROOT / folder).rglob("*.py")
             if selects.search(p.read_text(encoding="utf-8"))]
    assert not users, "these modules select a PySide6 feature: " + ", ".join(users)


def test_an_english_start_reads_no_other_languages_catalogue(tmp_path: Path) -> None:
    # Visit names carry their Chinese too ("Month 3" / "第 3 个月"), filled in when first read:
    # whether the protocols were checked (the first start) or read from the cache (later).
    for start in ("checked", "cached"):
        out = _run("from gisttracker import i18n\n"
                   "i18n.install('en')\n"
                   "from gisttracker.session import load_protocols\n"
                   "from pathlib import Path\n"
                   "studies = load_protocols(Path(sys.argv[1])).studies\n"
                   "out['catalogues'] = i18n.catalogue.cache_info().currsize\n"
                   "visit = next(v for s in studies for v in s.visits\n"
                   "             if v.name.startswith('Month'))\n"
                   "out['zh'] = visit.name.text('zh_CN')\n"
                   "out['after'] = i18n.catalogue.cache_info().currsize\n",
                   str(ROOT / "no-such-site.db"), env=_env(tmp_path))
        # At most English's own (no file behind it): the checks' messages may ask for it.
        assert out["catalogues"] in (0, 1), start
        assert "个月" in str(out["zh"]) and out["after"] == out["catalogues"] + 1, start  # type: ignore[operator]


@pytest.mark.parametrize("name", ["Visit {offset[3]}", "Visit {offset.upper}", "Visit {m}"])
def test_a_visit_name_placeholder_is_a_plain_name(name: str) -> None:
    # Whether `{offset[3]}` formats depends on the words of each language (checked at load,
    # never when a name is first shown): refused in the file, where it is written.
    from gisttracker.protocols.loader import ProtocolError, parse_study
    from tests.core.test_translations import TEXT

    text = TEXT.replace('name_zh_CN = "第 {months} 个月（{offset}）"', f'name_zh_CN = "{name}"')
    with pytest.raises(ProtocolError) as caught:
        parse_study(text, "t.toml")
    assert caught.value.key == "visits[0].name_zh_CN"
    assert "not a valid visit name" in caught.value.message


def test_the_program_opens_a_server_with_the_driver_it_deferred(server_db: str,
                                                                 tmp_path: Path) -> None:
    # The real entry point (peewee imported without psycopg), on a new server database: the
    # schema is created and a listing read through the driver attached when it is opened.
    from tests.helpers import server_url

    url = server_url(server_db)
    for command in (["studies", "--json"], ["patients", "--json"]):
        result = subprocess.run([sys.executable, "-m", "gisttracker", "--db", url, *command],
                                cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        assert isinstance(json.loads(result.stdout), list)
