"""``gisttracker studies [--json]``: the studies this site knows."""

from __future__ import annotations

import argparse
from typing import Any

from gisttracker.cli.common import add_json_flag, print_json, print_table, session
from gisttracker.i18n import _, join_list, local
from gisttracker.protocols import Study


def register(sub: Any) -> None:
    parser = sub.add_parser("studies", help=_("list the loaded studies"))
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def study_json(study: Study) -> dict[str, Any]:
    return {
        "key": study.key,
        "registration": study.registration,
        "title": study.title,
        "short_title": study.short_title,
        "sponsor": study.sponsor,
        "design": study.design,
        "study_type": study.study_type,
        "target_enrollment": study.target_enrollment,
        "arms": [{"code": a.code, "name": a.name} for a in study.arms],
        "anchors": [a.key for a in study.anchors],
        "visits": len(study.visits),
        "protocol_file": study.path,
        "protocol_version": study.digest,
        "criteria": {"inclusion": len(study.inclusion), "exclusion": len(study.exclusion)},
    }


def run(args: argparse.Namespace) -> int:
    s = session(args)
    try:
        studies = sorted(s.studies.values(), key=lambda st: st.key)
        if args.json:
            print_json([study_json(st) for st in studies])
        else:
            print_table(
                [_("Key"), _("Registration"), _("Design"), _("Target"), _("Arms"), _("Title")],
                [[st.key, st.registration or "—", local(st.design),
                  str(st.target_enrollment or "—"), join_list(a.code for a in st.arms),
                  local(st.short_title)] for st in studies],
            )
    finally:
        s.close()
    return 0
