"""``gisttracker schedule --study KEY --anchor NAME=YYYY-MM-DD … [--json]``: preview the
schedule a patient with those anchor dates would get (no patient needed, nothing saved)."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

from gisttracker.cli.common import add_json_flag, parse_date, print_json, print_table
from gisttracker.i18n import _, join_list, local

if TYPE_CHECKING:
    from gisttracker.domain.schedule import PlannedVisit
    from gisttracker.protocols import Study


def register(sub: Any) -> None:
    parser = sub.add_parser("schedule", help=_(
        "preview the visit schedule for given anchor dates"))
    parser.add_argument("--study", required=True, metavar="KEY", help=_("study key"))
    parser.add_argument("--anchor", action="append", default=[], metavar="NAME=YYYY-MM-DD",
                        help=_("an anchor date (repeatable), e.g. surgery=2025-03-01"))
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def parse_anchors(study: Study, texts: list[str]) -> dict[str, date]:
    """``NAME=YYYY-MM-DD`` arguments as anchor dates; one-line errors for bad input."""
    from gisttracker.cli import fail

    known = [a.key for a in study.anchors]
    out: dict[str, date] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not name:
            fail(_("--anchor {text!r}: use NAME=YYYY-MM-DD").format(text=text))
        if name not in known:
            fail(_("unknown anchor {name!r} for {study} (known: {known})").format(
                name=name, study=study.key, known=join_list(known)))
        out[name] = parse_date(value.strip(), f"--anchor {name}")
    return out


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def visit_json(pv: PlannedVisit) -> dict[str, Any]:
    return {"visit": pv.name, "visit_key": pv.visit_key, "anchor": pv.anchor,
            "target_date": _iso(pv.target), "window_start": _iso(pv.window_start),
            "window_end": _iso(pv.window_end), "assessments": list(pv.assessments),
            "required": pv.required}


def run(args: argparse.Namespace) -> int:
    from gisttracker.cli.common import session
    from gisttracker.cli.common import study as get_study
    from gisttracker.domain.schedule import check_timing, plan
    from gisttracker.protocols.catalogue import ASSESSMENTS

    s = session(args)
    try:
        study = get_study(s, args.study)
        anchors = parse_anchors(study, args.anchor)
        planned = plan(study, anchors)
        for check in check_timing(study, anchors):
            if check.problem:
                print(_("warning: {rule}: {message}").format(
                    rule=local(check.rule.description), message=check.message), file=sys.stderr)
        if args.json:
            print_json([visit_json(pv) for pv in planned])
            return 0
        waiting = _("waiting for {anchor}")
        print_table(
            [_("Visit"), _("Anchor"), _("Target"), _("Window"), _("Assessments")],
            # Anchors by key: the key is what `--anchor KEY=DATE` takes.
            [[local(pv.name), pv.anchor, _iso(pv.target) or waiting.format(anchor=pv.anchor),
              _("{start} – {end}").format(start=pv.window_start, end=pv.window_end)
              if pv.window_start else "—",
              join_list(_(ASSESSMENTS[a]) if a in ASSESSMENTS else a for a in pv.assessments)]
             for pv in planned])
    finally:
        s.close()
    return 0
