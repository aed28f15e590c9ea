"""``gisttracker patients [--study KEY] [--status S] [--json]``: the patient list.

Names, record numbers and dates of birth are never printed: a patient is named by the
study identifier. The list is read in pages by key (each page starts after the last study
id printed, through the index) and written as it is read, so 100,000 patients take a
hundred times as long as 1,000 and never sit in memory whole.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gisttracker.cli.common import LazyChoices, add_json_flag, stream_json, stream_table
from gisttracker.i18n import _

if TYPE_CHECKING:
    from gisttracker.services.patient_list import PatientFilter, PatientList, PatientRow

PAGE = 1000
STATUSES = LazyChoices("gisttracker.services.patient_list", "STATUS_LABELS")


def register(sub: Any) -> None:
    parser = sub.add_parser("patients", help=_("list patients (study identifiers only)"))
    parser.add_argument("--study", metavar="KEY", help=_("only this study"))
    parser.add_argument("--status", choices=STATUSES, metavar="STATUS",
                        help=_("only patients with this status: %(choices)s"))
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def rows(service: PatientList, flt: PatientFilter) -> Iterator[PatientRow]:
    """Every patient matching ``flt`` in study-id order, one keyset page at a time."""
    after: str | None = None
    while True:
        page = service.page(flt, "patient", limit=PAGE, after=after)
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].patient


def run(args: argparse.Namespace) -> int:
    from gisttracker.cli.common import session, study
    from gisttracker.services.patient_list import STATUS_LABELS, PatientFilter, PatientList

    s = session(args)
    try:
        if args.study:
            study(s, args.study)
        service = PatientList(s)
        flt = PatientFilter(study_key=args.study, status=args.status)
        if args.json:
            stream_json({
                "patient": r.patient, "study": r.study_key, "arm": r.arm_code,
                "status": STATUS_LABELS[r.status],
                "enrolled_on": r.enrolled_on.isoformat() if r.enrolled_on else None,
                "randomization_number": r.randomization_number,
            } for r in rows(service, flt))
        else:
            stream_table(
                [_("Patient"), _("Study"), _("Arm"), _("Status"), _("Enrolled on"),
                 _("Randomization")],
                lambda: ([r.patient, r.study_key, r.arm_code or "—", _(STATUS_LABELS[r.status]),
                          r.enrolled_on.isoformat() if r.enrolled_on else "—",
                          r.randomization_number or "—"] for r in rows(service, flt)))
    finally:
        s.close()
    return 0
