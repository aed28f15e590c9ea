"""Reports survive any text: a 10,000-character note, a 10,000-character word with nowhere
to break, and Chinese mixed with Latin, in every free-text place of every report.

Two ways in. First as a user would: long texts typed into the notes, reasons and names a
site records (so the casebook's audit trail prints them again); the casebook that used to
fail "for ever" once a 1,000-character note was saved must render. Then every report's
gathered data with its text fields replaced by such texts (the first record of each list
and every single value), so a text field added later is covered too. Each PDF must open,
number its pages, have no empty page, and show each text whole or cut short with the mark
that says where it is printed in full.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterator
from datetime import date, timedelta
from io import BytesIO
from typing import Any

import pytest
from pypdf import PdfReader

from gisttracker.reports import calendar, casebook, enrollment, schedule, screening
from gisttracker.reports.base import MAX_CELL_HEIGHT, Report, ReportContext
from gisttracker.reports.common import context_for
from gisttracker.services.course import CourseService, EventInput
from gisttracker.services.forms import AdverseEventInput, FormService
from gisttracker.services.patients import PatientService
from gisttracker.services.visits import VisitService
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient
from gisttracker.store.models_visits import Visit
from tests.core.reports_fixtures import MADE, TODAY, demo

__all__ = ["demo"]

NOTE = " ".join(f"note{i:05d}" for i in range(1000))[:10_000]  # 10,000 characters of words
WORD = "".join(f"W{i:04d}" for i in range(2000))  # 10,000 characters, no space in them
MIXED = ("胃肠间质瘤 GIST 伊马替尼 imatinib 400 mg/d，术后辅助治疗 adjuvant 36 个月；"
         "随访 follow-up 无复发。") * 40
TEXTS = (NOTE, WORD, MIXED)


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def check_pdf(report: Report, texts: list[str]) -> tuple[int, str]:
    """The report renders, every page has its "Page N of M" and more than its header and
    footer, and each of ``texts`` is printed: whole, or cut short with a mark whose note
    at the end holds it whole. Returns the page count and the text without header and
    footer lines (so a text running over a page break reads on)."""
    reader = PdfReader(BytesIO(report.render()))
    pages = len(reader.pages)
    body = []
    for n, page in enumerate(reader.pages, start=1):
        lines = page.extract_text().splitlines()
        # Footer: when it was made, then "Page N of M"; header: the title, then the
        # subtitle (if the report has one).
        assert lines[-1] == f"Page {n} of {pages}" and lines[-2].startswith("Made ")
        assert len(lines[-2]) < 200, "the footer (a long site name) runs off the page"
        assert lines[0] == report.title
        kept = lines[2 if report.subtitle() else 1:-2]
        assert len("".join(kept).strip()) > 20, f"page {n} is empty"
        body += kept
    flat = _flat("\n".join(body))
    main, _sep, notes = flat.partition("Textscutshortabove,infull")
    for sample in texts:
        if _flat(sample) in main:
            continue  # printed whole where it belongs
        assert re.search(r"…\[cut:[\d,]+morecharacters,wholeinnote\d+attheend\]", main), (
            "a long text is neither printed nor cut with a mark")
        assert _flat(sample) in notes, "a cut text is missing from the notes at the end"
    return pages, "\n".join(body)


def _enrolled(session: Session) -> Patient:
    for patient in Patient.select().where(Patient.status == "enrolled").order_by(Patient.id):
        if Visit.select().where((Visit.patient == patient.id)
                                & (Visit.state == "done")).exists():
            return patient
    raise AssertionError("no enrolled patient with a done visit")


def test_long_notes_typed_by_users_print_in_every_report(demo: Session) -> None:
    patient = _enrolled(demo)
    visit = Visit.select().where((Visit.patient == patient.id)
                                 & (Visit.state == "done")).first()
    forms = FormService(demo)
    # A 10,000-character note, saved and then corrected: the audit trail keeps both.
    ae = forms.save_adverse_event(patient.uid, AdverseEventInput(
        term="nausea", grade=2, onset=TODAY - timedelta(days=30), visit_uid=visit.uid,
        notes=NOTE), today=TODAY)
    forms.save_adverse_event(patient.uid, AdverseEventInput(
        term="nausea", grade=2, onset=TODAY - timedelta(days=30), visit_uid=visit.uid,
        notes="settled"), today=TODAY, uid=ae.uid, reason=MIXED)
    CourseService(demo).record_event(patient.uid, EventInput(
        "last_known_alive", TODAY - timedelta(days=3), notes=WORD), today=TODAY)
    VisitService(demo).add_unscheduled(patient.uid, MIXED[:200], TODAY + timedelta(days=3),
                                       today=TODAY)
    failed = Patient.get(Patient.status == "screened")
    PatientService(demo).close_screen_failure(failed.uid, reason=NOTE)

    context = context_for(demo, generated_at=MADE)
    book = casebook.CasebookReport(context, casebook.gather_casebook(
        demo, patient.study_id, today=TODAY))
    _pages, text = check_pdf(book, [NOTE, WORD, MIXED, MIXED[:200]])
    assert "Audit trail" in text and "settled" in text
    sched = schedule.ScheduleReport(context, schedule.gather_schedule(
        demo, patient.study_id, today=TODAY))
    check_pdf(sched, [MIXED[:200]])
    log = screening.ScreeningReport(context, screening.gather_screening(
        demo, failed.study_key))
    check_pdf(log, [NOTE])
    cal = calendar.CalendarReport(context, calendar.gather_calendar(
        demo, TODAY - timedelta(days=7), TODAY + timedelta(days=7), today=TODAY))
    check_pdf(cal, [MIXED[:200]])


def _poisoned(value: Any, texts: Iterator[str], used: list[str]) -> Any:
    """``value`` with its texts replaced: every field of a record, the first item of a
    list. A tuple of plain values is a record; a tuple holding tuples or records a list."""
    if isinstance(value, str):
        text = next(texts)
        used.append(text)
        return text
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{
            f.name: _poisoned(getattr(value, f.name), texts, used)
            for f in dataclasses.fields(value)})
    if isinstance(value, tuple) and value:
        if all(not isinstance(v, tuple) and not dataclasses.is_dataclass(v) for v in value):
            return tuple(_poisoned(v, texts, used) for v in value)
        return (_poisoned(value[0], texts, used), *value[1:])
    return value


def _gathered(session: Session) -> Iterator[tuple[str, type[Report], Any]]:
    patient = _enrolled(session)
    yield "schedule", schedule.ScheduleReport, schedule.gather_schedule(
        session, patient.study_id, today=TODAY, include_identifiers=True)
    yield "casebook", casebook.CasebookReport, casebook.gather_casebook(
        session, patient.study_id, today=TODAY, include_identifiers=True)
    yield "calendar", calendar.CalendarReport, calendar.gather_calendar(
        session, date(2026, 3, 1), date(2026, 3, 31), today=TODAY, study_key="NCT04933669")
    yield "screening", screening.ScreeningReport, screening.gather_screening(
        session, "NCT03862768", include_identifiers=True)
    yield "enrollment", enrollment.EnrollmentReport, enrollment.gather_enrollment(
        session, "NCT03862768")


@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_every_text_field_of_every_report_survives_any_text(demo: Session, paper: str) -> None:
    context = ReportContext(generated_at=MADE, paper=paper, site=MIXED)
    for kind, report_class, data in _gathered(demo):
        used: list[str] = []
        poisoned = _poisoned(data, itertools.cycle(TEXTS), used)
        assert len(used) >= 5, kind
        report = report_class(context, poisoned)
        pages, _text = check_pdf(report, sorted(set(used), key=used.index))
        # Sane: each cut text adds its note at the end (at most 3 pages for 10,000
        # characters) to a report that is otherwise a few pages long.
        assert pages <= 12 + 3 * len(report.cut_texts), (kind, pages)


def test_a_cell_never_grows_taller_than_its_limit(demo: Session) -> None:
    context = context_for(demo, generated_at=MADE)
    report = enrollment.EnrollmentReport(context, enrollment.gather_enrollment(
        demo, "NCT03862768"))
    for text in TEXTS:
        for room in (20.0, 60.0, 300.0):
            cell = report.fitted(text, "cell", room)
            _w, height = cell.wrap(room, 1e9)
            assert height <= MAX_CELL_HEIGHT
    assert len(report.cut_texts) == 9  # each of them was too long for every width
