"""``gisttracker outcomes --study KEY [--as-of DATE] [--json]``: a study's endpoints, analysed.

Every computed endpoint of the study's protocol, derived from the recorded data as of the
data cut-off (``--as-of``, default today): Kaplan–Meier medians and landmark survival by
group, log-rank tests, Cox models, proportions with exact intervals, questionnaire scores
over time, descriptive values. ``--endpoint`` limits it to some endpoints, ``--landmark``
adds times (months) survival is read at, ``--conf-type`` chooses the survival curves'
interval (log, log-log, plain), ``--no-models`` leaves out the Cox models (the slow part on a
large study). Patients are named by their study identifier only. The text tables are
:mod:`gisttracker.outcomes.console`'s; the analysis modules (numpy, scipy, statsmodels) load
only when the command runs.
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from gisttracker.cli.common import add_json_flag, parse_date, print_json
from gisttracker.i18n import _

#: Confidence interval types of the survival curves (``gisttracker.outcomes.CONF_TYPES``).
CONF_TYPES = ("log", "log-log", "plain")


def add_outcome_options(parser: argparse.ArgumentParser) -> None:
    """``--study``, ``--as-of``: what every outcomes command takes."""
    parser.add_argument("--study", required=True, metavar="KEY", help=_("study key"))
    parser.add_argument("--as-of", dest="as_of", metavar="YYYY-MM-DD", help=_(
        "data cut-off: nothing dated after it counts (default: today)"))


def register(sub: Any) -> None:
    parser = sub.add_parser("outcomes", help=_(
        "a study's endpoints derived from the data and analysed (survival, tests, models, "
        "rates, scores)"))
    add_outcome_options(parser)
    parser.add_argument("--endpoint", action="append", metavar="KEY", help=_(
        "only this endpoint (may be given more than once)"))
    parser.add_argument("--landmark", action="append", type=float, metavar="MONTHS", help=_(
        "also read survival at this many months (may be given more than once)"))
    parser.add_argument("--conf-type", dest="conf_type", default="log", choices=CONF_TYPES,
                        metavar="TYPE", help=_(
                            "confidence interval of the survival curves: log (the default, "
                            "as R), log-log or plain"))
    parser.add_argument("--no-models", dest="models", action="store_false", help=_(
        "leave out the Cox models"))
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def register_export_kind(kinds: Any) -> None:
    """Add ``analysis`` to the ``export`` command's kinds; its handler is
    :mod:`gisttracker.cli.export_analysis`, loaded when the command runs."""
    parser = kinds.add_parser("analysis", help=_(
        "the analysis data set of a study's endpoints (CSV, data dictionary, R script)"))
    add_outcome_options(parser)
    parser.add_argument("--no-bom", action="store_true", help=_(
        "write plain UTF-8 (by default files start with a byte-order mark so that Excel "
        "shows Chinese text correctly)"))
    parser.add_argument("-o", "--output", required=True, metavar="FILE.csv", help=_(
        "where to write the data set (the dictionary, the scores and the R script go beside "
        "it)"))
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    """``gisttracker export analysis``."""
    from gisttracker.cli.export_analysis import run as run_analysis

    return run_analysis(args)


def as_of_of(args: argparse.Namespace) -> date:
    """The cut-off the user gave, else today (the command line is where the clock is read)."""
    return parse_date(args.as_of, "--as-of") if args.as_of else date.today()


def run(args: argparse.Namespace) -> int:
    from gisttracker.cli import fail
    from gisttracker.cli.common import session
    from gisttracker.outcomes import OutcomeError, add_models, compute

    as_of = as_of_of(args)
    s = session(args)
    try:
        try:
            outcomes = compute(s, args.study, as_of=as_of, conf_type=args.conf_type,
                               landmarks=args.landmark or (), endpoints=args.endpoint)
            if args.models:
                outcomes = add_models(outcomes)
        except OutcomeError as exc:
            fail(str(exc))
        if args.json:
            from gisttracker.outcomes.serialize import to_data

            print_json(to_data(outcomes))
        else:
            from gisttracker.outcomes.console import print_outcomes

            print_outcomes(outcomes)
    finally:
        s.close()
    return 0
