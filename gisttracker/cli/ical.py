"""``gisttracker ical (--patient ID | --from DATE --to DATE) -o FILE.ics``: export a
patient's schedule or the site worklist for a period as an iCalendar file (RFC 5545).

Events carry the patient's study identifier, never a name."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from gisttracker.cli.common import output_file, parse_date
from gisttracker.cli.worklist import add_study, period
from gisttracker.i18n import _, ngettext


def register(sub: Any) -> None:
    parser = sub.add_parser("ical", help=_(
        "export a patient's schedule or the worklist of a period as an iCalendar file"))
    parser.add_argument("--patient", metavar="ID", help=_("the patient's study identifier"))
    parser.add_argument("--from", dest="start", metavar="YYYY-MM-DD",
                        help=_("first day of the period"))
    parser.add_argument("--to", dest="end", metavar="YYYY-MM-DD",
                        help=_("last day of the period"))
    parser.add_argument("--today", metavar="YYYY-MM-DD",
                        help=_("judge statuses as of this day (default: today)"))
    add_study(parser)
    parser.add_argument("-o", "--output", required=True, metavar="FILE.ics",
                        help=_("the file to write"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gisttracker.cli import fail
    from gisttracker.cli.common import session
    from gisttracker.cli.common import study as get_study
    from gisttracker.services.visits import VisitService

    if args.patient and (args.start or args.end):
        fail(_("give either --patient or --from/--to, not both"))
    if not args.patient and not (args.start and args.end):
        fail(_("give --patient ID, or --from DATE and --to DATE"))
    output_file(args.output, "--output")
    s = session(args)
    try:
        service = VisitService(s)
        if args.patient:
            today = parse_date(args.today, "--today") if args.today else date.today()
            patient = service.patient(args.patient)
            events = service.patient_calendar(patient.uid, today=today)
            name = _("{patient} visits").format(patient=patient.study_id)
        else:
            start, end, today = period(args)
            if args.study:
                get_study(s, args.study)
            events = service.worklist_calendar(start, end, today=today, study_key=args.study)
            name = _("Site visits {start} – {end}").format(start=start, end=end)
        count = service.write_calendar(args.output, events, name=name)
        print(ngettext("wrote {n} event to {path}", "wrote {n} events to {path}", count).format(
            n=count, path=args.output))
    finally:
        s.close()
    return 0
