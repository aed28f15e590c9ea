"""``gisttracker worklist [--from DATE] [--to DATE] [--study KEY] [--json]``: visits due in
the period (this week by default), every overdue visit, and visits done out of window.

Each section is one query whose rows are judged and written as they are read
(:meth:`VisitService.iter_worklist`), so the time grows linearly with the list.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from gisttracker.cli.common import add_json_flag, parse_date, print_table, stream_json
from gisttracker.i18n import _, ngettext

if TYPE_CHECKING:
    from gisttracker.services.visits import WorklistItem


def add_period(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", metavar="YYYY-MM-DD",
                        help=_("first day of the period (default: Monday of this week)"))
    parser.add_argument("--to", dest="end", metavar="YYYY-MM-DD",
                        help=_("last day of the period (default: Sunday of this week)"))
    parser.add_argument("--today", metavar="YYYY-MM-DD",
                        help=_("judge statuses as of this day (default: today)"))


def add_study(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", metavar="KEY", help=_("only this study (default: all)"))


def period(args: argparse.Namespace) -> tuple[date, date, date]:
    """``(start, end, today)`` from the arguments; the CLI is where the clock is read."""
    from gisttracker.cli import fail

    today = parse_date(args.today, "--today") if args.today else date.today()
    monday = today - timedelta(days=today.weekday())
    start = parse_date(args.start, "--from") if args.start else monday
    end = parse_date(args.end, "--to") if args.end else (
        start + timedelta(days=6) if args.start else monday + timedelta(days=6))
    if start > end:
        fail(_("--from {start} is after --to {end}").format(start=start, end=end))
    return start, end, today


def register(sub: Any) -> None:
    parser = sub.add_parser("worklist", help=_(
        "visits due in a period, overdue visits and visits done out of window"))
    add_period(parser)
    add_study(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def item_json(item: WorklistItem) -> dict[str, Any]:
    return {"patient": item.patient_study_id, "study": item.study_key,
            "visit": item.visit_name, "visit_key": item.visit_key,
            "target_date": _iso(item.target), "window_start": _iso(item.window_start),
            "window_end": _iso(item.window_end), "status": item.status_code,
            "listed_as": item.reason, "done_on": _iso(item.done_on),
            "deviation_days": item.status.deviation_days or None,
            "overdue_days": item.status.overdue_days or None,
            "assessments": list(item.assessments)}


def run(args: argparse.Namespace) -> int:
    from gisttracker.cli.common import session
    from gisttracker.cli.common import study as get_study
    from gisttracker.services.visits import VisitService

    start, end, today = period(args)
    s = session(args)
    try:
        if args.study:
            get_study(s, args.study)
        items = VisitService(s).iter_worklist(start, end, today=today, study_key=args.study)
        if args.json:
            stream_json(item_json(i) for i in items)
            return 0
        # The heading counts the lines, so the (short, printable) lines are kept as text.
        lines = [[i.patient_study_id, i.study_key, i.visit_name, _iso(i.target) or "—",
                  f"{i.window_start} – {i.window_end}", i.describe()] for i in items]
        print(ngettext("Worklist {start} – {end} (today {today}): {n} visit",
                       "Worklist {start} – {end} (today {today}): {n} visits", len(lines)).format(
            start=start, end=end, today=today, n=len(lines)))
        print_table(
            [_("Patient"), _("Study"), _("Visit"), _("Target"), _("Window"), _("Status")],
            lines)
    finally:
        s.close()
    return 0
