"""Fuzzing the command line: random subcommands, options and values end in a one-line
message or a result — never a traceback, a crash report or a hang.

Issue 14 saw 34 of 448 fuzzed command lines end in a traceback and 3 hang. The values here
are what a slip of the keyboard or a script gone wrong gives: dates such as 0000-00-00 or
9999-12-31, huge counts, text in a broken encoding (the surrogate escapes Python makes of
bytes that are not UTF-8), and file paths that are folders, missing, pipes, devices or
inside a file. Every path is inside the test's own folder (a device is reached through a
symbolic link there): a command that wrongly wrote "into" /dev/null as root would replace
the system's device with a file. Output goes to streams that fail on unencodable text as a
UTF-8 terminal would.

``GISTTRACKER_FUZZ_EXAMPLES`` raises the number of command lines (default 120).
"""

from __future__ import annotations

import io
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gisttracker.cli import main
from gisttracker.demo import generate
from gisttracker.logs import log_dir
from gisttracker.session import open_session
from tests.helpers import new_site

EXAMPLES = int(os.environ.get("GISTTRACKER_FUZZ_EXAMPLES", "120"))
SECONDS = 60  # far more than any of these commands needs on a small site

# Each subcommand with its options; None marks a flag without a value.
COMMANDS: dict[tuple[str, ...], dict[str, str | None]] = {
    ("studies",): {"--json": None},
    ("schedule",): {"--study": "study", "--anchor": "anchor", "--json": None},
    ("worklist",): {"--from": "date", "--to": "date", "--today": "date", "--study": "study",
                    "--json": None},
    ("ical",): {"--patient": "patient", "--from": "date", "--to": "date", "--today": "date",
                "--study": "study", "-o": "file", "--output": "file"},
    ("patients",): {"--study": "study", "--status": "text", "--json": None},
    ("demo",): {"--patients": "count", "--seed": "number", "--today": "date", "--db": "db"},
    **{("report", kind): {"--patient": "patient", "--study": "study", "--from": "date",
                          "--to": "date", "--today": "date", "--paper": "paper",
                          "--include-identifiers": None, "-o": "file", "--output": "file"}
       for kind in ("schedule", "calendar", "screening", "enrollment", "casebook")},
}
BROKEN = "caf\udce9"  # b"caf\xe9" (Latin-1) read as UTF-8 with surrogate escapes
HUGE = "1" + "0" * 40


def values(site: Path, folder: Path) -> dict[str, st.SearchStrategy[str]]:
    """For each kind of value: mostly good ones, often one of the bad. ``site``: the site
    database (a file, or a server database on the server run); ``folder``: the test's own
    folder, where every file path points."""
    junk = folder / "junk.db"
    texts = ["", " ", BROKEN, "x" * 5000, "\t", "-", "--", "'; DROP TABLE patient; --",
             "患者", HUGE, "NaN", "-1"]

    def pick(good: list[str], bad: list[str]) -> st.SearchStrategy[str]:
        return st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(bad))

    return {
        "date": pick(["2026-03-14", "2026-01-01", "2025-06-30", "2026-04-30"],
                     ["0000-00-00", "9999-12-31", "0001-01-01", "1900-01-01", "2199-12-31",
                      "2200-01-01", "2026-02-30", "14/03/2026", "", " ", BROKEN, HUGE, "-1",
                      "today"]),
        "study": pick(["NCT04933669", "RECTAL-LE", "NCT03862768", "PREOP-DURATION",
                       "NCT06038552"], ["nct04933669", "NOPE", *texts]),
        "patient": pick(["SITE-0001", "site-0002 ", "  SITE-0003", "SITE-0004", "SITE-0008"],
                        ["ZJU-0007", *texts]),
        "anchor": pick(["imatinib_start=2026-01-05", "surgery=2025-03-01",
                        "randomization=2026-02-01"],
                       ["surgery=0000-00-00", "=2026-01-01", "surgery", f"surgery={BROKEN}",
                        "surgery=9999-12-31", "nonsense=2026-01-01", *texts]),
        "file": pick([str(folder / "out.pdf"), str(folder / "out.ics"), "relative.pdf"],
                     [str(folder), "", str(folder / "missing" / "out.pdf"),
                      str(folder / "pipe"), str(folder / "null"), str(junk / "x.pdf"),
                      str(folder / BROKEN), "."]),
        "count": pick(["0", "1", "2"], ["-1", "10000000", HUGE, "1e3", "", BROKEN]),
        "number": pick(["0", "1", "7"], ["-7", HUGE, "1" * 5000, "x", BROKEN]),
        "paper": pick(["a4", "letter"], ["A4", "", BROKEN]),
        "db": pick([str(site)], [str(folder), str(folder / "missing" / "x.db"), str(junk),
                                 str(folder / "pipe"), str(folder / "zero"), "",
                                 str(folder / BROKEN)]),
        "text": pick(["enrolled", "died", "screened"], texts),
    }


# Options a command needs to do anything; the fuzz gives them most of the time.
NEEDED: dict[tuple[str, ...], tuple[str, ...]] = {
    ("schedule",): ("--study", "--anchor"),
    ("ical",): ("--patient", "-o"),
    ("report", "schedule"): ("--patient", "-o"),
    ("report", "casebook"): ("--patient", "-o"),
    ("report", "calendar"): ("--from", "--to", "-o"),
    ("report", "screening"): ("--study", "-o"),
    ("report", "enrollment"): ("--study", "-o"),
}


def command_lines(site: Path, folder: Path) -> st.SearchStrategy[list[str]]:
    pools = values(site, folder)

    @st.composite
    def build(draw: st.DrawFn) -> list[str]:
        words = draw(st.sampled_from([*COMMANDS, *COMMANDS, ("nonsense",), ("report",),
                                      ("report", "nonsense")]))
        options = COMMANDS.get(words, {"--json": None, "--study": "study"})
        argv: list[str] = []
        if draw(st.integers(0, 3)) == 0:
            argv += ["--db", draw(pools["db"])]
        argv += list(words)
        chosen = [name for name in NEEDED.get(words, ()) if draw(st.integers(0, 9)) > 0]
        chosen += draw(st.lists(st.sampled_from(sorted(options)), max_size=3))
        if draw(st.integers(0, 9)) == 0:
            chosen.append(draw(st.sampled_from(["--bogus", "-x", "--json", "--help"])))
        for name in chosen:
            kind = options.get(name)
            argv.append(name)
            if kind is not None:
                argv.append(draw(pools[kind]))
        if words == ("demo",):
            # Always bounded: a demo of the default 500 patients takes seconds per call.
            argv += ["--patients", draw(pools["count"])]
        return argv
    return build()


class Hang(Exception):
    pass


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    def alarm(_signum: int, _frame: FrameType | None) -> None:
        raise Hang
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def terminal() -> io.TextIOWrapper:
    """A stream that, like a UTF-8 terminal's stdout, refuses what it cannot encode."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict",
                            write_through=True)


def run(argv: list[str]) -> tuple[int, str]:
    out, err = terminal(), io.TextIOWrapper(io.BytesIO(), encoding="utf-8",
                                            errors="backslashreplace", write_through=True)
    with redirect_stdout(out), redirect_stderr(err), deadline(SECONDS):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: --help, --version, usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    assert isinstance(err.buffer, io.BytesIO)
    return code, err.buffer.getvalue().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fuzz's own folder: the command lines' files, and the working directory."""
    return tmp_path_factory.mktemp("cli-fuzz")


@pytest.fixture(scope="module")
def site(folder: Path) -> Iterator[Path]:
    """An 8-patient demo site on the engine under test (a file, or a server database on the
    server run), the default database of every command line (GISTTRACKER_DB)."""
    with new_site(folder / "site.db") as path:
        session = open_session(path, user="nurse",
                               clock=lambda: datetime(2026, 3, 14, tzinfo=UTC))
        generate(session, patients=8, seed=5, today=date(2026, 3, 14))
        session.close()
        yield from _in_folder(path, folder)


def _in_folder(path: Path, folder: Path) -> Iterator[Path]:
    """The bad files beside the site (junk, a pipe, devices); the site as the default
    database and ``folder`` as the working directory while the tests run, put back after."""
    (folder / "junk.db").write_bytes(b"not a database " * 100)
    os.mkfifo(folder / "pipe")  # opening a pipe for reading would wait for ever
    (folder / "null").symlink_to(os.devnull)
    (folder / "zero").symlink_to("/dev/zero")
    old = os.environ.get("GISTTRACKER_DB")
    os.environ["GISTTRACKER_DB"] = str(path)  # never the user's own database
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        yield path
    finally:
        os.chdir(cwd)
        if old is None:
            os.environ.pop("GISTTRACKER_DB", None)
        else:
            os.environ["GISTTRACKER_DB"] = old


def crash_reports() -> set[Path]:
    return set(log_dir().glob("crash-*.txt"))


@pytest.mark.engines
@pytest.mark.skipif(sys.platform == "win32", reason="uses SIGALRM to catch a hang")
@pytest.mark.expect_log(r"^database problem", r"^protocol file refused")
def test_fuzzed_command_lines_end_in_one_line_never_a_traceback_or_a_hang(
        site: Path, folder: Path) -> None:
    codes: list[int] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(command_lines(site, folder))
    def one(argv: list[str]) -> None:
        before = crash_reports()
        try:
            code, err = run(argv)
        except Hang:
            raise AssertionError(f"no answer within {SECONDS} s: {argv!r}") from None
        codes.append(code)
        new = crash_reports() - before
        assert not new, f"a bug (crash report {sorted(new)}) from {argv!r}:\n{err}"
        assert code in (0, 1, 2), f"exit {code} from {argv!r}:\n{err}"
        assert "Traceback" not in err, f"{argv!r}:\n{err}"
        if code != 0:
            assert err.startswith("gisttracker") and err.count("\n") == 1, (
                f"not one line from {argv!r}:\n{err}")

    one()
    # Not only refusals: a good share of the command lines did their work.
    assert codes.count(0) >= EXAMPLES // 20 and codes.count(2), codes


@pytest.mark.parametrize("argv", [
    ["worklist", "--from", "9999-12-25", "--to", "9999-12-31"],
    ["schedule", "--study", "NCT04933669", "--anchor", "imatinib_start=9999-12-31"],
    ["demo", "--patients", HUGE],
    ["demo", "--patients", "10000000"],
    ["report", "casebook", "--patient", "SITE-0001", "-o", "null"],
    ["report", "casebook", "--patient", "SITE-0001", "-o", "pipe"],
    ["ical", "--patient", "SITE-0001", "-o", "."],
    ["--db", "zero", "studies"],
    ["--db", "pipe", "studies"],
    ["report", "schedule", "--patient", BROKEN, "-o", "out.pdf"],
])
@pytest.mark.engines
@pytest.mark.expect_log(r"^database problem")
def test_the_command_lines_that_used_to_fail_get_one_line(site: Path, argv: list[str]) -> None:
    before = crash_reports()
    code, err = run(argv)
    assert code in (1, 2), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert crash_reports() == before


@pytest.mark.engines
@pytest.mark.expect_log(r"^bug while the command 'studies'")
def test_a_bug_in_a_command_prints_where_the_report_is_and_exits_70(
        site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gisttracker.cli.studies as studies

    def broken(_args: object) -> int:
        raise KeyError("a bug in the studies command")

    monkeypatch.setattr(studies, "run", broken)  # register() hands it to the parser
    before = crash_reports()
    code, err = run(["studies"])
    new = crash_reports() - before
    assert code == 70
    assert len(new) == 1
    report = new.pop()
    assert err == (f"gisttracker: something went wrong inside the program; a report was "
                   f"saved at {report}. Please send it to the study's data manager.\n")
    text = report.read_text(encoding="utf-8")
    assert "KeyError: 'a bug in the studies command'" in text and "Traceback" in text

