"""Export visit schedules as an iCalendar file (RFC 5545), built with :mod:`icalendar`.

One all-day ``VEVENT`` per visit that has a target date: ``DTSTART;VALUE=DATE`` on the
target day, ``DTEND`` the next day (the end of an all-day event is exclusive). The event
carries only the pseudonymous study identifier of the patient, never a name: a calendar
file leaves the application and may end up on a phone.

Date conventions: target and window dates are calendar dates with no time zone (all-day
events float, as they should); the window in the description is inclusive at both ends.
``DTSTAMP`` is the ``stamp`` given by the caller (no clock is read here), written in UTC.
The output is deterministic: the same visits and stamp give the same bytes, and each
visit's ``UID`` depends only on the ``uid`` the caller gives it (stable across exports, so
a calendar program updates the event instead of duplicating it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from gisttracker.domain.schedule import status_label
from gisttracker.errors import InputError
from gisttracker.files import write_private
from gisttracker.i18n import _, join_list
from gisttracker.protocols.catalogue import ASSESSMENTS

if TYPE_CHECKING:
    from icalendar import Calendar

__all__ = ["UID_DOMAIN", "CalendarVisit", "calendar_bytes", "write_calendar"]

UID_DOMAIN = "gisttracker"


@dataclass(frozen=True)
class CalendarVisit:
    """One visit of one patient, as the calendar shows it.

    ``uid`` must be stable for the patient and visit (e.g. the visit row's uid);
    ``status`` is a schedule status code (see :data:`gisttracker.domain.schedule.STATUS_LABELS`).
    """

    uid: str
    patient_study_id: str
    study_key: str
    visit_name: str
    target: date | None
    window_start: date | None
    window_end: date | None
    assessments: tuple[str, ...]
    status: str


def _summary(visit: CalendarVisit) -> str:
    return f"{visit.patient_study_id} · {visit.visit_name} ({visit.study_key})"


def _description(visit: CalendarVisit) -> str:
    lines = []
    if visit.window_start is not None and visit.window_end is not None:
        lines.append(_("Window: {start} – {end}").format(
            start=visit.window_start.isoformat(), end=visit.window_end.isoformat()))
    if visit.assessments:
        names = join_list(_(ASSESSMENTS[a]) if a in ASSESSMENTS else a for a in visit.assessments)
        lines.append(_("Assessments: {names}").format(names=names))
    if visit.status:
        lines.append(_("Status: {status}").format(status=status_label(visit.status)))
    return "\n".join(lines)


def _build(
    events: Iterable[CalendarVisit], *, prodid_version: str, stamp: datetime, name: str | None
) -> tuple[Calendar, int]:
    if stamp.tzinfo is None or stamp.utcoffset() is None:
        raise ValueError("stamp must be an aware datetime (UTC)")
    stamp = stamp.astimezone(UTC)
    # icalendar takes 30 ms to import: paid by an export, not by every user of the services.
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", f"-//GIST Study Tracker//{prodid_version}//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if name and name.strip():
        # A calendar name is one line in iCalendar: line breaks typed into it become spaces.
        cal.add("x-wr-calname", " ".join(name.split()))
    seen: set[str] = set()
    visits = [v for v in events if v.target is not None]
    for visit in visits:
        if not visit.uid:
            raise InputError(_("every calendar visit needs a uid"))
        if visit.uid in seen:
            raise InputError(_("the calendar has two visits with the uid {uid!r}").format(
                uid=visit.uid))
        seen.add(visit.uid)
    visits.sort(key=lambda v: (v.target or date.min, v.uid))
    for visit in visits:
        assert visit.target is not None
        event = Event()
        event.add("uid", f"{visit.uid}@{UID_DOMAIN}")
        event.add("dtstamp", stamp)
        event.add("dtstart", visit.target)
        event.add("dtend", visit.target + timedelta(days=1))
        event.add("summary", _summary(visit))
        event.add("description", _description(visit))
        event.add("categories", [visit.study_key])
        event.add("transp", "TRANSPARENT")
        if visit.status in ("cancelled", "not_applicable"):
            event.add("status", "CANCELLED")
        cal.add_component(event)
    return cal, len(visits)


def calendar_bytes(
    events: Iterable[CalendarVisit],
    *,
    prodid_version: str,
    stamp: datetime,
    name: str | None = None,
) -> bytes:
    """The iCalendar file for ``events`` (visits without a target date are skipped).

    ``stamp`` (an aware datetime, converted to UTC) becomes every event's ``DTSTAMP``;
    ``name`` optionally sets ``X-WR-CALNAME``. Duplicate or empty uids raise InputError.
    """
    cal, _count = _build(events, prodid_version=prodid_version, stamp=stamp, name=name)
    data: bytes = cal.to_ical()
    return data


def write_calendar(
    path: Path | str,
    events: Iterable[CalendarVisit],
    *,
    prodid_version: str,
    stamp: datetime,
    name: str | None = None,
) -> int:
    """Write the calendar to ``path`` atomically (temporary file, then rename), readable by
    its owner only (it names patients' visits).

    Returns the number of events written. A crash mid-write leaves any previous file whole.
    """
    cal, count = _build(events, prodid_version=prodid_version, stamp=stamp, name=name)
    data: bytes = cal.to_ical()
    write_private(Path(path), data)
    return count
