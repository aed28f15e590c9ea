"""``gisttracker studies [--json]``: the studies this site knows."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from gisttracker.cli.common import add_json_flag, print_json, print_table
from gisttracker.i18n import _

if TYPE_CHECKING:
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
        "criteria": {"inclusion": len(study.inclusion), "exclusion": len(study.exclusion)},
    }


def run(args: argparse.Namespace) -> int:
    from gisttracker.session import load_protocols
    from gisttracker.store.paths import is_current, resolve_path

    path = resolve_path(getattr(args, "db", None))
    if is_current(path):
        # Nothing to create or migrate: read the protocols without opening the ORM.
        loaded = load_protocols(path)
        studies, errors = list(loaded.studies), loaded.errors
    else:
        from gisttracker.cli.common import session

        s = session(args)  # creates, migrates or refuses the file, with a clear message
        s.close()
        studies, errors = list(s.studies.values()), s.protocol_errors
    studies.sort(key=lambda st: st.key)
    for error in errors:
        print(_("warning: protocol not loaded: {error}").format(error=error), file=sys.stderr)
    if args.json:
        print_json([study_json(st) for st in studies])
    else:
        print_table(
            [_("Key"), _("Registration"), _("Design"), _("Target"), _("Arms"), _("Title")],
            [[st.key, st.registration or "—", st.design,
              str(st.target_enrollment or "—"), ", ".join(a.code for a in st.arms),
              st.short_title] for st in studies],
        )
    return 0
