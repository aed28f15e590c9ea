"""Helpers shared by the report modules: the report context from the site settings, the
patient particulars block, date formatting and the personal-identifier rule.

Personal identifiers (name, record number, date of birth) are gathered only when the caller
asks for them (``include_identifiers``); reports otherwise show the study identifier only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from gisttracker.i18n import _
from gisttracker.reports.base import ReportContext
from gisttracker.services.common import as_date, find_patient
from gisttracker.services.settings import SettingsService
from gisttracker.session import Session
from gisttracker.store.models_patients import Patient, PatientIdentity

__all__ = ["Particulars", "as_date", "context_for", "day", "find_patient", "identifiers_of"]




def day(value: date | None, empty: str = "—") -> str:
    """A date as printed in every report (ISO, unambiguous in English and Chinese)."""
    return value.isoformat() if value else empty


def context_for(session: Session, *, generated_at: datetime,
                paper: str | None = None) -> ReportContext:
    """The report context of the open site: paper from the settings unless given."""
    settings = SettingsService(session.tracker)
    code, name = settings.get("site_code"), settings.get("site_name")
    site = f"{code} {name}".strip() if name else code
    return ReportContext(generated_at=generated_at, paper=paper or settings.get("paper"),
                         site=site)


@dataclass(frozen=True)
class Particulars:
    """Who the report is about: label/value pairs ready to print."""

    pairs: tuple[tuple[str, str], ...]


def identifiers_of(patient: Patient) -> tuple[tuple[str, str], ...]:
    """The patient's personal identifiers as label/value pairs (only when asked for)."""
    ident = PatientIdentity.get_or_none(PatientIdentity.patient == patient.id)
    if ident is None:
        return ()
    out = []
    if ident.name:
        out.append((_("Name"), str(ident.name)))
    if ident.record_number:
        out.append((_("Record number"), str(ident.record_number)))
    if ident.date_of_birth:
        out.append((_("Date of birth"), day(as_date(ident.date_of_birth))))
    return tuple(out)
