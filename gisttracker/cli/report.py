"""``gisttracker report KIND [options] -o FILE.pdf``: print a report as PDF.

Kinds: ``schedule --patient ID``, ``calendar --from DATE --to DATE [--study KEY]``,
``screening --study KEY``, ``enrollment --study KEY``, ``casebook --patient ID``, ``outcomes
--study KEY [--as-of DATE]``; each takes
``--paper a4|letter`` (default: the site setting) and ``--include-identifiers`` (names,
record numbers and dates of birth are left out unless given).
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from typing import Any

from gisttracker.cli.common import output_file, parse_date
from gisttracker.i18n import _
from gisttracker.reports import KINDS  # the table of report kinds: no reportlab behind it


def register(sub: Any) -> None:
    parser = sub.add_parser("report", help=_("print a report as PDF"))
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True,
                                  parser_class=type(parser))
    for kind in KINDS.values():
        p = kinds.add_parser(kind.key, help=_(kind.title))
        if kind.needs_patient:
            p.add_argument("--patient", required=True, metavar="ID",
                           help=_("the patient's study identifier, e.g. ZJU-0007"))
        if kind.needs_study:
            p.add_argument("--study", required=True, metavar="KEY", help=_("study key"))
        if kind.study_optional:
            p.add_argument("--study", metavar="KEY", help=_("only this study (default: all)"))
        if kind.needs_period:
            p.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD",
                           help=_("first day of the period"))
            p.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD",
                           help=_("last day of the period"))
        if kind.needs_as_of:
            p.add_argument("--as-of", dest="as_of", metavar="YYYY-MM-DD", help=_(
                "data cut-off: nothing dated after it counts (default: today)"))
        p.add_argument("--today", metavar="YYYY-MM-DD",
                       help=_("judge visit statuses as of this day (default: today)"))
        p.add_argument("--paper", choices=("a4", "letter"),
                       help=_("paper size (default: the site setting)"))
        p.add_argument("--include-identifiers", action="store_true", help=_(
            "print names, record numbers and dates of birth (left out by default)"))
        p.add_argument("-o", "--output", required=True, metavar="FILE.pdf",
                       help=_("where to write the PDF"))
        p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gisttracker.cli import fail
    from gisttracker.cli.common import session
    from gisttracker.reports import ReportRequest, build

    out = output_file(args.output, "--output")
    start = parse_date(args.start, "--from") if getattr(args, "start", None) else None
    end = parse_date(args.end, "--to") if getattr(args, "end", None) else None
    if start and end and start > end:
        fail(_("--from {start} is after --to {end}").format(start=start, end=end))
    # The command line is where the clock is read; the reports get it as parameters.
    today = parse_date(args.today, "--today") if args.today else date.today()
    as_of = (parse_date(args.as_of, "--as-of") if getattr(args, "as_of", None) else None)
    request = ReportRequest(kind=args.kind, patient=getattr(args, "patient", None),
                            study_key=getattr(args, "study", None), start=start, end=end,
                            paper=args.paper, include_identifiers=args.include_identifiers,
                            as_of=as_of)
    s = session(args)
    try:
        report = build(s, request, today=today, generated_at=datetime.now(UTC))
        try:
            report.write(out)
        except OSError as exc:
            fail(_("cannot write {path}: {error}").format(path=out,
                                                          error=exc.strerror or exc))
    finally:
        s.close()
    print(_("wrote {path}").format(path=out))
    return 0
