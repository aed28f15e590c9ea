"""The site calendar: visits due in a period, grouped by day, and every overdue visit.

For one study or all. A due visit is listed on its target date when that lies in the
period, else on the first (or last) day of the period its window overlaps. Patients appear
by study identifier only. Dates are calendar dates; windows include both ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from reportlab.platypus import Flowable

from gisttracker.i18n import N_, _, local, ngettext
from gisttracker.reports.base import Report, ReportContext
from gisttracker.reports.common import day
from gisttracker.services.visits import VisitService, WorklistItem, status_text
from gisttracker.session import Session

__all__ = ["CalendarData", "CalendarLine", "CalendarReport", "gather_calendar"]

WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"),
            N_("Saturday"), N_("Sunday"))


@dataclass(frozen=True)
class CalendarLine:
    patient: str
    study_key: str
    visit: str
    target: date | None
    window_start: date | None
    window_end: date | None
    status: str  # translated
    done_on: date | None


@dataclass(frozen=True)
class CalendarData:
    start: date
    end: date
    today: date
    study_key: str | None
    study_title: str
    days: tuple[tuple[date, tuple[CalendarLine, ...]], ...]
    overdue: tuple[CalendarLine, ...]
    done_out_of_window: tuple[CalendarLine, ...]

    @property
    def due_count(self) -> int:
        return sum(len(lines) for _day, lines in self.days)


def _line(item: WorklistItem) -> CalendarLine:
    return CalendarLine(item.patient_study_id, item.study_key, item.visit_name, item.target,
                        item.window_start, item.window_end, status_text(item.status_code),
                        item.done_on)


def _listed_on(item: WorklistItem, start: date, end: date) -> date:
    on = item.target or item.window_start or start
    return min(max(on, start), end)


def gather_calendar(session: Session, start: date, end: date, *, today: date,
                    study_key: str | None = None) -> CalendarData:
    """The calendar of ``[start, end]`` seen on ``today`` (one indexed worklist query).
    ServiceError for an unknown study or a period that ends before it starts."""
    items = VisitService(session).worklist(start, end, today=today, study_key=study_key)
    by_day: dict[date, list[CalendarLine]] = {}
    overdue, out_of_window = [], []
    for item in items:
        if item.reason == "overdue":
            overdue.append(_line(item))
        elif item.reason == "due":
            by_day.setdefault(_listed_on(item, start, end), []).append(_line(item))
        else:
            out_of_window.append(_line(item))
    for lines in by_day.values():
        lines.sort(key=lambda x: (x.study_key, x.patient, x.visit))
    overdue.sort(key=lambda x: (x.window_end or date.min, x.patient))
    title = ""
    if study_key:
        study = session.study(study_key)
        title = local(study.short_title or study.title)
    return CalendarData(start, end, today, study_key, title,
                        tuple((d, tuple(v)) for d, v in sorted(by_day.items())),
                        tuple(overdue), tuple(out_of_window))


class CalendarReport(Report):
    """The site calendar for a period."""

    title = "Site calendar"

    def __init__(self, context: ReportContext, data: CalendarData) -> None:
        super().__init__(context)
        self.data = data

    def subtitle(self) -> str:
        d = self.data
        return f"{d.study_key or _('All studies')} · {day(d.start)} – {day(d.end)}"

    @staticmethod
    def _window(line: CalendarLine) -> str:
        if not (line.window_start or line.window_end):
            return "—"
        return f"{day(line.window_start)} – {day(line.window_end)}"

    def story(self) -> list[Flowable]:
        d = self.data
        scope = (f"{d.study_key} — {d.study_title}" if d.study_key else _("All studies"))
        out: list[Flowable] = [
            self.para(_("Site calendar {start} – {end}").format(
                start=day(d.start), end=day(d.end)), "title"),
            self.key_values([
                (_("Studies"), scope), (_("Site"), self.context.site or "—"),
                (_("Visits due in the period"), str(d.due_count)),
                (_("Overdue visits"), str(len(d.overdue))),
                (_("Statuses as of"), day(d.today))]),
            self.spacer(3)]
        header = [_("Patient"), _("Study"), _("Visit"), _("Target date"), _("Window"),
                  _("Status")]
        widths = [1.1, 1.4, 2.2, 1.1, 2.0, 1.4]
        out.append(self.heading(_("Visits due, by day")))
        if d.days:
            # A table per day, its day on a band above the header of every page it takes.
            for on, lines in d.days:
                label = _("{weekday} {day} · {n}").format(
                    weekday=_(WEEKDAYS[on.weekday()]), day=day(on), n=ngettext(
                        "{n} visit", "{n} visits", len(lines)).format(n=len(lines)))
                out.append(self.table(
                    header, [[x.patient, x.study_key, x.visit, day(x.target), self._window(x),
                              x.status] for x in lines], widths, caption=label,
                    continued=_("{day} (continued)").format(day=label)))
        else:
            out.append(self.para(_("No visit is due in this period.")))
        out.append(self.heading(_("Overdue visits")))
        if d.overdue:
            out.append(self.table(header, [
                [x.patient, x.study_key, x.visit, day(x.target), self._window(x), x.status]
                for x in d.overdue], widths, continued=_("Overdue visits (continued)")))
        else:
            out.append(self.para(_("No visit is overdue.")))
        if d.done_out_of_window:
            out.append(self.heading(_("Done outside the window in this period")))
            out.append(self.table(
                [_("Patient"), _("Study"), _("Visit"), _("Done on"), _("Window"),
                 _("Status")],
                [[x.patient, x.study_key, x.visit, day(x.done_on), self._window(x), x.status]
                 for x in d.done_out_of_window], widths,
                continued=_("Done outside the window (continued)")))
        return out
