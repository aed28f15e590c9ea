"""``gisttracker allocation reveal --study KEY``: the administrator opens a randomized
study's sealed seed, checks it against its commitment and prints the allocation list —
each position made so far with the randomization recorded for it, and ``--ahead N`` more
per stratum. Every reveal is recorded as a security event in the audit trail."""

from __future__ import annotations

import argparse
from typing import Any

from gisttracker.cli.common import add_json_flag, print_json, print_table, session
from gisttracker.i18n import _


def register(sub: Any) -> None:
    parser = sub.add_parser("allocation", help=_("reveal a study's allocation list "
                                                 "(administrator; recorded)"))
    actions = parser.add_subparsers(dest="allocation_command", metavar="ACTION",
                                    parser_class=type(parser))
    actions.required = True
    p = actions.add_parser("reveal", help=_("open the seed and re-derive the allocation list"))
    p.add_argument("--study", required=True, metavar="KEY")
    p.add_argument("--ahead", type=int, default=0, metavar="N",
                   help=_("also show the next N positions of each stratum"))
    add_json_flag(p)
    p.set_defaults(handler=run_reveal)


def run_reveal(args: argparse.Namespace) -> int:
    from gisttracker.services.concealment import reveal

    s = session(args)
    try:
        found = reveal(s, args.study, ahead=args.ahead)
    finally:
        s.close()
    if args.json:
        print_json({"study": found.study_key, "seed": found.seed,
                    "commitment": found.commitment, "commitment_ok": found.commitment_ok,
                    "slots": [slot.__dict__ for slot in found.slots]})
    else:
        print(_("seed of {study}: {seed}").format(study=found.study_key, seed=found.seed))
        print(_("commitment {digest}: {verdict}").format(
            digest=found.commitment[:16],
            verdict=_("matches") if found.commitment_ok else _("DOES NOT MATCH")))
        print_table([_("stratum"), _("position"), _("list"), _("randomization"),
                     _("patient"), _("recorded arm")],
                    [[slot.stratum, str(slot.position), slot.arm_code, slot.number or "",
                      slot.patient or "", slot.made_arm or ""] for slot in found.slots])
        if found.mismatches:
            print(_("{n} recorded allocations differ from the list").format(
                n=len(found.mismatches)))
    return 0 if found.commitment_ok and not found.mismatches else 1
