"""``gisttracker studies [--json]``: the studies this site knows."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from gisttracker.cli.common import add_json_flag, print_json, print_table
from gisttracker.i18n import _, join_list, local

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
        "protocol_file": study.path,
        "protocol_version": study.digest,
        "criteria": {"inclusion": len(study.inclusion), "exclusion": len(study.exclusion)},
    }


def run(args: argparse.Namespace) -> int:
    from gisttracker.protocols.files import load_protocols
    from gisttracker.store.paths import resolve_path, take_look

    path = resolve_path(getattr(args, "db", None))
    studies: list[Study] | None = None
    seen = take_look(path)  # (read before the arguments were parsed: no second connection)
    if seen.current:
        # Nothing to create or migrate, and every protocol file the version in force (so
        # opening would record and refuse nothing): read the protocols without the ORM.
        loaded = load_protocols(path)
        in_force = seen.in_force
        if in_force is not None and all(in_force.get(st.key) == st.digest
                                        for st in loaded.studies):
            if loaded.errors or loaded.blocked:
                from gisttracker.cli.common import warn_protocols

                warn_protocols(loaded.errors, loaded.blocked)
            else:
                # Read only, nothing to warn about: a listing that ends well leaves no log.
                from gisttracker.logs import nothing_to_keep

                nothing_to_keep()
            studies = list(loaded.studies)
    if studies is None:
        from gisttracker.cli.common import session

        # Creates, migrates or refuses the file with a clear message, records the protocol
        # versions in force and refuses files that would orphan data (warning about them).
        s = session(args)
        s.close()
        studies = list(s.studies.values())
    studies.sort(key=lambda st: st.key)
    if args.json:
        print_json([study_json(st) for st in studies])
    else:
        print_table(
            [_("Key"), _("Registration"), _("Design"), _("Target enrollment"), _("Arms"),
             _("Title")],
            [[st.key, st.registration or "—", local(st.design),
              str(st.target_enrollment or "—"), join_list(a.code for a in st.arms),
              local(st.short_title)] for st in studies],
        )
    return 0
