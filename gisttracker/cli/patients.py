"""``gisttracker patients [--study KEY] [--status S] [--json]``: the patient list.

Names, record numbers and dates of birth are never printed: a patient is named by the
study identifier.
"""

from __future__ import annotations

import argparse
from typing import Any

from gisttracker.cli.common import add_json_flag, print_json, print_table, session, study
from gisttracker.i18n import _
from gisttracker.services.patients import STATUS_LABELS, PatientFilter, PatientService

PAGE = 1000


def register(sub: Any) -> None:
    parser = sub.add_parser("patients", help=_("list patients (study identifiers only)"))
    parser.add_argument("--study", metavar="KEY", help=_("only this study"))
    parser.add_argument("--status", choices=sorted(STATUS_LABELS),
                        help=_("only patients with this status"))
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    s = session(args)
    try:
        if args.study:
            study(s, args.study)
        service = PatientService(s)
        flt = PatientFilter(study_key=args.study, status=args.status)
        rows = []
        offset = 0
        while True:
            page = service.page(flt, "patient", offset=offset, limit=PAGE)
            rows.extend(page)
            if len(page) < PAGE:
                break
            offset += PAGE
        if args.json:
            print_json([{
                "patient": r.patient, "study": r.study_key, "arm": r.arm_code,
                "status": STATUS_LABELS[r.status],
                "enrolled_on": r.enrolled_on.isoformat() if r.enrolled_on else None,
                "randomization_number": r.randomization_number,
            } for r in rows])
        else:
            print_table(
                [_("Patient"), _("Study"), _("Arm"), _("Status"), _("Enrolled on"),
                 _("Randomization")],
                [[r.patient, r.study_key, r.arm_code or "—", _(STATUS_LABELS[r.status]),
                  r.enrolled_on.isoformat() if r.enrolled_on else "—",
                  r.randomization_number or "—"] for r in rows])
    finally:
        s.close()
    return 0
