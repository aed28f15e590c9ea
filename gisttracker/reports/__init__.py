"""PDF reports (reportlab): a shared base, then one module per report.

:data:`KINDS` lists the reports the window and the command line offer, with the options
each needs; :func:`build` gathers the data and returns the laid-out :class:`Report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from gisttracker.i18n import N_, _, join_list

if TYPE_CHECKING:
    from gisttracker.reports.base import Report
    from gisttracker.session import Session


@dataclass(frozen=True)
class ReportKind:
    """One report: its key, title (N_-marked) and which options it needs."""

    key: str
    title: str
    needs_patient: bool = False
    needs_study: bool = False
    needs_period: bool = False
    study_optional: bool = False
    needs_as_of: bool = False


KINDS: dict[str, ReportKind] = {k.key: k for k in (
    ReportKind("schedule", N_("Patient visit schedule"), needs_patient=True),
    ReportKind("calendar", N_("Site calendar"), needs_period=True, study_optional=True),
    ReportKind("screening", N_("Screening log and CONSORT flow"), needs_study=True),
    ReportKind("enrollment", N_("Enrollment and accrual"), needs_study=True),
    ReportKind("casebook", N_("Patient casebook"), needs_patient=True),
    ReportKind("outcomes", N_("Study outcomes"), needs_study=True, needs_as_of=True),
)}


@dataclass(frozen=True)
class ReportRequest:
    """What the user asked for. ``start``/``end`` bound the calendar's period (inclusive)."""

    kind: str
    patient: str | None = None
    study_key: str | None = None
    start: date | None = None
    end: date | None = None
    paper: str | None = None  # None: the site's setting
    include_identifiers: bool = False
    as_of: date | None = None  # the data cut-off of the outcomes (None: today)


def build(session: Session, request: ReportRequest, *, today: date,
          generated_at: datetime) -> Report:
    """Gather the data of ``request`` and return the report, ready to render.

    Raises ServiceError (unknown patient or study, a missing option) with one clear line.
    """
    # Only the module of the report asked for is imported (each pulls in its services).
    from gisttracker.reports.common import context_for
    from gisttracker.services.base import ServiceError

    kind = KINDS.get(request.kind)
    if kind is None:
        raise ServiceError(_("unknown report {kind!r} (known: {known})").format(
            kind=request.kind, known=join_list(KINDS)))
    if kind.needs_patient and not request.patient:
        raise ServiceError(_("this report needs a patient"))
    if kind.needs_study and not request.study_key:
        raise ServiceError(_("this report needs a study"))
    study_key = request.study_key
    if study_key and study_key not in session.studies:
        raise ServiceError(_("unknown study {key!r} (known: {known})").format(
            key=study_key, known=join_list(sorted(session.studies))))
    context = context_for(session, generated_at=generated_at, paper=request.paper)
    ids = request.include_identifiers
    if ids and session.tracker.actor is not None:
        # Names, record numbers and dates of birth only for a role that may see them.
        from gisttracker.services.policy import Permission

        session.tracker.require(Permission.VIEW_IDENTIFIERS)
    if request.kind == "schedule":
        from gisttracker.reports import schedule

        return schedule.ScheduleReport(context, schedule.gather_schedule(
            session, request.patient or "", today=today, include_identifiers=ids))
    if request.kind == "casebook":
        from gisttracker.reports import casebook

        return casebook.CasebookReport(context, casebook.gather_casebook(
            session, request.patient or "", today=today, include_identifiers=ids))
    if request.kind == "calendar":
        from gisttracker.reports import calendar

        if request.start is None or request.end is None:
            raise ServiceError(_("the calendar needs a period"))
        return calendar.CalendarReport(context, calendar.gather_calendar(
            session, request.start, request.end, today=today, study_key=study_key))
    if request.kind == "outcomes":
        from gisttracker.reports import outcomes

        return outcomes.OutcomesReport(context, outcomes.gather_outcomes(
            session, study_key or "", as_of=request.as_of or today))
    if request.kind == "screening":
        from gisttracker.reports import screening

        return screening.ScreeningReport(context, screening.gather_screening(
            session, study_key or "", include_identifiers=ids))
    from gisttracker.reports import enrollment

    return enrollment.EnrollmentReport(context, enrollment.gather_enrollment(
        session, study_key or ""))
