"""Shared fixtures of the report tests: a demo site, text extraction from a PDF."""

from __future__ import annotations

from datetime import UTC, date, datetime
from io import BytesIO

import pytest
from pypdf import PdfReader

from gisttracker.demo import generate
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient, PatientIdentity

TODAY = date(2026, 3, 14)
MADE = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


@pytest.fixture
def demo(session: Session) -> Session:
    """The session with 150 demo patients (seed 11)."""
    generate(session, patients=150, seed=11, today=TODAY)
    return session


def pdf_text(data: bytes) -> tuple[int, str]:
    """(page count, extracted text of every page) of a PDF; fails if it does not open."""
    reader = PdfReader(BytesIO(data))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def identifiers(study_key: str | None = None) -> list[tuple[str, str, str]]:
    """(name, record number, date of birth) of the demo patients (of one study)."""
    query = PatientIdentity.select(PatientIdentity, Patient).join(Patient)
    if study_key:
        query = query.where(Patient.study_key == study_key)
    return [(i.name, i.record_number, str(i.date_of_birth)) for i in query]


def assert_no_identifiers(text: str, study_key: str | None = None) -> None:
    flat = " ".join(text.split())
    for name, record, dob in identifiers(study_key):
        assert name not in flat
        assert record not in flat
        assert dob not in flat
