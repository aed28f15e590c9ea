"""``gisttracker demo [--patients N] [--seed S] [--db PATH]``: fill a database with a
realistic synthetic data set (the same seed gives the same data)."""

from __future__ import annotations

import argparse
import time
from datetime import date
from typing import Any

from gisttracker.cli.common import parse_date
from gisttracker.i18n import _

#: The most patients one run adds: ten times the largest benchmark site, minutes of work.
#: More is a typing slip (an extra zero), not a demo.
MAX_PATIENTS = 1_000_000


def register(sub: Any) -> None:
    parser = sub.add_parser("demo", help=_("fill the database with synthetic demo patients"))
    parser.add_argument("--patients", type=int, default=500, metavar="N",
                        help=_("how many patients to add (default 500)"))
    parser.add_argument("--seed", type=int, default=1, metavar="S",
                        help=_("random seed; the same seed gives the same data (default 1)"))
    parser.add_argument("--today", metavar="YYYY-MM-DD",
                        help=_("the date the data set ends at (default: today)"))
    # Also accepted after the subcommand; the global --db before it works too.
    parser.add_argument("--db", metavar="PATH", dest="demo_db", help=_("site database file"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gisttracker.cli import fail
    from gisttracker.cli.common import session
    from gisttracker.demo import generate

    if not 0 <= args.patients <= MAX_PATIENTS:
        fail(_("--patients must be 0 to {most}, not {n}").format(most=MAX_PATIENTS,
                                                                n=args.patients))
    if args.demo_db:
        args.db = args.demo_db
    if not args.db:
        # Never the user's site database by default (nor $GISTTRACKER_DB): name the file.
        fail(_("the demo needs --db PATH naming a new file (or one the demo filled before); "
               "it never writes into your site database by default"))
    today = parse_date(args.today, "--today") if args.today else date.today()
    s = session(args)
    try:
        started = time.perf_counter()
        summary = generate(s, patients=args.patients, seed=args.seed, today=today)
        seconds = time.perf_counter() - started
    finally:
        s.close()
    print(_("{n} patients added to {path} in {s:.1f} s: {screened} screenings, {failed} screen "
            "failures, {enrolled} enrolled ({randomized} randomized), {ended} ended, "
            "{visits} visits planned").format(
        n=summary.patients, path=s.path, s=seconds, screened=summary.screenings,
        failed=summary.screen_failed, enrolled=summary.enrolled,
        randomized=summary.randomized, ended=summary.ended, visits=summary.visits))
    return 0
