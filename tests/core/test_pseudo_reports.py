"""Every word of every PDF report goes through translation (the pseudo-locale test), and so
does the command line: its help, its tables and its messages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gisttracker import i18n
from gisttracker.cli import COMMANDS, main
from gisttracker.demo import generate
from gisttracker.reports import KINDS, ReportRequest, build
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient
from tests.core.reports_fixtures import MADE, TODAY, pdf_text
from tests.pseudo import escapes, pseudo_locale


@pytest.fixture
def pseudo() -> Iterator[None]:
    with pseudo_locale():
        yield


@pytest.fixture
def demo(session: Session, pseudo: None) -> Session:
    """A demo site made in the pseudo-locale: what the program stores in the reader's
    language (screening reasons, visit reasons) is bracketed too."""
    generate(session, patients=150, seed=11, today=TODAY)
    return session


def _patient(study_key: str) -> str:
    """The enrolled patient of the study with the most recorded at their visits."""
    from gisttracker.store.models_visits import Visit

    patients = Patient.select().where((Patient.study_key == study_key)
                                      & (Patient.status == "enrolled"))
    best = max(patients, key=lambda p: Visit.select().where(
        (Visit.patient == p.id) & (Visit.state != "planned")).count())
    return str(best.study_id)


def _requests(session: Session) -> Iterator[ReportRequest]:
    for key in sorted(session.studies):
        yield ReportRequest("screening", study_key=key)
        yield ReportRequest("enrollment", study_key=key)
        patient = _patient(key)
        yield ReportRequest("schedule", patient=patient)
        yield ReportRequest("casebook", patient=patient)
        yield ReportRequest("outcomes", study_key=key, as_of=TODAY)
    yield ReportRequest("calendar", start=TODAY.replace(day=1), end=TODAY.replace(day=28))


def test_every_report_is_translated(demo: Session) -> None:
    found = []
    kinds = set()
    for request in _requests(demo):
        report = build(demo, request, today=TODAY, generated_at=MADE)
        _pages, text = pdf_text(report.render())
        kinds.add(request.kind)
        where = f"{request.kind} {request.study_key or request.patient or ''}"
        if request.kind == "casebook":
            # The audit trail's rows are the database's own record (table and field names,
            # stored values, reasons as typed); its heading and columns are judged.
            text, heading, trail = text.partition("⟦Audit trail⟧")
            columns, _sep, rows = trail.partition("⟦Reason⟧")
            assert heading and rows
            text += columns
        # Judged as one text: a bracketed string wraps over lines and table cells.
        found.append((where, text))
    assert kinds == set(KINDS)
    problems = escapes(found)
    assert not problems, "text printed without translation:\n" + "\n".join(problems)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_command_line_help_tables_and_messages_are_translated(
        demo: Session, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The command chooses its language at start; here the pseudo-locale stays.
    monkeypatch.setattr("gisttracker.cli.start_language", lambda argv: i18n.current())
    db = str(demo.path)
    patient = _patient("NCT04933669")
    runs = [
        ("--help",), ("report", "--help"), ("schedule", "--help"), ("worklist", "--help"),
        ("--db", db, "studies"), ("--db", db, "patients"),
        ("--db", db, "worklist", "--from", "2026-03-01", "--to", "2026-03-31"),
        ("--db", db, "schedule", "--study", "NCT04933669", "--anchor",
         "imatinib_start=2025-01-10", "--anchor", "last_preop_dose=2025-04-10",
         "--anchor", "surgery=2025-04-20"),
        ("--db", db, "ical", "--patient", patient, "-o", str(tmp_path / "p.ics")),
        ("--db", db, "report", "schedule", "--patient", "NOBODY-1", "-o",
         str(tmp_path / "x.pdf")),
        ("--db", db, "schedule", "--study", "NOPE"),
        ("outcomes", "--help"),
        ("--db", db, "outcomes", "--study", "PREOP-DURATION", "--as-of", "2026-03-14"),
        ("--db", db, "outcomes", "--study", "RECTAL-LE", "--as-of", "2026-03-14"),
        ("--db", db, "outcomes", "--study", "RECTAL-LE", "--as-of", "2001-01-01"),
        ("--db", db, "export", "analysis", "--study", "RECTAL-LE", "-o",
         str(tmp_path / "rectal.csv")),
    ]
    found = []
    with pseudo_locale():
        for argv in runs:
            try:
                _code, out, err = _run(capsys, *argv)
            except SystemExit:  # --help
                out, err = capsys.readouterr()
            # What a person types stays as typed: the program, its commands and report
            # kinds, options, and keys (anchor keys, study keys).
            text = re.sub(r"(?<![\w⟦])--?[a-z][\w-]*|\b\w+_\w+\b", " ", out + err)
            # (A module whose command is a Python keyword ends in "_": cli/import_.py.)
            commands = "|".join(c.rstrip("_").replace("_", "-") for c in COMMANDS)
            text = re.sub(rf"\b(?:gisttracker|{commands}|{'|'.join(KINDS)}|surgery)\b",
                          " ", text)
            found.append((" ".join(argv[2:] if argv[0] == "--db" else argv), text))
    assert all("⟦" in text for _where, text in found)
    problems = escapes(found)
    assert not problems, "command line text without translation:\n" + "\n".join(problems)
